// The tc programs on the real kernel, through BPF_PROG_TEST_RUN: crafted frames in, flow
// records out, field by field. For every frame: the verdict is TC_ACT_UNSPEC, the output
// bytes equal the input, and the exactness invariant of bpf/tcflow_abi.h holds (every wire
// packet in exactly one flow slot, overflow slot, or loss/parse counter).

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/datapath_harness.h"
#include "tests/packet/packet_builder.h"

namespace tcflow::testing {
namespace {

using packet::Frame;
using packet::Ip4;
using packet::Ip6;
using packet::Ipv4Spec;
using packet::Ipv6Spec;
using packet::LayerKind;
using packet::PacketBuilder;
using packet::TcpSpec;

constexpr uint32_t kUnspec = static_cast<uint32_t>(TC_ACT_UNSPEC);
constexpr uint32_t kLoIfindex = 1;  // BPF_PROG_TEST_RUN runs on loopback by default

uint64_t MonotonicCoarseNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

std::array<uint8_t, 16> Mapped(const packet::Ipv4Address& a) {
  std::array<uint8_t, 16> m{};
  m[10] = m[11] = 0xff;
  std::copy(a.begin(), a.end(), m.begin() + 12);
  return m;
}
std::array<uint8_t, 16> V6(const std::string& s) { return Ip6(s); }

// Where the IP header starts: after Ethernet and any VLAN tags.
size_t L3Offset(const Frame& f) {
  for (const auto& l : f.layers)
    if (l.kind == LayerKind::kIpv4 || l.kind == LayerKind::kIpv6) return l.offset;
  return 14;
}

struct Want {
  enum Outcome { kFlow, kParseError, kNotIp } outcome = kFlow;
  int parse_error = 0;
  uint8_t ip_version = 4;
  std::array<uint8_t, 16> src{}, dst{};
  uint8_t protocol = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint16_t vlan_id = 0, inner_vlan_id = 0;
  uint8_t key_flags = 0;
  uint32_t mark = 0;
  uint32_t other_ifindex = 0;
  uint64_t packets = 1;
  int64_t bytes = -1;  // -1: the frame's IP bytes
  uint16_t tcp_flags = 0;
  uint8_t min_ttl = 64, max_ttl = 64;
  uint8_t tos = 0;
  uint32_t flow_label = 0;
  uint32_t frag_id = 0;
  uint32_t ext_bitmap = 0;
  uint8_t ext_depth = 0;
};

struct Case {
  std::string name;
  Frame frame;
  Want want;
  uint8_t direction = TCFLOW_DIR_INGRESS;
  RunContext ctx;
};

// Default expectations for the builder's default addresses.
Want V4Flow(uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
  Want w;
  w.ip_version = 4;
  w.src = Mapped(Ip4("10.0.0.1"));
  w.dst = Mapped(Ip4("10.0.0.2"));
  w.protocol = proto;
  w.src_port = sport;
  w.dst_port = dport;
  return w;
}
Want V6Flow(uint8_t proto, uint16_t sport = 0, uint16_t dport = 0) {
  Want w = V4Flow(proto, sport, dport);
  w.ip_version = 6;
  w.src = V6("2001:db8::1");
  w.dst = V6("2001:db8::2");
  return w;
}
Want ParseError(int reason) {
  Want w;
  w.outcome = Want::kParseError;
  w.parse_error = reason;
  return w;
}

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(PinToCpu(0));
    Reload(Knobs{});
  }

  void Reload(const Knobs& k) {
    dp_.reset();
    twin_.reset();
    std::string error;
    dp_ = Datapath::Load(k, &error);
    ASSERT_NE(dp_, nullptr) << error;
    twin_ = Datapath::Load(k, &error);
    ASSERT_NE(twin_, nullptr) << error;
  }

