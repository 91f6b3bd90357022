#include "daemon/cache/huge_page_array.h"

#include <cstdint>
#include <utility>

#include "gtest/gtest.h"

namespace tcflow::cache {
namespace {

struct Pair {
  uint32_t a;
  uint32_t b;
};

TEST(HugePageArrayTest, HoldsTheFillAndKeepsWhatIsWritten) {
  // 3 MiB: more than one huge page, not a multiple of one.
  const size_t n = (3u << 20) / sizeof(Pair) + 5;
  HugePageArray<Pair> a(n, Pair{UINT32_MAX, 7});
  ASSERT_EQ(a.size(), n);
  for (size_t i = 0; i < n; i += 4097) {
    EXPECT_EQ(a[i].a, UINT32_MAX) << i;
    EXPECT_EQ(a[i].b, 7u) << i;
  }
  EXPECT_EQ(a[n - 1].a, UINT32_MAX);
  for (size_t i = 0; i < n; ++i) a[i] = Pair{static_cast<uint32_t>(i), 0};
  uint64_t sum = 0;
  for (const Pair& p : a) sum += p.a;
  EXPECT_EQ(sum, uint64_t{n} * (n - 1) / 2);
}

TEST(HugePageArrayTest, MovesOwnership) {
  HugePageArray<uint64_t> a(1000, 42);
  uint64_t* data = &a[0];
  HugePageArray<uint64_t> b(std::move(a));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.begin(), a.end());
  ASSERT_EQ(b.size(), 1000u);
  EXPECT_EQ(&b[0], data);
  EXPECT_EQ(b[999], 42u);
  b = HugePageArray<uint64_t>(10, 1);  // the old mapping is released, the new one kept
  ASSERT_EQ(b.size(), 10u);
  EXPECT_EQ(b[9], 1u);
  HugePageArray<uint64_t> empty(0, 5);
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.begin(), empty.end());
}

}  // namespace
}  // namespace tcflow::cache
