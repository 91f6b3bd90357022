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
  return r;
}

struct Expected {
  uint16_t dport;
  uint64_t window_packets, window_bytes;
};

struct Case {
  std::string name;
  std::vector<FlowRecord> cache;      // the second snapshot: records in the cache
  std::vector<FlowRecord> increments;  // what the drains produced since the first one
  bool has_window;
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
      // Traffic of a flow whose record has ended (not in the cache any more) is not shown.
      {"ended flows are not shown", cache, {Flow(9, 100, 100000)}, true,
       Query(1, TopSort::kBytes), {{2, 0, 0}}, 5, 0},
      {"empty cache", {}, {Flow(1, 1, 1)}, true, Query(5, TopSort::kBytes), {}, 0, 0},
      // Equal counts: the key decides (dport 6 before 7), the same on every refresh.
      {"ties by key", {Flow(7, 1, 100), Flow(6, 1, 100)}, {}, false, Query(2, TopSort::kBytes),
       {{6, 0, 0}, {7, 0, 0}}, 2, 0},
  };
}

TEST(RankTopTest, Table) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    TopWindow window;
    window.Add(c.increments);
    auto visit = [&](absl::FunctionRef<void(const FlowRecord&)> f) {
      for (const FlowRecord& r : c.cache) f(r);
    };
    TopResult result = RankTop(visit, c.has_window ? &window : nullptr, c.query);
    ASSERT_EQ(result.rows.size(), c.rows.size());
    for (size_t i = 0; i < c.rows.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(result.rows[i].record.key.dst_port, c.rows[i].dport);
      EXPECT_EQ(result.rows[i].window.packets, c.rows[i].window_packets);
      EXPECT_EQ(result.rows[i].window.bytes, c.rows[i].window_bytes);
      // Totals are the cache's record, untouched.
      auto it = std::find_if(c.cache.begin(), c.cache.end(), [&](const FlowRecord& r) {
        return r.key.dst_port == c.rows[i].dport;
      });
      EXPECT_EQ(result.rows[i].record.bytes, it->bytes);
      EXPECT_EQ(result.rows[i].record.packets, it->packets);
    }
    EXPECT_EQ(result.matched_flows, c.matched);
    EXPECT_EQ(result.active_flows, c.active);
    EXPECT_EQ(result.ranked_by_rate, c.has_window && c.query.by_rate);
  }
}

// The bounded heap agrees with a full sort on a big random cache.
TEST(RankTopTest, MatchesFullSort) {
  std::mt19937_64 rng(7);
  std::vector<FlowRecord> cache;
  TopWindow window;
  for (int i = 0; i < 20000; ++i) {
    FlowRecord r = Flow(static_cast<uint16_t>(i), 1 + rng() % 50, 64 + rng() % 5000);
    r.key.src_port = static_cast<uint16_t>(i >> 16);
    cache.push_back(r);
    if (rng() % 3 == 0) {
      FlowRecord inc = r;
      inc.packets = 1 + rng() % 5;
      inc.bytes = inc.packets * (64 + rng() % 100);
      window.Add({&inc, 1});
    }
  }
  auto visit = [&](absl::FunctionRef<void(const FlowRecord&)> f) {
    for (const FlowRecord& r : cache) f(r);
  };
  for (TopSort sort : {TopSort::kBytes, TopSort::kPackets}) {
    TopResult result = RankTop(visit, &window, Query(25, sort));
    std::vector<TopRow> all;
    for (const FlowRecord& r : cache) {
      const TopCounts* c = window.Find(r.key);
      all.push_back({r, c ? *c : TopCounts{}});
    }
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
    }
    EXPECT_EQ(result.active_flows, window.size());
  }
}

TEST(TopQueryTest, FromJson) {
  auto parse = [](const std::string& text) {
    auto v = control::ParseJson(text);
    EXPECT_TRUE(v.ok()) << text;
    return TopQueryFromJson(*v);
  };
  auto q = parse(R"({"n":5,"sort":"packets","by":"total","ipv6":true})");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->n, 5u);
  EXPECT_EQ(q->sort, TopSort::kPackets);
  EXPECT_FALSE(q->by_rate);
  EXPECT_TRUE(q->ipv6_only);
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
}

TEST(TopWindowTest, ClearStartsAnEmptyWindow) {
  TopWindow w;
  FlowRecord r = Flow(1, 3, 300);
  w.Add({&r, 1});
  ASSERT_NE(w.Find(r.key), nullptr);
  EXPECT_EQ(w.Find(r.key)->bytes, 300u);
  w.Clear();
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.Find(r.key), nullptr);
}

}  // namespace
}  // namespace tcflow::tcflowd