  // The second packet of a flow may take the programs' fast path (the flow's cache entry is
  // hot) while the first always takes the general path: on a twin object (so the test's own
  // counters stay as they are), the second run of the frame must add exactly what the first
  // added to every stats counter, and leave the record with doubled counts (packets, bytes,
  // packets of its chain) and nothing else changed but last_seen.
  void CheckSecondRunLikeFirst(const Case& c) {
    SCOPED_TRACE("second run of " + c.name);
    twin_->FreshGeneration();
    auto words = [](const tcflow_stats& s) {
      std::vector<uint64_t> w(sizeof(s) / 8);
      std::memcpy(w.data(), &s, sizeof(s));
      return w;
    };
    std::vector<uint64_t> s0 = words(twin_->Stats());
    RunResult r1 = twin_->Run(c.frame.bytes, c.direction, c.ctx);
    std::vector<uint64_t> s1 = words(twin_->Stats());
    std::vector<tcflow_slot> f1 = twin_->Flows(), o1 = twin_->Overflows();
    RunResult r2 = twin_->Run(c.frame.bytes, c.direction, c.ctx);
    std::vector<uint64_t> s2 = words(twin_->Stats());
    std::vector<tcflow_slot> f2 = twin_->Flows(), o2 = twin_->Overflows();
    ASSERT_EQ(r1.err, 0);
    ASSERT_EQ(r2.err, 0);
    EXPECT_EQ(r2.retval, kUnspec);
    EXPECT_TRUE(r2.output_equal);
    for (size_t i = 0; i < s0.size(); i++)
      EXPECT_EQ(s2[i] - s1[i], s1[i] - s0[i]) << "tcflow_stats word " << i;
    ASSERT_EQ(f2.size(), f1.size());
    ASSERT_EQ(o2.size(), o1.size());
    for (size_t i = 0; i < f1.size(); i++) {
      EXPECT_EQ(std::memcmp(&f1[i].key, &f2[i].key, sizeof(f1[i].key)), 0);
      tcflow_flow_stats a = f1[i].stats, b = f2[i].stats;
      EXPECT_EQ(b.packets, 2 * a.packets);
      EXPECT_EQ(b.bytes, 2 * a.bytes);
      EXPECT_GE(b.last_seen_ns, a.last_seen_ns);
      EXPECT_EQ(b.chain_misses, 2 * a.chain_misses);
      a.packets = b.packets = a.bytes = b.bytes = a.last_seen_ns = b.last_seen_ns = 0;
      a.chain_misses = b.chain_misses = 0;
      EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0) << "a field other than the counters moved";
    }
  }

  // Runs one case in a fresh generation and checks verdict, bytes, record and invariant.
  void Check(const Case& c) {
    SCOPED_TRACE(c.name);
    CheckSecondRunLikeFirst(c);
    dp_->FreshGeneration();
    tcflow_stats before = dp_->Stats();
    uint64_t t0 = MonotonicCoarseNs();
    RunResult r = dp_->Run(c.frame.bytes, c.direction, c.ctx);
    uint64_t t1 = MonotonicCoarseNs();
    ASSERT_EQ(r.err, 0) << strerror(-r.err);
    EXPECT_EQ(r.retval, kUnspec);
    EXPECT_TRUE(r.output_equal) << "the program changed the packet";
    tcflow_stats after = dp_->Stats();
    const uint64_t wire = c.ctx.gso_segs > 0 ? c.ctx.gso_segs : 1;

    CheckInvariant(before, after, wire);
    EXPECT_EQ(after.packets[c.direction] - before.packets[c.direction], wire);

    std::vector<tcflow_slot> flows = dp_->Flows();
    const Want& w = c.want;
    switch (w.outcome) {
      case Want::kNotIp:
        EXPECT_EQ(after.not_ip - before.not_ip, wire);
        EXPECT_TRUE(flows.empty());
        return;
      case Want::kParseError:
        EXPECT_EQ(after.parse_error[w.parse_error] - before.parse_error[w.parse_error], wire);
        EXPECT_TRUE(flows.empty());
        return;
      case Want::kFlow:
        break;
    }
    ASSERT_EQ(flows.size(), 1u);
    const tcflow_flow_key& k = flows[0].key;
    const tcflow_flow_stats& s = flows[0].stats;
    EXPECT_EQ(k.ifindex, kLoIfindex);
    EXPECT_EQ(k.other_ifindex, w.other_ifindex);
    EXPECT_EQ(std::memcmp(k.src_addr, w.src.data(), 16), 0);
    EXPECT_EQ(std::memcmp(k.dst_addr, w.dst.data(), 16), 0);
    EXPECT_EQ(k.ip_version, w.ip_version);
    EXPECT_EQ(k.protocol, w.protocol);
    EXPECT_EQ(k.src_port, w.src_port);
    EXPECT_EQ(k.dst_port, w.dst_port);
    EXPECT_EQ(k.vlan_id, w.vlan_id);
    EXPECT_EQ(k.inner_vlan_id, w.inner_vlan_id);
    EXPECT_EQ(k.mark, w.mark);
    EXPECT_EQ(k.direction, c.direction);
    EXPECT_EQ(k.key_flags, w.key_flags);
    EXPECT_EQ(s.packets, w.packets);
    uint64_t bytes = w.bytes >= 0 ? uint64_t(w.bytes) : c.frame.bytes.size() - L3Offset(c.frame);
    EXPECT_EQ(s.bytes, bytes);
    EXPECT_EQ(after.bytes[c.direction] - before.bytes[c.direction], bytes);
    EXPECT_EQ(s.tcp_flags, w.tcp_flags);
    EXPECT_EQ(s.min_ttl, w.min_ttl);
    EXPECT_EQ(s.max_ttl, w.max_ttl);
    EXPECT_EQ(s.tos, w.tos);
    EXPECT_EQ(s.flow_label, w.flow_label);
    EXPECT_EQ(s.frag_id, w.frag_id);
    EXPECT_EQ(s.ext_hdr_bitmap, w.ext_bitmap) << std::hex << s.ext_hdr_bitmap;
    EXPECT_EQ(s.ext_hdr_depth, w.ext_depth);
    // Coarse clock: within a tick either side of the user-space coarse clock.
    EXPECT_GE(s.first_seen_ns + 10'000'000, t0);
    EXPECT_LE(s.first_seen_ns, t1 + 10'000'000);
    EXPECT_EQ(s.first_seen_ns, s.last_seen_ns);
    EXPECT_EQ(after.ip_packets[w.ip_version == 6] - before.ip_packets[w.ip_version == 6], wire);
    EXPECT_EQ(after.protocol[w.protocol] - before.protocol[w.protocol], wire);
  }

  // Every wire packet of this generation is in exactly one place.
  void CheckInvariant(const tcflow_stats& before, const tcflow_stats& after, uint64_t wire) {
    uint64_t counted = (after.overflow_lost - before.overflow_lost) + (after.not_ip - before.not_ip);
    for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; r++)
      counted += after.parse_error[r] - before.parse_error[r];
    for (const auto& f : dp_->Flows()) counted += f.stats.packets;
    for (const auto& f : dp_->Overflows()) counted += f.stats.packets;
    EXPECT_EQ(counted, wire) << "exactness invariant broken";
  }

  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<Datapath> twin_;  // for CheckSecondRunLikeFirst
};

TEST_F(DatapathTest, VerifierAcceptsBothPrograms) {
  EXPECT_GE(dp_->ingress_fd(), 0);
  EXPECT_GE(dp_->egress_fd(), 0);
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(dp_->ingress_fd(), &info, &len), 0);
  EXPECT_STREQ(info.name, "tcflow_ingress");
}

std::vector<Case> ProtocolCases() {
  std::vector<Case> cs;
  {
    Want w = V4Flow(6, 40000, 443);
    w.tcp_flags = 0x02;
    cs.push_back({"v4 tcp syn with options",
                  PacketBuilder().Ethernet().Ipv4().Tcp({.sport = 40000, .dport = 443,
                      .flags = 0x02, .options = {2, 4, 5, 0xb4, 1, 3, 3, 7}}).Build(), w});
  }
  {
    Want w = V4Flow(6, 1, 2);
    w.tcp_flags = 0x1d9;  // NS + CWR + ECE... low 12 bits exported as seen
    cs.push_back({"v4 tcp all flag bits",
                  PacketBuilder().Ethernet().Ipv4().Tcp({.sport = 1, .dport = 2,
                      .flags = 0x1d9}).Payload(10).Build(), w});
  }
  cs.push_back({"v4 udp", PacketBuilder().Ethernet().Ipv4().Udp(5353, 53).Payload(30).Build(),
                V4Flow(17, 5353, 53)});
  cs.push_back({"v4 icmp echo", PacketBuilder().Ethernet().Ipv4().Icmp(8, 0).Payload(56).Build(),
                V4Flow(1, 0, 8 << 8)});
  cs.push_back({"v4 icmp unreachable",
                PacketBuilder().Ethernet().Ipv4().Icmp(3, 4).Payload(28).Build(),
                V4Flow(1, 0, 3 << 8 | 4)});
  cs.push_back({"v4 sctp", PacketBuilder().Ethernet().Ipv4().Sctp(2905, 2906).Payload(16).Build(),
                V4Flow(132, 2905, 2906)});
  cs.push_back({"v4 gre", PacketBuilder().Ethernet().Ipv4().Gre(0x0800).Payload(40).Build(),
                V4Flow(47)});
  cs.push_back({"v4 other protocol",
                PacketBuilder().Ethernet().Ipv4({.protocol = 253}).Payload(20).Build(),
                V4Flow(253)});
  {
    Want w = V4Flow(17, 1, 2);
    w.min_ttl = w.max_ttl = 7;
    w.tos = 0xb9;  // DSCP 46 + ECN 1
    cs.push_back({"v4 ttl and tos",
                  PacketBuilder().Ethernet().Ipv4({.ttl = 7, .tos = 0xb9}).Udp(1, 2).Build(), w});
  }
  {
    Want w = V6Flow(6, 40000, 80);
    w.tcp_flags = 0x18;
    w.flow_label = 0xabcde;
    w.tos = 0x28;
    w.min_ttl = w.max_ttl = 255;
    cs.push_back({"v6 tcp", PacketBuilder().Ethernet().Ipv6({.hop_limit = 255,
                      .traffic_class = 0x28, .flow_label = 0xabcde})
                      .Tcp({.flags = 0x18}).Payload(100).Build(), w});
  }
  cs.push_back({"v6 udp", PacketBuilder().Ethernet().Ipv6().Udp(4000, 4001).Payload(8).Build(),
                V6Flow(17, 4000, 4001)});
  cs.push_back({"v6 icmpv6 echo", PacketBuilder().Ethernet().Ipv6().Icmpv6(128, 0).Build(),
                V6Flow(58, 0, 128 << 8)});
  cs.push_back({"v6 sctp", PacketBuilder().Ethernet().Ipv6().Sctp(9, 10).Build(),
                V6Flow(132, 9, 10)});
  cs.push_back({"v6 gre", PacketBuilder().Ethernet().Ipv6().Gre(0x86dd).Payload(40).Build(),
                V6Flow(47)});
  cs.push_back({"v6 icmp (proto 1) is not icmpv6: no type/code",
                PacketBuilder().Ethernet().Ipv6().Icmp(8, 0).Build(), V6Flow(1)});
  cs.push_back({"v4 carrying icmpv6 number: no type/code",
                PacketBuilder().Ethernet().Ipv4().Icmpv6(128, 0).Build(), V4Flow(58)});
  {
    Want w = V4Flow(1, 0, 8 << 8);
    w.bytes = 28;  // IP total length, not the Ethernet minimum-frame padding
    cs.push_back({"ethernet padding is not IP bytes",
                  PacketBuilder().Ethernet().Ipv4({.total_length = 28}).Icmp(8, 0).Payload(18)
                      .Build(), w});
  }
  return cs;
}

