// `flowctl top`: the largest flows of the running tcflowd, refreshed like top/iftop.
// The ranking is done by the daemon (the `top` control request, daemon/tcflowd/top_ranker.h);
// this side asks every interval, renders (top_view.h) and runs the terminal.

#ifndef TCFLOW_TOOLS_FLOWCTL_TOP_COMMAND_H_
#define TCFLOW_TOOLS_FLOWCTL_TOP_COMMAND_H_

#include <string>
#include <vector>

namespace tcflow::flowctl {

int RunTop(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_TOP_COMMAND_H_
