// tcflow: one multi-call binary for the daemon and the CLI, as busybox does, so Protobuf,
// libbpf and libstdc++ sit in a router's flash only once. Installed as `tcflow` with the
// links `flowctl` and `tcflowd`; `tcflow flowctl ...` works without the links.
#include <cstdio>
#include <cstring>

#include "daemon/tcflowd/tcflowd_main.h"
#include "tools/flowctl/flowctl.h"

namespace {

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

int Usage() {
  std::fputs(
      "usage: tcflow flowctl COMMAND [options]   (or run it through the link 'flowctl')\n"
      "       tcflow tcflowd [-c FILE] [--netns NS]   (or run it through the link 'tcflowd')\n",
      stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = Basename(argv[0]);
  if (std::strcmp(name, "flowctl") == 0) return tcflow::flowctl::FlowctlMain(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "flowctl") == 0) {
    return tcflow::flowctl::FlowctlMain(argc - 1, argv + 1);
  }
  if (std::strcmp(name, "tcflowd") == 0) return tcflow::tcflowd::TcflowdMain(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "tcflowd") == 0) {
    return tcflow::tcflowd::TcflowdMain(argc - 1, argv + 1);
  }
  return Usage();
}
