#include "daemon/tcflowd/top_ranker.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

// A flow named by its destination port (unique in a test), observed on `ifindex`.
FlowRecord Flow(uint16_t dport, uint64_t packets, uint64_t bytes, int ip_version = 4,
                uint32_t ifindex = 2) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof(r.key));
  r.key.ifindex = ifindex;
  r.key.ip_version = static_cast<uint8_t>(ip_version);
  r.key.protocol = 17;
  r.key.src_port = 40000;
  r.key.dst_port = dport;
  if (ip_version == 4) {
    r.key.src_addr[10] = r.key.src_addr[11] = 0xff;
    r.key.src_addr[12] = 10;
    r.key.src_addr[15] = 1;
  } else {
    r.key.src_addr[0] = 0xfd;
    r.key.src_addr[15] = 1;
  }
  r.packets = packets;
  r.bytes = bytes;
  r.start_ms = r.end_ms = 1'000'000;
  return r;
}

cache::FlowCacheOptions LongTimeouts() {
  cache::FlowCacheOptions o;
  o.idle_timeout_ms = o.active_timeout_ms = 3'600'000;
  return o;
}

using WindowVisit = absl::FunctionRef<void(const FlowRecord&, const cache::FlowWindowCounts&)>;

struct Expected {
  uint16_t dport;
  uint64_t window_packets, window_bytes;
};

struct Case {
  std::string name;
  std::vector<FlowRecord> cache;       // the first snapshot: merged into the cache
  std::vector<FlowRecord> increments;  // what the drains produced since then
  bool has_window;                     // a top request came at the first snapshot
  TopQuery query;
  std::vector<Expected> rows;
  uint64_t matched, active;
};

TopQuery Query(size_t n, TopSort sort, bool by_rate = true, bool ipv6 = false,
               std::optional<uint32_t> ifindex = std::nullopt) {
  TopQuery q;
  q.n = n;
  q.sort = sort;
  q.by_rate = by_rate;
  q.ipv6_only = ipv6;
  q.ifindex = ifindex;
  return q;
}

std::vector<Case> Cases() {
  const std::vector<FlowRecord> cache = {
      Flow(1, 10, 15000), Flow(2, 1000, 64000), Flow(3, 3, 300),
      Flow(4, 50, 60000, 6), Flow(5, 7, 700, 4, 3)};
  return {
      {"first frame: by total bytes", cache, {}, false, Query(3, TopSort::kBytes),
       {{2, 0, 0}, {4, 0, 0}, {1, 0, 0}}, 5, 0},
      {"first frame: by total packets", cache, {}, false, Query(3, TopSort::kPackets),
       {{2, 0, 0}, {4, 0, 0}, {1, 0, 0}}, 5, 0},
      {"by_rate without a window ranks by totals", cache, {}, false,
       Query(2, TopSort::kPackets), {{2, 0, 0}, {4, 0, 0}}, 5, 0},
      // Flow 3 is small in total but the only busy one now: it leads; idle flows follow by
      // their totals.
      {"rate before total", cache, {Flow(3, 2, 200)}, true, Query(3, TopSort::kBytes),
       {{3, 2, 200}, {2, 0, 0}, {4, 0, 0}}, 5, 1},
      // Per-CPU slots of one flow (and two drains) are summed by key.
      {"increments summed by key", cache,
       {Flow(1, 2, 3000), Flow(5, 1, 100, 4, 3), Flow(1, 3, 4500), Flow(5, 1, 100, 4, 3)}, true,
       Query(5, TopSort::kBytes),
       {{1, 5, 7500}, {5, 2, 200}, {2, 0, 0}, {4, 0, 0}, {3, 0, 0}}, 5, 2},
      // By packets the many small packets of flow 2 beat the few big ones of flow 4.
      {"rate by packets", cache, {Flow(2, 100, 6400), Flow(4, 5, 6000, 6)}, true,
       Query(2, TopSort::kPackets), {{2, 100, 6400}, {4, 5, 6000}}, 5, 2},
      {"rate by bytes", cache, {Flow(2, 100, 6400), Flow(4, 5, 6000, 6)}, true,
       Query(2, TopSort::kBytes), {{2, 100, 6400}, {4, 5, 6000}}, 5, 2},
      {"rate by bytes, other order", cache, {Flow(2, 10, 640), Flow(4, 5, 6000, 6)}, true,
       Query(2, TopSort::kBytes), {{4, 5, 6000}, {2, 10, 640}}, 5, 2},
      // by=total with a window: the window's counts are reported but do not rank.
      {"by total with a window", cache, {Flow(3, 2, 200)}, true,
       Query(2, TopSort::kBytes, /*by_rate=*/false), {{2, 0, 0}, {4, 0, 0}}, 5, 1},
      {"ipv6 only", cache, {Flow(1, 1, 100)}, true, Query(5, TopSort::kBytes, true, true),
       {{4, 0, 0}}, 1, 0},
      {"one interface", cache, {Flow(1, 1, 100)}, true,
       Query(5, TopSort::kBytes, true, false, 3), {{5, 0, 0}}, 1, 0},
      // A flow new since the first snapshot: all its traffic is in the window.
      {"new flow", cache, {Flow(9, 100, 100000)}, true, Query(2, TopSort::kBytes),
       {{9, 100, 100000}, {2, 0, 0}}, 6, 1},
      {"empty cache", {}, {}, true, Query(5, TopSort::kBytes), {}, 0, 0},
      // Equal counts: the key decides (dport 6 before 7), the same on every refresh.
      {"ties by key", {Flow(7, 1, 100), Flow(6, 1, 100)}, {}, false, Query(2, TopSort::kBytes),
       {{6, 0, 0}, {7, 0, 0}}, 2, 0},
  };
}

