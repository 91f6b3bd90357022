#include "daemon/cache/flow_cache.h"

#include <netinet/in.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tcflow::cache {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint16_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
constexpr int64_t kT0 = 1'700'000'000'000;  // a wall-clock ms

tcflow_flow_key Key(uint32_t id, uint8_t protocol = IPPROTO_UDP) {
  tcflow_flow_key k{};
  k.ifindex = 2;
  k.other_ifindex = 3;
  k.src_addr[10] = k.src_addr[11] = 0xff;
  k.dst_addr[10] = k.dst_addr[11] = 0xff;
  k.src_addr[12] = 10;
  k.src_addr[15] = static_cast<uint8_t>(id);
  k.src_addr[14] = static_cast<uint8_t>(id >> 8);
  k.src_addr[13] = static_cast<uint8_t>(id >> 16);
  k.dst_addr[12] = 192;
  k.dst_addr[15] = 1;
  k.src_port = static_cast<uint16_t>(1000 + id);
  k.dst_port = 53;
  k.ip_version = 4;
  k.protocol = protocol;
  k.direction = TCFLOW_DIR_INGRESS;
  return k;
}

FlowRecord Inc(const tcflow_flow_key& key, uint64_t packets, uint64_t bytes, int64_t start,
               int64_t end, uint16_t flags = 0) {
  FlowRecord r;
  r.key = key;
  r.packets = packets;
  r.bytes = bytes;
  r.start_ms = start;
  r.end_ms = end;
  r.tcp_flags = flags;
  r.min_ttl = 64;
  r.max_ttl = 64;
  return r;
}

FlowCacheOptions Options() {
  FlowCacheOptions o;
  o.idle_timeout_ms = 10'000;
  o.active_timeout_ms = 60'000;
  o.tcp_end_grace_ms = 2'000;
  o.max_flows = 100;
  o.tick_ms = 100;
  return o;
}

// What a test checks of an ended record.
struct Ended {
  uint32_t src_low;  // the key's id (last address byte)
  uint64_t packets;
  uint64_t bytes;
  int64_t start;
  int64_t end;
  FlowEndReason reason;
  bool operator==(const Ended& o) const {
    return src_low == o.src_low && packets == o.packets && bytes == o.bytes &&
           start == o.start && end == o.end && reason == o.reason;
  }
  friend std::ostream& operator<<(std::ostream& os, const Ended& e) {
    return os << "{id " << e.src_low << " pkts " << e.packets << " bytes " << e.bytes
              << " start +" << e.start - kT0 << " end +" << e.end - kT0 << " reason "
              << static_cast<int>(e.reason) << "}";
  }
};

std::vector<Ended> Summarize(const std::vector<FlowRecord>& recs) {
  std::vector<Ended> out;
  for (const auto& r : recs) {
    out.push_back({r.key.src_addr[15], r.packets, r.bytes, r.start_ms, r.end_ms, r.end_reason});
  }
  return out;
}

// A step of a scripted scenario: merge an increment, or advance the clock (Expire).
struct Step {
  enum Kind { kMerge, kExpire, kFlushAll } kind;
  FlowRecord increment;  // kMerge
  int64_t now = 0;       // kExpire
  std::vector<Ended> want;  // records that this step ends
};

Step M(const FlowRecord& r, std::vector<Ended> want = {}) {
  return {Step::kMerge, r, 0, std::move(want)};
}
Step E(int64_t now, std::vector<Ended> want = {}) {
  return {Step::kExpire, {}, now, std::move(want)};
}
Step F(std::vector<Ended> want) { return {Step::kFlushAll, {}, 0, std::move(want)}; }

struct Scenario {
  std::string name;
  FlowCacheOptions options;
  std::vector<Step> steps;
};

