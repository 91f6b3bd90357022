// SPDX-License-Identifier: GPL-2.0
/*
 * tcflow's tc programs: tcflow_ingress and tcflow_egress (clsact), one shared parser
 * (parsing.h), maps in maps.h, the contract in tcflow_abi.h.
 *
 * Every path returns TC_ACT_UNSPEC and nothing here writes to the packet: the programs only
 * meter. The common packet of an existing flow takes tcflow_fast: a parse of only what such
 * a packet has, straight into the key words, one per-CPU cache probe, plain adds to the
 * CPU's own slot and the size histogram (the other counters are kept per flow, see
 * tcflow_abi.h). Everything else (a cache miss, a new flow, VLAN tags, IPv4 options and
 * fragments, longer IPv6 chains, GSO, NDP, truncated headers) takes the general path: the
 * full parser (parsing.h), the flow cache's two levels or one LRU hash look-up, slot
 * creation, overflow, events. The clock is a jiffies-keyed cache of the coarse monotonic clock (see
 * tcflow_now).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/maps.h"
#include "bpf/parsing.h"
#include "bpf/tcflow_abi.h"

/* Used only for the per-packet return value; spelled once so no other verdict can creep in. */
#define TCFLOW_VERDICT TC_ACT_UNSPEC

/* Size-histogram bucket of an IP packet of `n` bytes (TCFLOW_SIZE_BUCKET_BOUNDS). */
static __always_inline int tcflow_size_bucket(__u64 n) {
  if (n <= 64) return 0;
  if (n <= 128) return 1;
  if (n <= 256) return 2;
  if (n <= 512) return 3;
  if (n <= 1024) return 4;
  if (n <= 1280) return 5;
  if (n <= 1500) return 6;
  if (n <= 4096) return 7;
  if (n <= 9000) return 8;
  return 9;
}

/* The size histogram: the one counter a keyed packet adds per packet wherever it is counted
 * (a super-packet adds its segments at their mean size). */
static __always_inline void tcflow_count_size(struct tcflow_stats *st, __u32 segs, __u64 bytes) {
  __u64 per_pkt = segs > 1 ? bytes / segs : bytes;
  st->size_hist[tcflow_size_bucket(per_pkt)] += segs;
}

/* stats.ext_chain_depth bucket of an IPv6 packet's chain. */
static __always_inline __u32 tcflow_chain_depth(const struct tcflow_parsed *p) {
  __u32 d = p->ext_depth;
  if (p->ext_deeper || d > TCFLOW_MAX_EXT_HEADERS) d = TCFLOW_MAX_EXT_HEADERS + 1;
  return d;
}

/* The chain's signature (TCFLOW_CHAIN_DEPTH/_COUNT in tcflow_abi.h); 0 for IPv4. */
static __always_inline __u32 tcflow_chain_sig(const struct tcflow_parsed *p) {
  if (p->ip_version != 6) return 0;
  __u32 sig = tcflow_chain_depth(p);
#pragma unroll
  for (int k = 0; k < TCFLOW_EXT_HEADER_COUNT; k++)
    sig |= (__u32)(p->ext_count[k] & 0xf) << (4 + 4 * k);
  return sig;
}

/* Extension-header stats of an IPv6 packet whose chain is not its slot's `chain`. */
static __always_inline void tcflow_count_ext(struct tcflow_stats *st,
                                             const struct tcflow_parsed *p, __u32 segs) {
  if (p->ip_version == 6) tcflow_stats_add_chain(st, tcflow_chain_sig(p), segs);
}

/* The per-flow counters of a keyed packet no flow slot counts (an overflow record or lost):
 * what tcflow_stats_add_flow_slot() would otherwise derive from its slot. */
static __always_inline void tcflow_count_unslotted(struct tcflow_stats *st,
                                                   const struct tcflow_parsed *p, __u32 dir,
                                                   __u32 segs, __u64 bytes) {
  st->packets[dir & 1] += segs;
  st->bytes[dir & 1] += bytes;
  st->ip_packets[p->ip_version == 6] += segs;
  st->protocol[p->protocol] += segs;
  if (p->has_icmp && p->ip_version == 6) st->icmp6_type[p->icmp_type] += segs;
  tcflow_count_ext(st, p, segs);
}

/* CLOCK_MONOTONIC_COARSE in ns. The coarse clock only moves on a tick, together with jiffies;
 * bpf_jiffies64() is inlined into one load, so the helper call happens once per tick per CPU
 * instead of once per packet. Same value and resolution as calling the helper every time. */
static __always_inline __u64 tcflow_now(struct tcflow_pcpu *pc) {
  __u64 j = bpf_jiffies64();
  if (j != pc->clock_jiffies) {
    pc->clock_ns = bpf_ktime_get_coarse_ns();
    pc->clock_jiffies = j;
  }
  return pc->clock_ns;
}

/*
 * Adds one packet to a slot. A flow slot is owned by one CPU (the index key carries the CPU,
 * see tcflow_handle), and tc programs never nest on a CPU, so its counters take plain adds,
 * like any per-CPU map value. Overflow records and slots of CPUs >= 255 are shared between
 * CPUs and take atomic adds.
 */
static __always_inline void tcflow_meter(struct tcflow_slot *s, const struct tcflow_parsed *p,
                                         __u32 segs, __u64 bytes, __u64 now, int shared) {
  struct tcflow_flow_stats *fs = &s->stats;

  if (shared) {
    __sync_fetch_and_add(&fs->packets, segs);
    __sync_fetch_and_add(&fs->bytes, bytes);
  } else {
    fs->packets += segs;
    fs->bytes += bytes;
  }
  if (fs->last_seen_ns < now) fs->last_seen_ns = now;
  /* tcp_flags shares an aligned 32-bit word with min_ttl/max_ttl; OR-ing zero bytes leaves
   * those as they are (BPF atomics are 32/64-bit only). */
  if (p->tcp_flags & ~fs->tcp_flags) {
    if (shared)
      __sync_fetch_and_or((__u32 *)&fs->tcp_flags, (__u32)p->tcp_flags);
    else
      fs->tcp_flags |= p->tcp_flags;
  }
  if (p->ttl < fs->min_ttl) fs->min_ttl = p->ttl;
  if (p->ttl > fs->max_ttl) fs->max_ttl = p->ttl;
  if (p->ext_bitmap & ~fs->ext_hdr_bitmap) {
    if (shared)
      __sync_fetch_and_or(&fs->ext_hdr_bitmap, p->ext_bitmap);
    else
      fs->ext_hdr_bitmap |= p->ext_bitmap;
  }
  if (p->ext_depth > fs->ext_hdr_depth) fs->ext_hdr_depth = p->ext_depth;
  if (p->is_fragment && !fs->frag_id) fs->frag_id = p->frag_id;
}

