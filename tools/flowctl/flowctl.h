// flowctl: the operator's CLI. One entry point; the commands live beside this file,
// one file per group (meter_commands.cc, config_commands.cc, ...).

#ifndef TCFLOW_TOOLS_FLOWCTL_FLOWCTL_H_
#define TCFLOW_TOOLS_FLOWCTL_FLOWCTL_H_

namespace tcflow::flowctl {

// Runs flowctl with argv[1..] as the command words; returns the exit code.
int FlowctlMain(int argc, char** argv);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_FLOWCTL_H_
