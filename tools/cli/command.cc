#include "tools/cli/command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tcflow::cli {
namespace {

// How many leading words of `args` the command's name matches (0 when it does not match).
size_t MatchLength(const Command& command, const std::vector<std::string>& args) {
  std::vector<std::string> words = absl::StrSplit(command.name, ' ');
  if (words.size() > args.size()) return 0;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] != args[i]) return 0;
  }
  return words.size();
}

void PrintCommands(FILE* out, const char* program, absl::Span<const Command> commands,
                   const std::vector<std::string>& group) {
  std::string prefix = absl::StrJoin(group, " ");
  std::fprintf(out, "usage: %s%s%s COMMAND [options]\n\ncommands:\n", program,
               prefix.empty() ? "" : " ", prefix.c_str());
  for (const Command& c : commands) {
    if (!prefix.empty() && MatchLength(c, group) != group.size()) continue;
    std::fprintf(out, "  %-24s %s\n", c.name, c.summary);
  }
  std::fprintf(out, "\nRun '%s COMMAND --help' for a command's options.\n", program);
}

}  // namespace

int Dispatch(const char* program, absl::Span<const Command> commands,
             const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    PrintCommands(stdout, program, commands, {});
    return args.empty() ? 2 : 0;
  }
  const Command* best = nullptr;
  size_t best_length = 0;
  for (const Command& c : commands) {
    size_t length = MatchLength(c, args);
    if (length > best_length) {
      best = &c;
      best_length = length;
    }
  }
  if (best != nullptr) {
    return best->run(std::vector<std::string>(args.begin() + best_length, args.end()));
  }
  // A group word alone ("flowctl meter") or with --help lists that group's commands.
  for (const Command& c : commands) {
    if (MatchLength(c, {args[0]}) == 1) {
      bool help = args.size() > 1 && (args[1] == "--help" || args[1] == "-h");
      PrintCommands(help ? stdout : stderr, program, commands, {args[0]});
      return help ? 0 : 2;
    }
  }
  std::fprintf(stderr, "%s: unknown command '%s' (see '%s help')\n", program,
               absl::StrJoin(args.begin(), args.begin() + 1, " ").c_str(), program);
  return 2;
}

}  // namespace tcflow::cli