/* Fills a fresh slot nobody else can see yet: plain stores. */
static __always_inline void tcflow_init_slot(struct tcflow_slot *s, const struct tcflow_parsed *p,
                                             __u32 ifindex, __u32 other, __u32 mark, __u8 dir,
                                             __u32 segs, __u64 bytes, __u64 now, __u32 sig) {
  struct tcflow_flow_key *k = &s->key;
  struct tcflow_flow_stats *fs = &s->stats;

  k->ifindex = ifindex;
  k->other_ifindex = other;
  if (p->ip_version == 4) {
    __u32 *sa = (__u32 *)k->src_addr, *da = (__u32 *)k->dst_addr;
    sa[0] = 0;
    sa[1] = 0;
    sa[2] = bpf_htonl(0xffff);
    sa[3] = p->src4;
    da[0] = 0;
    da[1] = 0;
    da[2] = bpf_htonl(0xffff);
    da[3] = p->dst4;
  } else {
    __u64 *sa = (__u64 *)k->src_addr, *da = (__u64 *)k->dst_addr; /* 8-aligned in the slot */
    sa[0] = p->src6[0];
    sa[1] = p->src6[1];
    da[0] = p->dst6[0];
    da[1] = p->dst6[1];
  }
  k->src_port = p->src_port;
  k->dst_port = p->dst_port;
  k->vlan_id = tcflow_cfg_key_vlan ? p->vlan_id : 0;
  k->inner_vlan_id = tcflow_cfg_key_vlan ? p->inner_vlan_id : 0;
  k->mark = mark;
  k->ip_version = p->ip_version;
  k->protocol = p->protocol;
  k->direction = dir;
  k->key_flags = p->key_flags;

  fs->packets = segs;
  fs->bytes = bytes;
  fs->first_seen_ns = now;
  fs->last_seen_ns = now;
  fs->flow_label = p->flow_label;
  fs->frag_id = p->is_fragment ? p->frag_id : 0;
  fs->ext_hdr_bitmap = p->ext_bitmap;
  fs->tcp_flags = p->tcp_flags;
  fs->min_ttl = p->ttl;
  fs->max_ttl = p->ttl;
  fs->tos = p->tos;
  fs->ext_hdr_depth = p->ext_depth;
  fs->reserved = 0;
  fs->chain = sig;
  fs->chain_misses = 0;
  fs->reserved2 = 0;
}

/* Table full: fold the packet into the per-interface/direction overflow record. */
static __always_inline void tcflow_overflow(struct tcflow_stats *st, struct tcflow_control *ctl,
                                            __u64 gen, __u32 half_base, __u32 half,
                                            const struct tcflow_parsed *p, __u32 ifindex,
                                            __u8 dir, __u32 segs, __u64 bytes, __u64 now) {
  struct tcflow_overflow_key ok = {.generation = gen, .ifindex = ifindex, .direction = dir};
  struct tcflow_slot *s;
  __u32 *idx = bpf_map_lookup_elem(&tcflow_ovf_idx, &ok);

  if (idx) {
    __u32 i = half_base + tcflow_cfg_slots_per_half + *idx;
    s = bpf_map_lookup_elem(&tcflow_slots, &i);
    if (s) {
      st->flows_not_created += segs;
      tcflow_meter(s, p, segs, bytes, now, 1);
      return;
    }
  } else {
    __u32 o = __sync_fetch_and_add(&ctl->next_overflow_slot[half], 1);
    if (o < TCFLOW_OVERFLOW_SLOTS) {
      __u32 i = half_base + tcflow_cfg_slots_per_half + o;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
      if (s) {
        tcflow_init_slot(s, p, ifindex, 0, 0, dir, segs, bytes, now, 0);
        /* Only the interface and direction identify an overflow record. */
        __builtin_memset(s->key.src_addr, 0, 16);
        __builtin_memset(s->key.dst_addr, 0, 16);
        s->key.src_port = 0;
        s->key.dst_port = 0;
        s->key.vlan_id = 0;
        s->key.inner_vlan_id = 0;
        s->key.ip_version = 0;
        s->key.protocol = 0;
        s->key.key_flags = TCFLOW_KEY_OVERFLOW;
        s->stats.flow_label = 0;
        s->stats.frag_id = 0;
        s->stats.tos = 0;
        st->flows_not_created += segs;
        bpf_map_update_elem(&tcflow_ovf_idx, &ok, &o, BPF_ANY);
        return;
      }
    }
  }
  st->overflow_lost += segs;
}

static __always_inline void tcflow_ndp_event(struct __sk_buff *skb, struct tcflow_stats *st,
                                             const struct tcflow_parsed *p, __u8 dir,
                                             __u64 now) {
  struct tcflow_event *ev = bpf_ringbuf_reserve(&tcflow_events, sizeof(*ev), 0);
  if (!ev) {
    st->events_lost++;
    return;
  }
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  __u8 *icmp = data + (p->l4_off & 0x3fff);

  ev->timestamp_ns = now;
  ev->type = TCFLOW_EVENT_NDP;
  ev->ifindex = skb->ifindex;
  __builtin_memcpy(ev->src_addr, p->src6, 16);
  __builtin_memcpy(ev->dst_addr, p->dst6, 16);
  if (p->icmp_type >= 135 && (void *)(icmp + 24) <= data_end)
    __builtin_memcpy(ev->target_addr, icmp + 8, 16); /* NS, NA, redirect: target at 8 */
  else
    __builtin_memset(ev->target_addr, 0, 16);
  ev->direction = dir;
  ev->icmp_type = p->icmp_type;
  ev->icmp_code = p->icmp_code;
  ev->ext_depth = p->ext_depth;
  ev->ext_hdr_bitmap = p->ext_bitmap;
  bpf_ringbuf_submit(ev, 0);
}

