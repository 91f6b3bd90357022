#include "daemon/drain/wall_clock.h"

#include <utility>

namespace tcflow {

int64_t WallClock::ReadClockNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

WallClock::WallClock(ReadFn read) : read_(std::move(read)) { Refresh(); }

void WallClock::Refresh() {
  // Bracket the REALTIME read between two MONOTONIC reads and keep the tightest of a few
  // tries: a preemption between the reads would otherwise skew the offset.
  int64_t best_width = INT64_MAX;
  for (int i = 0; i < 5; ++i) {
    int64_t m1 = read_(CLOCK_MONOTONIC);
    int64_t r = read_(CLOCK_REALTIME);
    int64_t m2 = read_(CLOCK_MONOTONIC);
    int64_t width = m2 - m1;
    if (width < best_width) {
      best_width = width;
      offset_ns_ = r - (m1 + width / 2);
    }
  }
}

}  // namespace tcflow
