// systemd's readiness protocol (sd_notify) without libsystemd: datagrams to
// $NOTIFY_SOCKET. Without the variable (not started by systemd) every call is a no-op.
//
//   Notifier notifier = Notifier::FromEnvironment();
//   notifier.Ready("metering 3 interfaces");     // READY=1 + STATUS=...
//   notifier.Reloading();                        // on SIGHUP (Type=notify-reload)
//   notifier.Ready();                            // after the reload
//   notifier.Stopping();                         // on SIGTERM
//
// Failures to notify are returned (for a log line) but never fatal.

#ifndef TCFLOW_DAEMON_RUNTIME_NOTIFY_H_
#define TCFLOW_DAEMON_RUNTIME_NOTIFY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tcflow::runtime {

class Notifier {
 public:
  // Reads $NOTIFY_SOCKET: a path, or "@name" for an abstract socket.
  static Notifier FromEnvironment();
  // "" disables the notifier.
  explicit Notifier(std::string socket) : socket_(std::move(socket)) {}

  bool enabled() const { return !socket_.empty(); }
  const std::string& socket() const { return socket_; }

  // Sends `state` as is: newline-separated VARIABLE=value assignments.
  absl::Status Notify(absl::string_view state) const;
  absl::Status Ready(absl::string_view status = "") const;
  // RELOADING=1 with MONOTONIC_USEC (which Type=notify-reload requires).
  absl::Status Reloading(absl::string_view status = "") const;
  absl::Status Stopping(absl::string_view status = "") const;
  absl::Status Status(absl::string_view status) const;
  absl::Status Watchdog() const;

 private:
  std::string socket_;
};

}  // namespace tcflow::runtime

#endif  // TCFLOW_DAEMON_RUNTIME_NOTIFY_H_
