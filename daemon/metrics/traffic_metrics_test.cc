#include "daemon/metrics/traffic_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow::metrics {
namespace {

struct In {
  uint32_t ifindex;
  uint8_t dir;
  uint8_t v;
  uint8_t proto;
  uint16_t dport;
  uint8_t flags;
  uint64_t packets, bytes;
};

FlowRecord Rec(const In& in) {
  FlowRecord r{};
  r.key.ifindex = in.ifindex;
  r.key.direction = in.dir;
  r.key.ip_version = in.v;
  r.key.protocol = in.proto;
  r.key.dst_port = in.dport;
  r.key.key_flags = in.flags;
  r.packets = in.packets;
  r.bytes = in.bytes;
  return r;
}

// (interface, direction, ip_version, protocol) -> {packets, bytes}
using Series = std::map<std::tuple<std::string, int, std::string, std::string>,
                        std::pair<uint64_t, uint64_t>>;

Series Flatten(const TrafficSnapshot& s) {
  Series out;
  for (size_t i = 0; i < s.series.size(); ++i) {
    for (int v = 0; v < kIpVersionCount; ++v) {
      for (int p = 0; p < kProtocolCount; ++p) {
        const auto& c = s.series[i];
        if (c.traffic[v][p].packets == 0 && c.traffic[v][p].bytes == 0) continue;
        out[{s.names[i], c.direction, std::string(IpVersionLabel(v)),
             std::string(ProtocolLabel(p))}] = {c.traffic[v][p].packets, c.traffic[v][p].bytes};
      }
    }
  }
  return out;
}

TEST(TrafficMetricsTest, RecordsLandInExactlyOneSeries) {
  struct Case {
    std::string name;
    std::vector<In> records;
    Series want;
  };
  const uint8_t kOvf = TCFLOW_KEY_OVERFLOW;
  const std::vector<Case> cases = {
      {"one udp flow", {{2, 0, 4, IPPROTO_UDP, 53, 0, 3, 300}},
       {{{"eth0", 0, "4", "udp"}, {3, 300}}}},
      {"same series summed",
       {{2, 0, 4, IPPROTO_TCP, 80, 0, 1, 60}, {2, 0, 4, IPPROTO_TCP, 443, 0, 2, 120}},
       {{{"eth0", 0, "4", "tcp"}, {3, 180}}}},
      {"directions and versions apart",
       {{2, 0, 6, IPPROTO_TCP, 80, 0, 1, 80},
        {2, 1, 6, IPPROTO_TCP, 80, 0, 2, 160},
        {2, 1, 4, IPPROTO_TCP, 80, 0, 4, 240}},
       {{{"eth0", 0, "6", "tcp"}, {1, 80}},
        {{"eth0", 1, "6", "tcp"}, {2, 160}},
        {{"eth0", 1, "4", "tcp"}, {4, 240}}}},
      {"every named protocol",
       {{3, 0, 4, IPPROTO_ICMP, 0x0800, 0, 1, 84},
        {3, 0, 6, IPPROTO_ICMPV6, 0x8000, 0, 1, 104},
        {3, 0, 4, IPPROTO_SCTP, 9, 0, 1, 1},
        {3, 0, 4, IPPROTO_GRE, 0, 0, 1, 2},
        {3, 0, 6, IPPROTO_ESP, 0, 0, 1, 3},
        {3, 0, 6, IPPROTO_AH, 0, 0, 1, 4},
        {3, 0, 4, 89 /* OSPF */, 0, 0, 1, 5},
        {3, 0, 6, 0 /* hop-by-hop chain cut */, 0, TCFLOW_KEY_EXT_CHAIN_TRUNCATED, 1, 6}},
       {{{"wan", 0, "4", "icmp"}, {1, 84}},
        {{"wan", 0, "6", "icmpv6"}, {1, 104}},
        {{"wan", 0, "4", "sctp"}, {1, 1}},
        {{"wan", 0, "4", "gre"}, {1, 2}},
        {{"wan", 0, "6", "esp"}, {1, 3}},
        {{"wan", 0, "6", "ah"}, {1, 4}},
        {{"wan", 0, "4", "other"}, {1, 5}},
        {{"wan", 0, "6", "other"}, {1, 6}}}},
      {"overflow records: protocol other, their ip version",
       {{2, 1, 0, 0, 0, kOvf, 7, 700}, {2, 1, 6, 0, 0, kOvf, 1, 100},
        {2, 1, 4, IPPROTO_TCP, 0, kOvf, 2, 200}},
       {{{"eth0", 1, "unknown", "other"}, {7, 700}},
        {{"eth0", 1, "6", "other"}, {1, 100}},
        {{"eth0", 1, "4", "other"}, {2, 200}}}},
      {"unnamed interface", {{99, 0, 4, IPPROTO_UDP, 1, 0, 1, 10}},
       {{{"ifindex:99", 0, "4", "udp"}, {1, 10}}}},
      {"empty increment adds nothing", {{2, 0, 4, IPPROTO_UDP, 1, 0, 0, 0}}, {}},
  };
  const std::map<uint32_t, std::string> names = {{2, "eth0"}, {3, "wan"}};
  for (const Case& c : cases) {
    TrafficMetrics t;
    uint64_t packets = 0, bytes = 0;
    for (const In& in : c.records) {
      t.Add(Rec(in));
      packets += in.packets;
      bytes += in.bytes;
    }
    const Series got = Flatten(t.Snapshot(names));
    EXPECT_EQ(got, c.want) << c.name;
    uint64_t sp = 0, sb = 0;
    for (const auto& [k, v] : got) {
      sp += v.first;
      sb += v.second;
    }
    EXPECT_EQ(sp, packets) << c.name;
    EXPECT_EQ(sb, bytes) << c.name;
  }
}

TEST(TrafficMetricsTest, Icmpv6MessagesByTypeAndCode) {
  TrafficMetrics t;
  const uint8_t frag = TCFLOW_KEY_NON_FIRST_FRAGMENT;
  for (const In& in : std::vector<In>{
           {2, 0, 6, IPPROTO_ICMPV6, 135 << 8, 0, 4, 288},  // NS
           {2, 0, 6, IPPROTO_ICMPV6, 136 << 8, 0, 3, 216},  // NA
           {2, 0, 6, IPPROTO_ICMPV6, 135 << 8, 0, 1, 72},
           {2, 0, 6, IPPROTO_ICMPV6, 1 << 8 | 4, 0, 2, 200},  // port unreachable
           {2, 0, 6, IPPROTO_ICMPV6, 0, frag, 5, 5000},       // later fragments: no message
           {2, 0, 6, IPPROTO_ICMPV6, 0, TCFLOW_KEY_L4_TRUNCATED, 1, 50},
           {2, 1, 6, IPPROTO_ICMPV6, 128 << 8, 0, 6, 600},
           {2, 0, 4, IPPROTO_ICMP, 8 << 8, 0, 9, 900},  // ICMPv4: not counted here
       }) {
    t.Add(Rec(in));
  }
  const TrafficSnapshot s = t.Snapshot({{2, "eth0"}});
  std::map<std::tuple<int, int, int>, uint64_t> got;  // (direction, type, code)
  for (const auto& c : s.series) {
    for (uint32_t i = 0; i < c.icmpv6_used; ++i) {
      got[{c.direction, c.icmpv6[i].type_code >> 8, c.icmpv6[i].type_code & 0xff}] +=
          c.icmpv6[i].messages;
    }
    EXPECT_EQ(c.icmpv6_other, 0u);
  }
  const std::map<std::tuple<int, int, int>, uint64_t> want = {
      {{0, 135, 0}, 5}, {{0, 136, 0}, 3}, {{0, 1, 4}, 2}, {{1, 128, 0}, 6}};
  EXPECT_EQ(got, want);
}

TEST(TrafficMetricsTest, Icmpv6PairsAreBounded) {
  TrafficMetrics t;
  uint64_t total = 0;
  for (int code = 0; code < kMaxIcmpv6Series + 10; ++code) {
    t.Add(Rec({2, 0, 6, IPPROTO_ICMPV6, static_cast<uint16_t>(200 << 8 | code), 0, 2, 20}));
    total += 2;
  }
  const TrafficSnapshot s = t.Snapshot({});
  ASSERT_EQ(s.series.size(), 1u);
  EXPECT_EQ(s.series[0].icmpv6_used, static_cast<uint32_t>(kMaxIcmpv6Series));
  EXPECT_EQ(s.series[0].icmpv6_other, 20u);
  uint64_t sum = s.series[0].icmpv6_other;
  for (uint32_t i = 0; i < s.series[0].icmpv6_used; ++i) sum += s.series[0].icmpv6[i].messages;
  EXPECT_EQ(sum, total);
}

tcflow_flow_key Key6(uint32_t ifindex, uint8_t dir, const char* dst) {
  tcflow_flow_key k{};
  k.ifindex = ifindex;
  k.direction = dir;
  k.ip_version = 6;
  EXPECT_EQ(inet_pton(AF_INET6, dst, k.dst_addr), 1) << dst;
  return k;
}

TEST(TrafficMetricsTest, Ipv6Scopes) {
  const std::vector<std::pair<const char*, ScopeIndex>> cases = {
      {"2001:db8::1", kGlobal},       {"2a00:1450::1", kGlobal},
      {"64:ff9b::a00:1", kGlobal},    {"fd61:2::1", kUniqueLocal},
      {"fc00::1", kUniqueLocal},      {"fe80::1", kLinkLocal},
      {"febf::1", kLinkLocal},        {"ff02::1", kMulticast},
      {"ff02::1:ff00:1", kMulticast}, {"ff05::2", kMulticast},
      {"::", kOtherScope},            {"::1", kOtherScope},
      {"::ffff:10.0.0.1", kOtherScope}, {"fec0::1", kOtherScope},
  };
  for (const auto& [addr, want] : cases) {
    EXPECT_EQ(Ipv6ScopeOf(Key6(1, 0, addr).dst_addr), want) << addr;
  }
}

TEST(TrafficMetricsTest, Ipv6FlowsInCacheByScope) {
  TrafficMetrics t;
  const auto a = Key6(2, 0, "2001:db8::1");
  const auto b = Key6(2, 0, "fe80::1");
  const auto c = Key6(2, 1, "ff02::1:ff00:1");
  tcflow_flow_key v4{};
  v4.ifindex = 2;
  v4.ip_version = 4;
  for (const auto& k : {a, a, b, c, v4}) t.FlowCreated(k);
  t.FlowRemoved(a);
  t.FlowRemoved(c);
  t.FlowRemoved(v4);
  const TrafficSnapshot s = t.Snapshot({{2, "eth0"}});
  ASSERT_EQ(s.series.size(), 2u);
  for (const auto& x : s.series) {
    if (x.direction == 0) {
      EXPECT_EQ(x.ipv6_flows[kGlobal], 1);
      EXPECT_EQ(x.ipv6_flows_started[kGlobal], 2u);
      EXPECT_EQ(x.ipv6_flows[kLinkLocal], 1);
      EXPECT_EQ(x.ipv6_flows_started[kLinkLocal], 1u);
      EXPECT_EQ(x.ipv6_flows[kMulticast], 0);
    } else {
      EXPECT_EQ(x.ipv6_flows[kMulticast], 0);
      EXPECT_EQ(x.ipv6_flows_started[kMulticast], 1u);
    }
  }
}

TEST(TrafficMetricsTest, NamesFollowTheInterfaceTable) {
  TrafficMetrics t;
  t.Add(Rec({7, 0, 4, IPPROTO_UDP, 1, 0, 1, 10}));
  EXPECT_EQ(t.Snapshot({}).names[0], "ifindex:7");
  EXPECT_EQ(t.Snapshot({{7, "veth7"}}).names[0], "veth7");
  // Detached: the counters keep the name they had.
  EXPECT_EQ(t.Snapshot({}).names[0], "veth7");
}

}  // namespace
}  // namespace tcflow::metrics