TEST_F(DatapathTest, Protocols) {
  for (const Case& c : ProtocolCases()) Check(c);
}

TEST_F(DatapathTest, VlanAndQinQ) {
  {
    Want w = V4Flow(17, 1, 2);
    w.vlan_id = 10;
    Check({"802.1Q", PacketBuilder().Ethernet().Vlan(10).Ipv4().Udp(1, 2).Build(), w});
  }
  {
    Want w = V6Flow(17, 1, 2);
    w.vlan_id = 100;
    w.inner_vlan_id = 200;
    Check({"QinQ 802.1ad + 802.1Q", PacketBuilder().Ethernet().Vlan(100, 0x88a8).Vlan(200)
               .Ipv6().Udp(1, 2).Build(), w});
  }
  {
    Want w = V4Flow(17, 1, 2);
    w.vlan_id = 4095;
    w.inner_vlan_id = 1;
    Check({"QinQ 802.1Q + 802.1Q, PCP ignored", PacketBuilder().Ethernet().Vlan(4095, 0x8100, 7)
               .Vlan(1).Ipv4().Udp(1, 2).Build(), w});
  }
  Check({"three tags", PacketBuilder().Ethernet().Vlan(1, 0x88a8).Vlan(2).Vlan(3).Ipv4()
             .Udp().Build(), ParseError(TCFLOW_PARSE_TOO_MANY_VLANS)});
  {
    Want w;
    w.outcome = Want::kNotIp;
    Check({"vlan carrying ARP", PacketBuilder().Ethernet().Vlan(5).Payload(28).Build(), w});
  }
}

TEST_F(DatapathTest, VlanOutOfKeyWhenConfigured) {
  Knobs k;
  k.key_vlan = false;
  Reload(k);
  Check({"802.1Q, key_vlan off", PacketBuilder().Ethernet().Vlan(10).Vlan(20).Ipv4().Udp(1, 2)
             .Build(), V4Flow(17, 1, 2)});
}

TEST_F(DatapathTest, MarkInKeyOnlyWhenConfigured) {
  Case c{"mark, key_mark off", PacketBuilder().Ethernet().Ipv4().Udp(1, 2).Build(),
         V4Flow(17, 1, 2)};
  c.ctx.mark = 0xbeef;
  Check(c);
  Knobs k;
  k.key_mark = true;
  Reload(k);
  c.name = "mark, key_mark on";
  c.want.mark = 0xbeef;
  Check(c);
}

TEST_F(DatapathTest, EgressCarriesIngressIfindex) {
  Case c{"egress forwarded", PacketBuilder().Ethernet().Ipv4().Udp(1, 2).Build(),
         V4Flow(17, 1, 2)};
  c.direction = TCFLOW_DIR_EGRESS;
  c.ctx.ingress_ifindex = kLoIfindex;
  c.want.other_ifindex = kLoIfindex;
  Check(c);
  c.name = "egress locally generated";
  c.ctx.ingress_ifindex = 0;
  c.want.other_ifindex = 0;
  Check(c);
  c.name = "ingress leaves other_ifindex unknown";
  c.direction = TCFLOW_DIR_INGRESS;
  c.ctx.ingress_ifindex = kLoIfindex;
  Check(c);
}

TEST_F(DatapathTest, Ipv4OptionsAndFragments) {
  {
    Want w = V4Flow(6, 1, 2);
    Check({"v4 options ihl 6", PacketBuilder().Ethernet().Ipv4({.options = {0x94, 4, 0, 0}})
               .Tcp({.sport = 1, .dport = 2, .flags = 0}).Build(), w});
    Check({"v4 options ihl 15", PacketBuilder().Ethernet().Ipv4({.options = std::vector<uint8_t>(40, 1)})
               .Tcp({.sport = 1, .dport = 2, .flags = 0}).Build(), w});
  }
  {
    Want w = V4Flow(17, 1000, 2000);
    w.frag_id = 0x4242;
    Check({"v4 first fragment keeps ports",
           PacketBuilder().Ethernet().Ipv4({.id = 0x4242, .more_fragments = true}).Udp(1000, 2000)
               .Payload(64).Build(), w});
  }
  {
    Want w = V4Flow(17);
    w.frag_id = 0x4242;
    w.key_flags = TCFLOW_KEY_NON_FIRST_FRAGMENT;
    Check({"v4 later fragment: no ports, marked",
           PacketBuilder().Ethernet().Ipv4({.id = 0x4242, .fragment_offset = 9,
               .protocol = 17}).Payload(100).Build(), w});
    Check({"v4 middle fragment",
           PacketBuilder().Ethernet().Ipv4({.id = 0x4242, .more_fragments = true,
               .fragment_offset = 185, .protocol = 17}).Payload(100).Build(), w});
  }
  {
    Want w = V4Flow(17, 1, 2);
    Check({"v4 DF is not a fragment",
           PacketBuilder().Ethernet().Ipv4({.dont_fragment = true}).Udp(1, 2).Build(), w});
  }
  Check({"v4 version 5", PacketBuilder().Ethernet().Ipv4({.version_ihl = 0x55}).Udp().Build(),
         ParseError(TCFLOW_PARSE_BAD_IPV4_HEADER)});
  Check({"v4 ihl 4", PacketBuilder().Ethernet().Ipv4({.version_ihl = 0x44}).Udp().Build(),
         ParseError(TCFLOW_PARSE_BAD_IPV4_HEADER)});
  Check({"v4 total length < header",
         PacketBuilder().Ethernet().Ipv4({.total_length = 19}).Udp().Build(),
         ParseError(TCFLOW_PARSE_BAD_IP_LENGTH)});
  Check({"v4 ihl past the frame",
         PacketBuilder().Ethernet().Ipv4({.version_ihl = 0x4f}).Payload(10).Build(),
         ParseError(TCFLOW_PARSE_TRUNCATED_IPV4)});
  Check({"v6 version 4 under the v6 ethertype",
         PacketBuilder().Ethernet().Ipv6({.version = 4}).Udp().Build(),
         ParseError(TCFLOW_PARSE_BAD_IPV6_HEADER)});
  {
    Want w;
    w.outcome = Want::kNotIp;
    Check({"ARP", PacketBuilder().Ethernet(0x0806).Payload(28).Build(), w});
    Check({"LLDP", PacketBuilder().Ethernet(0x88cc).Payload(40).Build(), w});
  }
}

