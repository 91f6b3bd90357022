// Pins the kernel/user contract of bpf/tcflow_abi.h two ways:
//  1. every size and offset as this C++ compiler lays the structs out, against fixed numbers
//     (a layout change must be deliberate: bump TCFLOW_ABI_VERSION and these numbers);
//  2. the same structs as clang laid them out for the BPF target, read from the BTF of the
//     built object bpf/tcflow.bpf.o, against the C++ layout member by member.
// No kernel needed: it runs on amd64 and under qemu for arm64.

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "bpf/tcflow_abi.h"
#include "gtest/gtest.h"

namespace {

struct Member {
  const char* name;
  size_t offset;
  size_t size;
};

struct StructLayout {
  const char* name;
  size_t size;
  std::vector<Member> members;
};

#define M(type, field) \
  Member { #field, offsetof(type, field), sizeof(((type*)nullptr)->field) }

std::vector<StructLayout> CxxLayouts() {
  return {
      {"tcflow_flow_key", sizeof(tcflow_flow_key),
       {M(tcflow_flow_key, ifindex), M(tcflow_flow_key, other_ifindex),
        M(tcflow_flow_key, src_addr), M(tcflow_flow_key, dst_addr),
        M(tcflow_flow_key, src_port), M(tcflow_flow_key, dst_port),
        M(tcflow_flow_key, vlan_id), M(tcflow_flow_key, inner_vlan_id),
        M(tcflow_flow_key, mark), M(tcflow_flow_key, ip_version),
        M(tcflow_flow_key, protocol), M(tcflow_flow_key, direction),
        M(tcflow_flow_key, key_flags)}},
      {"tcflow_flow_stats", sizeof(tcflow_flow_stats),
       {M(tcflow_flow_stats, first_seen_ns), M(tcflow_flow_stats, packets),
        M(tcflow_flow_stats, bytes), M(tcflow_flow_stats, last_seen_ns),
        M(tcflow_flow_stats, flow_label), M(tcflow_flow_stats, frag_id),
        M(tcflow_flow_stats, ext_hdr_bitmap), M(tcflow_flow_stats, tcp_flags),
        M(tcflow_flow_stats, min_ttl), M(tcflow_flow_stats, max_ttl),
        M(tcflow_flow_stats, tos), M(tcflow_flow_stats, ext_hdr_depth),
        M(tcflow_flow_stats, reserved), M(tcflow_flow_stats, chain),
        M(tcflow_flow_stats, chain_misses), M(tcflow_flow_stats, reserved2)}},
      {"tcflow_slot", sizeof(tcflow_slot), {M(tcflow_slot, key), M(tcflow_slot, stats)}},
      {"tcflow_index_key_v4", sizeof(tcflow_index_key_v4),
       {M(tcflow_index_key_v4, generation), M(tcflow_index_key_v4, ifindex),
        M(tcflow_index_key_v4, other_ifindex), M(tcflow_index_key_v4, src_addr),
        M(tcflow_index_key_v4, dst_addr), M(tcflow_index_key_v4, src_port),
        M(tcflow_index_key_v4, dst_port), M(tcflow_index_key_v4, vlan_id),
        M(tcflow_index_key_v4, inner_vlan_id), M(tcflow_index_key_v4, mark),
        M(tcflow_index_key_v4, protocol), M(tcflow_index_key_v4, direction),
        M(tcflow_index_key_v4, key_flags), M(tcflow_index_key_v4, reserved)}},
      {"tcflow_index_key_v6", sizeof(tcflow_index_key_v6),
       {M(tcflow_index_key_v6, generation), M(tcflow_index_key_v6, ifindex),
        M(tcflow_index_key_v6, other_ifindex), M(tcflow_index_key_v6, src_addr),
        M(tcflow_index_key_v6, dst_addr), M(tcflow_index_key_v6, src_port),
        M(tcflow_index_key_v6, dst_port), M(tcflow_index_key_v6, vlan_id),
        M(tcflow_index_key_v6, inner_vlan_id), M(tcflow_index_key_v6, mark),
        M(tcflow_index_key_v6, protocol), M(tcflow_index_key_v6, direction),
        M(tcflow_index_key_v6, key_flags), M(tcflow_index_key_v6, reserved)}},
      {"tcflow_overflow_key", sizeof(tcflow_overflow_key),
       {M(tcflow_overflow_key, generation), M(tcflow_overflow_key, ifindex),
        M(tcflow_overflow_key, direction)}},
      {"tcflow_control", sizeof(tcflow_control),
       {M(tcflow_control, generation), M(tcflow_control, next_slot),
        M(tcflow_control, next_overflow_slot)}},
      {"tcflow_stats", sizeof(tcflow_stats),
       {M(tcflow_stats, packets), M(tcflow_stats, bytes), M(tcflow_stats, ip_packets),
        M(tcflow_stats, not_ip), M(tcflow_stats, parse_error), M(tcflow_stats, protocol),
        M(tcflow_stats, icmp6_type), M(tcflow_stats, ext_hdr), M(tcflow_stats, ext_chain_depth),
        M(tcflow_stats, size_hist), M(tcflow_stats, flows_not_created),
        M(tcflow_stats, overflow_lost), M(tcflow_stats, events_lost),
        M(tcflow_stats, gso_packets)}},
      {"tcflow_event", sizeof(tcflow_event),
       {M(tcflow_event, timestamp_ns), M(tcflow_event, type), M(tcflow_event, ifindex),
        M(tcflow_event, src_addr), M(tcflow_event, dst_addr), M(tcflow_event, target_addr),
        M(tcflow_event, direction), M(tcflow_event, icmp_type), M(tcflow_event, icmp_code),
        M(tcflow_event, ext_depth), M(tcflow_event, ext_hdr_bitmap)}},
  };
}

// The fixed contract, written out by hand: (struct, size) and (member, offset).
TEST(AbiLayoutTest, SizesAndOffsetsArePinned) {
  static_assert(sizeof(tcflow_flow_key) == 56, "");
  static_assert(sizeof(tcflow_flow_stats) == 72, "");
  static_assert(sizeof(tcflow_slot) == 128, "");
  static_assert(sizeof(tcflow_index_key_v4) == 40, "");
  static_assert(sizeof(tcflow_index_key_v6) == 64, "");
  static_assert(sizeof(tcflow_overflow_key) == 16, "");
  static_assert(sizeof(tcflow_control) == 24, "");
  static_assert(sizeof(tcflow_stats) == 4472, "");
  static_assert(sizeof(tcflow_event) == 72, "");
  EXPECT_EQ(TCFLOW_ABI_VERSION, 2);

  struct Pin {
    const char* s;
    const char* m;
    size_t offset;
  };
  const Pin pins[] = {
      {"tcflow_flow_key", "ifindex", 0},         {"tcflow_flow_key", "other_ifindex", 4},
      {"tcflow_flow_key", "src_addr", 8},        {"tcflow_flow_key", "dst_addr", 24},
      {"tcflow_flow_key", "src_port", 40},       {"tcflow_flow_key", "dst_port", 42},
      {"tcflow_flow_key", "vlan_id", 44},        {"tcflow_flow_key", "inner_vlan_id", 46},
      {"tcflow_flow_key", "mark", 48},           {"tcflow_flow_key", "ip_version", 52},
      {"tcflow_flow_key", "protocol", 53},       {"tcflow_flow_key", "direction", 54},
      {"tcflow_flow_key", "key_flags", 55},
      {"tcflow_flow_stats", "first_seen_ns", 0}, {"tcflow_flow_stats", "packets", 8},
      {"tcflow_flow_stats", "bytes", 16},        {"tcflow_flow_stats", "last_seen_ns", 24},
      {"tcflow_flow_stats", "flow_label", 32},   {"tcflow_flow_stats", "frag_id", 36},
      {"tcflow_flow_stats", "ext_hdr_bitmap", 40}, {"tcflow_flow_stats", "tcp_flags", 44},
      {"tcflow_flow_stats", "min_ttl", 46},      {"tcflow_flow_stats", "max_ttl", 47},
      {"tcflow_flow_stats", "tos", 48},          {"tcflow_flow_stats", "ext_hdr_depth", 49},
      {"tcflow_flow_stats", "reserved", 50},    {"tcflow_flow_stats", "chain", 52},
      {"tcflow_flow_stats", "chain_misses", 56}, {"tcflow_flow_stats", "reserved2", 64},
      {"tcflow_slot", "key", 0},                 {"tcflow_slot", "stats", 56},
      {"tcflow_index_key_v4", "generation", 0},  {"tcflow_index_key_v4", "ifindex", 8},
      {"tcflow_index_key_v4", "other_ifindex", 12}, {"tcflow_index_key_v4", "src_addr", 16},
      {"tcflow_index_key_v4", "dst_addr", 20},   {"tcflow_index_key_v4", "src_port", 24},
      {"tcflow_index_key_v4", "dst_port", 26},   {"tcflow_index_key_v4", "vlan_id", 28},
      {"tcflow_index_key_v4", "inner_vlan_id", 30}, {"tcflow_index_key_v4", "mark", 32},
      {"tcflow_index_key_v4", "protocol", 36},   {"tcflow_index_key_v4", "direction", 37},
      {"tcflow_index_key_v4", "key_flags", 38},  {"tcflow_index_key_v4", "reserved", 39},
      {"tcflow_index_key_v6", "generation", 0},  {"tcflow_index_key_v6", "ifindex", 8},
      {"tcflow_index_key_v6", "other_ifindex", 12}, {"tcflow_index_key_v6", "src_addr", 16},
      {"tcflow_index_key_v6", "dst_addr", 32},   {"tcflow_index_key_v6", "src_port", 48},
      {"tcflow_index_key_v6", "dst_port", 50},   {"tcflow_index_key_v6", "vlan_id", 52},
      {"tcflow_index_key_v6", "inner_vlan_id", 54}, {"tcflow_index_key_v6", "mark", 56},
      {"tcflow_index_key_v6", "protocol", 60},   {"tcflow_index_key_v6", "direction", 61},
      {"tcflow_index_key_v6", "key_flags", 62},  {"tcflow_index_key_v6", "reserved", 63},
      {"tcflow_overflow_key", "generation", 0},  {"tcflow_overflow_key", "ifindex", 8},
      {"tcflow_overflow_key", "direction", 12},
      {"tcflow_control", "generation", 0},       {"tcflow_control", "next_slot", 8},
      {"tcflow_control", "next_overflow_slot", 16},
      {"tcflow_stats", "packets", 0},            {"tcflow_stats", "bytes", 16},
      {"tcflow_stats", "ip_packets", 32},        {"tcflow_stats", "not_ip", 48},
      {"tcflow_stats", "parse_error", 56},       {"tcflow_stats", "protocol", 128},
      {"tcflow_stats", "icmp6_type", 2176},      {"tcflow_stats", "ext_hdr", 4224},
      {"tcflow_stats", "ext_chain_depth", 4280}, {"tcflow_stats", "size_hist", 4360},
      {"tcflow_stats", "flows_not_created", 4440}, {"tcflow_stats", "overflow_lost", 4448},
      {"tcflow_stats", "events_lost", 4456},     {"tcflow_stats", "gso_packets", 4464},
      {"tcflow_event", "timestamp_ns", 0},       {"tcflow_event", "type", 8},
      {"tcflow_event", "ifindex", 12},           {"tcflow_event", "src_addr", 16},
      {"tcflow_event", "dst_addr", 32},          {"tcflow_event", "target_addr", 48},
      {"tcflow_event", "direction", 64},         {"tcflow_event", "icmp_type", 65},
      {"tcflow_event", "icmp_code", 66},         {"tcflow_event", "ext_depth", 67},
      {"tcflow_event", "ext_hdr_bitmap", 68},
  };
  size_t pinned_members = 0;
  for (const StructLayout& s : CxxLayouts()) pinned_members += s.members.size();
  EXPECT_EQ(sizeof(pins) / sizeof(pins[0]), pinned_members) << "every member is pinned";
  for (const Pin& p : pins) {
    bool found = false;
    for (const StructLayout& s : CxxLayouts()) {
      if (std::string(s.name) != p.s) continue;
      for (const Member& m : s.members) {
        if (std::string(m.name) != p.m) continue;
        found = true;
        EXPECT_EQ(m.offset, p.offset) << p.s << "." << p.m;
      }
    }
    EXPECT_TRUE(found) << p.s << "." << p.m;
  }
}

// IE 64 bits as the IANA IPFIX registry numbers them (bit 0 = MSB of the unsigned32).
TEST(AbiLayoutTest, Ie64BitsFollowTheRegistry) {
  EXPECT_EQ(TCFLOW_IE64_FRA1, 0x40000000u);
  EXPECT_EQ(TCFLOW_IE64_RH, 0x20000000u);
  EXPECT_EQ(TCFLOW_IE64_FRA0, 0x10000000u);
  EXPECT_EQ(TCFLOW_IE64_UNK, 0x08000000u);
  EXPECT_EQ(TCFLOW_IE64_HOP, 0x02000000u);
  EXPECT_EQ(TCFLOW_IE64_DST, 0x01000000u);
  EXPECT_EQ(TCFLOW_IE64_PAY, 0x00800000u);
  EXPECT_EQ(TCFLOW_IE64_AH, 0x00400000u);
  EXPECT_EQ(TCFLOW_IE64_ESP, 0x00200000u);
}

std::string ObjectPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  std::string base = srcdir ? std::string(srcdir) + "/" + (ws ? ws : "tcflow") + "/" : "";
  return base + "bpf/tcflow.bpf.o";
}

// What clang made of the same header for the BPF target, from the object's BTF.
TEST(AbiLayoutTest, BpfObjectLayoutMatchesCxx) {
  btf* b = btf__parse_elf(ObjectPath().c_str(), nullptr);
  ASSERT_NE(b, nullptr) << "cannot read BTF of " << ObjectPath();
  for (const StructLayout& s : CxxLayouts()) {
    SCOPED_TRACE(s.name);
    int id = btf__find_by_name_kind(b, s.name, BTF_KIND_STRUCT);
    ASSERT_GT(id, 0) << s.name << " is not in the object's BTF";
    const btf_type* t = btf__type_by_id(b, id);
    EXPECT_EQ(t->size, s.size);
    ASSERT_EQ(btf_vlen(t), s.members.size()) << "member count differs";
    const btf_member* bm = btf_members(t);
    for (size_t i = 0; i < s.members.size(); i++) {
      EXPECT_STREQ(btf__name_by_offset(b, bm[i].name_off), s.members[i].name);
      EXPECT_EQ(btf_member_bit_offset(t, i), s.members[i].offset * 8) << s.members[i].name;
      EXPECT_EQ(btf__resolve_size(b, bm[i].type), static_cast<long>(s.members[i].size))
          << s.members[i].name;
    }
  }
  btf__free(b);
}

}  // namespace