namespace tcflow::metrics {
namespace {

TEST(TrafficMetricsTest, LargeAndSmallIfindexesKeptApart) {
  TrafficMetrics t;
  const uint32_t kBig = 0x7fff0001;  // past the direct array: the hash map
  for (uint32_t ifindex : {1u, kBig, 65535u, 65536u, kBig, 1u}) {
    for (uint8_t dir : {0, 1}) t.Add(Rec({ifindex, dir, 4, IPPROTO_UDP, 1, 0, ifindex % 7 + 1, 10}));
  }
  const TrafficSnapshot s = t.Snapshot({});
  ASSERT_EQ(s.series.size(), 8u);
  std::map<std::pair<uint32_t, int>, uint64_t> got;
  for (const auto& c : s.series) got[{c.ifindex, c.direction}] = c.traffic[kIpv4][kUdp].packets;
  for (uint32_t ifindex : {65535u, 65536u}) {
    EXPECT_EQ((got[{ifindex, 0}]), ifindex % 7 + 1) << ifindex;
    EXPECT_EQ((got[{ifindex, 1}]), ifindex % 7 + 1) << ifindex;
  }
  EXPECT_EQ((got[{1u, 0}]), 2u * (1 % 7 + 1));
  EXPECT_EQ((got[{kBig, 1}]), 2u * (kBig % 7 + 1));
}

}  // namespace
}  // namespace tcflow::metrics

