// SIGTERM/SIGINT/SIGHUP as readable events on the main loop's poll set (signalfd).
//
//   auto signals = SignalFd::Create();           // before starting any thread: threads
//   if (!signals.ok()) ...                       //   inherit the blocked mask
//   epoll on signals->fd(); when readable:
//   while (std::optional<int> sig = signals->Read()) {
//     if (*sig == SIGHUP) Reload(); else Shutdown();
//   }
//
// The signals are blocked for the creating thread (and threads it starts later) so they
// are only ever delivered through the fd; the destructor restores the previous mask.

#ifndef TCFLOW_DAEMON_RUNTIME_SIGNALS_H_
#define TCFLOW_DAEMON_RUNTIME_SIGNALS_H_

#include <signal.h>

#include <initializer_list>
#include <optional>

#include "absl/status/statusor.h"

namespace tcflow::runtime {

class SignalFd {
 public:
  static absl::StatusOr<SignalFd> Create(std::initializer_list<int> signals = {SIGTERM, SIGINT,
                                                                              SIGHUP});
  SignalFd(SignalFd&& other) noexcept;
  SignalFd& operator=(SignalFd&& other) = delete;
  ~SignalFd();

  int fd() const { return fd_; }
  // The next pending signal's number, or nullopt when none is pending (never blocks).
  std::optional<int> Read();

 private:
  SignalFd(int fd, const sigset_t& previous) : fd_(fd), previous_(previous) {}
  int fd_ = -1;
  sigset_t previous_;
};

// SIGPIPE would kill the daemon when a peer goes away mid-write; errors are handled at
// the call instead (EPIPE). Call once at start-up.
void IgnoreSigpipe();

}  // namespace tcflow::runtime

#endif  // TCFLOW_DAEMON_RUNTIME_SIGNALS_H_
