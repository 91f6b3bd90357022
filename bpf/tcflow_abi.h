/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel/user contract of tcflow: map names, value layouts, flags and enums shared by
 * the tc programs (bpf/tcflow.bpf.c) and the C++ side (loader, drain, daemon, tests).
 * Both sides include this one header; //bpf:abi_layout_test pins every size and offset.
 *
 * Design: generations of memory-mapped slots.
 *   - A flow's counters live in a slot of TCFLOW_MAP_SLOTS, a BPF_F_MMAPABLE array that
 *     user space reads and zeroes straight from memory. The array has two halves; the
 *     programs write the half (generation & 1) of the generation they read from
 *     TCFLOW_MAP_CONTROL at the start of the packet.
 *   - The programs find a flow's slot through an LRU hash keyed by the flow key *and the
 *     generation number* (never only the half: an old entry must never point into a reused
 *     slot). Entries are never deleted: old generations simply stop matching and age out. A
 *     flow evicted early gets a second slot in the same generation; the drain merges by key.
 *   - Each CPU counts a flow in a slot of its own: the index keys carry the CPU (`owner`,
 *     the last byte), so a slot's counters are only ever written by one CPU and take plain
 *     adds, like per-CPU map values. A flow seen on several CPUs has several slots in a
 *     generation; the drain merges them by flow key (as it merges a flow evicted early).
 *   - A new flow takes the next slot of its half with an atomic fetch-and-add on
 *     control.next_slot[half]. When the half is full the packet still counts: into a
 *     per-interface/direction overflow record (a slot in the half's overflow region), and
 *     stats.flows_not_created counts the packets folded there.
 *   - Drain (user space): flip control.generation, wait until no program can still be
 *     running with the old generation (an RCU grace period: tc programs run inside one),
 *     read the old half's slots [0, next_slot) and overflow slots [0, next_overflow_slot),
 *     zero them, then reset both counters of that half.
 *
 * Exactness invariant (the tests check it): every packet a program sees adds its wire
 * packet count (gso_segs, at least 1) to exactly one of
 *   a flow slot, an overflow slot, stats.overflow_lost, stats.not_ip, or
 *   stats.parse_error[reason] (reason != TCFLOW_PARSE_OK).
 *
 * Counted per flow, not per packet: the counters of struct tcflow_stats that follow from a
 * flow's key (packets and bytes by direction, by IP version, by protocol, ICMPv6 by type)
 * and from its extension-header chain (headers by type, chain depth) are not added per
 * packet for a packet counted in a flow slot. The reader adds them from each flow slot it
 * drains, with tcflow_stats_add_flow_slot() below; the per-CPU counters hold the rest
 * (packets that went to an overflow record or were lost, and a packet whose chain differs
 * from its slot's first one). So "kernel counters + every drained flow slot" is exactly
 * what per-packet counting would have given, and a packet costs the programs the slot's
 * cache lines only.
 */
#ifndef TCFLOW_BPF_TCFLOW_ABI_H_
#define TCFLOW_BPF_TCFLOW_ABI_H_

#include <linux/types.h>

#define TCFLOW_ABI_VERSION 2 /* 2: 128-byte slots; per-flow stats added from drained slots */

/* Program names (ELF section "tc"). */
#define TCFLOW_PROG_INGRESS "tcflow_ingress"
#define TCFLOW_PROG_EGRESS "tcflow_egress"

/* Map names, also their pin file names. At most 15 characters (BPF_OBJ_NAME_LEN). */
#define TCFLOW_MAP_CONTROL "tcflow_control"   /* array[1], mmapable: struct tcflow_control */
#define TCFLOW_MAP_SLOTS "tcflow_slots"       /* array, mmapable: struct tcflow_slot */
#define TCFLOW_MAP_INDEX_V4 "tcflow_idx_v4"   /* LRU hash: tcflow_index_key_v4 -> __u32 slot */
#define TCFLOW_MAP_INDEX_V6 "tcflow_idx_v6"   /* LRU hash: tcflow_index_key_v6 -> __u32 slot */
#define TCFLOW_MAP_OVERFLOW "tcflow_ovf_idx"  /* LRU hash: tcflow_overflow_key -> __u32 slot */
#define TCFLOW_MAP_STATS "tcflow_stats"       /* per-CPU array[1]: struct tcflow_stats */
#define TCFLOW_MAP_EVENTS "tcflow_events"     /* ring buffer of struct tcflow_event */

/* The flow cache's second level (private to the programs, but sized by the loader): arrays
 * of (possible CPUs << bits) 64-byte entries, see bpf/maps.h. */
#define TCFLOW_MAP_L2_V4 "tcflow_l2_v4"
#define TCFLOW_MAP_L2_V6 "tcflow_l2_v6"
#define TCFLOW_L2_V4_BITS 12
#define TCFLOW_L2_V6_BITS 11

/* Load-time knobs: `const volatile` globals in the object's .rodata, set by the loader
 * before load so one object serves every deployment:
 *   __u32 tcflow_cfg_slots_per_half;   flow slots per half (map sizes follow it)
 *   bool  tcflow_cfg_key_vlan;         VLAN ids in the key (default on)
 *   bool  tcflow_cfg_key_mark;         skb->mark in the key (default off)
 *   __u32 tcflow_cfg_ext_alert_depth;  EXT_CHAIN_DEEP event above this depth (0 = off)
 *   bool  tcflow_cfg_ndp_events;       NDP events on the ring buffer (default on)
 *   bool  tcflow_cfg_flow_cache;       per-CPU exact-match cache in front of the index
 *                                      hashes (default on; off only to measure it)
 */

/* Slot array geometry: each half holds `slots_per_half` flow slots followed by
 * TCFLOW_OVERFLOW_SLOTS overflow slots. Slot i of half h is at index
 * h * tcflow_half_stride(slots_per_half) + i. */
#define TCFLOW_OVERFLOW_SLOTS 256
static inline __u32 tcflow_half_stride(__u32 slots_per_half) {
  return slots_per_half + TCFLOW_OVERFLOW_SLOTS;
}

/* Deepest IPv6 extension-header chain the parser walks. */
#define TCFLOW_MAX_EXT_HEADERS 8

enum tcflow_direction {
  TCFLOW_DIR_INGRESS = 0, /* IPFIX flowDirection 0 */
  TCFLOW_DIR_EGRESS = 1,  /* IPFIX flowDirection 1 */
};

/* IPFIX ipv6ExtensionHeaders (IE 64) bits as the IANA IPFIX registry numbers them (RFC 5102
 * diagram), bit 0 the most significant bit of the unsigned32: bit n is 1u << (31 - n).
 * IE 64 has no bit for the mobility header (RFC 9740's IE 515 does): it is counted in the
 * chain depth and in stats.ext_hdr, not in this bitmap. */
#define TCFLOW_IE64_BIT(n) (1u << (31 - (n)))
#define TCFLOW_IE64_FRA1 TCFLOW_IE64_BIT(1) /* fragment header, not the first fragment */
#define TCFLOW_IE64_RH TCFLOW_IE64_BIT(2)   /* routing header */
#define TCFLOW_IE64_FRA0 TCFLOW_IE64_BIT(3) /* fragment header, first fragment */
#define TCFLOW_IE64_UNK TCFLOW_IE64_BIT(4)  /* upper layer unknown (chain cut or too deep) */
#define TCFLOW_IE64_HOP TCFLOW_IE64_BIT(6)  /* hop-by-hop options */
#define TCFLOW_IE64_DST TCFLOW_IE64_BIT(7)  /* destination options */
#define TCFLOW_IE64_PAY TCFLOW_IE64_BIT(8)  /* payload compression (not parsed) */
#define TCFLOW_IE64_AH TCFLOW_IE64_BIT(9)   /* authentication header */
#define TCFLOW_IE64_ESP TCFLOW_IE64_BIT(10) /* encapsulating security payload */

/* tcflow_flow_key.key_flags */
enum tcflow_key_flags {
  TCFLOW_KEY_NON_FIRST_FRAGMENT = 1 << 0, /* ports unknown: a later fragment */
  TCFLOW_KEY_OVERFLOW = 1 << 1,           /* overflow record: only ifindex+direction set */
  TCFLOW_KEY_L4_TRUNCATED = 1 << 2,       /* transport header cut short: ports left 0 */
  TCFLOW_KEY_EXT_CHAIN_TRUNCATED = 1 << 3, /* IPv6 chain deeper than the walk or cut */
};

/*
 * The flow key as user space sees it in a slot. Addresses are 128-bit; IPv4 addresses are
 * IPv4-mapped (::ffff:a.b.c.d) and ip_version says which family, so the two cannot collide.
 * For ICMP/ICMPv6, src_port is 0 and dst_port is type << 8 | code (IPFIX
 * icmpTypeCodeIPv4/IPv6). Ports are host byte order.
 */
struct tcflow_flow_key {
  __u32 ifindex;       /* observation interface */
  __u32 other_ifindex; /* the other leg where the kernel knows it (egress: ingress_ifindex) */
  __u8 src_addr[16];
  __u8 dst_addr[16];
  __u16 src_port;
  __u16 dst_port;
  __u16 vlan_id;       /* outer 802.1Q/802.1ad VLAN id, 0 = untagged (or key_vlan off) */
  __u16 inner_vlan_id; /* inner (QinQ customer) VLAN id, 0 = none */
  __u32 mark;          /* skb->mark when key_mark is set, else 0 */
  __u8 ip_version;     /* 4 or 6 */
  __u8 protocol;       /* IP protocol / IPv6 upper-layer next header */
  __u8 direction;      /* enum tcflow_direction */
  __u8 key_flags;      /* enum tcflow_key_flags */
};

/* Per-flow metering, written by the programs. Times are bpf_ktime_get_coarse_ns()-style
 * CLOCK_MONOTONIC nanoseconds (user space converts them to wall-clock milliseconds). */
struct tcflow_flow_stats {
  /* Written once, when the slot is taken; in the key's cache line. Everything after it, the
   * fields a packet of an existing flow writes or checks, shares the slot's second line. */
  __u64 first_seen_ns;
  __u64 packets;     /* wire packets (a GSO/GRO super-packet counts gso_segs) */
  __u64 bytes;       /* IP-layer bytes as on the wire (headers repeated per segment) */
  __u64 last_seen_ns;
  __u32 flow_label;       /* IPv6 flow label of the first packet */
  __u32 frag_id;          /* fragment identification of the first fragment seen */
  __u32 ext_hdr_bitmap;   /* IPFIX ipv6ExtensionHeaders (IE 64) bit semantics */
  __u16 tcp_flags;        /* OR of TCP flags (IPFIX tcpControlBits, 16 bit) */
  __u8 min_ttl;           /* TTL / hop limit; min starts at 255 */
  __u8 max_ttl;
  __u8 tos;               /* DSCP/ECN byte of the first packet (ipClassOfService) */
  __u8 ext_hdr_depth;     /* deepest extension-header chain seen */
  __u16 reserved;
  __u32 chain;            /* IPv6: the chain signature of the slot's first packet */
  __u64 chain_misses;     /* IPv6: wire packets with another chain (their extension-header
                           * stats are counted per packet in tcflow_stats instead) */
  __u64 reserved2;        /* the slot is 128 bytes: a shift, not a multiply, addresses it */
};

struct tcflow_slot {
  struct tcflow_flow_key key;
  struct tcflow_flow_stats stats;
};

/* An IPv6 extension-header chain as the stats count it: bits 0-3 the chain-depth bucket
 * (stats.ext_chain_depth index, 0 .. TCFLOW_MAX_EXT_HEADERS + 1), bits 4 + 4k the number of
 * headers of kind k (enum tcflow_ext_header; at most TCFLOW_MAX_EXT_HEADERS each). */
#define TCFLOW_CHAIN_DEPTH(sig) ((sig)&0xf)
#define TCFLOW_CHAIN_COUNT(sig, kind) (((sig) >> (4 + 4 * (kind))) & 0xf)

/* Hash keys: the flow key plus the generation that owns the slot. The IPv4 key is smaller
 * (hashing cost grows with key size). */
struct tcflow_index_key_v4 {
  __u64 generation;
  __u32 ifindex;
  __u32 other_ifindex;
  __u32 src_addr; /* network byte order */
  __u32 dst_addr;
  __u16 src_port;
  __u16 dst_port;
  __u16 vlan_id;
  __u16 inner_vlan_id;
  __u32 mark;
  __u8 protocol;
  __u8 direction;
  __u8 key_flags;
  __u8 reserved; /* owner: CPU + 1 whose slot this is (0: shared, CPUs >= 255) */
};

struct tcflow_index_key_v6 {
  __u64 generation;
  __u32 ifindex;
  __u32 other_ifindex;
  __u8 src_addr[16];
  __u8 dst_addr[16];
  __u16 src_port;
  __u16 dst_port;
  __u16 vlan_id;
  __u16 inner_vlan_id;
  __u32 mark;
  __u8 protocol;
  __u8 direction;
  __u8 key_flags;
  __u8 reserved; /* owner, as in tcflow_index_key_v4 */
};

struct tcflow_overflow_key {
  __u64 generation;
  __u32 ifindex;
  __u32 direction;
};

/* The one element of TCFLOW_MAP_CONTROL. User space writes only `generation` (an aligned
 * 64-bit store through the mmap); the programs only add to the counters. */
struct tcflow_control {
  __u64 generation;
  __u32 next_slot[2];          /* per half: flow slots handed out (may exceed capacity) */
  __u32 next_overflow_slot[2]; /* per half: overflow slots handed out */
};

/* Why a packet could not be keyed (stats.parse_error index). */
enum tcflow_parse_result {
  TCFLOW_PARSE_OK = 0,
  TCFLOW_PARSE_TRUNCATED_ETHERNET,
  TCFLOW_PARSE_TRUNCATED_VLAN,
  TCFLOW_PARSE_TOO_MANY_VLANS, /* more than two tags */
  TCFLOW_PARSE_TRUNCATED_IPV4,
  TCFLOW_PARSE_BAD_IPV4_HEADER, /* IHL < 5 or version != 4 */
  TCFLOW_PARSE_TRUNCATED_IPV6,
  TCFLOW_PARSE_BAD_IPV6_HEADER, /* version != 6 */
  TCFLOW_PARSE_BAD_IP_LENGTH,   /* total/payload length shorter than the headers */
  TCFLOW_PARSE_RESULT_COUNT,
};

/* IPv6 extension headers as counted in stats.ext_hdr (not the IE 64 bit numbers). */
enum tcflow_ext_header {
  TCFLOW_EXT_HOP_BY_HOP = 0,
  TCFLOW_EXT_ROUTING,
  TCFLOW_EXT_FRAGMENT,
  TCFLOW_EXT_DEST_OPTIONS,
  TCFLOW_EXT_AH,
  TCFLOW_EXT_ESP,
  TCFLOW_EXT_MOBILITY,
  TCFLOW_EXT_HEADER_COUNT,
};

/* Packet-size histogram upper bounds (IP bytes, inclusive), IPv6-relevant steps. The last
 * bucket holds everything larger. */
#define TCFLOW_SIZE_BUCKETS 10
#define TCFLOW_SIZE_BUCKET_BOUNDS {64, 128, 256, 512, 1024, 1280, 1500, 4096, 9000, 0xffffffff}

/* Per-CPU counters; user space sums the CPUs. Monotonic: never reset by user space. All
 * packet counts are wire packets. Marked "+ slots": add tcflow_stats_add_flow_slot() of
 * every drained flow slot (see the top of this file). */
struct tcflow_stats {
  __u64 packets[2];     /* by direction (+ slots) */
  __u64 bytes[2];       /* IP bytes by direction (+ slots) */
  __u64 ip_packets[2];  /* [0] IPv4, [1] IPv6 (+ slots) */
  __u64 not_ip;         /* not IPv4/IPv6 (ARP, LLDP, ...) */
  __u64 parse_error[TCFLOW_PARSE_RESULT_COUNT]; /* [TCFLOW_PARSE_OK] unused */
  __u64 protocol[256];  /* IP packets by protocol (+ slots) */
  __u64 icmp6_type[256]; /* (+ slots) */
  __u64 ext_hdr[TCFLOW_EXT_HEADER_COUNT]; /* (+ slots) */
  __u64 ext_chain_depth[TCFLOW_MAX_EXT_HEADERS + 2]; /* last: deeper than the walk (+ slots) */
  __u64 size_hist[TCFLOW_SIZE_BUCKETS]; /* every keyed packet, counted per packet */
  __u64 flows_not_created; /* packets folded into an overflow record (table full) */
  __u64 overflow_lost;     /* packets with no overflow slot either (counted only here) */
  __u64 events_lost;       /* ring buffer full */
  __u64 gso_packets;       /* super-packets seen (each counted as its gso_segs) */
};

/* What `n` wire packets whose extension chain had signature `sig` add to the stats: their
 * chain-depth bucket and every header kind in the chain. The programs add a packet counted
 * on its own with it; tcflow_stats_add_flow_slot a slot's packets that had its first chain. */
static inline void tcflow_stats_add_chain(struct tcflow_stats *st, __u32 sig, __u64 n) {
  const __u32 depth = TCFLOW_CHAIN_DEPTH(sig);
  int kind;

  if (n == 0 || depth > TCFLOW_MAX_EXT_HEADERS + 1) return;
  st->ext_chain_depth[depth] += n;
  for (kind = 0; kind < TCFLOW_EXT_HEADER_COUNT; kind++)
    st->ext_hdr[kind] += TCFLOW_CHAIN_COUNT(sig, kind) * n;
}

/* Adds what a drained flow slot (not an overflow slot) stands for to the "+ slots" counters
 * of `st`. Key flags say when a packet had no ICMPv6 header to count: a later fragment, or
 * a transport header or extension chain cut short. */
static inline void tcflow_stats_add_flow_slot(struct tcflow_stats *st,
                                              const struct tcflow_slot *s) {
  const struct tcflow_flow_key *k = &s->key;
  const __u64 n = s->stats.packets;

  if (n == 0 || (k->key_flags & TCFLOW_KEY_OVERFLOW)) return;
  st->packets[k->direction & 1] += n;
  st->bytes[k->direction & 1] += s->stats.bytes;
  st->ip_packets[k->ip_version == 6] += n;
  st->protocol[k->protocol] += n;
  if (k->ip_version != 6) return;
  if (k->protocol == 58 /* ICMPv6 */ &&
      !(k->key_flags & (TCFLOW_KEY_NON_FIRST_FRAGMENT | TCFLOW_KEY_L4_TRUNCATED |
                        TCFLOW_KEY_EXT_CHAIN_TRUNCATED)))
    st->icmp6_type[k->dst_port >> 8] += n;
  /* The packets whose chain was the slot's first one. */
  tcflow_stats_add_chain(st, s->stats.chain, n - s->stats.chain_misses);
}

/* Ring-buffer events. */
enum tcflow_event_type {
  TCFLOW_EVENT_NDP = 1,             /* ICMPv6 133..137; icmp_type says which */
  TCFLOW_EVENT_EXT_CHAIN_DEEP = 2,  /* chain deeper than the configured alert depth */
};

struct tcflow_event {
  __u64 timestamp_ns; /* CLOCK_MONOTONIC */
  __u32 type;         /* enum tcflow_event_type */
  __u32 ifindex;
  __u8 src_addr[16];
  __u8 dst_addr[16];
  __u8 target_addr[16]; /* NS/NA/redirect target; zero otherwise */
  __u8 direction;
  __u8 icmp_type;
  __u8 icmp_code;
  __u8 ext_depth;       /* EXT_CHAIN_DEEP: chain depth seen */
  __u32 ext_hdr_bitmap;
};

#endif /* TCFLOW_BPF_TCFLOW_ABI_H_ */