static __always_inline void tcflow_ext_event(struct __sk_buff *skb, struct tcflow_stats *st,
                                             const struct tcflow_parsed *p, __u8 dir,
                                             __u64 now) {
  struct tcflow_event *ev = bpf_ringbuf_reserve(&tcflow_events, sizeof(*ev), 0);
  if (!ev) {
    st->events_lost++;
    return;
  }
  ev->timestamp_ns = now;
  ev->type = TCFLOW_EVENT_EXT_CHAIN_DEEP;
  ev->ifindex = skb->ifindex;
  __builtin_memcpy(ev->src_addr, p->src6, 16);
  __builtin_memcpy(ev->dst_addr, p->dst6, 16);
  __builtin_memset(ev->target_addr, 0, 16);
  ev->direction = dir;
  ev->icmp_type = 0;
  ev->icmp_code = 0;
  ev->ext_depth = p->ext_deeper ? TCFLOW_MAX_EXT_HEADERS + 1 : p->ext_depth;
  ev->ext_hdr_bitmap = p->ext_bitmap;
  bpf_ringbuf_submit(ev, 0);
}

/*
 * The index keys are built as 64-bit words in registers (the layouts of
 * tcflow_index_key_v4/_v6 on a little-endian target, which BPF objects here are: bpfel),
 * compared against the per-CPU cache in registers, and stored to the stack only on a cache
 * miss. Building them field by field would cost narrow stores followed by wide loads.
 */
_Static_assert(sizeof(struct tcflow_index_key_v4) == 40, "v4 key is 5 words");
_Static_assert(sizeof(struct tcflow_index_key_v6) == 64, "v6 key is 8 words");
_Static_assert(__builtin_offsetof(struct tcflow_index_key_v4, src_port) == 24, "v4 word 3");
_Static_assert(__builtin_offsetof(struct tcflow_index_key_v4, mark) == 32, "v4 word 4");
_Static_assert(__builtin_offsetof(struct tcflow_index_key_v6, src_port) == 48, "v6 word 6");
_Static_assert(__builtin_offsetof(struct tcflow_index_key_v6, mark) == 56, "v6 word 7");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "key words assume a little-endian BPF target"
#endif

union tcflow_key_v4_words {
  struct tcflow_index_key_v4 k;
  __u64 w[TCFLOW_KEY_WORDS_V4];
};

union tcflow_key_v6_words {
  struct tcflow_index_key_v6 k;
  __u64 w[TCFLOW_KEY_WORDS_V6];
};

static __always_inline __u32 tcflow_fold(__u64 x) {
  x ^= x >> 32;
  return (__u32)x * 0x9E3779B1u;
}

/* The flow cache's first level uses the hash's top 8 (IPv6: 7) bits; the second level
 * (maps.h) its top 12 (11), so flows that share a first-level entry mostly do not share a
 * second-level one. NULL: a CPU past the array the loader sized. */
static __always_inline struct tcflow_cache_v4 *tcflow_l2_entry_v4(__u32 cpu, __u32 hash) {
  __u32 k = cpu << TCFLOW_L2_V4_BITS | hash >> (32 - TCFLOW_L2_V4_BITS);
  return bpf_map_lookup_elem(&tcflow_l2_v4, &k);
}

static __always_inline struct tcflow_cache_v6 *tcflow_l2_entry_v6(__u32 cpu, __u32 hash) {
  __u32 k = cpu << TCFLOW_L2_V6_BITS | hash >> (32 - TCFLOW_L2_V6_BITS);
  return bpf_map_lookup_elem(&tcflow_l2_v6, &k);
}

/* Fills a flow-cache entry (either level) with a key and its slot. */
static __always_inline void tcflow_cache_fill_v4(struct tcflow_cache_v4 *c, __u64 w1, __u64 wa,
                                                 __u64 wp, __u64 wm, __u32 slot) {
  c->key[0] = w1;
  c->key[1] = wa;
  c->key[2] = wp;
  c->key[3] = wm;
  c->slot = slot;
}

static __always_inline void tcflow_cache_fill_v6(struct tcflow_cache_v6 *c, __u64 w1, __u64 s0,
                                                 __u64 s1, __u64 d0, __u64 d1, __u64 wp,
                                                 __u64 wm, __u32 slot) {
  c->key[0] = w1;
  c->key[1] = s0;
  c->key[2] = s1;
  c->key[3] = d0;
  c->key[4] = d1;
  c->key[5] = wp;
  c->key[6] = wm;
  c->slot = slot;
}

/* A first-level miss: if the second level has the key in this generation, copies the entry
 * into the first level `c` and returns 1. */
static __always_inline int tcflow_l2_refill_v4(struct tcflow_cache_v4 *c, __u32 cpu,
                                               __u32 hash, __u32 gen32, __u64 w1, __u64 wa,
                                               __u64 wp, __u64 wm) {
  struct tcflow_cache_v4 *e = tcflow_l2_entry_v4(cpu, hash);
  if (!e || e->gen != gen32 ||
      ((e->key[0] ^ w1) | (e->key[1] ^ wa) | (e->key[2] ^ wp) | (e->key[3] ^ wm)) != 0)
    return 0;
  tcflow_cache_fill_v4(c, w1, wa, wp, wm, e->slot);
  return 1;
}

static __always_inline int tcflow_l2_refill_v6(struct tcflow_cache_v6 *c, __u32 cpu,
                                               __u32 hash, __u32 gen32, __u64 w1, __u64 s0,
                                               __u64 s1, __u64 d0, __u64 d1, __u64 wp,
                                               __u64 wm) {
  struct tcflow_cache_v6 *e = tcflow_l2_entry_v6(cpu, hash);
  if (!e || e->gen != gen32 ||
      ((e->key[0] ^ w1) | (e->key[1] ^ s0) | (e->key[2] ^ s1) | (e->key[3] ^ d0) |
       (e->key[4] ^ d1) | (e->key[5] ^ wp) | (e->key[6] ^ wm)) != 0)
    return 0;
  tcflow_cache_fill_v6(c, w1, s0, s1, d0, d1, wp, wm, e->slot);
  return 1;
}

