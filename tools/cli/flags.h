// A small command-line flag parser for flowctl's subcommands.
//
// Each subcommand declares its flags on a FlagParser and calls Parse() with the words that
// follow the subcommand's name. Long flags take `--name value` or `--name=value`; short flags
// take `-n value`. `--help`/`-h` is always understood. Unknown flags are errors, so a typo
// never silently changes what an operator asked for.
//
//   FlagParser flags("flowctl meter attach", "Attaches tcflow's programs to interfaces.");
//   std::vector<std::string> interfaces;
//   std::string netns;
//   flags.AddStringList("interface", 'i', &interfaces, "IFACE", "interface to meter");
//   flags.AddString("netns", 0, &netns, "NS", "named network namespace");
//   absl::Status status = flags.Parse(args);

#ifndef TCFLOW_TOOLS_CLI_FLAGS_H_
#define TCFLOW_TOOLS_CLI_FLAGS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tcflow::cli {

class FlagParser {
 public:
  // `command` is the full command as typed ("flowctl meter attach"); `summary` is one line.
  FlagParser(std::string command, std::string summary);

  // `short_name` is 0 for none. `value_name` appears in the help ("IFACE").
  void AddString(std::string name, char short_name, std::string* out,
                 std::string value_name, std::string help);
  void AddStringList(std::string name, char short_name, std::vector<std::string>* out,
                     std::string value_name, std::string help);
  void AddInt(std::string name, char short_name, int64_t* out, std::string value_name,
              std::string help);
  void AddBool(std::string name, char short_name, bool* out, std::string help);

  // Describes positional arguments in the help text ("FILE").
  void SetPositional(std::string usage, std::string help);

  // Parses `args`. Positional arguments are collected in positional(); "--" ends flags.
  absl::Status Parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  const std::vector<std::string>& positional() const { return positional_; }

  // The --help text.
  std::string Help() const;

 private:
  struct Flag {
    std::string name;
    char short_name;
    std::string value_name;  // empty for booleans
    std::string help;
    std::function<absl::Status(absl::string_view)> set;
  };
  const Flag* Find(absl::string_view long_name, char short_name) const;

  std::string command_;
  std::string summary_;
  std::string positional_usage_;
  std::string positional_help_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
  bool help_requested_ = false;
};

// Runs a subcommand's common preamble: parses, prints help or a one-line error.
// Returns -1 when the command should go on, otherwise the exit code to return (0 after
// --help, 2 after a usage error).
int ParseOrExit(FlagParser& flags, const std::vector<std::string>& args);

}  // namespace tcflow::cli

#endif  // TCFLOW_TOOLS_CLI_FLAGS_H_
