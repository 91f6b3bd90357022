// flowctl config ...: check a config file, print the built-in default.

#ifndef TCFLOW_TOOLS_FLOWCTL_CONFIG_COMMANDS_H_
#define TCFLOW_TOOLS_FLOWCTL_CONFIG_COMMANDS_H_

#include <string>
#include <vector>

namespace tcflow::flowctl {

// flowctl config check FILE...: exit 0 when every file is valid, 1 when any is not (every
// error on stderr, one per line), 2 on a usage error.
int RunConfigCheck(const std::vector<std::string>& args);

// flowctl config default: prints the built-in default config (valid as it is).
int RunConfigDefault(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_CONFIG_COMMANDS_H_