/* Takes a new slot for the packet's flow; returns its index in the half, or -1 (full). */
static __always_inline int tcflow_new_slot(struct tcflow_control *ctl, __u32 half,
                                           __u32 half_base, struct tcflow_slot **out) {
  __u32 n = __sync_fetch_and_add(&ctl->next_slot[half], 1);
  if (n >= tcflow_cfg_slots_per_half) return -1;
  __u32 i = half_base + n;
  *out = bpf_map_lookup_elem(&tcflow_slots, &i);
  if (!*out) return -1;
  return n;
}

/*
 * The packet looked cut short (`prev`). If the skb holds more bytes than its linear part,
 * the headers may sit in paged data (drivers using napi_gro_frags): make up to 512 bytes
 * linear (this moves bytes, never changes them) and parse again. A packet that is really
 * short comes back with `prev` untouched. Inlined into tcflow_general, which is itself off
 * the common path (as a function of its own it would make the call chain program ->
 * tcflow_general -> this -> tcflow_walk_ext, whose stacks together exceed 512 bytes).
 */
static __always_inline int tcflow_parse_again(struct __sk_buff *skb, struct tcflow_parsed *p,
                                                 int gso, int prev) {
  if (!p) return prev;
  __u32 len = skb->len;
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  if (len > 0xffff) len = 0xffff; /* bounded for the verifier; 512 is all we would pull */
  if (data + len <= data_end) return prev; /* all linear: really cut short */
  if (bpf_skb_pull_data(skb, len < 512 ? len : 512)) return prev;
  return tcflow_parse(skb, p, gso);
}

/* The generation moved on: the flow cache's entries point into the other half. Emptied once
 * per generation per CPU (384 stores), so that entries need not carry the generation. */
static __always_inline void tcflow_cache_empty(struct tcflow_pcpu *pc, __u64 gen) {
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < TCFLOW_CACHE_V4; i++) pc->v4[i].key[0] = 0;
#pragma clang loop unroll(disable)
  for (__u32 i = 0; i < TCFLOW_CACHE_V6; i++) pc->v6[i].key[0] = 0;
  pc->cache_gen = gen;
}

/* Bench-only switches (tools/bench builds the object with them to see where the time goes;
 * the real object never sets them): 1 = the fast path stops after parsing, 2 = after the
 * cache probe (no metering, no stats), 3 = skips only the tcflow_stats increments. */
#ifndef TCFLOW_BENCH_FAST_CUT
#define TCFLOW_BENCH_FAST_CUT 0
#endif

/*
 * The existing-flow fast path. The common packet of a known flow: one wire packet, no VLAN
 * tag, IPv4 without options and not a fragment, or IPv6 with at most two hop-by-hop,
 * destination, routing or fragment headers; TCP, UDP, ICMP or ICMPv6 other than neighbour
 * discovery; every header in the linear data and inside the IP length; the flow's entry in
 * this CPU's flow cache. It parses only what such a packet has, straight into the cache's
 * key words in registers, and on a hit meters the slot and adds the stats the general path
 * would add for the same packet (//tests:datapath_test runs every frame twice and checks the
 * two runs add the same). Anything else, or a miss, returns 0 before it writes anything, and
 * the general path handles the packet from scratch.
 *
 * It calls no helper (tcflow_handle calls the ones it needs first) and keeps what it parsed
 * in few registers (`sig` packs the chain): BPF has ten, and every value that does not fit
 * is spilled to the stack and loaded back.
 */

/* One more header of `kind` in a chain signature (TCFLOW_CHAIN_DEPTH/_COUNT): the fast
 * path's chains are at most two deep, so the depth is the header count. */
#define TCFLOW_SIG_HEADER(kind) (1u + (1u << (4 + 4 * (kind))))

/* A fast-path packet whose chain is not its slot's first one (off the common path, kept
 * out of line): the slot's IE 64 bits and depth, and the extension-header stats per packet.
 * Fast-path chains hold only hop-by-hop, destination, routing and fragment headers, at most
 * two, so the signature says everything: which of FRA0/FRA1 the key flag tells. */
static __attribute__((noinline)) void tcflow_fast_other_chain(struct tcflow_stats *st,
                                                              struct tcflow_flow_stats *fs,
                                                              __u32 sig, __u32 later_fragment) {
  __u32 bitmap = 0;
#pragma unroll
  for (int k = 0; k < TCFLOW_EXT_HEADER_COUNT; k++)
    if (TCFLOW_CHAIN_COUNT(sig, k)) bitmap |= tcflow_ie64_bit(k);
  if (TCFLOW_CHAIN_COUNT(sig, TCFLOW_EXT_FRAGMENT))
    bitmap |= later_fragment ? TCFLOW_IE64_FRA1 : TCFLOW_IE64_FRA0;
  fs->ext_hdr_bitmap |= bitmap;
  fs->chain_misses += 1;
  if (TCFLOW_CHAIN_DEPTH(sig) > fs->ext_hdr_depth) fs->ext_hdr_depth = TCFLOW_CHAIN_DEPTH(sig);
  tcflow_stats_add_chain(st, sig, 1);
}

/*
 * A parsed fast-path packet: probes this CPU's flow cache with its key words and, on a hit,
 * meters the slot (owned by this CPU: plain stores) and the stats as tcflow_general would.
 * Returns 0 on a miss, having written nothing. `ipver`
 * is a constant at each call; for IPv4, wa holds both addresses and s1/d0/d1 are unused.
 */
