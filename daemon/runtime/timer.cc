#include "daemon/runtime/timer.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::runtime {
namespace {
timespec NonNegativeTimespec(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return absl::ToTimespec(d);
}
}  // namespace

absl::StatusOr<Timer> Timer::Create() {
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("timerfd_create: ", std::strerror(errno)));
  return Timer(fd);
}

Timer& Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Timer::~Timer() {
  if (fd_ >= 0) close(fd_);
}

absl::Status Timer::Arm(absl::Duration first, absl::Duration interval) {
  itimerspec spec{};
  spec.it_value = NonNegativeTimespec(first);
  spec.it_interval = NonNegativeTimespec(interval);
  if (timerfd_settime(fd_, 0, &spec, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("timerfd_settime: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Timer::SetPeriodic(absl::Duration interval, absl::Duration first) {
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timer interval must be positive");
  }
  if (first <= absl::ZeroDuration()) first = interval;
  return Arm(first, interval);
}

absl::Status Timer::SetOneShot(absl::Duration after) {
  // A zero it_value would disarm: fire as soon as possible instead.
  if (after <= absl::ZeroDuration()) after = absl::Nanoseconds(1);
  return Arm(after, absl::ZeroDuration());
}

absl::Status Timer::Disarm() { return Arm(absl::ZeroDuration(), absl::ZeroDuration()); }

uint64_t Timer::ReadExpirations() {
  uint64_t n = 0;
  while (true) {
    const ssize_t r = read(fd_, &n, sizeof(n));
    if (r == sizeof(n)) return n;
    if (r < 0 && errno == EINTR) continue;
    return 0;
  }
}

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace tcflow::runtime
