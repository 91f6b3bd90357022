// flowctl's IPFIX commands: `flowctl ipfix send-dummy` (synthetic flows to a collector)
// and `flowctl collect` (a small collector that prints what arrives).

#ifndef TCFLOW_TOOLS_FLOWCTL_IPFIX_COMMANDS_H_
#define TCFLOW_TOOLS_FLOWCTL_IPFIX_COMMANDS_H_

#include <string>
#include <vector>

namespace tcflow::flowctl {

int RunIpfixSendDummy(const std::vector<std::string>& args);
int RunCollect(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_IPFIX_COMMANDS_H_