static __always_inline int tcflow_fast_hit(struct tcflow_stats *st, struct tcflow_pcpu *pc,
                                           __u32 ipver, __u64 w1,
                                           __u64 wa, __u64 s1, __u64 d0, __u64 d1, __u64 wp,
                                           __u64 wm, __u32 ip_len, __u32 ttl, __u32 tcp_flags,
                                           __u64 sf) {
  /* The slot index is passed to the look-up where it lies, in the cache: copying it to the
   * stack first would put a store-to-load forwarding in the critical path. */
  const __u32 *slot_i;
  /* A first-level miss goes to the general path, which probes the second level before the
   * LRU index (and refills the first level). */
  if (ipver == 4) {
    struct tcflow_cache_v4 *c =
        &pc->v4[(tcflow_fold(w1 ^ wa ^ wp ^ wm) >> 24) & (TCFLOW_CACHE_V4 - 1)];
    if (((c->key[0] ^ w1) | (c->key[1] ^ wa) | (c->key[2] ^ wp) | (c->key[3] ^ wm)) != 0)
      return 0;
    slot_i = &c->slot;
  } else {
    const __u32 h = (tcflow_fold(w1 ^ wa ^ s1 ^ d0 ^ d1 ^ wp ^ wm) >> 24) & (TCFLOW_CACHE_V6 - 1);
    struct tcflow_cache_v6 *c = &pc->v6[h];
    if (((c->key[0] ^ w1) | (c->key[1] ^ wa) | (c->key[2] ^ s1) | (c->key[3] ^ d0) |
         (c->key[4] ^ d1) | (c->key[5] ^ wp) | (c->key[6] ^ wm)) != 0)
      return 0;
    slot_i = &c->slot;
  }
  struct tcflow_slot *s = bpf_map_lookup_elem(&tcflow_slots, slot_i);
  if (!s) return 0;
  struct tcflow_flow_stats *fs = &s->stats;
  if (TCFLOW_BENCH_FAST_CUT == 2) return 1;

  const __u64 now = pc->clock_ns; /* current: tcflow_handle checked the jiffies */
  fs->packets += 1;
  fs->bytes += ip_len;
  if (fs->last_seen_ns < now) fs->last_seen_ns = now;
  if (tcp_flags & ~fs->tcp_flags) fs->tcp_flags |= tcp_flags;
  if (ttl < fs->min_ttl) fs->min_ttl = ttl;
  if (ttl > fs->max_ttl) fs->max_ttl = ttl;
  if (ipver == 6) {
    /* A packet with the chain of the slot's first packet (which also set the slot's IE 64
     * bits and depth) is counted by the slot alone. Another chain (say, only a flow's large
     * datagrams are fragmented) is counted per packet, as the general path would. */
    const __u32 sig = (__u32)sf; /* (sf: the chain's signature | its fragment id << 32) */
    if (fs->chain != sig)
      tcflow_fast_other_chain(st, fs, sig, wm >> 48 & TCFLOW_KEY_NON_FIRST_FRAGMENT);
    if (TCFLOW_CHAIN_COUNT(sig, TCFLOW_EXT_FRAGMENT) && !fs->frag_id) fs->frag_id = sf >> 32;
  }

  if (TCFLOW_BENCH_FAST_CUT == 3) return 1;
  /* The other counters of a packet counted in a flow slot come from the slot when it is
   * drained (tcflow_stats_add_flow_slot). */
  st->size_hist[tcflow_size_bucket(ip_len)] += 1;
  return 1;
}

/* Ports word of the key (src | dst << 16, host order; no VLAN tag) from a transport header
 * the caller checked: TCP/UDP ports, ICMP/ICMPv6 type << 8 | code as the dst port. */
static __always_inline __u64 tcflow_fast_ports(__u8 *l4, __u32 proto) {
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP)
    return bpf_ntohs(*(__u16 *)l4) | (__u32)bpf_ntohs(*(__u16 *)(l4 + 2)) << 16;
  return (__u32)(((__u32)l4[0] << 8) | l4[1]) << 16;
}

/* The fast path's IPv4 packet (Ethernet + 20 + 8 bytes are in the linear data). */
static __always_inline int tcflow_fast_v4(struct __sk_buff *skb, __u8 *ip, void *data_end,
                                          __u8 dir, struct tcflow_stats *st,
                                          struct tcflow_pcpu *pc, __u64 wm0) {
  if (ip[0] != 0x45) return 0;                          /* options (or not v4) */
  if (*(__u16 *)(ip + 6) & bpf_htons(0x3fff)) return 0; /* a fragment */
  __u32 ip_len = bpf_ntohs(*(__u16 *)(ip + 2));
  const __u32 frame_ip = skb->len - 14;
  if (frame_ip < ip_len) ip_len = frame_ip;
  const __u32 proto = ip[9];
  __u8 *l4 = ip + 20;
  __u32 tcp_flags = 0;
  if (proto == IPPROTO_TCP) {
    if ((void *)(l4 + 20) > data_end || ip_len < 20 + 20) return 0;
    tcp_flags = bpf_ntohs(*(__u16 *)(l4 + 12)) & 0x0fff;
  } else if (proto == IPPROTO_UDP || proto == IPPROTO_ICMP) {
    if (ip_len < 20 + 8) return 0; /* (the data holds 8 bytes: checked by the caller) */
  } else {
    return 0;
  }
  if (TCFLOW_BENCH_FAST_CUT == 1) return 1;
  const __u64 w1 = (__u64)skb->ifindex |
                   (__u64)(dir == TCFLOW_DIR_EGRESS ? skb->ingress_ifindex : 0) << 32;
  return tcflow_fast_hit(st, pc, 4, w1, *(__u64 *)(ip + 12), 0, 0, 0,
                         tcflow_fast_ports(l4, proto), wm0 | (__u64)proto << 32, ip_len, ip[8],
                         tcp_flags, 0);
}

/* The fast path's IPv6 packet from its transport header on: `off` is where that header is
 * (from ip), `nh` its protocol; a later fragment (TCFLOW_KEY_NON_FIRST_FRAGMENT in wm's key
 * flags) has none. `sf` packs the chain's signature (low half) and fragment id (high half),
 * one register for both. Inlined twice: with the constant 40 for a packet without
 * extension headers, the common case, whose checks then fold into constants. */
