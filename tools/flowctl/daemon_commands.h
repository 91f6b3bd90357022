// `flowctl status|dump|flush|reload`: the running tcflowd, over its control socket
// (daemon/control). Each prints one clear line and exits 1 when the daemon is not running.

#ifndef TCFLOW_TOOLS_FLOWCTL_DAEMON_COMMANDS_H_
#define TCFLOW_TOOLS_FLOWCTL_DAEMON_COMMANDS_H_

#include <string>
#include <vector>

namespace tcflow::flowctl {

int RunStatus(const std::vector<std::string>& args);
int RunDump(const std::vector<std::string>& args);
int RunFlush(const std::vector<std::string>& args);
int RunReload(const std::vector<std::string>& args);
int RunEvents(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_DAEMON_COMMANDS_H_
