// tcflowd's entry point, called by the multi-call binary (tools/tcflow_main.cc).

#ifndef TCFLOW_DAEMON_TCFLOWD_TCFLOWD_MAIN_H_
#define TCFLOW_DAEMON_TCFLOWD_TCFLOWD_MAIN_H_

namespace tcflow::tcflowd {

// tcflowd [-c FILE] [--netns NS]; returns the exit code.
int TcflowdMain(int argc, char** argv);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_TCFLOWD_MAIN_H_