TEST(FlowCacheTest, Scenarios) {
  const auto udp = Key(1), udp2 = Key(2), udp3 = Key(3);
  const auto tcp = Key(7, IPPROTO_TCP);
  FlowCacheOptions small = Options();
  small.max_flows = 2;

  const std::vector<Scenario> scenarios = {
      {"increments merge; idle timeout ends the flow",
       Options(),
       {M(Inc(udp, 2, 200, kT0, kT0 + 5)), M(Inc(udp, 3, 300, kT0 + 100, kT0 + 900)),
        E(kT0 + 10'000),  // 9.1 s after the last packet: not yet
        E(kT0 + 11'000, {{1, 5, 500, kT0, kT0 + 900, FlowEndReason::kIdleTimeout}})}},
      {"no packet lost on idle expiry when traffic resumes later",
       Options(),
       {M(Inc(udp, 1, 100, kT0, kT0)),
        E(kT0 + 10'200, {{1, 1, 100, kT0, kT0, FlowEndReason::kIdleTimeout}}),
        M(Inc(udp, 4, 400, kT0 + 20'000, kT0 + 20'010)),
        E(kT0 + 31'000, {{1, 4, 400, kT0 + 20'000, kT0 + 20'010, FlowEndReason::kIdleTimeout}})}},
      {"active timeout exports so far; the next record starts where the last ended",
       Options(),
       {M(Inc(udp, 10, 1000, kT0, kT0 + 9'000)), M(Inc(udp, 10, 1000, kT0 + 9'000, kT0 + 18'000)),
        M(Inc(udp, 10, 1000, kT0 + 18'000, kT0 + 27'000)),
        M(Inc(udp, 10, 1000, kT0 + 27'000, kT0 + 36'000)),
        M(Inc(udp, 10, 1000, kT0 + 36'000, kT0 + 45'000)),
        M(Inc(udp, 10, 1000, kT0 + 45'000, kT0 + 54'000)),
        M(Inc(udp, 5, 500, kT0 + 54'000, kT0 + 59'000)),
        E(kT0 + 60'200, {{1, 65, 6500, kT0, kT0 + 59'000, FlowEndReason::kActiveTimeout}}),
        // The next drain's increment began before the export: clamped to the last end.
        M(Inc(udp, 1, 100, kT0 + 58'000, kT0 + 61'000)),
        E(kT0 + 72'000, {{1, 1, 100, kT0 + 59'000, kT0 + 61'000, FlowEndReason::kIdleTimeout}})}},
      {"a flow idle after its active timeout leaves silently",
       Options(),
       {M(Inc(udp, 1, 100, kT0, kT0 + 55'000)),
        E(kT0 + 60'100, {{1, 1, 100, kT0, kT0 + 55'000, FlowEndReason::kActiveTimeout}}),
        E(kT0 + 200'000)}},
      {"FIN: the final ACK joins the flow; exported after the grace period",
       Options(),
       {M(Inc(tcp, 3, 180, kT0, kT0 + 10, kSyn | kAck)),
        M(Inc(tcp, 100, 150'000, kT0 + 10, kT0 + 500, kAck)),
        M(Inc(tcp, 1, 52, kT0 + 600, kT0 + 600, kFin | kAck)),
        M(Inc(tcp, 1, 52, kT0 + 700, kT0 + 700, kAck)),  // the last ACK
        E(kT0 + 2'500),
        E(kT0 + 2'700, {{7, 105, 150'284, kT0, kT0 + 700, FlowEndReason::kEndOfFlow}}),
        E(kT0 + 100'000)}},
      {"RST ends a flow the same way",
       Options(),
       {M(Inc(tcp, 2, 120, kT0, kT0 + 1, kSyn)), M(Inc(tcp, 1, 40, kT0 + 5, kT0 + 5, kRst)),
        E(kT0 + 2'200, {{7, 3, 160, kT0, kT0 + 5, FlowEndReason::kEndOfFlow}})}},
      {"a SYN after FIN starts a new record (port reuse)",
       Options(),
       {M(Inc(tcp, 5, 500, kT0, kT0 + 100, kSyn | kAck | kFin)),
        M(Inc(tcp, 2, 120, kT0 + 300, kT0 + 310, kSyn),
          {{7, 5, 500, kT0, kT0 + 100, FlowEndReason::kEndOfFlow}}),
        F({{7, 2, 120, kT0 + 300, kT0 + 310, FlowEndReason::kForcedEnd}})}},
      {"FIN/RST flags on UDP-numbered keys mean nothing",
       Options(),
       {M(Inc(udp, 1, 10, kT0, kT0, kFin)), E(kT0 + 5'000),
        E(kT0 + 10'100, {{1, 1, 10, kT0, kT0, FlowEndReason::kIdleTimeout}})}},
      {"cache pressure evicts the least recently seen flow",
       small,
       {M(Inc(udp, 1, 100, kT0, kT0 + 1'000)), M(Inc(udp2, 1, 100, kT0, kT0 + 500)),
        M(Inc(udp, 1, 100, kT0 + 3'000, kT0 + 3'000)),  // udp seen again: udp2 is older
        M(Inc(udp3, 7, 700, kT0 + 3'100, kT0 + 3'100),
          {{2, 1, 100, kT0, kT0 + 500, FlowEndReason::kLackOfResources}}),
        F({{1, 2, 200, kT0, kT0 + 3'000, FlowEndReason::kForcedEnd},
           {3, 7, 700, kT0 + 3'100, kT0 + 3'100, FlowEndReason::kForcedEnd}})}},
      {"under pressure a lingering FIN flow goes first, as end of flow",
       small,
       {M(Inc(udp, 1, 100, kT0, kT0 + 1'000)),
        M(Inc(tcp, 2, 100, kT0 + 2'000, kT0 + 2'000, kSyn | kFin)),
        M(Inc(udp3, 1, 100, kT0 + 2'100, kT0 + 2'100),
          {{7, 2, 100, kT0 + 2'000, kT0 + 2'000, FlowEndReason::kEndOfFlow}})}},
      {"first seen is the minimum, last seen the maximum",
       Options(),
       {M(Inc(udp, 1, 10, kT0 + 500, kT0 + 600)), M(Inc(udp, 1, 10, kT0 + 100, kT0 + 200)),
        F({{1, 2, 20, kT0 + 100, kT0 + 600, FlowEndReason::kForcedEnd}})}},
  };

  for (const Scenario& sc : scenarios) {
    SCOPED_TRACE(sc.name);
    FlowCache cache(sc.options);
    uint64_t merged_packets = 0, exported_packets = 0;
    for (size_t i = 0; i < sc.steps.size(); ++i) {
      SCOPED_TRACE(testing::Message() << "step " << i);
      const Step& st = sc.steps[i];
      std::vector<FlowRecord> ended;
      switch (st.kind) {
        case Step::kMerge:
          cache.Merge(st.increment, &ended);
          merged_packets += st.increment.packets;
          break;
        case Step::kExpire:
          cache.Expire(st.now, &ended);
          break;
        case Step::kFlushAll:
          cache.FlushAll(&ended);
          break;
      }
      EXPECT_EQ(Summarize(ended), st.want);
      for (const auto& r : ended) exported_packets += r.packets;
    }
    std::vector<FlowRecord> rest;
    cache.FlushAll(&rest);
    for (const auto& r : rest) exported_packets += r.packets;
    EXPECT_EQ(exported_packets, merged_packets);
    EXPECT_EQ(cache.size(), 0u);
  }
}

TEST(FlowCacheTest, MergesEveryField) {
  FlowCache cache(Options());
  tcflow_flow_key k = Key(9, IPPROTO_TCP);
  k.ip_version = 6;
  FlowRecord a = Inc(k, 1, 100, kT0 + 10, kT0 + 20, kSyn);
  a.min_ttl = 60, a.max_ttl = 62, a.tos = 0x10, a.flow_label = 0x12345, a.frag_id = 0;
  a.ext_hdr_bitmap = 0x1, a.ext_hdr_depth = 1;
  FlowRecord b = Inc(k, 2, 300, kT0 + 30, kT0 + 40, kAck);
  b.min_ttl = 50, b.max_ttl = 70, b.tos = 0x20, b.flow_label = 0x777, b.frag_id = 4242;
  b.ext_hdr_bitmap = 0x4, b.ext_hdr_depth = 3;
  FlowRecord c = Inc(k, 1, 50, kT0 + 50, kT0 + 60, kAck);
  c.min_ttl = 55, c.max_ttl = 65, c.tos = 0x30, c.flow_label = 0x1, c.frag_id = 99;
  c.ext_hdr_bitmap = 0x1, c.ext_hdr_depth = 2;
  std::vector<FlowRecord> ended;
  cache.Merge(a, &ended);
  cache.Merge(b, &ended);
  cache.Merge(c, &ended);
  std::vector<FlowRecord> dump;
  cache.ForEach([&](const FlowRecord& r) { dump.push_back(r); });
  ASSERT_EQ(dump.size(), 1u);
  const FlowRecord& r = dump[0];
  EXPECT_EQ(r.packets, 4u);
  EXPECT_EQ(r.bytes, 450u);
  EXPECT_EQ(r.start_ms, kT0 + 10);
  EXPECT_EQ(r.end_ms, kT0 + 60);
  EXPECT_EQ(r.tcp_flags, kSyn | kAck);
  EXPECT_EQ(r.min_ttl, 50);
  EXPECT_EQ(r.max_ttl, 70);
  EXPECT_EQ(r.tos, 0x10);                // the first packet's
  EXPECT_EQ(r.flow_label, 0x12345u);     // the first packet's
  EXPECT_EQ(r.frag_id, 4242u);           // the first fragment's
  EXPECT_EQ(r.ext_hdr_bitmap, 0x5u);
  EXPECT_EQ(r.ext_hdr_depth, 3);
  EXPECT_EQ(r.end_reason, FlowEndReason::kNone);
  EXPECT_EQ(std::memcmp(&r.key, &k, sizeof(k)), 0);
  EXPECT_THAT(ended, IsEmpty());
}

TEST(FlowCacheTest, KeysDifferingInAnyFieldAreDifferentFlows) {
  FlowCache cache(Options());
  std::vector<tcflow_flow_key> keys;
  tcflow_flow_key base = Key(1);
  keys.push_back(base);
  // Flip one byte of each field in turn.
  for (size_t off = 0; off < sizeof(tcflow_flow_key); ++off) {
    tcflow_flow_key k = base;
    reinterpret_cast<uint8_t*>(&k)[off] ^= 0x01;
    keys.push_back(k);
  }
  std::vector<FlowRecord> ended;
  for (const auto& k : keys) cache.Merge(Inc(k, 1, 1, kT0, kT0), &ended);
  EXPECT_EQ(cache.size(), keys.size());
  for (const auto& k : keys) cache.Merge(Inc(k, 1, 1, kT0, kT0), &ended);
  EXPECT_EQ(cache.size(), keys.size());
  size_t visited = 0;
  cache.ForEach([&](const FlowRecord& r) {
    ++visited;
    EXPECT_EQ(r.packets, 2u);
  });
  EXPECT_EQ(visited, keys.size());
}

TEST(FlowCacheTest, FlushByFilter) {
  FlowCache cache(Options());
  std::vector<FlowRecord> ended;
  auto a = Key(1, IPPROTO_TCP), b = Key(2, IPPROTO_UDP), c = Key(3, IPPROTO_UDP);
  c.ifindex = 5;
  for (const auto& k : {a, b, c}) cache.Merge(Inc(k, 1, 10, kT0, kT0), &ended);

  FlowFilter by_proto;
  by_proto.protocol = IPPROTO_UDP;
  by_proto.ifindex = 5;
  EXPECT_EQ(cache.Flush(by_proto, &ended), 1u);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].key.src_addr[15], 3);
  EXPECT_EQ(ended[0].end_reason, FlowEndReason::kForcedEnd);

  FlowFilter by_src;
  by_src.src = FilterAddress{};
  std::memcpy(by_src.src->addr, a.src_addr, 16);
  by_src.src->ip_version = 4;
  by_src.src_port = a.src_port;
  by_src.dst_port = 53;
  ended.clear();
  EXPECT_EQ(cache.Flush(by_src, &ended), 1u);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].key.src_addr[15], 1);

  FlowFilter wrong_family = by_src;  // same bytes, but asked as IPv6: no match
  wrong_family.src->ip_version = 6;
  ended.clear();
  cache.Merge(Inc(a, 1, 10, kT0, kT0), &ended);
  EXPECT_EQ(cache.Flush(wrong_family, &ended), 0u);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.FlushAll(&ended), 2u);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.stats().records_ended[static_cast<int>(FlowEndReason::kForcedEnd)], 4u);
}

// FlushAll drops the index, entries and wheels at once; the cache must then behave like a
// fresh one: the same keys start new records, expiry and eviction work, no stale wheel
// item ends a new flow early, the window restarts.
TEST(FlowCacheTest, EverythingWorksAfterFlushAll) {
  FlowCacheOptions o = Options();
  o.max_flows = 8;
  FlowCache cache(o);
  cache.EnableWindow(true);
  std::vector<FlowRecord> ended;
  for (uint32_t i = 0; i < 8; ++i) cache.Merge(Inc(Key(i), 1, 10, kT0, kT0), &ended);
  EXPECT_EQ(cache.FlushAll(&ended), 8u);
  EXPECT_EQ(cache.size(), 0u);
  ended.clear();
  // The same keys again, later: new records with only the new counts.
  for (uint32_t i = 0; i < 8; ++i) {
    cache.Merge(Inc(Key(i), 2, 20, kT0 + 5'000, kT0 + 5'000), &ended);
  }
  EXPECT_TRUE(ended.empty());
  EXPECT_EQ(cache.size(), 8u);
  size_t windowed = 0;
  cache.ForEachWithWindow([&](const FlowRecord& r, const FlowWindowCounts& w) {
    EXPECT_EQ(r.packets, 2u);
    EXPECT_EQ(w.packets, 2u);
    ++windowed;
  });
  EXPECT_EQ(windowed, 8u);
  // The old flows' idle deadline (kT0 + 10 s) passes: nothing ends early.
  cache.Expire(kT0 + 12'000, &ended);
  EXPECT_TRUE(ended.empty());
  // A ninth key evicts one (max_flows 8).
  cache.Merge(Inc(Key(100), 1, 10, kT0 + 13'000, kT0 + 13'000), &ended);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].end_reason, FlowEndReason::kLackOfResources);
  EXPECT_EQ(ended[0].packets, 2u);
  ended.clear();
  // Everything ends by idle timeout in time, once each.
  cache.Expire(kT0 + 30'000, &ended);
  EXPECT_EQ(ended.size(), 8u);
  for (const FlowRecord& r : ended) EXPECT_EQ(r.end_reason, FlowEndReason::kIdleTimeout);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(FlowCacheTest, ExpiryAfterLongPauseAndShortenedTimeouts) {
  FlowCache cache(Options());
  std::vector<FlowRecord> ended;
  for (uint32_t i = 0; i < 50; ++i) cache.Merge(Inc(Key(i), 1, 1, kT0, kT0 + i), &ended);
  cache.Expire(kT0, &ended);
  // A day later (far beyond the wheel): everything idles out in one call.
  cache.Expire(kT0 + 86'400'000, &ended);
  EXPECT_EQ(ended.size(), 50u);
  EXPECT_EQ(cache.size(), 0u);

  ended.clear();
  for (uint32_t i = 0; i < 10; ++i) cache.Merge(Inc(Key(i), 1, 1, kT0 + 86'400'000, kT0 + 86'400'000), &ended);
  FlowCacheOptions shorter = Options();
  shorter.idle_timeout_ms = 1'000;
  shorter.tick_ms = 10;
  ASSERT_TRUE(cache.SetOptions(shorter).ok());
  cache.Expire(kT0 + 86'400'000 + 500, &ended);
  EXPECT_THAT(ended, IsEmpty());
  cache.Expire(kT0 + 86'400'000 + 1'020, &ended);
  EXPECT_EQ(ended.size(), 10u);
  for (const auto& r : ended) EXPECT_EQ(r.end_reason, FlowEndReason::kIdleTimeout);

  FlowCacheOptions bad = Options();
  bad.idle_timeout_ms = 0;
  EXPECT_FALSE(cache.SetOptions(bad).ok());
  EXPECT_FALSE(bad.Validate().ok());
  EXPECT_TRUE(Options().Validate().ok());
}

TEST(FlowCacheTest, ShrinkingMaxFlowsEvictsOnExpire) {
  FlowCache cache(Options());
  std::vector<FlowRecord> ended;
  for (uint32_t i = 0; i < 20; ++i) cache.Merge(Inc(Key(i), 1, 1, kT0 + i * 10, kT0 + i * 10), &ended);
  FlowCacheOptions o = Options();
  o.max_flows = 5;
  ASSERT_TRUE(cache.SetOptions(o).ok());
  cache.Expire(kT0 + 300, &ended);
  EXPECT_EQ(cache.size(), 5u);
  ASSERT_EQ(ended.size(), 15u);
  for (const auto& r : ended) {
    EXPECT_EQ(r.end_reason, FlowEndReason::kLackOfResources);
    EXPECT_LT(r.key.src_addr[15], 15) << "the most recently seen flows stay";
  }
  EXPECT_EQ(cache.stats().records_evicted(), 15u);
}

// Exactness under a random mix of everything: the sum of exported packets and bytes equals
// the sum merged, with every end reason exercised.
TEST(FlowCacheTest, RandomizedExactnessAcrossAllEndReasons) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    FlowCacheOptions o;
    o.idle_timeout_ms = 2'000 + rng() % 3'000;
    o.active_timeout_ms = 5'000 + rng() % 10'000;
    o.tcp_end_grace_ms = rng() % 1'500;
    o.max_flows = 16 + rng() % 200;
    o.tick_ms = 1 + rng() % 300;
    // Phases of more keys than fit (pressure) and fewer (timeouts).
    const uint32_t big_pool = static_cast<uint32_t>(o.max_flows * 2 + rng() % o.max_flows);
    const uint32_t small_pool = static_cast<uint32_t>(o.max_flows / 2);
    FlowCache cache(o);
    uint64_t in_packets = 0, in_bytes = 0, out_packets = 0, out_bytes = 0;
    std::map<int, uint64_t> reasons;
    std::vector<FlowRecord> ended;
    auto drain = [&]() {
      for (const auto& r : ended) {
        out_packets += r.packets;
        out_bytes += r.bytes;
        ++reasons[static_cast<int>(r.end_reason)];
        EXPECT_NE(r.end_reason, FlowEndReason::kNone);
        EXPECT_GT(r.packets, 0u);
        EXPECT_LE(r.start_ms, r.end_ms);
      }
      ended.clear();
    };
    int64_t now = kT0;
    for (int round = 0; round < 400; ++round) {
      now += rng() % 10 == 0 ? rng() % 8'000 : rng() % 400;
      const uint32_t pool = (round / 50) % 2 ? big_pool : small_pool;
      const int batch = rng() % 64;
      for (int i = 0; i < batch; ++i) {
        const uint32_t id = rng() % pool;
        const uint8_t proto = id % 3 == 0 ? IPPROTO_TCP : IPPROTO_UDP;
        uint16_t flags = 0;
        if (proto == IPPROTO_TCP) {
          const int r = rng() % 20;
          flags = r == 0 ? kFin : r == 1 ? kRst : r == 2 ? kSyn : kAck;
        }
        const uint64_t p = 1 + rng() % 50;
        const uint64_t b = p * (40 + rng() % 1400);
        const int64_t start = now - static_cast<int64_t>(rng() % 300);
        cache.Merge(Inc(Key(id, proto), p, b, start, now, flags), &ended);
        in_packets += p;
        in_bytes += b;
      }
      if (round % 100 == 99) {
        // A reload: new timeouts, tick and size while flows are cached.
        FlowCacheOptions n = o;
        n.idle_timeout_ms = 1'000 + rng() % 4'000;
        n.active_timeout_ms = 3'000 + rng() % 10'000;
        n.tick_ms = 1 + rng() % 300;
        n.max_flows = o.max_flows / 2 + rng() % o.max_flows + 1;
        ASSERT_TRUE(cache.SetOptions(n).ok());
      }
      if (rng() % 50 == 0) {
        FlowFilter f;
        f.protocol = IPPROTO_TCP;
        cache.Flush(f, &ended);
      }
      cache.Expire(now, &ended);
      EXPECT_LE(cache.size(), cache.options().max_flows);
      drain();
      // Invariant at every step: exported + still cached == merged.
      uint64_t cached_packets = 0, cached_bytes = 0;
      cache.ForEach([&](const FlowRecord& r) {
        cached_packets += r.packets;
        cached_bytes += r.bytes;
      });
      ASSERT_EQ(out_packets + cached_packets, in_packets);
      ASSERT_EQ(out_bytes + cached_bytes, in_bytes);
    }
    cache.FlushAll(&ended);
    drain();
    EXPECT_EQ(out_packets, in_packets);
    EXPECT_EQ(out_bytes, in_bytes);
    EXPECT_EQ(cache.stats().packets_exported, in_packets);
    EXPECT_EQ(cache.stats().bytes_exported, in_bytes);
    EXPECT_EQ(cache.size(), 0u);
    for (FlowEndReason r : {FlowEndReason::kIdleTimeout, FlowEndReason::kActiveTimeout,
                            FlowEndReason::kEndOfFlow, FlowEndReason::kForcedEnd,
                            FlowEndReason::kLackOfResources}) {
      EXPECT_GT(reasons[static_cast<int>(r)], 0u) << "reason " << static_cast<int>(r);
      EXPECT_EQ(reasons[static_cast<int>(r)], cache.stats().records_ended[static_cast<int>(r)]);
    }
  }
}

// The observer sees each key enter and leave once: the net count is the cache's size on
// every path (idle end, active timeout keeping the key, FIN grace, eviction, flush).
TEST(FlowCacheTest, ObserverTracksKeysHeld) {
  struct Counter : FlowCacheObserver {
    int64_t added = 0, removed = 0;
    void FlowAdded(const tcflow_flow_key&) override { ++added; }
    void FlowRemoved(const tcflow_flow_key&) override { ++removed; }
  } obs;
  FlowCacheOptions o = Options();
  o.max_flows = 4;
  FlowCache cache(o);
  cache.set_observer(&obs);
  std::vector<FlowRecord> ended;
  auto held = [&] { return obs.added - obs.removed; };
  for (uint32_t id = 1; id <= 3; ++id) cache.Merge(Inc(Key(id), 1, 100, kT0, kT0), &ended);
  cache.Merge(Inc(Key(1), 1, 100, kT0 + 10, kT0 + 10), &ended);  // an update, not a new key
  EXPECT_EQ(obs.added, 3);
  EXPECT_EQ(held(), static_cast<int64_t>(cache.size()));
  for (uint32_t id = 4; id <= 6; ++id) cache.Merge(Inc(Key(id), 1, 100, kT0 + 20, kT0 + 20), &ended);
  EXPECT_EQ(obs.removed, 2);  // two evictions
  EXPECT_EQ(held(), static_cast<int64_t>(cache.size()));
  cache.Merge(Inc(Key(7, IPPROTO_TCP), 1, 60, kT0 + 30, kT0 + 30, kFin | kAck), &ended);
  cache.Expire(kT0 + 5'000, &ended);  // FIN grace over
  EXPECT_EQ(held(), static_cast<int64_t>(cache.size()));
  cache.Expire(kT0 + 61'000, &ended);  // idle: everything goes
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(held(), 0);
  for (int64_t t = 61'000; t <= 120'000; t += 9'000) {
    cache.Merge(Inc(Key(8), 1, 100, kT0 + t, kT0 + t), &ended);
    cache.Expire(kT0 + t, &ended);
  }
  cache.Expire(kT0 + 122'000, &ended);  // active timeout at +121 s keeps the key
  EXPECT_EQ(ended.back().end_reason, FlowEndReason::kActiveTimeout);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(held(), 1);
  cache.FlushAll(&ended);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(held(), 0);
}

TEST(FlowKeyHashTest, SeedsDifferAndEveryByteMatters) {
  tcflow_flow_key k = Key(1);
  const uint64_t h = HashFlowKey(k, 1);
  EXPECT_NE(h, HashFlowKey(k, 2));
  for (size_t off = 0; off < sizeof(k); ++off) {
    tcflow_flow_key m = k;
    reinterpret_cast<uint8_t*>(&m)[off] ^= 0x80;
    EXPECT_NE(HashFlowKey(m, 1), h) << "byte " << off;
  }
}

}  // namespace
}  // namespace tcflow::cache
