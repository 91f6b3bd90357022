#include "daemon/drain/flow_merge.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow {
namespace {

// Monotonic == wall clock (offset 0): ns / 1e6 is the ms the records carry.
WallClock ZeroClock() {
  return WallClock([](clockid_t) -> int64_t { return 0; });
}

tcflow_slot Slot(uint8_t last_octet, uint16_t dport, uint64_t packets, uint64_t bytes,
                 uint64_t first_ms, uint64_t last_ms) {
  tcflow_slot s;
  std::memset(&s, 0, sizeof(s));
  s.key.ifindex = 2;
  s.key.ip_version = 4;
  s.key.protocol = 6;
  s.key.src_addr[10] = s.key.src_addr[11] = 0xff;
  s.key.src_addr[12] = 10;
  s.key.src_addr[15] = last_octet;
  s.key.dst_port = dport;
  s.stats.packets = packets;
  s.stats.bytes = bytes;
  s.stats.first_seen_ns = first_ms * 1000000;
  s.stats.last_seen_ns = last_ms * 1000000;
  s.stats.min_ttl = 64;
  s.stats.max_ttl = 64;
  return s;
}

TEST(FlowMergeTest, SlotToRecordCopiesEveryField) {
  tcflow_slot s = Slot(1, 80, 3, 180, 1000, 2000);
  s.stats.flow_label = 0xabcde;
  s.stats.frag_id = 77;
  s.stats.ext_hdr_bitmap = 0x5;
  s.stats.tcp_flags = 0x12;
  s.stats.min_ttl = 3;
  s.stats.max_ttl = 250;
  s.stats.tos = 0xb8;
  s.stats.ext_hdr_depth = 4;
  FlowRecord r;
  SlotToRecord(s, ZeroClock(), &r);
  EXPECT_EQ(std::memcmp(&r.key, &s.key, sizeof(s.key)), 0);
  EXPECT_EQ(r.packets, 3u);
  EXPECT_EQ(r.bytes, 180u);
  EXPECT_EQ(r.start_ms, 1000);
  EXPECT_EQ(r.end_ms, 2000);
  EXPECT_EQ(r.flow_label, 0xabcdeu);
  EXPECT_EQ(r.frag_id, 77u);
  EXPECT_EQ(r.ext_hdr_bitmap, 0x5u);
  EXPECT_EQ(r.tcp_flags, 0x12);
  EXPECT_EQ(r.min_ttl, 3);
  EXPECT_EQ(r.max_ttl, 250);
  EXPECT_EQ(r.tos, 0xb8);
  EXPECT_EQ(r.ext_hdr_depth, 4);
  EXPECT_EQ(r.end_reason, FlowEndReason::kNone);
}

TEST(FlowMergeTest, MergeFoldsCountersAndKeepsFirstPacketFields) {
  FlowRecord a, b;
  tcflow_slot sa = Slot(1, 80, 5, 500, 2000, 3000);
  sa.stats.tos = 0x10;
  sa.stats.flow_label = 1;
  sa.stats.tcp_flags = 0x10;
  sa.stats.min_ttl = 60;
  sa.stats.max_ttl = 61;
  sa.stats.ext_hdr_bitmap = 1;
  sa.stats.ext_hdr_depth = 1;
  tcflow_slot sb = Slot(1, 80, 2, 120, 1000, 2500);  // started earlier (evicted, re-added)
  sb.stats.tos = 0x20;
  sb.stats.flow_label = 2;
  sb.stats.tcp_flags = 0x02;
  sb.stats.min_ttl = 50;
  sb.stats.max_ttl = 70;
  sb.stats.ext_hdr_bitmap = 4;
  sb.stats.ext_hdr_depth = 3;
  SlotToRecord(sa, ZeroClock(), &a);
  SlotToRecord(sb, ZeroClock(), &b);
  MergeInto(&a, b);
  EXPECT_EQ(a.packets, 7u);
  EXPECT_EQ(a.bytes, 620u);
  EXPECT_EQ(a.start_ms, 1000);
  EXPECT_EQ(a.end_ms, 3000);
  EXPECT_EQ(a.tos, 0x20);
  EXPECT_EQ(a.flow_label, 2u);
  EXPECT_EQ(a.tcp_flags, 0x12);
  EXPECT_EQ(a.min_ttl, 50);
  EXPECT_EQ(a.max_ttl, 70);
  EXPECT_EQ(a.ext_hdr_bitmap, 5u);
  EXPECT_EQ(a.ext_hdr_depth, 3);
}

// Runs the reader over `slots` (one range, or the ranges given) and collects the records.
std::vector<FlowRecord> ReadAll(std::vector<tcflow_slot>& slots, GenerationReader::Counts* c,
                                std::vector<GenerationReader::Range> ranges = {},
                                size_t sink_batch = 3) {
  if (ranges.empty()) ranges.push_back({0, static_cast<uint32_t>(slots.size())});
  GenerationReader reader(slots.size(), sink_batch);
  std::vector<FlowRecord> out;
  int calls = 0;
  bool ok = reader.Read(slots.data(), ranges, ZeroClock(),
              [&](absl::Span<const FlowRecord> b) {
                EXPECT_LE(b.size(), sink_batch);
                EXPECT_FALSE(b.empty());
                out.insert(out.end(), b.begin(), b.end());
                ++calls;
              },
              c);
  EXPECT_TRUE(ok);
  EXPECT_EQ(c->records, out.size());
  return out;
}

bool AllZero(const std::vector<tcflow_slot>& slots, uint32_t begin, uint32_t end) {
  const tcflow_slot zero = {};
  for (uint32_t i = begin; i < end; ++i) {
    if (std::memcmp(&slots[i], &zero, sizeof(zero)) != 0) return false;
  }
  return true;
}

// Table-driven: slots of one generation in, records out (order-free: compared by key).
TEST(GenerationReaderTest, MergesDuplicateKeys) {
  struct Want {
    uint8_t octet;
    uint16_t port;
    uint64_t packets, bytes;
    int64_t start, end;
  };
  struct Case {
    const char* name;
    std::vector<tcflow_slot> slots;
    std::vector<Want> want;
    uint64_t duplicates;
  };
  const std::vector<Case> cases = {
      {"distinct", {Slot(1, 80, 1, 60, 10, 10), Slot(2, 80, 2, 120, 11, 12)},
       {{1, 80, 1, 60, 10, 10}, {2, 80, 2, 120, 11, 12}}, 0},
      {"same address other port", {Slot(1, 80, 1, 60, 10, 10), Slot(1, 443, 1, 60, 10, 10)},
       {{1, 80, 1, 60, 10, 10}, {1, 443, 1, 60, 10, 10}}, 0},
      {"duplicate merged",
       {Slot(1, 80, 1, 60, 10, 10), Slot(2, 80, 1, 60, 11, 11), Slot(1, 80, 4, 240, 20, 30)},
       {{1, 80, 5, 300, 10, 30}, {2, 80, 1, 60, 11, 11}}, 1},
      {"three slots one flow",
       {Slot(9, 53, 1, 1, 1, 1), Slot(9, 53, 1, 1, 2, 2), Slot(9, 53, 1, 1, 3, 3)},
       {{9, 53, 3, 3, 1, 3}}, 2},
      {"later slot started first",
       {Slot(7, 22, 2, 2, 50, 60), Slot(7, 22, 1, 1, 40, 45)},
       {{7, 22, 3, 3, 40, 60}}, 1},
      {"empty slots skipped", {Slot(1, 80, 0, 0, 0, 0), Slot(3, 80, 1, 60, 5, 5)},
       {{3, 80, 1, 60, 5, 5}}, 0},
      {"nothing", {}, {}, 0},
  };
  for (const Case& c : cases) {
    std::vector<tcflow_slot> slots = c.slots;
    GenerationReader::Counts counts;
    std::vector<FlowRecord> recs = ReadAll(slots, &counts);
    ASSERT_EQ(recs.size(), c.want.size()) << c.name;
    for (const Want& w : c.want) {
      auto it = std::find_if(recs.begin(), recs.end(), [&](const FlowRecord& r) {
        return r.key.src_addr[15] == w.octet && r.key.dst_port == w.port;
      });
      ASSERT_NE(it, recs.end()) << c.name << ": no record for ." << int{w.octet};
      EXPECT_EQ(it->packets, w.packets) << c.name;
      EXPECT_EQ(it->bytes, w.bytes) << c.name;
      EXPECT_EQ(it->start_ms, w.start) << c.name;
      EXPECT_EQ(it->end_ms, w.end) << c.name;
    }
    EXPECT_EQ(counts.duplicates, c.duplicates) << c.name;
    EXPECT_TRUE(AllZero(slots, 0, slots.size())) << c.name << ": slots not zeroed";
  }
}

TEST(GenerationReaderTest, MergesAcrossRangesAndLeavesOtherSlotsAlone) {
  // Flow slots [0, 2) and overflow-region slots [4, 6) of one half; 2 and 3 are not part
  // of the generation and must be left as they are.
  std::vector<tcflow_slot> slots = {Slot(1, 80, 1, 1, 1, 1), Slot(2, 80, 1, 1, 1, 1),
                                    Slot(8, 8, 8, 8, 8, 8),  Slot(9, 9, 9, 9, 9, 9),
                                    Slot(2, 80, 5, 5, 1, 1), Slot(3, 80, 1, 1, 1, 1)};
  GenerationReader::Counts c;
  std::vector<FlowRecord> recs = ReadAll(slots, &c, {{0, 2}, {4, 6}});
  EXPECT_EQ(recs.size(), 3u);
  EXPECT_EQ(c.duplicates, 1u);
  EXPECT_EQ(c.packets, 8u);
  EXPECT_TRUE(AllZero(slots, 0, 2));
  EXPECT_TRUE(AllZero(slots, 4, 6));
  EXPECT_EQ(slots[2].stats.packets, 8u);
  EXPECT_EQ(slots[3].stats.packets, 9u);
}

TEST(GenerationReaderTest, ManyFlowsWithRandomDuplicatesSumExactly) {
  // 50k distinct flows, each split over 1-3 slots in shuffled order.
  constexpr int kFlows = 50000;
  std::vector<tcflow_slot> input;
  uint64_t want_packets = 0;
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1103515245 + 12345; };
  for (int f = 0; f < kFlows; ++f) {
    int copies = 1 + (next() >> 16) % 3;
    for (int c = 0; c < copies; ++c) {
      input.push_back(Slot(static_cast<uint8_t>(f), static_cast<uint16_t>(f >> 8), f + 1, 1,
                           1, 1));
      want_packets += f + 1;
    }
  }
  for (size_t i = input.size() - 1; i > 0; --i) std::swap(input[i], input[next() % (i + 1)]);
  for (size_t batch : {1, 4096}) {
    std::vector<tcflow_slot> slots = input;
    GenerationReader::Counts c;
    std::vector<FlowRecord> recs = ReadAll(slots, &c, {}, batch);
    ASSERT_EQ(recs.size(), static_cast<size_t>(kFlows));
    EXPECT_EQ(c.duplicates, slots.size() - kFlows);
    EXPECT_EQ(c.packets, want_packets);
    uint64_t packets = 0;
    std::vector<bool> seen(kFlows);
    for (const FlowRecord& r : recs) {
      int f = r.key.src_addr[15] | r.key.dst_port << 8;
      ASSERT_LT(f, kFlows);
      EXPECT_FALSE(seen[f]) << "flow " << f << " emitted twice";
      seen[f] = true;
      EXPECT_EQ(r.packets % (f + 1), 0u);  // every copy of flow f carries f + 1 packets
      packets += r.packets;
    }
    EXPECT_EQ(packets, want_packets);
    EXPECT_TRUE(AllZero(slots, 0, slots.size()));
  }
}