TEST(RankTopTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    cache::FlowCache cache(LongTimeouts());
    std::vector<FlowRecord> ended;
    for (const FlowRecord& r : c.cache) cache.Merge(r, &ended);
    if (c.has_window) cache.EnableWindow(true);
    cache.MergeBatch(c.increments, &ended);
    ASSERT_TRUE(ended.empty());
    auto visit = [&](WindowVisit f) { cache.ForEachWithWindow(f); };
    TopResult result = RankTop(visit, c.has_window, c.query);
    ASSERT_EQ(result.rows.size(), c.rows.size());
    for (size_t i = 0; i < c.rows.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(result.rows[i].record.key.dst_port, c.rows[i].dport);
      EXPECT_EQ(result.rows[i].window.packets, c.rows[i].window_packets);
      EXPECT_EQ(result.rows[i].window.bytes, c.rows[i].window_bytes);
      // Totals are the cache's record: the first snapshot plus the increments.
      uint64_t packets = 0, bytes = 0;
      for (const auto* list : {&c.cache, &c.increments}) {
        for (const FlowRecord& r : *list) {
          if (r.key.dst_port == c.rows[i].dport) {
            packets += r.packets;
            bytes += r.bytes;
          }
        }
      }
      EXPECT_EQ(result.rows[i].record.bytes, bytes);
      EXPECT_EQ(result.rows[i].record.packets, packets);
    }
    EXPECT_EQ(result.matched_flows, c.matched);
    EXPECT_EQ(result.active_flows, c.active);
    EXPECT_EQ(result.ranked_by_rate, c.has_window && c.query.by_rate);
  }
}

// The bounded heap agrees with a full sort on a big random cache.
TEST(RankTopTest, MatchesFullSort) {
  std::mt19937_64 rng(7);
  cache::FlowCache cache(LongTimeouts());
  std::vector<FlowRecord> ended;
  std::vector<TopRow> all;
  for (int i = 0; i < 20000; ++i) {
    FlowRecord r = Flow(static_cast<uint16_t>(i), 1 + rng() % 50, 64 + rng() % 5000);
    r.key.src_port = static_cast<uint16_t>(i >> 16);
    cache.Merge(r, &ended);
    all.push_back({r, {}});
  }
  cache.EnableWindow(true);
  size_t active = 0;
  for (TopRow& row : all) {
    if (rng() % 3 != 0) continue;
    FlowRecord inc = row.record;
    inc.packets = 1 + rng() % 5;
    inc.bytes = inc.packets * (64 + rng() % 100);
    cache.Merge(inc, &ended);
    row.record.packets += inc.packets;
    row.record.bytes += inc.bytes;
    row.window = {inc.packets, inc.bytes};
    ++active;
  }
  auto visit = [&](WindowVisit f) { cache.ForEachWithWindow(f); };
  for (TopSort sort : {TopSort::kBytes, TopSort::kPackets}) {
    TopResult result = RankTop(visit, true, Query(25, sort));
    const bool p = sort == TopSort::kPackets;
    std::sort(all.begin(), all.end(), [&](const TopRow& a, const TopRow& b) {
      uint64_t wa = p ? a.window.packets : a.window.bytes, wb = p ? b.window.packets : b.window.bytes;
      uint64_t ta = p ? a.record.packets : a.record.bytes, tb = p ? b.record.packets : b.record.bytes;
      if (wa != wb) return wa > wb;
      if (ta != tb) return ta > tb;
      return std::memcmp(&a.record.key, &b.record.key, sizeof(a.record.key)) < 0;
    });
    ASSERT_EQ(result.rows.size(), 25u);
    for (size_t i = 0; i < 25; ++i) {
      EXPECT_EQ(std::memcmp(&result.rows[i].record.key, &all[i].record.key,
                            sizeof(tcflow_flow_key)), 0)
          << i;
      EXPECT_EQ(result.rows[i].window.bytes, all[i].window.bytes) << i;
      EXPECT_EQ(result.rows[i].record.bytes, all[i].record.bytes) << i;
    }
    EXPECT_EQ(result.active_flows, active);
    EXPECT_EQ(result.matched_flows, all.size());
  }
}