// One case per extension-header kind, and the chain limits.
TEST_F(DatapathTest, Ipv6ExtensionHeaders) {
  tcflow_stats before = dp_->Stats();
  {
    Want w = V6Flow(17, 1, 2);
    w.ext_bitmap = TCFLOW_IE64_HOP;
    w.ext_depth = 1;
    Check({"hop-by-hop", PacketBuilder().Ethernet().Ipv6().HopByHop(16).Udp(1, 2).Build(), w});
    w.ext_bitmap = TCFLOW_IE64_DST;
    Check({"destination options", PacketBuilder().Ethernet().Ipv6().DestinationOptions()
               .Udp(1, 2).Build(), w});
    w.ext_bitmap = TCFLOW_IE64_RH;
    Check({"routing", PacketBuilder().Ethernet().Ipv6().Routing(40).Udp(1, 2).Build(), w});
    w.ext_bitmap = TCFLOW_IE64_FRA0;
    w.frag_id = 0xdeadbeef;
    Check({"first fragment", PacketBuilder().Ethernet().Ipv6().Fragment(0, true, 0xdeadbeef)
               .Udp(1, 2).Payload(32).Build(), w});
    w.frag_id = 0;
  }
  {
    Want w = V6Flow(17);
    w.ext_bitmap = TCFLOW_IE64_FRA1;
    w.ext_depth = 1;
    w.frag_id = 77;
    w.key_flags = TCFLOW_KEY_NON_FIRST_FRAGMENT;
    Check({"later fragment", PacketBuilder().Ethernet().Ipv6().Fragment(100, false, 77, 17)
               .Payload(64).Build(), w});
  }
  {
    Want w = V6Flow(6, 40000, 80);
    w.ext_bitmap = TCFLOW_IE64_AH;
    w.ext_depth = 1;
    w.tcp_flags = 0x10;
    Check({"AH (4-byte length unit)", PacketBuilder().Ethernet().Ipv6().Ah(28).Tcp().Build(), w});
  }
  {
    Want w = V6Flow(50);
    w.ext_bitmap = TCFLOW_IE64_ESP;
    w.ext_depth = 1;
    Check({"ESP ends the walk", PacketBuilder().Ethernet().Ipv6().Esp(0x100, 48).Build(), w});
  }
  {
    Want w = V6Flow(59);
    w.ext_bitmap = 0;  // IE 64 has no mobility bit
    w.ext_depth = 1;
    Check({"mobility", PacketBuilder().Ethernet().Ipv6().Mobility(16).Build(), w});
  }
  {
    Want w = V6Flow(58, 0, 128 << 8);
    w.ext_bitmap = TCFLOW_IE64_HOP | TCFLOW_IE64_DST | TCFLOW_IE64_RH | TCFLOW_IE64_FRA0 |
                   TCFLOW_IE64_AH;
    w.ext_depth = 8;
    w.frag_id = 5;
    Check({"8 headers deep (the limit)", PacketBuilder().Ethernet().Ipv6().HopByHop()
               .DestinationOptions().Routing().Fragment(0, true, 5).Ah().DestinationOptions()
               .DestinationOptions(16).DestinationOptions(24).Icmpv6(128).Build(), w});
  }
  {
    Want w = V6Flow(60);
    w.ext_bitmap = TCFLOW_IE64_HOP | TCFLOW_IE64_DST | TCFLOW_IE64_UNK;
    w.ext_depth = 8;
    w.key_flags = TCFLOW_KEY_EXT_CHAIN_TRUNCATED;
    PacketBuilder b;
    b.Ethernet().Ipv6().HopByHop();
    for (int i = 0; i < 9; i++) b.DestinationOptions();
    Check({"10 headers: deeper than the walk", b.Udp(1, 2).Build(), w});
  }
  tcflow_stats after = dp_->Stats();
  // Stats by header kind: hop 1+1+1, dst 1+4+10(only 7 walked)... count what was walked.
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_HOP_BY_HOP] - before.ext_hdr[TCFLOW_EXT_HOP_BY_HOP], 3u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_ROUTING] - before.ext_hdr[TCFLOW_EXT_ROUTING], 2u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_FRAGMENT] - before.ext_hdr[TCFLOW_EXT_FRAGMENT], 3u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_DEST_OPTIONS] - before.ext_hdr[TCFLOW_EXT_DEST_OPTIONS],
            1u + 4 + 7);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_AH] - before.ext_hdr[TCFLOW_EXT_AH], 2u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_ESP] - before.ext_hdr[TCFLOW_EXT_ESP], 1u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_MOBILITY] - before.ext_hdr[TCFLOW_EXT_MOBILITY], 1u);
  EXPECT_EQ(after.ext_chain_depth[1] - before.ext_chain_depth[1], 8u);
  EXPECT_EQ(after.ext_chain_depth[8] - before.ext_chain_depth[8], 1u);
  EXPECT_EQ(after.ext_chain_depth[TCFLOW_MAX_EXT_HEADERS + 1] -
                before.ext_chain_depth[TCFLOW_MAX_EXT_HEADERS + 1], 1u);
}

// Two- and three-header chains: the programs' fast path walks up to two headers itself, so
// these check both of its chain depths and the hand-over past them (CheckSecondRunLikeFirst
// runs each frame twice).
TEST_F(DatapathTest, ShortExtensionChains) {
  tcflow_stats before = dp_->Stats();
  {
    Want w = V6Flow(17, 1, 2);
    w.ext_bitmap = TCFLOW_IE64_HOP | TCFLOW_IE64_FRA0;
    w.ext_depth = 2;
    w.frag_id = 9;
    Check({"hop-by-hop + first fragment", PacketBuilder().Ethernet().Ipv6().HopByHop()
               .Fragment(0, true, 9).Udp(1, 2).Payload(64).Build(), w});
  }
  {
    Want w = V6Flow(6, 40000, 80);
    w.ext_bitmap = TCFLOW_IE64_DST | TCFLOW_IE64_RH;
    w.ext_depth = 2;
    w.tcp_flags = 0x10;
    Check({"destination options + routing", PacketBuilder().Ethernet().Ipv6()
               .DestinationOptions(16).Routing(24).Tcp().Build(), w});
  }
  {
    Want w = V6Flow(17);
    w.ext_bitmap = TCFLOW_IE64_HOP | TCFLOW_IE64_FRA1;
    w.ext_depth = 2;
    w.frag_id = 10;
    w.key_flags = TCFLOW_KEY_NON_FIRST_FRAGMENT;
    Check({"hop-by-hop + later fragment", PacketBuilder().Ethernet().Ipv6().HopByHop()
               .Fragment(64, false, 10, 17).Payload(40).Build(), w});
  }
  {
    Want w = V6Flow(58, 0, 128 << 8);
    w.ext_bitmap = TCFLOW_IE64_HOP | TCFLOW_IE64_DST | TCFLOW_IE64_RH;
    w.ext_depth = 3;
    Check({"three headers", PacketBuilder().Ethernet().Ipv6().HopByHop().DestinationOptions()
               .Routing().Icmpv6(128).Build(), w});
  }
  tcflow_stats after = dp_->Stats();
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_HOP_BY_HOP] - before.ext_hdr[TCFLOW_EXT_HOP_BY_HOP], 3u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_FRAGMENT] - before.ext_hdr[TCFLOW_EXT_FRAGMENT], 2u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_DEST_OPTIONS] - before.ext_hdr[TCFLOW_EXT_DEST_OPTIONS], 2u);
  EXPECT_EQ(after.ext_hdr[TCFLOW_EXT_ROUTING] - before.ext_hdr[TCFLOW_EXT_ROUTING], 2u);
  EXPECT_EQ(after.ext_chain_depth[2] - before.ext_chain_depth[2], 3u);
  EXPECT_EQ(after.ext_chain_depth[3] - before.ext_chain_depth[3], 1u);
}

