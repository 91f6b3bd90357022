#include "daemon/tcflowd/tcflowd_main.h"

#include <pthread.h>

#include <cstdio>
#include <string>
#include <vector>

#include "daemon/tcflowd/daemon.h"
#include "tools/cli/flags.h"

namespace tcflow::tcflowd {

int TcflowdMain(int argc, char** argv) {
  cli::FlagParser flags(
      "tcflowd",
      "Meters interfaces with tcflow's tc programs and exports the flows as IPFIX. Without "
      "-c it runs the built-in default (`flowctl config default`): every interface but "
      "loopback, both directions, IPFIX over UDP to 127.0.0.1:4739.");
  DaemonOptions options;
  flags.AddString("config", 'c', &options.config_file, "FILE", "config file (text format)");
  flags.AddString("netns", 0, &options.netns, "NS",
                  "network namespace (name or path) of selections that name none");
  flags.AddString("journal", 0, &options.journal, "PATH",
                  "crash state: the flow cache kept in this file (tmpfs), so a tcflowd killed "
                  "at any instant loses nothing; the next one recovers it (default: "
                  "flows.state next to the control socket; 'none' turns it off)");
  std::vector<std::string> args(argv + 1, argv + argc);
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (!flags.positional().empty()) {
    std::fprintf(stderr, "tcflowd: unexpected argument '%s'\n", flags.positional()[0].c_str());
    return 2;
  }
  // The main thread's name in ps/top (the binary is the multi-call `tcflow`).
  pthread_setname_np(pthread_self(), "tcflowd");
  Daemon daemon(std::move(options));
  return daemon.Run();
}

}  // namespace tcflow::tcflowd
