// A CLOCK_MONOTONIC timer as a pollable fd (timerfd), for the drain and expiry ticks.
//
//   auto tick = Timer::Create();
//   tick->SetPeriodic(absl::Milliseconds(100));
//   epoll on tick->fd(); when readable: uint64_t n = tick->ReadExpirations();  // ticks missed
//                                       // since the last read are counted, not queued

#ifndef TCFLOW_DAEMON_RUNTIME_TIMER_H_
#define TCFLOW_DAEMON_RUNTIME_TIMER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tcflow::runtime {

class Timer {
 public:
  static absl::StatusOr<Timer> Create();
  Timer(Timer&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Timer& operator=(Timer&& other) noexcept;
  ~Timer();

  int fd() const { return fd_; }
  // Fires every `interval`, the first time after `first` (default: one interval).
  absl::Status SetPeriodic(absl::Duration interval, absl::Duration first = absl::ZeroDuration());
  absl::Status SetOneShot(absl::Duration after);
  absl::Status Disarm();
  // Expirations since the last call; 0 when none (never blocks).
  uint64_t ReadExpirations();

 private:
  explicit Timer(int fd) : fd_(fd) {}
  absl::Status Arm(absl::Duration first, absl::Duration interval);
  int fd_ = -1;
};

// CLOCK_MONOTONIC now, in nanoseconds (the clock of the kernel's flow timestamps).
int64_t MonotonicNowNs();

}  // namespace tcflow::runtime

#endif  // TCFLOW_DAEMON_RUNTIME_TIMER_H_