// merge off: every used slot comes out as it is (duplicates too), nothing is lost, unused
// slots are skipped, and every slot read is zeroed.
TEST(GenerationReaderTest, WithoutMergeHandsOnEveryUsedSlotAndZeroesThem) {
  std::vector<tcflow_slot> slots = {Slot(1, 1, 5, 500, 10, 20), Slot(1, 1, 2, 200, 5, 30),
                                    tcflow_slot{}, Slot(2, 1, 7, 700, 1, 1),
                                    Slot(1, 1, 1, 100, 40, 40)};
  GenerationReader reader(slots.size(), 2, /*merge=*/false);
  const GenerationReader::Range r[] = {{0, static_cast<uint32_t>(slots.size())}};
  GenerationReader::Counts c;
  std::vector<FlowRecord> out;
  ASSERT_TRUE(reader.Read(slots.data(), r, ZeroClock(),
                          [&](absl::Span<const FlowRecord> b) {
                            EXPECT_LE(b.size(), 2u);
                            out.insert(out.end(), b.begin(), b.end());
                          },
                          &c));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(c.records, 4u);
  EXPECT_EQ(c.duplicates, 0u);
  EXPECT_EQ(c.packets, 15u);
  EXPECT_EQ(c.bytes, 1500u);
  std::vector<uint64_t> packets;
  for (const FlowRecord& rec : out) packets.push_back(rec.packets);
  EXPECT_EQ(packets, (std::vector<uint64_t>{5, 2, 7, 1})) << "slot order, unmerged";
  EXPECT_EQ(out[0].start_ms, 10);
  EXPECT_EQ(out[1].end_ms, 30);
  EXPECT_TRUE(AllZero(slots, 0, slots.size()));
}