static __always_inline int tcflow_fast_v6_l4(struct __sk_buff *skb, __u8 *ip, void *data_end,
                                             __u8 dir, struct tcflow_stats *st,
                                             struct tcflow_pcpu *pc, __u64 wm, __u32 ip_len,
                                             __u32 nh, __u32 off, __u64 sf) {
  __u64 wp = 0;
  __u32 tcp_flags = 0;
  if (!(wm & (__u64)TCFLOW_KEY_NON_FIRST_FRAGMENT << 48)) {
    __u8 *l4 = ip + off;
    if ((void *)(l4 + 8) > data_end) return 0;
    if (nh == IPPROTO_TCP) {
      if ((void *)(l4 + 20) > data_end || off + 20 > ip_len) return 0;
      tcp_flags = bpf_ntohs(*(__u16 *)(l4 + 12)) & 0x0fff;
    } else if (nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6_) {
      if (off + 8 > ip_len) return 0;
      /* Neighbour discovery raises events: the general path does that. */
      if (nh == IPPROTO_ICMPV6_ && l4[0] >= 133 && l4[0] <= 137) return 0;
    } else {
      return 0;
    }
    wp = tcflow_fast_ports(l4, nh);
  }
  if (TCFLOW_BENCH_FAST_CUT == 1) return 1;
  const __u64 w1 = (__u64)skb->ifindex |
                   (__u64)(dir == TCFLOW_DIR_EGRESS ? skb->ingress_ifindex : 0) << 32;
  return tcflow_fast_hit(st, pc, 6, w1, *(__u64 *)(ip + 8), *(__u64 *)(ip + 16),
                         *(__u64 *)(ip + 24), *(__u64 *)(ip + 32), wp, wm | (__u64)nh << 32,
                         ip_len, ip[7], tcp_flags, sf);
}

/* The fast path's IPv6 packet (Ethernet + 40 + 8 bytes are in the linear data). */
static __always_inline int tcflow_fast_v6(struct __sk_buff *skb, __u8 *ip, void *data_end,
                                          __u8 dir, struct tcflow_stats *st,
                                          struct tcflow_pcpu *pc, __u64 wm0) {
  if ((ip[0] & 0xf0) != 0x60) return 0;
  __u32 ip_len = bpf_ntohs(*(__u16 *)(ip + 4));
  if (ip_len == 0) return 0; /* jumbogram / BIG TCP */
  ip_len += 40;
  const __u32 frame_ip = skb->len - 14;
  if (frame_ip < ip_len) ip_len = frame_ip;
  __u32 nh = ip[6];
  if (nh == IPPROTO_TCP || nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6_)
    return tcflow_fast_v6_l4(skb, ip, data_end, dir, st, pc, wm0, ip_len, nh, 40, 0);

  /* At most two hop-by-hop, destination, routing or fragment headers. Only the memory
   * bounds are checked on the way: a chain that runs past the IP length ends past it, so
   * one check at the end does. */
  __u32 off = 40; /* of the next header, from ip */
  __u64 sf = 0;   /* signature | fragment id << 32 */
#pragma unroll
  for (int i = 0; i < 2; i++) {
    __u8 *h = ip + off;
    if ((void *)(h + 8) > data_end) return 0;
    if (nh == IPPROTO_FRAGMENT_) {
      sf += TCFLOW_SIG_HEADER(TCFLOW_EXT_FRAGMENT) | (__u64)bpf_ntohl(*(__u32 *)(h + 4)) << 32;
      nh = h[0];
      off += 8;
      if (*(__u16 *)(h + 2) & bpf_htons(0xfff8)) { /* a later fragment: no ports */
        wm0 |= (__u64)TCFLOW_KEY_NON_FIRST_FRAGMENT << 48;
        break;
      }
    } else {
      if (nh == IPPROTO_HOPOPTS_)
        sf += TCFLOW_SIG_HEADER(TCFLOW_EXT_HOP_BY_HOP);
      else if (nh == IPPROTO_DSTOPTS_)
        sf += TCFLOW_SIG_HEADER(TCFLOW_EXT_DEST_OPTIONS);
      else if (nh == IPPROTO_ROUTING_)
        sf += TCFLOW_SIG_HEADER(TCFLOW_EXT_ROUTING);
      else
        return 0; /* AH, ESP, mobility, or anything else: general path */
      nh = h[0];
      off += ((__u32)h[1] + 1) * 8;
    }
    if (nh == IPPROTO_TCP || nh == IPPROTO_UDP || nh == IPPROTO_ICMPV6_) break;
  }
  if (off > ip_len) return 0; /* the chain ran past the IP length: the general path */
  if (tcflow_cfg_ext_alert_depth && TCFLOW_CHAIN_DEPTH((__u32)sf) > tcflow_cfg_ext_alert_depth)
    return 0;
  return tcflow_fast_v6_l4(skb, ip, data_end, dir, st, pc, wm0, ip_len, nh, off, sf);
}

static __always_inline int tcflow_fast(struct __sk_buff *skb, __u8 dir, struct tcflow_stats *st,
                                       struct tcflow_pcpu *pc, __u32 cpu) {
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  __u8 *eth = data;

  if ((void *)(eth + 14 + 20 + 8) > data_end) return 0; /* Ethernet + IPv4 + UDP */
  if (skb->vlan_present) return 0;
  /* Key word 4: mark, protocol (added later), direction, key flags (later), owner. */
  const __u64 wm0 = (tcflow_cfg_key_mark ? (__u64)skb->mark : 0) | (__u64)dir << 40 |
                    (__u64)(cpu + 1) << 56;
  const __u16 eproto = *(__u16 *)(eth + 12);
  if (eproto == bpf_htons(ETH_P_IP))
    return tcflow_fast_v4(skb, eth + 14, data_end, dir, st, pc, wm0);
  if (eproto != bpf_htons(ETH_P_IPV6)) return 0;
  if ((void *)(eth + 14 + 40 + 8) > data_end) return 0;
  return tcflow_fast_v6(skb, eth + 14, data_end, dir, st, pc, wm0);
}

