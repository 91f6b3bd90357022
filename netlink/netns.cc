#include "netlink/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "netlink/socket.h"

namespace tcflow::netlink {

std::string NetnsPath(absl::string_view name_or_path) {
  if (absl::StrContains(name_or_path, '/')) return std::string(name_or_path);
  return absl::StrCat("/var/run/netns/", name_or_path);
}

absl::StatusOr<Netns> Netns::Open(absl::string_view name_or_path) {
  if (name_or_path.empty()) return Netns();
  std::string path = NetnsPath(name_or_path);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoStatus(errno, absl::StrCat("network namespace ", name_or_path, " (", path, ")"));
  }
  return FromFd(fd, std::string(name_or_path));
}

Netns Netns::FromFd(int fd, std::string label) {
  Netns ns;
  ns.fd_ = fd;
  ns.label_ = std::move(label);
  return ns;
}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), label_(std::move(other.label_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    label_ = std::move(other.label_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) close(fd_);
}

absl::Status Netns::EnterOnThisThread() const {
  if (fd_ < 0) return absl::OkStatus();
  if (setns(fd_, CLONE_NEWNET) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot enter network namespace ", label_));
  }
  return absl::OkStatus();
}

absl::Status RunInNetns(const Netns& ns, const std::function<absl::Status()>& fn) {
  if (ns.is_current()) return fn();
  absl::Status status;
  std::thread worker([&] {
    status = ns.EnterOnThisThread();
    if (status.ok()) status = fn();
  });
  worker.join();
  return status;
}

}  // namespace tcflow::netlink