TEST_F(DatapathTest, GsoCountsWirePacketsAndBytes) {
  {
    // 4 segments of 500 bytes of TCP with 12 bytes of options: each wire packet repeats
    // 20 (IPv4) + 32 (TCP) header bytes.
    Frame f = PacketBuilder().Ethernet().Ipv4().Tcp({.flags = 0x18,
        .options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}}).Payload(2000).Build();
    Case c{"v4 tcp gso 4x500", f, V4Flow(6, 40000, 80)};
    c.want.tcp_flags = 0x18;
    c.ctx.gso_segs = 4;
    c.ctx.gso_size = 500;
    c.want.packets = 4;
    c.want.bytes = (20 + 32 + 2000) + 3 * (20 + 32);
    Check(c);
  }
  {
    Frame f = PacketBuilder().Ethernet().Ipv6().HopByHop().Tcp({.flags = 0x10}).Payload(2800)
                  .Build();
    Case c{"v6 tcp + hop-by-hop gso 2x1400", f, V6Flow(6, 40000, 80)};
    c.want.tcp_flags = 0x10;
    c.want.ext_bitmap = TCFLOW_IE64_HOP;
    c.want.ext_depth = 1;
    c.ctx.gso_segs = 2;
    c.ctx.gso_size = 1400;
    c.want.packets = 2;
    c.want.bytes = (40 + 8 + 20 + 2800) + 1 * (40 + 8 + 20);
    Check(c);
  }
  {
    Frame f = PacketBuilder().Ethernet().Ipv4().Udp(1, 2).Payload(3000).Build();
    Case c{"v4 udp gso (UDP_SEGMENT) 3x1000", f, V4Flow(17, 1, 2)};
    c.ctx.gso_segs = 3;
    c.ctx.gso_size = 1000;
    c.want.packets = 3;
    c.want.bytes = (20 + 8 + 3000) + 2 * (20 + 8);
    Check(c);
  }
  {
    // A super-packet whose IPv4 total length is 0 (BIG TCP): the frame length counts.
    Frame f = PacketBuilder().Ethernet().Ipv4({.total_length = 0}).Tcp().Payload(1000).Build();
    Case c{"v4 BIG TCP total length 0", f, V4Flow(6, 40000, 80)};
    c.want.tcp_flags = 0x10;
    c.ctx.gso_segs = 2;
    c.ctx.gso_size = 500;
    c.want.packets = 2;
    c.want.bytes = (20 + 20 + 1000) + (20 + 20);
    Check(c);
  }
  {
    // A later fragment can't be segmented by TCP, but whatever claims segments counts them:
    // only the IP header repeats.
    Frame f = PacketBuilder().Ethernet().Ipv4({.fragment_offset = 10, .protocol = 17})
                  .Payload(1000).Build();
    Case c{"gso later fragment", f, V4Flow(17)};
    c.want.key_flags = TCFLOW_KEY_NON_FIRST_FRAGMENT;
    c.want.frag_id = 1;
    c.ctx.gso_segs = 2;
    c.ctx.gso_size = 500;
    c.want.packets = 2;
    c.want.bytes = (20 + 1000) + 20;
    Check(c);
  }
  EXPECT_GE(dp_->Stats().gso_packets, 5u);
}

TEST_F(DatapathTest, SameFlowAccumulates) {
  dp_->FreshGeneration();
  Frame syn = PacketBuilder().Ethernet().Ipv4({.ttl = 64}).Tcp({.flags = 0x02}).Build();
  Frame ack = PacketBuilder().Ethernet().Ipv4({.ttl = 30}).Tcp({.flags = 0x10}).Payload(100)
                  .Build();
  Frame fin = PacketBuilder().Ethernet().Ipv4({.ttl = 99}).Tcp({.flags = 0x11}).Build();
  for (const Frame* f : {&syn, &ack, &fin, &ack}) {
    RunResult r = dp_->Run(f->bytes, TCFLOW_DIR_INGRESS);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, kUnspec);
    EXPECT_TRUE(r.output_equal);
  }
  auto flows = dp_->Flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].stats.packets, 4u);
  EXPECT_EQ(flows[0].stats.bytes, 40u + 140 + 40 + 140);
  EXPECT_EQ(flows[0].stats.tcp_flags, 0x13);
  EXPECT_EQ(flows[0].stats.min_ttl, 30);
  EXPECT_EQ(flows[0].stats.max_ttl, 99);
  EXPECT_LE(flows[0].stats.first_seen_ns, flows[0].stats.last_seen_ns);
  // Directions are separate flows.
  ASSERT_EQ(dp_->Run(syn.bytes, TCFLOW_DIR_EGRESS).err, 0);
  EXPECT_EQ(dp_->Flows().size(), 2u);
}

// Each CPU counts a flow in a slot of its own (plain adds, no atomics); the records carry the
// same key, and their sum is the flow.
TEST_F(DatapathTest, EachCpuHasItsOwnSlotForAFlow) {
  if (libbpf_num_possible_cpus() < 2 || !PinToCpu(1)) {
    GTEST_SKIP() << "needs two CPUs";
  }
  dp_->FreshGeneration();
  Frame f = PacketBuilder().Ethernet().Ipv4().Udp(9, 9).Payload(10).Build();
  ASSERT_TRUE(PinToCpu(0));
  ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS, {}, 300).err, 0);
  ASSERT_TRUE(PinToCpu(1));
  ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS, {}, 200).err, 0);
  ASSERT_TRUE(PinToCpu(0));
  ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS, {}, 1).err, 0);
  auto flows = dp_->Flows();
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(std::memcmp(&flows[0].key, &flows[1].key, sizeof(tcflow_flow_key)), 0);
  EXPECT_EQ(flows[0].stats.packets, 301u);
  EXPECT_EQ(flows[1].stats.packets, 200u);
}