/*
 * The general path: every packet the fast path does not take. A global function on purpose:
 * it is most of the programs' code, and as a function of its own one copy serves both
 * programs (the object is ~40 KB smaller than with a copy inlined into each) and is verified
 * once. The call costs a few ns, paid only off the fast path (a new flow costs hundreds).
 */
__attribute__((noinline)) int tcflow_general(struct __sk_buff *skb, __u32 dir) {
  __u32 zero = 0;
  struct tcflow_stats *st = bpf_map_lookup_elem(&tcflow_stats, &zero);
  struct tcflow_control *ctl = bpf_map_lookup_elem(&tcflow_control, &zero);
  struct tcflow_pcpu *pc = bpf_map_lookup_elem(&tcflow_pcpu, &zero);
  if (!st || !ctl || !pc) return TCFLOW_VERDICT; /* cannot happen: 1-element arrays */
  dir &= 1;

  __u32 segs = skb->gso_segs;
  if (segs == 0) segs = 1;
  if (segs > 1) st->gso_packets++;

  struct tcflow_parsed *p = &pc->parsed; /* per-CPU scratch: keeps the stack small */
  int r = tcflow_parse(skb, p, segs > 1);
  if (r == TCFLOW_PARSE_TRUNCATED_VLAN || r == TCFLOW_PARSE_TRUNCATED_IPV4 ||
      r == TCFLOW_PARSE_TRUNCATED_IPV6 ||
      (r == TCFLOW_PARSE_OK &&
       (p->key_flags & (TCFLOW_KEY_L4_TRUNCATED | TCFLOW_KEY_EXT_CHAIN_TRUNCATED))))
    r = tcflow_parse_again(skb, p, segs > 1, r);
  if (r != TCFLOW_PARSE_OK) {
    st->packets[dir & 1] += segs;
    if (r == TCFLOW_PARSE_NOT_IP) {
      st->not_ip += segs;
    } else {
      __u32 ur = (__u32)r;
      if (ur < TCFLOW_PARSE_RESULT_COUNT) st->parse_error[ur] += segs;
    }
    return TCFLOW_VERDICT;
  }

  /* IP bytes as on the wire: a super-packet repeats its headers once per segment. */
  __u64 bytes = p->ip_len;
  if (segs > 1) bytes = (__u64)(skb->len - p->l3_off) + (__u64)(segs - 1) * p->hdr_len;
  tcflow_count_size(st, segs, bytes);
  const __u32 sig = tcflow_chain_sig(p);

  __u64 gen = *(volatile __u64 *)&ctl->generation;
  __u32 half = gen & 1;
  __u32 half_base = half * tcflow_half_stride(tcflow_cfg_slots_per_half);
  __u64 now = tcflow_now(pc);
  if (tcflow_cfg_flow_cache && pc->cache_gen != gen) tcflow_cache_empty(pc, gen);
  __u32 ifindex = skb->ifindex;
  __u32 other = dir == TCFLOW_DIR_EGRESS ? skb->ingress_ifindex : 0;
  __u32 mark = tcflow_cfg_key_mark ? skb->mark : 0;
  __u16 vlan = tcflow_cfg_key_vlan ? p->vlan_id : 0;
  __u16 ivlan = tcflow_cfg_key_vlan ? p->inner_vlan_id : 0;
  struct tcflow_slot *s = 0;
  __u32 slot_i;

  const __u64 w1 = (__u64)ifindex | (__u64)other << 32;
  const __u64 wp = (__u64)p->src_port | (__u64)p->dst_port << 16 | (__u64)vlan << 32 |
                   (__u64)ivlan << 48;
  /* The slot's owner: this CPU (+1) in the key's last byte, so each CPU counts a flow in a
   * slot of its own with plain adds (the drain merges a flow's slots by key). CPUs past 254
   * share owner 0, whose slots are updated atomically. */
  const __u32 cpu = bpf_get_smp_processor_id();
  const __u8 owner = cpu < 255 ? cpu + 1 : 0;
  const __u64 wm = (__u64)mark | (__u64)p->protocol << 32 | (__u64)dir << 40 |
                   (__u64)p->key_flags << 48 | (__u64)owner << 56;
  if (p->ip_version == 4) {
    const __u64 wa = (__u64)p->src4 | (__u64)p->dst4 << 32;
    struct tcflow_cache_v4 *c = 0;
    const __u32 hash = tcflow_fold(w1 ^ wa ^ wp ^ wm);
    if (tcflow_cfg_flow_cache) {
      c = &pc->v4[(hash >> 24) & (TCFLOW_CACHE_V4 - 1)];
      if (((c->key[0] ^ w1) | (c->key[1] ^ wa) | (c->key[2] ^ wp) | (c->key[3] ^ wm)) == 0 ||
          tcflow_l2_refill_v4(c, cpu, hash, (__u32)gen, w1, wa, wp, wm)) {
        __u32 i = c->slot;
        s = bpf_map_lookup_elem(&tcflow_slots, &i);
        if (s) goto existing;
      }
    }
    union tcflow_key_v4_words *k = (void *)pc->key_scratch; /* not on the stack: see maps.h */
    k->w[0] = gen;
    k->w[1] = w1;
    k->w[2] = wa;
    k->w[3] = wp;
    k->w[4] = wm;
    __u32 *v = bpf_map_lookup_elem(&tcflow_idx_v4, &k->k);
    if (v) {
      slot_i = *v;
      __u32 i = half_base + slot_i;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
    } else {
      int n = tcflow_new_slot(ctl, half, half_base, &s);
      if (n < 0 || !s) goto overflow;
      slot_i = n;
      tcflow_init_slot(s, p, ifindex, other, mark, dir, segs, bytes, now, sig);
      bpf_map_update_elem(&tcflow_idx_v4, &k->k, &slot_i, BPF_ANY);
    }
    if (!s) goto overflow; /* cannot happen: index values are always < slots_per_half */
    if (c) {
      tcflow_cache_fill_v4(c, w1, wa, wp, wm, half_base + slot_i);
      /* Hash and CPU again rather than kept live across the look-ups: the call chain's
       * stack (512 bytes) has no room to spill them. */
      struct tcflow_cache_v4 *e =
          tcflow_l2_entry_v4(bpf_get_smp_processor_id(), tcflow_fold(w1 ^ wa ^ wp ^ wm));
      if (e) {
        tcflow_cache_fill_v4(e, w1, wa, wp, wm, half_base + slot_i);
        e->gen = (__u32)gen;
      }
    }
    if (v) goto existing;
    goto events;
  } else {
    const __u64 s0 = p->src6[0], s1 = p->src6[1], d0 = p->dst6[0], d1 = p->dst6[1];
    struct tcflow_cache_v6 *c = 0;
    const __u32 hash = tcflow_fold(w1 ^ s0 ^ s1 ^ d0 ^ d1 ^ wp ^ wm);
    if (tcflow_cfg_flow_cache) {
      c = &pc->v6[(hash >> 24) & (TCFLOW_CACHE_V6 - 1)];
      if (((c->key[0] ^ w1) | (c->key[1] ^ s0) | (c->key[2] ^ s1) | (c->key[3] ^ d0) |
           (c->key[4] ^ d1) | (c->key[5] ^ wp) | (c->key[6] ^ wm)) == 0 ||
          tcflow_l2_refill_v6(c, cpu, hash, (__u32)gen, w1, s0, s1, d0, d1, wp, wm)) {
        __u32 i = c->slot;
        s = bpf_map_lookup_elem(&tcflow_slots, &i);
        if (s) goto existing;
      }
    }
    union tcflow_key_v6_words *k = (void *)pc->key_scratch; /* not on the stack: see maps.h */
    k->w[0] = gen;
    k->w[1] = w1;
    k->w[2] = s0;
    k->w[3] = s1;
    k->w[4] = d0;
    k->w[5] = d1;
    k->w[6] = wp;
    k->w[7] = wm;
    __u32 *v = bpf_map_lookup_elem(&tcflow_idx_v6, &k->k);
    if (v) {
      slot_i = *v;
      __u32 i = half_base + slot_i;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
    } else {
      int n = tcflow_new_slot(ctl, half, half_base, &s);
      if (n < 0 || !s) goto overflow;
      slot_i = n;
      tcflow_init_slot(s, p, ifindex, other, mark, dir, segs, bytes, now, sig);
      bpf_map_update_elem(&tcflow_idx_v6, &k->k, &slot_i, BPF_ANY);
    }
    if (!s) goto overflow;
    if (c) {
      tcflow_cache_fill_v6(c, w1, s0, s1, d0, d1, wp, wm, half_base + slot_i);
      struct tcflow_cache_v6 *e = tcflow_l2_entry_v6(bpf_get_smp_processor_id(),
                                                     tcflow_fold(w1 ^ s0 ^ s1 ^ d0 ^ d1 ^ wp ^ wm));
      if (e) {
        tcflow_cache_fill_v6(e, w1, s0, s1, d0, d1, wp, wm, half_base + slot_i);
        e->gen = (__u32)gen;
      }
    }
    if (v) goto existing;
    goto events;
  }

existing:
  tcflow_meter(s, p, segs, bytes, now, owner == 0);
  if (p->ip_version == 6) {
    if (s->stats.chain != sig) {
      tcflow_count_ext(st, p, segs); /* the slot counts only its first packet's chain */
      if (owner == 0)
        __sync_fetch_and_add(&s->stats.chain_misses, segs);
      else
        s->stats.chain_misses += segs;
    }
  }
  goto events;
overflow:
  tcflow_count_unslotted(st, p, dir, segs, bytes);
  tcflow_overflow(st, ctl, gen, half_base, half, p, ifindex, dir, segs, bytes, now);
events:
  if (p->ip_version == 6) {
    if (tcflow_cfg_ndp_events && p->has_icmp && p->icmp_type >= 133 && p->icmp_type <= 137)
      tcflow_ndp_event(skb, st, p, dir, now);
    if (tcflow_cfg_ext_alert_depth &&
        (p->ext_deeper || p->ext_depth > tcflow_cfg_ext_alert_depth))
      tcflow_ext_event(skb, st, p, dir, now);
  }
  return TCFLOW_VERDICT;
}

