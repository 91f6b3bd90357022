#include "daemon/cache/key_index.h"

#include <map>
#include <random>

#include "gtest/gtest.h"

namespace tcflow::cache {
namespace {

// Entries are identified by index; their "key" is the hash itself here, so is_key compares
// the index's hash. Hashes are drawn from a tiny set of home positions to force long runs,
// collisions of stored bits, and wrap-around at the end of the table.
TEST(KeyIndexTest, MatchesAReferenceMapUnderChurn) {
  for (uint32_t seed = 1; seed <= 10; ++seed) {
    std::mt19937_64 rng(seed);
    KeyIndex index;
    const size_t max_keys = 40;
    index.Reset(max_keys);
    ASSERT_EQ(index.capacity(), 128u);
    std::map<uint32_t, uint64_t> live;  // index -> hash
    std::vector<uint64_t> hash_of(1000);
    auto is_key_for = [&](uint64_t h) {
      return [&, h](uint32_t i) { return live.count(i) && hash_of[i] == h; };
    };
    uint32_t next = 0;
    for (int op = 0; op < 20'000; ++op) {
      if (live.size() < max_keys && (live.empty() || rng() % 2)) {
        // Homes near the end of the table (wrap-around) or at a few spots (collisions).
        uint64_t home = rng() % 2 ? 120 + rng() % 8 : (rng() % 4) * 17;
        uint64_t h = (home | (rng() % 3) << 7) << 32 | (rng() & 0xffffffff);
        if (rng() % 3 == 0 && !live.empty()) h = live.begin()->second ^ 1;  // same stored bits
        const uint32_t idx = next++ % 1000;
        if (live.count(idx)) continue;
        bool dup = false;
        for (auto& [i, hh] : live) dup |= hh == h;
        if (dup) continue;
        hash_of[idx] = h;
        ASSERT_EQ(index.Find(h, is_key_for(h)), KeyIndex::kNone);
        index.Insert(h, idx);
        live[idx] = h;
      } else {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        const uint32_t idx = it->first;
        const uint64_t h = it->second;
        index.Erase(h, idx);
        live.erase(it);
        ASSERT_EQ(index.Find(h, is_key_for(h)), KeyIndex::kNone);
      }
      ASSERT_EQ(index.size(), live.size());
      for (auto& [i, h] : live) {
        ASSERT_EQ(index.Find(h, is_key_for(h)), i) << "op " << op;
        ASSERT_NE(index.PeekCandidate(h), KeyIndex::kNone);
      }
    }
  }
}

TEST(KeyIndexTest, PeekCandidateNamesTheEntryWithoutConfirming) {
  KeyIndex index;
  index.Reset(4);
  const uint64_t h = uint64_t{0xabcd0003} << 32;
  EXPECT_EQ(index.PeekCandidate(h), KeyIndex::kNone);
  index.Insert(h, 7);
  EXPECT_EQ(index.PeekCandidate(h), 7u);
  EXPECT_EQ(index.Find(h, [](uint32_t) { return false; }), KeyIndex::kNone);
  EXPECT_EQ(index.Find(h, [](uint32_t i) { return i == 7; }), 7u);
  index.Erase(h, 7);
  EXPECT_TRUE(index.empty());
  index.Erase(h, 7);  // absent: no effect
  EXPECT_TRUE(index.empty());
}

}  // namespace
}  // namespace tcflow::cache
