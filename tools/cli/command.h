// Git-style subcommand dispatch: "flowctl meter attach -i eth0" runs the command named
// "meter attach" with {"-i", "eth0"}.

#ifndef TCFLOW_TOOLS_CLI_COMMAND_H_
#define TCFLOW_TOOLS_CLI_COMMAND_H_

#include <string>
#include <vector>

#include "absl/types/span.h"

namespace tcflow::cli {

struct Command {
  // The words that select the command, space-separated ("meter attach").
  const char* name;
  // One line for the command list.
  const char* summary;
  // Runs the command with the words after its name; returns the process exit code.
  int (*run)(const std::vector<std::string>& args);
};

// Picks the command whose name matches the longest prefix of `args` and runs it.
// `program` is the name shown in help and errors ("flowctl"). With no command, `help`,
// `--help` or only a group word ("meter"), prints the matching command list.
int Dispatch(const char* program, absl::Span<const Command> commands,
             const std::vector<std::string>& args);

}  // namespace tcflow::cli

#endif  // TCFLOW_TOOLS_CLI_COMMAND_H_
