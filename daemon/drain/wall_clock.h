// Converts kernel CLOCK_MONOTONIC nanoseconds (flow first/last seen) to wall-clock
// milliseconds since the Unix epoch (IPFIX flowStart/EndMilliseconds).
//
// The offset (CLOCK_REALTIME - CLOCK_MONOTONIC) is captured once and changes only when
// Refresh() is called, so a step of the wall clock (NTP, an operator) does not bend the
// timestamps of flows in flight: the daemon refreshes deliberately, between drains.

#ifndef TCFLOW_DAEMON_DRAIN_WALL_CLOCK_H_
#define TCFLOW_DAEMON_DRAIN_WALL_CLOCK_H_

#include <time.h>

#include <cstdint>
#include <functional>

namespace tcflow {

class WallClock {
 public:
  // Reads a clock in nanoseconds; replaceable in tests.
  using ReadFn = std::function<int64_t(clockid_t clock)>;
  static int64_t ReadClockNs(clockid_t clock);

  WallClock() : WallClock(&WallClock::ReadClockNs) {}
  explicit WallClock(ReadFn read);

  // Re-captures the offset from the clocks as they are now.
  void Refresh();
  int64_t offset_ns() const { return offset_ns_; }

  // Wall-clock milliseconds (floor) of a CLOCK_MONOTONIC instant.
  int64_t ToWallMs(uint64_t monotonic_ns) const {
    int64_t wall_ns = static_cast<int64_t>(monotonic_ns) + offset_ns_;
    int64_t ms = wall_ns / 1000000;
    return (wall_ns % 1000000 < 0) ? ms - 1 : ms;
  }

 private:
  ReadFn read_;
  int64_t offset_ns_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_WALL_CLOCK_H_