TEST(TopQueryTest, FromJson) {
  auto parse = [](const std::string& text) {
    auto v = control::ParseJson(text);
    EXPECT_TRUE(v.ok()) << text;
    return TopQueryFromJson(*v);
  };
  auto q = parse(R"({"n":5,"sort":"packets","by":"total","ipv6":true,"interval_ms":60000})");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->n, 5u);
  EXPECT_EQ(q->sort, TopSort::kPackets);
  EXPECT_FALSE(q->by_rate);
  EXPECT_TRUE(q->ipv6_only);
  EXPECT_EQ(q->interval_ms, 60000);
  q = parse("{}");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->n, 20u);
  EXPECT_EQ(q->sort, TopSort::kBytes);
  EXPECT_TRUE(q->by_rate);
  EXPECT_FALSE(q->ipv6_only);
  EXPECT_FALSE(parse(R"({"n":0})").ok());
  EXPECT_FALSE(parse(R"({"n":1001})").ok());
  EXPECT_FALSE(parse(R"({"n":-3})").ok());
  auto bad = parse(R"({"sort":"flows"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("flows"), std::string::npos);
  EXPECT_FALSE(parse(R"({"by":"magic"})").ok());
  EXPECT_FALSE(parse(R"({"interval_ms":-1})").ok());
}

// The cache's window: cleared on request, never inherited by a reused entry, kept across
// a flow's records (an active timeout starts a new record, not a new window), gone when off.
TEST(FlowCacheWindowTest, CountsByKeyAcrossRecords) {
  cache::FlowCacheOptions o;
  o.idle_timeout_ms = 20'000;
  o.active_timeout_ms = 10'000;
  cache::FlowCache cache(o);
  std::vector<FlowRecord> ended;
  auto window_of = [&](uint16_t dport) {
    cache::FlowWindowCounts found;
    cache.ForEachWithWindow([&](const FlowRecord& r, const cache::FlowWindowCounts& w) {
      if (r.key.dst_port == dport) found = w;
    });
    return found;
  };
  FlowRecord a = Flow(1, 3, 300);
  cache.Merge(a, &ended);
  EXPECT_EQ(window_of(1).packets, 0u);  // off: zeros
  cache.EnableWindow(true);
  EXPECT_EQ(window_of(1).packets, 0u);  // what came before is not in the window
  cache.Merge(a, &ended);
  cache.Merge(a, &ended);
  EXPECT_EQ(window_of(1).packets, 6u);
  EXPECT_EQ(window_of(1).bytes, 600u);
  cache.ClearWindow();
  EXPECT_EQ(window_of(1).packets, 0u);

  // Active timeout: the record is exported, the flow counts on in a fresh record; the
  // window holds both parts.
  cache.Merge(a, &ended);
  FlowRecord later = a;
  later.start_ms = later.end_ms = a.end_ms + 10'500;
  cache.Expire(later.end_ms, &ended);
  ASSERT_EQ(ended.size(), 1u);
  cache.Merge(later, &ended);
  EXPECT_EQ(window_of(1).packets, 6u);

  // Idle timeout frees the entry; a new key takes it over with only its own traffic.
  cache.Expire(later.end_ms + 21'000, &ended);
  ASSERT_EQ(cache.size(), 0u);
  FlowRecord b = Flow(2, 1, 100);
  b.start_ms = b.end_ms = later.end_ms + 21'000;
  cache.Merge(b, &ended);
  EXPECT_EQ(window_of(2).packets, 1u);
  EXPECT_EQ(window_of(2).bytes, 100u);

  cache.EnableWindow(false);
  cache.Merge(b, &ended);
  EXPECT_EQ(window_of(2).packets, 0u);
}

}  // namespace
}  // namespace tcflow::tcflowd
