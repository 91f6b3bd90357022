#include "daemon/drain/wall_clock.h"

#include "gtest/gtest.h"

namespace tcflow {
namespace {

// A pair of clocks the test moves by hand.
class WallClockTest : public ::testing::Test {
 protected:
  WallClock::ReadFn Fake() {
    return [this](clockid_t c) { return c == CLOCK_MONOTONIC ? g_mono : g_real; };
  }
  int64_t g_mono = 5'000'000'000;              // 5 s after boot
  int64_t g_real = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z
};

TEST_F(WallClockTest, ConvertsMonotonicToWallMs) {
  WallClock clock(Fake());
  EXPECT_EQ(clock.offset_ns(), g_real - g_mono);
  struct Case {
    uint64_t mono_ns;
    int64_t want_ms;
  };
  const Case cases[] = {
      {5'000'000'000, 1'700'000'000'000},      // now
      {5'000'999'999, 1'700'000'000'000},      // floors within the ms
      {5'001'000'000, 1'700'000'000'001},
      {4'000'000'000, 1'699'999'999'000},      // a flow seen a second ago
      {65'000'000'000, 1'700'000'060'000},     // a minute later
  };
  for (const Case& c : cases) EXPECT_EQ(clock.ToWallMs(c.mono_ns), c.want_ms) << c.mono_ns;
}

TEST_F(WallClockTest, WallClockStepDoesNotMoveTimesUntilRefresh) {
  WallClock clock(Fake());
  const int64_t before = clock.ToWallMs(6'000'000'000);
  g_mono += 10'000'000;  // 10 ms pass, and the operator steps the clock back an hour
  g_real += 10'000'000 - 3600'000'000'000;
  EXPECT_EQ(clock.ToWallMs(6'000'000'000), before);
  clock.Refresh();
  EXPECT_EQ(clock.ToWallMs(6'000'000'000), before - 3600'000);
}

TEST_F(WallClockTest, FloorsBeforeTheEpoch) {
  g_real = 0;  // monotonic 5 s == epoch
  WallClock clock(Fake());
  EXPECT_EQ(clock.ToWallMs(4'999'999'999), -1);
  EXPECT_EQ(clock.ToWallMs(5'000'000'000), 0);
}

TEST(WallClockRealTest, AgreesWithRealtimeWithinAMillisecondOrTwo) {
  WallClock clock;
  int64_t mono = WallClock::ReadClockNs(CLOCK_MONOTONIC);
  int64_t real_ms = WallClock::ReadClockNs(CLOCK_REALTIME) / 1000000;
  EXPECT_NEAR(clock.ToWallMs(mono), real_ms, 2);
}

}  // namespace
}  // namespace tcflow
