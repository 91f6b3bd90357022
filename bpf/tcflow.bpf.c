// SPDX-License-Identifier: GPL-2.0
/*
 * tcflow's tc programs: tcflow_ingress and tcflow_egress (clsact), one shared parser
 * (parsing.h), maps in maps.h, the contract in tcflow_abi.h.
 *
 * Every path returns TC_ACT_UNSPEC and nothing here writes to the packet: the programs only
 * meter. The per-packet existing-flow path is: parse, one per-CPU cache probe (or one LRU
 * hash look-up on a miss), two atomic adds, a few compare-and-rarely-store fields. The clock
 * is a jiffies-keyed cache of the coarse monotonic clock (see tcflow_now).
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

/* Bytes, packet and ext-header stats of a keyed packet. */
static __always_inline void tcflow_count_ip(struct tcflow_stats *st, const struct tcflow_parsed *p,
                                            __u32 dir, __u32 segs, __u64 bytes) {
  __u64 per_pkt = segs > 1 ? bytes / segs : bytes;
  int b;

  st->bytes[dir & 1] += bytes;
  st->ip_packets[p->ip_version == 6] += segs;
  st->protocol[p->protocol] += segs;
  if (per_pkt <= 64)
    b = 0;
  else if (per_pkt <= 128)
    b = 1;
  else if (per_pkt <= 256)
    b = 2;
  else if (per_pkt <= 512)
    b = 3;
  else if (per_pkt <= 1024)
    b = 4;
  else if (per_pkt <= 1280)
    b = 5;
  else if (per_pkt <= 1500)
    b = 6;
  else if (per_pkt <= 4096)
    b = 7;
  else if (per_pkt <= 9000)
    b = 8;
  else
    b = 9;
  st->size_hist[b] += segs;
  if (p->has_icmp && p->ip_version == 6) st->icmp6_type[p->icmp_type] += segs;
  if (p->ip_version == 6) {
    __u32 d = p->ext_depth;
    if (p->ext_deeper || d > TCFLOW_MAX_EXT_HEADERS) d = TCFLOW_MAX_EXT_HEADERS + 1;
    asm volatile("" : "+r"(d)); /* keep the clamp where the verifier can see it */
    if (d < TCFLOW_MAX_EXT_HEADERS + 2) st->ext_chain_depth[d] += segs;
    if (p->ext_depth) {
#pragma unroll
      for (int k = 0; k < TCFLOW_EXT_HEADER_COUNT; k++)
        if (p->ext_count[k]) st->ext_hdr[k] += (__u64)p->ext_count[k] * segs;
    }
  }
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

/* Adds one packet to a slot other CPUs may be adding to as well. */
static __always_inline void tcflow_meter(struct tcflow_slot *s, const struct tcflow_parsed *p,
                                         __u32 segs, __u64 bytes, __u64 now) {
  struct tcflow_flow_stats *fs = &s->stats;

  __sync_fetch_and_add(&fs->packets, segs);
  __sync_fetch_and_add(&fs->bytes, bytes);
  if (fs->last_seen_ns < now) fs->last_seen_ns = now;
  /* tcp_flags shares an aligned 32-bit word with min_ttl/max_ttl (little and big endian
   * alike, OR-ing zero bytes leaves them as they are); BPF atomics are 32/64-bit. */
  if (p->tcp_flags & ~fs->tcp_flags) {
    __u32 w = p->tcp_flags;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w <<= 16;
#endif
    __sync_fetch_and_or((__u32 *)&fs->tcp_flags, w);
  }
  if (p->ttl < fs->min_ttl) fs->min_ttl = p->ttl;
  if (p->ttl > fs->max_ttl) fs->max_ttl = p->ttl;
  if (p->ext_bitmap & ~fs->ext_hdr_bitmap) __sync_fetch_and_or(&fs->ext_hdr_bitmap, p->ext_bitmap);
  if (p->ext_depth > fs->ext_hdr_depth) fs->ext_hdr_depth = p->ext_depth;
  if (p->is_fragment && !fs->frag_id) fs->frag_id = p->frag_id;
}

/* Fills a fresh slot nobody else can see yet: plain stores. */
static __always_inline void tcflow_init_slot(struct tcflow_slot *s, const struct tcflow_parsed *p,
                                             __u32 ifindex, __u32 other, __u32 mark, __u8 dir,
                                             __u32 segs, __u64 bytes, __u64 now) {
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
    __builtin_memcpy(k->src_addr, p->src6, 16);
    __builtin_memcpy(k->dst_addr, p->dst6, 16);
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
      tcflow_meter(s, p, segs, bytes, now);
      return;
    }
  } else {
    __u32 o = __sync_fetch_and_add(&ctl->next_overflow_slot[half], 1);
    if (o < TCFLOW_OVERFLOW_SLOTS) {
      __u32 i = half_base + tcflow_cfg_slots_per_half + o;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
      if (s) {
        tcflow_init_slot(s, p, ifindex, 0, 0, dir, segs, bytes, now);
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

static __always_inline __u32 tcflow_hash32(__u32 h) { return h * 0x9E3779B1u; }

static __always_inline int tcflow_key_eq_v4(const struct tcflow_index_key_v4 *a,
                                            const struct tcflow_index_key_v4 *b) {
  const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static __always_inline int tcflow_key_eq_v6(const struct tcflow_index_key_v6 *a,
                                            const struct tcflow_index_key_v6 *b) {
  const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
          (x[5] ^ y[5]) | (x[6] ^ y[6]) | (x[7] ^ y[7])) == 0;
}

_Static_assert(sizeof(struct tcflow_index_key_v4) == 40, "v4 key compared as 5 words");
_Static_assert(sizeof(struct tcflow_index_key_v6) == 64, "v6 key compared as 8 words");

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
 * Cut short, yet maybe only in the linear part: drivers using napi_gro_frags leave headers in
 * paged data. Make up to 512 bytes linear (this moves bytes, never changes them) and parse
 * again. Out of line (global) so that the common path pays nothing for it.
 */
__attribute__((noinline)) int tcflow_parse_again(struct __sk_buff *skb, struct tcflow_parsed *p,
                                                 int gso) {
  if (!p) return TCFLOW_PARSE_NOT_IP;
  __u32 len = skb->len;
  if (bpf_skb_pull_data(skb, len < 512 ? len : 512)) return tcflow_parse(skb, p, gso);
  return tcflow_parse(skb, p, gso);
}

static __always_inline int tcflow_handle(struct __sk_buff *skb, __u8 dir) {
  __u32 zero = 0;
  struct tcflow_stats *st = bpf_map_lookup_elem(&tcflow_stats, &zero);
  struct tcflow_control *ctl = bpf_map_lookup_elem(&tcflow_control, &zero);
  struct tcflow_pcpu *pc = bpf_map_lookup_elem(&tcflow_pcpu, &zero);
  if (!st || !ctl || !pc) return TCFLOW_VERDICT; /* cannot happen: 1-element arrays */

  __u32 segs = skb->gso_segs;
  if (segs == 0) segs = 1;
  st->packets[dir & 1] += segs;
  if (segs > 1) st->gso_packets++;

  struct tcflow_parsed *p = &pc->parsed; /* per-CPU scratch: keeps the stack small */
  int r = tcflow_parse(skb, p, segs > 1);
  if (r == TCFLOW_PARSE_TRUNCATED_VLAN || r == TCFLOW_PARSE_TRUNCATED_IPV4 ||
      r == TCFLOW_PARSE_TRUNCATED_IPV6 ||
      (r == TCFLOW_PARSE_OK &&
       (p->key_flags & (TCFLOW_KEY_L4_TRUNCATED | TCFLOW_KEY_EXT_CHAIN_TRUNCATED))))
    r = tcflow_parse_again(skb, p, segs > 1);
  if (r == TCFLOW_PARSE_NOT_IP) {
    st->not_ip += segs;
    return TCFLOW_VERDICT;
  }
  if (r != TCFLOW_PARSE_OK) {
    __u32 ur = (__u32)r;
    if (ur < TCFLOW_PARSE_RESULT_COUNT) st->parse_error[ur] += segs;
    return TCFLOW_VERDICT;
  }

  /* IP bytes as on the wire: a super-packet repeats its headers once per segment. */
  __u64 bytes = p->ip_len;
  if (segs > 1) bytes = (__u64)(skb->len - p->l3_off) + (__u64)(segs - 1) * p->hdr_len;
  tcflow_count_ip(st, p, dir, segs, bytes);

  __u64 gen = *(volatile __u64 *)&ctl->generation;
  __u32 half = gen & 1;
  __u32 half_base = half * tcflow_half_stride(tcflow_cfg_slots_per_half);
  __u64 now = tcflow_now(pc);
  __u32 ifindex = skb->ifindex;
  __u32 other = dir == TCFLOW_DIR_EGRESS ? skb->ingress_ifindex : 0;
  __u32 mark = tcflow_cfg_key_mark ? skb->mark : 0;
  __u16 vlan = tcflow_cfg_key_vlan ? p->vlan_id : 0;
  __u16 ivlan = tcflow_cfg_key_vlan ? p->inner_vlan_id : 0;
  struct tcflow_slot *s = 0;
  __u32 slot_i;

  if (p->ip_version == 4) {
    struct tcflow_index_key_v4 k = {
        .generation = gen,
        .ifindex = ifindex,
        .other_ifindex = other,
        .src_addr = p->src4,
        .dst_addr = p->dst4,
        .src_port = p->src_port,
        .dst_port = p->dst_port,
        .vlan_id = vlan,
        .inner_vlan_id = ivlan,
        .mark = mark,
        .protocol = p->protocol,
        .direction = dir,
        .key_flags = p->key_flags,
    };
    struct tcflow_cache_v4 *c = 0;
    if (tcflow_cfg_flow_cache) {
      __u32 h = tcflow_hash32(p->src4 ^ p->dst4 ^ ((__u32)p->src_port << 16 | p->dst_port) ^
                              p->protocol ^ ifindex) >> 24;
      c = &pc->v4[h & (TCFLOW_CACHE_V4 - 1)];
      if (c->pad && tcflow_key_eq_v4(&c->key, &k)) {
        __u32 i = half_base + c->slot;
        s = bpf_map_lookup_elem(&tcflow_slots, &i);
        if (s) goto existing;
      }
    }
    __u32 *v = bpf_map_lookup_elem(&tcflow_idx_v4, &k);
    if (v) {
      slot_i = *v;
      __u32 i = half_base + slot_i;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
      if (s) {
        if (c) {
          c->key = k;
          c->slot = slot_i;
          c->pad = 1;
        }
        goto existing;
      }
    }
    int n = tcflow_new_slot(ctl, half, half_base, &s);
    if (n < 0 || !s) goto overflow;
    slot_i = n;
    tcflow_init_slot(s, p, ifindex, other, mark, dir, segs, bytes, now);
    bpf_map_update_elem(&tcflow_idx_v4, &k, &slot_i, BPF_ANY);
    if (c) {
      c->key = k;
      c->slot = slot_i;
      c->pad = 1;
    }
    goto created;
  } else {
    struct tcflow_index_key_v6 k = {
        .generation = gen,
        .ifindex = ifindex,
        .other_ifindex = other,
        .src_port = p->src_port,
        .dst_port = p->dst_port,
        .vlan_id = vlan,
        .inner_vlan_id = ivlan,
        .mark = mark,
        .protocol = p->protocol,
        .direction = dir,
        .key_flags = p->key_flags,
    };
    __builtin_memcpy(k.src_addr, p->src6, 16);
    __builtin_memcpy(k.dst_addr, p->dst6, 16);
    struct tcflow_cache_v6 *c = 0;
    if (tcflow_cfg_flow_cache) {
      const __u32 *sa = (const __u32 *)p->src6, *da = (const __u32 *)p->dst6;
      __u32 h = tcflow_hash32(sa[0] ^ sa[1] ^ sa[2] ^ sa[3] ^ da[0] ^ da[1] ^ da[2] ^ da[3] ^
                              ((__u32)p->src_port << 16 | p->dst_port) ^ p->protocol ^ ifindex) >>
                24;
      c = &pc->v6[h & (TCFLOW_CACHE_V6 - 1)];
      if (c->pad && tcflow_key_eq_v6(&c->key, &k)) {
        __u32 i = half_base + c->slot;
        s = bpf_map_lookup_elem(&tcflow_slots, &i);
        if (s) goto existing;
      }
    }
    __u32 *v = bpf_map_lookup_elem(&tcflow_idx_v6, &k);
    if (v) {
      slot_i = *v;
      __u32 i = half_base + slot_i;
      s = bpf_map_lookup_elem(&tcflow_slots, &i);
      if (s) {
        if (c) {
          c->key = k;
          c->slot = slot_i;
          c->pad = 1;
        }
        goto existing;
      }
    }
    int n = tcflow_new_slot(ctl, half, half_base, &s);
    if (n < 0 || !s) goto overflow;
    slot_i = n;
    tcflow_init_slot(s, p, ifindex, other, mark, dir, segs, bytes, now);
    bpf_map_update_elem(&tcflow_idx_v6, &k, &slot_i, BPF_ANY);
    if (c) {
      c->key = k;
      c->slot = slot_i;
      c->pad = 1;
    }
    goto created;
  }

existing:
  tcflow_meter(s, p, segs, bytes, now);
  goto events;
overflow:
  tcflow_overflow(st, ctl, gen, half_base, half, p, ifindex, dir, segs, bytes, now);
created:
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

SEC("tc")
int tcflow_ingress(struct __sk_buff *skb) { return tcflow_handle(skb, TCFLOW_DIR_INGRESS); }

SEC("tc")
int tcflow_egress(struct __sk_buff *skb) { return tcflow_handle(skb, TCFLOW_DIR_EGRESS); }

char LICENSE[] SEC("license") = "GPL";