namespace tcflow::metrics {
namespace {

// Links that come and go (containers): their counters go once they are gone from the
// interface table, idle for a whole pass, and hold no IPv6 flow in the cache.
TEST(TrafficMetricsTest, PruneForgetsGoneIdleInterfaces) {
  TrafficMetrics t;
  const uint32_t kBig = 1u << 20;
  for (uint32_t ifindex : {2u, 3u, 4u, kBig}) t.Add(Rec({ifindex, 0, 4, IPPROTO_UDP, 1, 0, 1, 10}));
  t.FlowCreated(Key6(4, 0, "2001:db8::1"));  // 4: gone, but an IPv6 flow is still cached
  const std::map<uint32_t, std::string> live = {{2, "eth0"}};
  EXPECT_EQ(t.Prune(live), 0u);  // first pass: nothing was seen idle yet
  t.Add(Rec({3, 0, 4, IPPROTO_UDP, 1, 0, 1, 10}));  // 3 still takes records
  EXPECT_EQ(t.Prune(live), 1u);  // kBig: gone and idle
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Prune(live), 1u);  // 3: idle now
  t.FlowRemoved(Key6(4, 0, "2001:db8::1"));
  EXPECT_EQ(t.Prune(live), 1u);  // 4: its last flow left the cache
  ASSERT_EQ(t.size(), 1u);
  // The survivor is still found (index rebuilt) and keeps counting.
  t.Add(Rec({2, 0, 4, IPPROTO_UDP, 1, 0, 5, 50}));
  t.Add(Rec({kBig, 1, 4, IPPROTO_UDP, 1, 0, 7, 70}));
  const TrafficSnapshot s = t.Snapshot(live);
  ASSERT_EQ(s.series.size(), 2u);
  EXPECT_EQ(s.names[0], "eth0");
  EXPECT_EQ(s.series[0].traffic[kIpv4][kUdp].packets, 6u);
  EXPECT_EQ(s.series[1].ifindex, kBig);
  EXPECT_EQ(s.series[1].traffic[kIpv4][kUdp].packets, 7u);
  EXPECT_EQ(t.Prune(live), 0u);
}

}  // namespace
}  // namespace tcflow::metrics
