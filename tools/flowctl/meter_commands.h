// `flowctl meter attach|detach|status`: tcflow's tc filters on interfaces, without iproute2.

#ifndef TCFLOW_TOOLS_FLOWCTL_METER_COMMANDS_H_
#define TCFLOW_TOOLS_FLOWCTL_METER_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "netlink/attach.h"

namespace tcflow::flowctl {

// The programs `meter attach` installs, with whatever keeps their fds open. An attached
// filter holds its own reference, so the programs stay after flowctl exits.
struct MeterPrograms {
  netlink::Programs programs;
  std::shared_ptr<void> owner;
};

// The one place that decides which programs are attached: tcflow's metering programs
// (daemon/loader), sized like tcflowd's built-in default. With `pin_dir` the tables are
// taken over from / pinned in that bpffs directory (a later tcflowd with the same
// bpffs_pin_path takes them and the filters over, losing nothing); without it they are
// private (dependency-check).
absl::StatusOr<MeterPrograms> LoadMeterPrograms(const std::string& pin_dir = "");

int RunMeterAttach(const std::vector<std::string>& args);
int RunMeterDetach(const std::vector<std::string>& args);
int RunMeterStatus(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_METER_COMMANDS_H_
