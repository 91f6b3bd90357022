#include "daemon/runtime/signals.h"

#include <errno.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::runtime {

absl::StatusOr<SignalFd> SignalFd::Create(std::initializer_list<int> signals) {
  sigset_t set, previous;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (int err = pthread_sigmask(SIG_BLOCK, &set, &previous); err != 0) {
    return absl::InternalError(absl::StrCat("pthread_sigmask: ", std::strerror(err)));
  }
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return absl::InternalError(absl::StrCat("signalfd: ", std::strerror(err)));
  }
  return SignalFd(fd, previous);
}

SignalFd::SignalFd(SignalFd&& other) noexcept : fd_(other.fd_), previous_(other.previous_) {
  other.fd_ = -1;
}

SignalFd::~SignalFd() {
  if (fd_ < 0) return;
  close(fd_);
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

std::optional<int> SignalFd::Read() {
  signalfd_siginfo info;
  while (true) {
    const ssize_t n = read(fd_, &info, sizeof(info));
    if (n == static_cast<ssize_t>(sizeof(info))) return static_cast<int>(info.ssi_signo);
    if (n < 0 && errno == EINTR) continue;
    return std::nullopt;  // EAGAIN: nothing pending
  }
}

void IgnoreSigpipe() { signal(SIGPIPE, SIG_IGN); }

}  // namespace tcflow::runtime
