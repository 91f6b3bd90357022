// tcflow_stats_add_flow_slot (bpf/tcflow_abi.h): what a drained flow slot adds to the
// counters the programs keep per flow rather than per packet. Table-driven: a slot in, the
// counters it must move out. No kernel needed (runs for arm64 under qemu too).

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/tcflow_abi.h"
#include "gtest/gtest.h"

namespace {

// A chain signature from a depth bucket and per-kind counts.
uint32_t Sig(uint32_t depth, std::vector<std::pair<int, uint32_t>> counts) {
  uint32_t s = depth;
  for (auto [kind, n] : counts) s |= n << (4 + 4 * kind);
  return s;
}

struct Case {
  std::string name;
  uint8_t ip_version;
  uint8_t protocol;
  uint8_t direction;
  uint8_t key_flags;
  uint16_t dst_port;
  uint64_t packets;
  uint64_t bytes;
  uint32_t chain;
  uint64_t chain_misses;
  // Expected: every counter not listed stays 0.
  std::vector<std::pair<const char*, uint64_t>> want;
};

tcflow_slot Slot(const Case& c) {
  tcflow_slot s = {};
  s.key.ifindex = 3;
  s.key.ip_version = c.ip_version;
  s.key.protocol = c.protocol;
  s.key.direction = c.direction;
  s.key.key_flags = c.key_flags;
  s.key.dst_port = c.dst_port;
  s.stats.packets = c.packets;
  s.stats.bytes = c.bytes;
  s.stats.chain = c.chain;
  s.stats.chain_misses = c.chain_misses;
  return s;
}

// The named counter's value in `st` ("packets[1]", "protocol[6]", ...).
uint64_t Counter(const tcflow_stats& st, const std::string& name) {
  auto index = [&](const char* prefix) {
    return std::stoi(name.substr(std::strlen(prefix) + 1, name.size() - std::strlen(prefix) - 2));
  };
  if (name.rfind("packets[", 0) == 0) return st.packets[index("packets")];
  if (name.rfind("bytes[", 0) == 0) return st.bytes[index("bytes")];
  if (name.rfind("ip_packets[", 0) == 0) return st.ip_packets[index("ip_packets")];
  if (name.rfind("protocol[", 0) == 0) return st.protocol[index("protocol")];
  if (name.rfind("icmp6_type[", 0) == 0) return st.icmp6_type[index("icmp6_type")];
  if (name.rfind("ext_hdr[", 0) == 0) return st.ext_hdr[index("ext_hdr")];
  if (name.rfind("ext_chain_depth[", 0) == 0) return st.ext_chain_depth[index("ext_chain_depth")];
  ADD_FAILURE() << "unknown counter " << name;
  return 0;
}

uint64_t Sum(const tcflow_stats& st) {
  const auto* w = reinterpret_cast<const uint64_t*>(&st);
  uint64_t s = 0;
  for (size_t i = 0; i < sizeof(st) / 8; ++i) s += w[i];
  return s;
}

TEST(FlowSlotStatsTest, EachSlotMovesExactlyItsCounters) {
  const Case cases[] = {
      {"ipv4 tcp ingress", 4, 6, TCFLOW_DIR_INGRESS, 0, 443, 10, 1500, 0, 0,
       {{"packets[0]", 10}, {"bytes[0]", 1500}, {"ip_packets[0]", 10}, {"protocol[6]", 10}}},
      {"ipv6 udp egress, no chain", 6, 17, TCFLOW_DIR_EGRESS, 0, 53, 4, 400, 0, 0,
       {{"packets[1]", 4}, {"bytes[1]", 400}, {"ip_packets[1]", 4}, {"protocol[17]", 4},
        {"ext_chain_depth[0]", 4}}},
      {"icmpv6 echo request: type from the dst port", 6, 58, TCFLOW_DIR_INGRESS, 0,
       128 << 8, 3, 312, 0, 0,
       {{"packets[0]", 3}, {"bytes[0]", 312}, {"ip_packets[1]", 3}, {"protocol[58]", 3},
        {"icmp6_type[128]", 3}, {"ext_chain_depth[0]", 3}}},
      {"icmpv6 later fragment: no type", 6, 58, TCFLOW_DIR_INGRESS,
       TCFLOW_KEY_NON_FIRST_FRAGMENT, 0, 2, 2000, Sig(1, {{TCFLOW_EXT_FRAGMENT, 1}}), 0,
       {{"packets[0]", 2}, {"bytes[0]", 2000}, {"ip_packets[1]", 2}, {"protocol[58]", 2},
        {"ext_chain_depth[1]", 2}, {"ext_hdr[2]", 2}}},
      {"icmpv6 cut short: no type", 6, 58, TCFLOW_DIR_INGRESS, TCFLOW_KEY_L4_TRUNCATED, 0, 1,
       44, 0, 0,
       {{"packets[0]", 1}, {"bytes[0]", 44}, {"ip_packets[1]", 1}, {"protocol[58]", 1},
        {"ext_chain_depth[0]", 1}}},
      {"icmp (proto 1) over ipv6 is not icmpv6", 6, 1, TCFLOW_DIR_INGRESS, 0, 8 << 8, 1, 84,
       0, 0,
       {{"packets[0]", 1}, {"bytes[0]", 84}, {"ip_packets[1]", 1}, {"protocol[1]", 1},
        {"ext_chain_depth[0]", 1}}},
      {"hop-by-hop + routing + 2 destination options, 2 packets with another chain", 6, 17,
       TCFLOW_DIR_INGRESS, 0, 53, 7, 700,
       Sig(4, {{TCFLOW_EXT_HOP_BY_HOP, 1}, {TCFLOW_EXT_ROUTING, 1},
               {TCFLOW_EXT_DEST_OPTIONS, 2}}),
       2,
       {{"packets[0]", 7}, {"bytes[0]", 700}, {"ip_packets[1]", 7}, {"protocol[17]", 7},
        {"ext_chain_depth[4]", 5}, {"ext_hdr[0]", 5}, {"ext_hdr[1]", 5}, {"ext_hdr[3]", 10}}},
      {"chain deeper than the walk", 6, 59, TCFLOW_DIR_EGRESS, 0, 0, 1, 600,
       Sig(TCFLOW_MAX_EXT_HEADERS + 1, {{TCFLOW_EXT_DEST_OPTIONS, 8}}), 0,
       {{"packets[1]", 1}, {"bytes[1]", 600}, {"ip_packets[1]", 1}, {"protocol[59]", 1},
        {"ext_chain_depth[9]", 1}, {"ext_hdr[3]", 8}}},
      {"every packet with another chain", 6, 6, TCFLOW_DIR_INGRESS, 0, 80, 3, 300,
       Sig(1, {{TCFLOW_EXT_HOP_BY_HOP, 1}}), 3,
       {{"packets[0]", 3}, {"bytes[0]", 300}, {"ip_packets[1]", 3}, {"protocol[6]", 3}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    tcflow_stats st = {};
    tcflow_slot s = Slot(c);
    tcflow_stats_add_flow_slot(&st, &s);
    uint64_t want_sum = 0;
    for (const auto& [name, n] : c.want) {
      EXPECT_EQ(Counter(st, name), n) << name;
      want_sum += n;
    }
    EXPECT_EQ(Sum(st), want_sum) << "a counter outside the expected ones moved";
    // Adding is additive: twice the slot, twice every counter.
    tcflow_stats_add_flow_slot(&st, &s);
    EXPECT_EQ(Sum(st), 2 * want_sum);
  }
}

TEST(FlowSlotStatsTest, OverflowAndUnusedSlotsAddNothing) {
  tcflow_stats st = {};
  tcflow_slot overflow = {};
  overflow.key.key_flags = TCFLOW_KEY_OVERFLOW;
  overflow.key.direction = TCFLOW_DIR_INGRESS;
  overflow.stats.packets = 50;  // counted per packet by the programs instead
  overflow.stats.bytes = 5000;
  tcflow_stats_add_flow_slot(&st, &overflow);
  tcflow_slot unused = {};
  tcflow_stats_add_flow_slot(&st, &unused);
  EXPECT_EQ(Sum(st), 0u);
}

}  // namespace
