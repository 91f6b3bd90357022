#include "daemon/loader/layout.h"

#include "gtest/gtest.h"

namespace tcflow {
namespace {

TEST(LayoutTest, SizesFollowSlotsPerHalf) {
  TableLayout l;
  ASSERT_TRUE(ComputeLayout(1000, 3, 4096, &l).ok());
  EXPECT_EQ(l.slots_per_half, 1000u);
  EXPECT_EQ(l.half_stride, 1000u + TCFLOW_OVERFLOW_SLOTS);
  EXPECT_EQ(l.slot_entries, 2u * (1000u + TCFLOW_OVERFLOW_SLOTS));
  EXPECT_EQ(l.index_entries, 3000u);
  // Both live generations fit in the index.
  EXPECT_GE(l.index_entries, 2 * l.slots_per_half);
  EXPECT_EQ(l.overflow_entries, 4u * TCFLOW_OVERFLOW_SLOTS);
  EXPECT_EQ(l.ringbuf_bytes, 4096u);
}

TEST(LayoutTest, SlotIndexMatchesAbiGeometry) {
  TableLayout l;
  ASSERT_TRUE(ComputeLayout(10, 2, 4096, &l).ok());
  struct Case {
    uint32_t half, i;
    uint64_t want;
  };
  const Case cases[] = {
      {0, 0, 0}, {0, 9, 9}, {1, 0, 266}, {1, 9, 275},
      {3, 0, 266},  // only the low bit of the half counts
  };
  for (const Case& c : cases) {
    EXPECT_EQ(l.SlotIndex(c.half, c.i), c.want) << c.half << "/" << c.i;
  }
  EXPECT_EQ(l.OverflowSlotIndex(0, 0), 10u);
  EXPECT_EQ(l.OverflowSlotIndex(1, 255), 266u + 10 + 255);
  EXPECT_EQ(l.OverflowSlotIndex(1, 255), l.slot_entries - 1u);
}

TEST(LayoutTest, SlotMapBytesIsWholePages) {
  TableLayout l;
  ASSERT_TRUE(ComputeLayout(1, 2, 4096, &l).ok());
  const size_t elem = ArrayElemSize(sizeof(tcflow_slot));
  EXPECT_EQ(elem % 8, 0u);
  EXPECT_EQ(l.SlotMapBytes(4096) % 4096, 0u);
  EXPECT_GE(l.SlotMapBytes(4096), elem * l.slot_entries);
  EXPECT_LT(l.SlotMapBytes(4096), elem * l.slot_entries + 4096);
  EXPECT_EQ(ArrayElemSize(1), 8u);
  EXPECT_EQ(ArrayElemSize(8), 8u);
  EXPECT_EQ(ArrayElemSize(9), 16u);
}

TEST(LayoutTest, RejectsBadSizes) {
  TableLayout l;
  EXPECT_FALSE(ComputeLayout(0, 3, 4096, &l).ok());
  EXPECT_FALSE(ComputeLayout(kMaxSlotsPerHalf + 1, 3, 4096, &l).ok());
  EXPECT_FALSE(ComputeLayout(100, 1, 4096, &l).ok()) << "index must hold two generations";
  EXPECT_FALSE(ComputeLayout(100, 3, 4095, &l).ok());
  EXPECT_FALSE(ComputeLayout(100, 3, 6000, &l).ok()) << "ring buffer must be a power of 2";
  EXPECT_FALSE(ComputeLayout(100, 3, 2048, &l).ok());
  EXPECT_TRUE(ComputeLayout(kMaxSlotsPerHalf, 16, 1u << 30, &l).ok());
  EXPECT_EQ(l.index_entries, uint64_t{kMaxSlotsPerHalf} * 16);
}

}  // namespace
}  // namespace tcflow
