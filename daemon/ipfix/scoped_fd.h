// Owns a file descriptor.

#ifndef TCFLOW_DAEMON_IPFIX_SCOPED_FD_H_
#define TCFLOW_DAEMON_IPFIX_SCOPED_FD_H_

#include <unistd.h>

#include <utility>

namespace tcflow::ipfix {

class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept {
    if (this != &o) Reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_SCOPED_FD_H_