static __always_inline int tcflow_handle(struct __sk_buff *skb, __u8 dir) {
  __u32 zero = 0;
  struct tcflow_stats *st = bpf_map_lookup_elem(&tcflow_stats, &zero);
  struct tcflow_control *ctl = bpf_map_lookup_elem(&tcflow_control, &zero);
  struct tcflow_pcpu *pc = bpf_map_lookup_elem(&tcflow_pcpu, &zero);
  if (!st || !ctl || !pc) return TCFLOW_VERDICT; /* cannot happen: 1-element arrays */

  if (tcflow_cfg_flow_cache) {
    /* Every helper the fast path needs is called here, first: a helper call clobbers r0-r5,
     * so values live across one get spilled to the stack. The verifier inlines these two,
     * but clang cannot know that. With the jiffies unchanged the CPU's cached clock is
     * current; on a new tick the general path reads the clock again (once per tick per
     * CPU), so the fast path never calls a helper. Slots of CPUs >= 255 are shared (owner 0)
     * and take atomic adds: general path. */
    const __u32 cpu = bpf_get_smp_processor_id();
    const __u64 jiffies = bpf_jiffies64();
    const __u64 gen = *(volatile __u64 *)&ctl->generation;
    if (jiffies == pc->clock_jiffies && gen == pc->cache_gen && cpu < 255 &&
        skb->gso_segs <= 1 && tcflow_fast(skb, dir, st, pc, cpu))
      return TCFLOW_VERDICT;
  }
  tcflow_general(skb, dir);
  return TCFLOW_VERDICT;
}

SEC("tc")
int tcflow_ingress(struct __sk_buff *skb) { return tcflow_handle(skb, TCFLOW_DIR_INGRESS); }

SEC("tc")
int tcflow_egress(struct __sk_buff *skb) { return tcflow_handle(skb, TCFLOW_DIR_EGRESS); }

char LICENSE[] SEC("license") = "GPL";
