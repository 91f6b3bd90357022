#include "tools/flowctl/flowctl.h"

#include <cstdio>
#include <string>
#include <vector>

#include "tools/cli/command.h"
#include "tools/cli/flags.h"
#include "tools/flowctl/dependency_check.h"
#include "tools/flowctl/ipfix_commands.h"
#include "tools/flowctl/meter_commands.h"
#include "tools/flowctl/config_commands.h"
#include "tools/flowctl/daemon_commands.h"
#include "tools/flowctl/top_command.h"
#include "tools/version.h"

namespace tcflow::flowctl {
namespace {

int RunVersion(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl version", "Prints tcflow's version and build target.");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  std::printf("tcflow %s (%s)\n", kVersion, kBuildArch);
  return 0;
}

// Every flowctl command, in the order `flowctl help` lists them. Each group's commands are
// declared in that group's header.
const cli::Command kCommands[] = {
    {"version", "print tcflow's version", RunVersion},
    {"meter attach", "attach tcflow's tc programs to interfaces", RunMeterAttach},
    {"meter detach", "remove tcflow's tc programs from interfaces", RunMeterDetach},
    {"meter status", "list tcflow's tc programs as the kernel reports them", RunMeterStatus},
    {"dependency-check", "probe the kernel for every feature tcflow needs", RunDependencyCheck},
    {"config check", "check config files (exit 0 when valid)", RunConfigCheck},
    {"config default", "print the built-in default config", RunConfigDefault},
    {"ipfix send-dummy", "send synthetic flows as IPFIX to a collector", RunIpfixSendDummy},
    {"collect", "a small IPFIX collector that prints what arrives", RunCollect},
    {"status", "the running tcflowd: interfaces, table, cache, collectors, losses", RunStatus},
    {"dump", "the flows tcflowd holds now (kernel tables and cache)", RunDump},
    {"flush", "end flows now and export them", RunFlush},
    {"reload", "make tcflowd re-read its config (like SIGHUP)", RunReload},
    {"events", "print tcflowd's kernel events (NDP, deep IPv6 header chains)", RunEvents},
    {"top", "the largest flows of tcflowd, refreshed (like top/iftop)", RunTop},
};

}  // namespace

int FlowctlMain(int argc, char** argv) {
  return cli::Dispatch("flowctl", kCommands, std::vector<std::string>(argv + 1, argv + argc));
}

}  // namespace tcflow::flowctl
