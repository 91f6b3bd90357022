#include "daemon/runtime/notify.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcflow::runtime {

Notifier Notifier::FromEnvironment() {
  const char* s = std::getenv("NOTIFY_SOCKET");
  return Notifier(s ? s : "");
}

absl::Status Notifier::Notify(absl::string_view state) const {
  if (socket_.empty()) return absl::OkStatus();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof(addr.sun_path) || (socket_[0] != '/' && socket_[0] != '@')) {
    return absl::InvalidArgumentError(absl::StrCat("bad NOTIFY_SOCKET '", socket_, "'"));
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  socklen_t len = sizeof(addr);
  if (socket_[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace: the name is exactly these bytes
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                           reinterpret_cast<sockaddr*>(&addr), len);
  const int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(state.size())) {
    return absl::UnavailableError(
        absl::StrCat("cannot notify systemd at ", socket_, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

namespace {
std::string WithStatus(absl::string_view head, absl::string_view status) {
  return status.empty() ? std::string(head) : absl::StrCat(head, "\nSTATUS=", status);
}
}  // namespace

absl::Status Notifier::Ready(absl::string_view status) const {
  return Notify(WithStatus("READY=1", status));
}

absl::Status Notifier::Reloading(absl::string_view status) const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  return Notify(WithStatus(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", usec), status));
}

absl::Status Notifier::Stopping(absl::string_view status) const {
  return Notify(WithStatus("STOPPING=1", status));
}

absl::Status Notifier::Status(absl::string_view status) const {
  return Notify(absl::StrCat("STATUS=", status));
}

absl::Status Notifier::Watchdog() const { return Notify("WATCHDOG=1"); }

}  // namespace tcflow::runtime