TEST(GenerationReaderTest, RefusesRangesBeyondCapacity) {
  std::vector<tcflow_slot> slots = {Slot(1, 1, 1, 1, 1, 1), Slot(2, 1, 1, 1, 1, 1),
                                    Slot(3, 1, 1, 1, 1, 1)};
  GenerationReader reader(2, 16);
  const GenerationReader::Range r[] = {{0, 3}};
  GenerationReader::Counts c;
  int calls = 0;
  EXPECT_FALSE(reader.Read(slots.data(), r, ZeroClock(),
                           [&](absl::Span<const FlowRecord>) { ++calls; }, &c));
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(slots[0].stats.packets, 1u) << "nothing read, nothing zeroed";
}

TEST(GenerationReaderTest, ReusableAcrossGenerations) {
  GenerationReader reader(8, 16);
  for (int gen = 0; gen < 3; ++gen) {
    std::vector<tcflow_slot> slots = {Slot(1, 1, 1, 1, 1, 1), Slot(1, 1, 2, 2, 2, 2)};
    GenerationReader::Counts c;
    std::vector<FlowRecord> out;
    const GenerationReader::Range r[] = {{0, 2}};
    reader.Read(slots.data(), r, ZeroClock(),
                [&](absl::Span<const FlowRecord> b) { out.insert(out.end(), b.begin(), b.end()); },
                &c);
    ASSERT_EQ(out.size(), 1u) << gen;
    EXPECT_EQ(out[0].packets, 3u);
    EXPECT_EQ(c.duplicates, 1u);
  }
}

TEST(FlowMergeTest, HashSpreadsSimilarKeys) {
  // Keys differing in one byte anywhere must not collide in the low bits (bitmap index).
  tcflow_slot base = Slot(1, 1, 1, 1, 1, 1);
  std::vector<uint64_t> low;
  for (size_t byte = 0; byte < sizeof(tcflow_flow_key); ++byte) {
    tcflow_flow_key k = base.key;
    reinterpret_cast<uint8_t*>(&k)[byte] ^= 0x80;
    low.push_back(HashFlowKey(k) & 0xFFFFF);
  }
  std::sort(low.begin(), low.end());
  EXPECT_EQ(std::unique(low.begin(), low.end()), low.end());
}

}  // namespace
}  // namespace tcflow