TEST_F(DatapathTest, CacheOffGivesTheSameRecords) {
  Knobs k;
  k.flow_cache = false;
  Reload(k);
  for (const Case& c : ProtocolCases()) Check(c);
  dp_->FreshGeneration();
  Frame f = PacketBuilder().Ethernet().Ipv6().Udp(1, 2).Build();
  ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS, {}, 1000).err, 0);
  auto flows = dp_->Flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].stats.packets, 1000u);
}

// One flow (the same 5-tuple) whose packets carry different extension chains: its slot's
// chain counts the first packet's chain, every other chain is counted per packet (and in
// chain_misses).
// With the flow cache on (most packets take the fast path) the stats and the record must be
// exactly those of the general path alone (cache off).
TEST_F(DatapathTest, FlowWhoseChainsChangeCountsLikeTheGeneralPath) {
  Knobs off;
  off.flow_cache = false;
  std::string error;
  std::unique_ptr<Datapath> general = Datapath::Load(off, &error);
  ASSERT_NE(general, nullptr) << error;
  dp_->FreshGeneration();
  const std::vector<Frame> frames = {
      PacketBuilder().Ethernet().Ipv6().Udp(5, 6).Payload(20).Build(),
      PacketBuilder().Ethernet().Ipv6().HopByHop().Fragment(0, true, 3).Udp(5, 6)
          .Payload(900).Build(),
      PacketBuilder().Ethernet().Ipv6().DestinationOptions().Routing().Udp(5, 6).Build(),
      PacketBuilder().Ethernet().Ipv6().Fragment(0, true, 4).Udp(5, 6).Payload(1200).Build(),
  };
  tcflow_stats before_fast = dp_->Stats(), before_general = general->Stats();
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < frames.size(); i++) {
      for (int n = 0; n < 3; n++) {
        ASSERT_EQ(dp_->Run(frames[i].bytes, TCFLOW_DIR_INGRESS).err, 0);
        ASSERT_EQ(general->Run(frames[i].bytes, TCFLOW_DIR_INGRESS).err, 0);
      }
    }
  }
  tcflow_stats after_fast = dp_->Stats(), after_general = general->Stats();
  const auto* bf = reinterpret_cast<const uint64_t*>(&before_fast);
  const auto* af = reinterpret_cast<const uint64_t*>(&after_fast);
  const auto* bg = reinterpret_cast<const uint64_t*>(&before_general);
  const auto* ag = reinterpret_cast<const uint64_t*>(&after_general);
  for (size_t w = 0; w < sizeof(tcflow_stats) / 8; w++)
    EXPECT_EQ(af[w] - bf[w], ag[w] - bg[w]) << "tcflow_stats word " << w;
  EXPECT_EQ(after_fast.ext_hdr[TCFLOW_EXT_FRAGMENT] - before_fast.ext_hdr[TCFLOW_EXT_FRAGMENT], 18u);
  auto fast_flows = dp_->Flows(), general_flows = general->Flows();
  ASSERT_EQ(fast_flows.size(), 1u);
  ASSERT_EQ(general_flows.size(), 1u);
  tcflow_slot a = fast_flows[0], b = general_flows[0];
  EXPECT_EQ(a.stats.packets, 36u);
  EXPECT_EQ(a.stats.chain, 0u) << "the first packet's chain: none";
  EXPECT_EQ(a.stats.chain_misses, 27u);
  EXPECT_EQ(a.stats.ext_hdr_bitmap,
            TCFLOW_IE64_HOP | TCFLOW_IE64_FRA0 | TCFLOW_IE64_DST | TCFLOW_IE64_RH);
  a.stats.first_seen_ns = b.stats.first_seen_ns = a.stats.last_seen_ns = b.stats.last_seen_ns = 0;
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0);
}

// More flows at once than the flow cache's first level holds (256 IPv4, 128 IPv6 entries),
// over three generations that create them in a different order each time (so a stale
// second-level entry would point into another flow's slot): the records and the stats must
// be exactly those of no flow cache at all.
TEST_F(DatapathTest, ManyFlowsAcrossGenerationsCountLikeNoCache) {
  Knobs on;
  on.slots_per_half = 4096;
  Knobs off = on;
  off.flow_cache = false;
  std::string error;
  std::unique_ptr<Datapath> cached = Datapath::Load(on, &error);
  ASSERT_NE(cached, nullptr) << error;
  std::unique_ptr<Datapath> plain = Datapath::Load(off, &error);
  ASSERT_NE(plain, nullptr) << error;
  std::vector<Frame> frames;
  for (uint16_t i = 0; i < 700; i++)
    frames.push_back(PacketBuilder().Ethernet().Ipv4().Udp(1000 + i, 53).Payload(i % 300).Build());
  for (uint16_t i = 0; i < 400; i++)
    frames.push_back(PacketBuilder().Ethernet().Ipv6().Udp(2000 + i, 53).Payload(i % 200).Build());
  auto by_key = [](std::vector<tcflow_slot> v) {
    std::sort(v.begin(), v.end(), [](const tcflow_slot& a, const tcflow_slot& b) {
      return std::memcmp(&a.key, &b.key, sizeof(a.key)) < 0;
    });
    return v;
  };
  for (int gen = 0; gen < 3; gen++) {
    SCOPED_TRACE("generation " + std::to_string(gen));
    cached->FreshGeneration();
    plain->FreshGeneration();
    std::vector<size_t> order(frames.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = gen % 2 ? order.size() - 1 - i : i;
    for (int round = 0; round < 3; round++) {
      for (size_t i : order) {
        ASSERT_EQ(cached->Run(frames[i].bytes, TCFLOW_DIR_INGRESS).err, 0);
        ASSERT_EQ(plain->Run(frames[i].bytes, TCFLOW_DIR_INGRESS).err, 0);
      }
    }
    std::vector<tcflow_slot> a = by_key(cached->Flows()), b = by_key(plain->Flows());
    ASSERT_EQ(a.size(), frames.size());
    ASSERT_EQ(b.size(), frames.size());
    for (size_t i = 0; i < a.size(); i++) {
      EXPECT_EQ(a[i].stats.packets, 3u);
      a[i].stats.first_seen_ns = b[i].stats.first_seen_ns = 0;
      a[i].stats.last_seen_ns = b[i].stats.last_seen_ns = 0;
      EXPECT_EQ(std::memcmp(&a[i], &b[i], sizeof(a[i])), 0) << "flow " << i;
    }
  }
  tcflow_stats sa = cached->Stats(), sb = plain->Stats();
  EXPECT_EQ(std::memcmp(&sa, &sb, sizeof(sa)), 0);
  EXPECT_EQ(sa.packets[TCFLOW_DIR_INGRESS], 3u * 3u * frames.size());
}

TEST_F(DatapathTest, RepeatedRunsAreExact) {
  dp_->FreshGeneration();
  Frame f = PacketBuilder().Ethernet().Ipv4().Udp(7, 8).Payload(100).Build();
  ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS, {}, 100000).err, 0);
  auto flows = dp_->Flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].stats.packets, 100000u);
  EXPECT_EQ(flows[0].stats.bytes, 100000u * 128);
}

