// Network namespaces by name (/var/run/netns/NAME, as `ip netns` names them) or by path.
//
// setns() moves only the calling thread, so tcflow never switches the main thread: work
// that must happen inside a namespace runs on a dedicated short-lived thread (RunInNetns),
// or on a long-lived thread that joined it (the link watcher). Sockets opened there keep
// that namespace for life and may then be used from any thread.

#ifndef TCFLOW_NETLINK_NETNS_H_
#define TCFLOW_NETLINK_NETNS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcflow::netlink {

// An open namespace file. Empty (the default) means "the namespace we are in".
class Netns {
 public:
  Netns() = default;
  // "NAME" opens /var/run/netns/NAME; anything with a '/' is a path (/proc/PID/ns/net).
  // "" gives the current namespace.
  static absl::StatusOr<Netns> Open(absl::string_view name_or_path);
  // Adopts an open namespace fd.
  static Netns FromFd(int fd, std::string label);

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  bool is_current() const { return fd_ < 0; }
  int fd() const { return fd_; }
  // How the namespace was named, for messages ("" for the current one).
  const std::string& label() const { return label_; }

  // Joins this namespace on the calling thread. Only for threads tcflow created for it.
  absl::Status EnterOnThisThread() const;

 private:
  int fd_ = -1;
  std::string label_;
};

// The path of a named namespace.
std::string NetnsPath(absl::string_view name_or_path);

// Runs `fn` on a new thread that joined `ns` and waits for it. With the current namespace
// `fn` runs on the calling thread.
absl::Status RunInNetns(const Netns& ns, const std::function<absl::Status()>& fn);

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_NETNS_H_