TEST_F(DatapathTest, FullTableFoldsIntoOverflowRecord) {
  Knobs k;
  k.slots_per_half = 4;
  Reload(k);
  dp_->FreshGeneration();
  tcflow_stats before = dp_->Stats();
  for (uint16_t port = 1; port <= 7; port++) {
    Frame f = PacketBuilder().Ethernet().Ipv4().Udp(port, 53).Payload(10).Build();
    RunResult r = dp_->Run(f.bytes, TCFLOW_DIR_INGRESS);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, kUnspec);
  }
  // A flow that got a slot keeps counting there even with the table full.
  Frame first = PacketBuilder().Ethernet().Ipv4().Udp(1, 53).Payload(10).Build();
  ASSERT_EQ(dp_->Run(first.bytes, TCFLOW_DIR_INGRESS).err, 0);
  tcflow_stats after = dp_->Stats();
  auto flows = dp_->Flows();
  auto ovf = dp_->Overflows();
  ASSERT_EQ(flows.size(), 4u);
  ASSERT_EQ(ovf.size(), 1u);
  EXPECT_EQ(ovf[0].key.key_flags, TCFLOW_KEY_OVERFLOW);
  EXPECT_EQ(ovf[0].key.ifindex, kLoIfindex);
  EXPECT_EQ(ovf[0].key.direction, TCFLOW_DIR_INGRESS);
  EXPECT_EQ(ovf[0].key.ip_version, 0);
  EXPECT_EQ(ovf[0].stats.packets, 3u);
  EXPECT_EQ(ovf[0].stats.bytes, 3u * 38);
  EXPECT_EQ(after.flows_not_created - before.flows_not_created, 3u);
  uint64_t in_flows = 0;
  for (auto& f : flows) in_flows += f.stats.packets;
  EXPECT_EQ(in_flows, 5u);
  CheckInvariant(before, after, 8);

  // No overflow slot left either: counted only in overflow_lost.
  tcflow_control c = dp_->Control();
  c.next_overflow_slot[c.generation & 1] = TCFLOW_OVERFLOW_SLOTS;
  dp_->SetControl(c);
  dp_->FreshGeneration();  // new generation: the old overflow index entry no longer matches
  c = dp_->Control();
  c.next_slot[c.generation & 1] = 4;
  c.next_overflow_slot[c.generation & 1] = TCFLOW_OVERFLOW_SLOTS;
  dp_->SetControl(c);
  before = dp_->Stats();
  ASSERT_EQ(dp_->Run(first.bytes, TCFLOW_DIR_EGRESS).err, 0);
  after = dp_->Stats();
  EXPECT_EQ(after.overflow_lost - before.overflow_lost, 1u);
  EXPECT_EQ(after.flows_not_created - before.flows_not_created, 0u);
}

TEST_F(DatapathTest, NeighbourDiscoveryEvents) {
  dp_->DrainEvents();
  tcflow_stats before = dp_->Stats();
  const auto target = Ip6("2001:db8::99");
  Frame ns = PacketBuilder().Ethernet().Ipv6({.src = Ip6("fe80::1"), .dst = Ip6("ff02::1:ff00:99"),
                 .hop_limit = 255}).NeighborSolicitation(target).Build();
  Frame na = PacketBuilder().Ethernet().Ipv6({.src = Ip6("fe80::2"), .dst = Ip6("fe80::1"),
                 .hop_limit = 255}).NeighborAdvertisement(target).Build();
  Frame rs = PacketBuilder().Ethernet().Ipv6({.hop_limit = 255}).Icmpv6(133, 0).Build();
  Frame echo = PacketBuilder().Ethernet().Ipv6().Icmpv6(128, 0).Build();
  for (const Frame* f : {&ns, &na, &rs, &echo}) {
    RunResult r = dp_->Run(f->bytes, TCFLOW_DIR_INGRESS);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.retval, kUnspec);
    EXPECT_TRUE(r.output_equal);
  }
  auto evs = dp_->DrainEvents();
  ASSERT_EQ(evs.size(), 3u);  // echo is not NDP
  EXPECT_EQ(evs[0].type, TCFLOW_EVENT_NDP);
  EXPECT_EQ(evs[0].icmp_type, 135);
  EXPECT_EQ(evs[0].ifindex, kLoIfindex);
  EXPECT_EQ(evs[0].direction, TCFLOW_DIR_INGRESS);
  EXPECT_EQ(std::memcmp(evs[0].target_addr, target.data(), 16), 0);
  EXPECT_EQ(std::memcmp(evs[0].src_addr, Ip6("fe80::1").data(), 16), 0);
  EXPECT_EQ(std::memcmp(evs[0].dst_addr, Ip6("ff02::1:ff00:99").data(), 16), 0);
  EXPECT_EQ(evs[1].icmp_type, 136);
  EXPECT_EQ(std::memcmp(evs[1].target_addr, target.data(), 16), 0);
  EXPECT_EQ(evs[2].icmp_type, 133);
  const std::array<uint8_t, 16> zero{};
  EXPECT_EQ(std::memcmp(evs[2].target_addr, zero.data(), 16), 0);
  tcflow_stats after = dp_->Stats();
  EXPECT_EQ(after.icmp6_type[135] - before.icmp6_type[135], 1u);
  EXPECT_EQ(after.icmp6_type[136] - before.icmp6_type[136], 1u);
  EXPECT_EQ(after.icmp6_type[133] - before.icmp6_type[133], 1u);
  EXPECT_EQ(after.icmp6_type[128] - before.icmp6_type[128], 1u);
  EXPECT_EQ(after.events_lost, before.events_lost);
}

TEST_F(DatapathTest, FullRingBufferCountsLostEventsAndNeverBlocks) {
  dp_->DrainEvents();
  tcflow_stats before = dp_->Stats();
  Frame ns = PacketBuilder().Ethernet().Ipv6().NeighborSolicitation(Ip6("2001:db8::5")).Build();
  const uint32_t n = 20000;  // far more than a 256 KiB ring holds
  RunResult r = dp_->Run(ns.bytes, TCFLOW_DIR_EGRESS, {}, n);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.retval, kUnspec);
  auto evs = dp_->DrainEvents();
  tcflow_stats after = dp_->Stats();
  uint64_t lost = after.events_lost - before.events_lost;
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(evs.size() + lost, n);
}

TEST_F(DatapathTest, DeepChainAlert) {
  Knobs k;
  k.ext_alert_depth = 2;
  Reload(k);
  dp_->DrainEvents();
  Frame two = PacketBuilder().Ethernet().Ipv6().HopByHop().DestinationOptions().Udp().Build();
  Frame three = PacketBuilder().Ethernet().Ipv6().HopByHop().DestinationOptions().Routing()
                    .Udp().Build();
  ASSERT_EQ(dp_->Run(two.bytes, TCFLOW_DIR_INGRESS).err, 0);
  ASSERT_EQ(dp_->Run(three.bytes, TCFLOW_DIR_INGRESS).err, 0);
  auto evs = dp_->DrainEvents();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].type, TCFLOW_EVENT_EXT_CHAIN_DEEP);
  EXPECT_EQ(evs[0].ext_depth, 3);
  EXPECT_EQ(evs[0].ext_hdr_bitmap, TCFLOW_IE64_HOP | TCFLOW_IE64_DST | TCFLOW_IE64_RH);
}

// Every cut of every header: a cut in a VLAN tag or IP header is a parse error of that
// header; a cut in an extension header or transport header still makes a flow, marked.
struct TruncFrame {
  std::string name;
  Frame frame;
};

std::vector<TruncFrame> TruncationFrames() {
  return {
      {"qinq v4 tcp+options", PacketBuilder().Ethernet().Vlan(1, 0x88a8).Vlan(2)
           .Ipv4({.options = {1, 1, 1, 0}}).Tcp({.options = {2, 4, 5, 0xb4}}).Payload(4).Build()},
      {"v4 udp", PacketBuilder().Ethernet().Ipv4().Udp(1, 2).Payload(4).Build()},
      {"v4 icmp", PacketBuilder().Ethernet().Ipv4().Icmp().Payload(4).Build()},
      {"v4 sctp", PacketBuilder().Ethernet().Vlan(3).Ipv4().Sctp().Payload(4).Build()},
      {"v6 full chain icmpv6", PacketBuilder().Ethernet().Ipv6().HopByHop().Routing()
           .Fragment(0, true, 1).Ah().DestinationOptions().Icmpv6(128).Payload(4).Build()},
      {"v6 mobility", PacketBuilder().Ethernet().Ipv6().Mobility(16).Build()},
      {"v6 esp", PacketBuilder().Ethernet().Ipv6().Esp(1, 8).Build()},
      {"v6 tcp", PacketBuilder().Ethernet().Ipv6().Tcp().Payload(4).Build()},
      {"vlan v6 udp", PacketBuilder().Ethernet().Vlan(9).Ipv6().Udp().Payload(4).Build()},
      {"vlan v4 icmp", PacketBuilder().Ethernet().Vlan(9).Ipv4().Icmp().Build()},
  };
}

size_t TransportNeed(LayerKind k) {
  switch (k) {
    case LayerKind::kTcp: return 20;
    case LayerKind::kSctp: return 12;
    case LayerKind::kUdp:
    case LayerKind::kIcmp:
    case LayerKind::kIcmpv6: return 8;
    default: return 0;
  }
}

TEST_F(DatapathTest, EveryTruncationPoint) {
  int cases = 0, refused = 0;
  for (const TruncFrame& tf : TruncationFrames()) {
    const Frame& full = tf.frame;
    // The full frame first: what a cut frame is compared with.
    dp_->FreshGeneration();
    ASSERT_EQ(dp_->Run(full.bytes, TCFLOW_DIR_INGRESS).err, 0);
    auto ref_flows = dp_->Flows();
    ASSERT_EQ(ref_flows.size(), 1u) << tf.name;
    const tcflow_slot ref = ref_flows[0];
    const size_t l3 = L3Offset(full);

    // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, so cuts start at 14.
    for (size_t len = 14; len < full.bytes.size(); len++) {
      SCOPED_TRACE(tf.name + " cut at " + std::to_string(len));
      Frame cut = full.Truncated(len);
      // Which layer does the cut fall into?
      const packet::Layer* in = nullptr;
      for (const auto& l : full.layers)
        if (len < l.offset + l.length) {
          in = &l;
          break;
        }
      ASSERT_NE(in, nullptr);
      dp_->FreshGeneration();
      tcflow_stats before = dp_->Stats();
      RunResult r = dp_->Run(cut.bytes, TCFLOW_DIR_INGRESS);
      // BPF_PROG_TEST_RUN itself refuses an IPv4/IPv6 ethertype right after Ethernet with
      // less than the base IP header; tagged frames (below) cover those cuts instead.
      if (r.err == -EINVAL && l3 == 14 &&
          len < l3 + (full.Find(LayerKind::kIpv4) ? 20u : 40u)) {
        refused++;
        continue;
      }
      ASSERT_EQ(r.err, 0);
      EXPECT_EQ(r.retval, kUnspec);
      EXPECT_TRUE(r.output_equal);
      tcflow_stats after = dp_->Stats();
      CheckInvariant(before, after, 1);
      cases++;
      auto flows = dp_->Flows();
      int err = 0;
      if (in->kind == LayerKind::kVlan) err = TCFLOW_PARSE_TRUNCATED_VLAN;
      if (in->kind == LayerKind::kIpv4) err = TCFLOW_PARSE_TRUNCATED_IPV4;
      if (in->kind == LayerKind::kIpv6) err = TCFLOW_PARSE_TRUNCATED_IPV6;
      if (err) {
        EXPECT_EQ(after.parse_error[err] - before.parse_error[err], 1u);
        EXPECT_TRUE(flows.empty());
        continue;
      }
      ASSERT_EQ(flows.size(), 1u);
      const tcflow_flow_key& k = flows[0].key;
      EXPECT_EQ(flows[0].stats.bytes, len - l3);
      EXPECT_EQ(std::memcmp(k.src_addr, ref.key.src_addr, 16), 0);
      EXPECT_EQ(k.vlan_id, ref.key.vlan_id);
      EXPECT_EQ(k.inner_vlan_id, ref.key.inner_vlan_id);
      if (in->kind == LayerKind::kIpv6Extension && in->protocol != 50) {
        EXPECT_EQ(k.key_flags, TCFLOW_KEY_EXT_CHAIN_TRUNCATED);
        EXPECT_EQ(k.protocol, in->protocol);
        EXPECT_EQ(k.dst_port, 0);
        EXPECT_TRUE(flows[0].stats.ext_hdr_bitmap & TCFLOW_IE64_UNK);
      } else if (TransportNeed(in->kind) && len < in->offset + TransportNeed(in->kind)) {
        EXPECT_EQ(k.key_flags, TCFLOW_KEY_L4_TRUNCATED);
        EXPECT_EQ(k.protocol, ref.key.protocol);
        EXPECT_EQ(k.src_port, 0);
        EXPECT_EQ(k.dst_port, 0);
      } else {
        // Cut in the payload (or past what the parser needs): the full key.
        EXPECT_EQ(std::memcmp(&k, &ref.key, sizeof(k)), 0);
      }
    }
  }
  EXPECT_GT(cases, 300);
  std::printf("%d cuts checked, %d refused by BPF_PROG_TEST_RUN (untagged, < base IP header)\n",
              cases, refused);
}

TEST_F(DatapathTest, PacketSizeHistogram) {
  tcflow_stats before = dp_->Stats();
  for (size_t payload : {0, 100, 1400, 3000}) {
    Frame f = PacketBuilder().Ethernet().Ipv4().Udp().Payload(payload).Build();
    ASSERT_EQ(dp_->Run(f.bytes, TCFLOW_DIR_INGRESS).err, 0);
  }
  tcflow_stats after = dp_->Stats();
  EXPECT_EQ(after.size_hist[0] - before.size_hist[0], 1u);  // 28
  EXPECT_EQ(after.size_hist[1] - before.size_hist[1], 1u);  // 128
  EXPECT_EQ(after.size_hist[6] - before.size_hist[6], 1u);  // 1428
  EXPECT_EQ(after.size_hist[7] - before.size_hist[7], 1u);  // 3028
}

}  // namespace
}  // namespace tcflow::testing
