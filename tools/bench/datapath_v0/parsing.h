/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The shared parser of tcflow's tc programs: Ethernet (+ up to two VLAN tags, also the one
 * the NIC stripped into skb metadata), IPv4 (options via IHL, fragments), IPv6 (extension
 * chain up to TCFLOW_MAX_EXT_HEADERS deep), TCP/UDP/UDP-Lite/SCTP ports, ICMP/ICMPv6
 * type+code. Only reads the packet; every bound is checked against data_end and against the
 * IP length, so a truncated or lying packet can never make it read past either.
 */
#ifndef TCFLOW_BENCH_V0_PARSING_H_
#define TCFLOW_BENCH_V0_PARSING_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/tcflow_abi.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Internal parse outcome beside enum tcflow_parse_result: not IPv4/IPv6 at all. */
#define TCFLOW_PARSE_NOT_IP 0xff

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_ESP_ 50
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_MH_ 135
#define IPPROTO_SCTP_ 132
#define IPPROTO_UDPLITE_ 136

/* What the parser learned about one packet: the key fields and what is metered per flow. */
struct tcflow_parsed {
  __u32 l3_off;    /* offset of the IP header in the frame */
  __u32 l4_off;    /* offset of the transport header (valid if l4_hdr_len) */
  __u32 hdr_len;   /* IP + extension + transport header bytes, repeated per GSO segment */
  __u32 ip_len;    /* IP bytes of the packet as the IP header states (capped to the frame) */
  __u32 src4, dst4;
  __u32 flow_label;
  __u32 frag_id;
  __u32 ext_bitmap; /* IE 64 */
  __u16 src_port, dst_port;
  __u16 vlan_id, inner_vlan_id;
  __u16 tcp_flags;
  __u8 ip_version;
  __u8 protocol;
  __u8 key_flags;
  __u8 ttl;
  __u8 tos;
  __u8 ext_depth;
  __u8 ext_deeper;  /* the chain went on past the walk */
  __u8 is_fragment;
  __u8 icmp_type;
  __u8 icmp_code;
  __u8 has_icmp;
  __u8 ext_count[TCFLOW_EXT_HEADER_COUNT];
  __u64 src6[2], dst6[2]; /* as loaded: network byte order */
};

static __always_inline __u32 tcflow_min_u32(__u32 a, __u32 b) { return a < b ? a : b; }

/* Transport header: ports (or ICMP type/code), TCP flags, header length. `end` is the first
 * offset past the IP packet (IP length capped to the frame). */
static __always_inline void tcflow_parse_l4(void *data, void *data_end, __u32 off, __u32 end,
                                            struct tcflow_parsed *p) {
  __u8 *l4 = data + off;
  __u32 need;
  __u8 proto = p->protocol;

  if (proto == IPPROTO_TCP)
    need = 20;
  else if (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE_)
    need = 8;
  else if (proto == IPPROTO_SCTP_)
    need = 12;
  else if ((proto == IPPROTO_ICMP && p->ip_version == 4) ||
           (proto == IPPROTO_ICMPV6_ && p->ip_version == 6))
    need = 8;
  else
    return; /* keyed without ports */

  if ((void *)(l4 + need) > data_end || off + need > end) {
    p->key_flags |= TCFLOW_KEY_L4_TRUNCATED;
    return;
  }
  /* The checks below repeat the bound with constants, which is what the verifier tracks. */
  p->l4_off = off;
  if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
    if ((void *)(l4 + 8) > data_end) return;
    p->icmp_type = l4[0];
    p->icmp_code = l4[1];
    p->has_icmp = 1;
    p->dst_port = ((__u16)l4[0] << 8) | l4[1];
    p->hdr_len += 8;
    return;
  }
  if ((void *)(l4 + 8) > data_end) return;
  p->src_port = bpf_ntohs(*(__u16 *)l4);
  p->dst_port = bpf_ntohs(*(__u16 *)(l4 + 2));
  if (proto == IPPROTO_TCP) {
    if ((void *)(l4 + 20) > data_end) return;
    __u16 word = bpf_ntohs(*(__u16 *)(l4 + 12));
    __u32 doff = (word >> 12) * 4;
    p->tcp_flags = word & 0x0fff;
    p->hdr_len += doff < 20 ? 20 : doff;
  } else if (proto == IPPROTO_SCTP_) {
    p->hdr_len += 12;
  } else {
    p->hdr_len += 8;
  }
}

/* IE 64 bit of an extension-header kind. */
static __always_inline __u32 tcflow_ie64_bit(int kind) {
  switch (kind) {
    case TCFLOW_EXT_HOP_BY_HOP: return TCFLOW_IE64_HOP;
    case TCFLOW_EXT_ROUTING: return TCFLOW_IE64_RH;
    case TCFLOW_EXT_DEST_OPTIONS: return TCFLOW_IE64_DST;
    case TCFLOW_EXT_AH: return TCFLOW_IE64_AH;
    case TCFLOW_EXT_ESP: return TCFLOW_IE64_ESP;
    case TCFLOW_EXT_MOBILITY: return 0; /* no IE 64 bit */
    default: return 0; /* fragment: FRA0/FRA1 decided by its offset */
  }
}

static __always_inline int tcflow_ext_kind(__u8 nh) {
  switch (nh) {
    case IPPROTO_HOPOPTS_: return TCFLOW_EXT_HOP_BY_HOP;
    case IPPROTO_ROUTING_: return TCFLOW_EXT_ROUTING;
    case IPPROTO_FRAGMENT_: return TCFLOW_EXT_FRAGMENT;
    case IPPROTO_DSTOPTS_: return TCFLOW_EXT_DEST_OPTIONS;
    case IPPROTO_AH_: return TCFLOW_EXT_AH;
    case IPPROTO_ESP_: return TCFLOW_EXT_ESP;
    case IPPROTO_MH_: return TCFLOW_EXT_MOBILITY;
    default: return -1;
  }
}

/* In/out of the extension-header walk. */
struct tcflow_ext_walk {
  __u32 off;        /* in: first extension header; out: transport header (if l4_follows) */
  __u32 end;        /* in: end of the IP packet */
  __u32 hdr_len;    /* out: extension header bytes walked */
  __u32 frag_id;
  __u32 ext_bitmap; /* IE 64 */
  __u8 nh;          /* in: IPv6 next header; out: protocol (last next-header seen) */
  __u8 key_flags;
  __u8 ext_depth;
  __u8 ext_deeper;
  __u8 is_fragment;
  __u8 l4_follows;  /* the transport header follows at off */
  __u8 ext_count[TCFLOW_EXT_HEADER_COUNT];
  __u8 pad[3];
};

/*
 * Walks the IPv6 extension-header chain (at most TCFLOW_MAX_EXT_HEADERS). Stops at the first
 * upper-layer header (l4_follows), at ESP (the rest is encrypted), at a non-first fragment,
 * or when the chain is cut short or deeper than the walk (EXT_CHAIN_TRUNCATED, IE 64 UNK).
 *
 * A global (non-static, noinline) function on purpose: the verifier checks it once on its
 * own, not once per path of its callers, and packets without extension headers never call
 * it.
 */
__attribute__((noinline)) int tcflow_walk_ext(struct __sk_buff *skb, struct tcflow_ext_walk *w) {
  if (!w) return 0;
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  __u32 off = w->off & 0x3fff; /* bounded for the verifier; real offsets are < 100 */
  __u32 end = w->end;
  __u8 nh = w->nh;
#pragma unroll
  for (int i = 0; i < TCFLOW_MAX_EXT_HEADERS; i++) {
    int kind = tcflow_ext_kind(nh);
    if (kind < 0) {
      w->nh = nh;
      w->off = off;
      w->l4_follows = 1;
      return 0;
    }
    w->ext_depth++;
    w->ext_count[kind]++;
    w->ext_bitmap |= tcflow_ie64_bit(kind);
    w->nh = nh;
    if (kind == TCFLOW_EXT_ESP) return 0; /* the rest is encrypted */
    __u8 *h = data + off;
    if ((void *)(h + 8) > data_end || off + 8 > end) goto cut;
    __u32 len;
    if (kind == TCFLOW_EXT_FRAGMENT) {
      __u16 fo = bpf_ntohs(*(__u16 *)(h + 2));
      w->is_fragment = 1;
      w->frag_id = bpf_ntohl(*(__u32 *)(h + 4));
      if (fo & 0xfff8) {
        w->ext_bitmap |= TCFLOW_IE64_FRA1;
        w->key_flags |= TCFLOW_KEY_NON_FIRST_FRAGMENT;
        w->nh = h[0];
        return 0;
      }
      w->ext_bitmap |= TCFLOW_IE64_FRA0;
      len = 8;
    } else if (kind == TCFLOW_EXT_AH) {
      len = ((__u32)h[1] + 2) * 4;
    } else {
      len = ((__u32)h[1] + 1) * 8;
    }
    if (off + len > end) goto cut;
    nh = h[0];
    off += len;
    w->hdr_len += len;
  }
  w->nh = nh;
  if (tcflow_ext_kind(nh) < 0) {
    w->off = off;
    w->l4_follows = 1;
    return 0;
  }
  w->ext_deeper = 1;
cut:
  w->key_flags |= TCFLOW_KEY_EXT_CHAIN_TRUNCATED;
  w->ext_bitmap |= TCFLOW_IE64_UNK;
  return 0;
}

/*
 * Parses the frame at skb->data. Returns TCFLOW_PARSE_OK (p filled, keyable),
 * TCFLOW_PARSE_NOT_IP, or a tcflow_parse_result failure. `gso` says the packet is a GSO/GRO
 * super-packet, whose IP length fields may be stale or zero (BIG TCP): its length is the
 * frame's.
 */
static __always_inline int tcflow_parse(struct __sk_buff *skb, struct tcflow_parsed *p,
                                        int gso) {
  __builtin_memset(p, 0, sizeof(*p));
  void *data = (void *)(long)skb->data;
  void *data_end = (void *)(long)skb->data_end;
  struct ethhdr *eth = data;
  __u32 off = sizeof(*eth);
  int tags = 0;

  if ((void *)(eth + 1) > data_end) return TCFLOW_PARSE_TRUNCATED_ETHERNET;
  __u16 proto = eth->h_proto;

  if (skb->vlan_present) { /* the outer tag, stripped by VLAN offload */
    p->vlan_id = skb->vlan_tci & 0x0fff;
    tags = 1;
  }
#pragma unroll
  for (int i = 0; i < 2; i++) {
    if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD)) break;
    if (tags >= 2) return TCFLOW_PARSE_TOO_MANY_VLANS;
    __u8 *v = data + off;
    if ((void *)(v + 4) > data_end) return TCFLOW_PARSE_TRUNCATED_VLAN;
    __u16 vid = bpf_ntohs(*(__u16 *)v) & 0x0fff;
    if (tags == 0)
      p->vlan_id = vid;
    else
      p->inner_vlan_id = vid;
    tags++;
    proto = *(__u16 *)(v + 2);
    off += 4;
  }
  if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
    return TCFLOW_PARSE_TOO_MANY_VLANS;

  __u32 frame_ip = skb->len - off; /* bytes from the IP header on (incl. non-linear) */
  p->l3_off = off;
  if (proto == bpf_htons(ETH_P_IP)) {
    __u8 *ip = data + off;
    if ((void *)(ip + 20) > data_end) return TCFLOW_PARSE_TRUNCATED_IPV4;
    __u32 ihl = (ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || ihl < 20) return TCFLOW_PARSE_BAD_IPV4_HEADER;
    if ((void *)(ip + ihl) > data_end) return TCFLOW_PARSE_TRUNCATED_IPV4;
    __u32 tot = bpf_ntohs(*(__u16 *)(ip + 2));
    if (gso) {
      tot = frame_ip;
    } else {
      if (tot < ihl) return TCFLOW_PARSE_BAD_IP_LENGTH;
      tot = tcflow_min_u32(tot, frame_ip);
    }
    p->ip_version = 4;
    p->ip_len = tot;
    p->tos = ip[1];
    p->ttl = ip[8];
    p->protocol = ip[9];
    p->src4 = *(__u32 *)(ip + 12);
    p->dst4 = *(__u32 *)(ip + 16);
    p->hdr_len = ihl;
    __u16 frag = bpf_ntohs(*(__u16 *)(ip + 6));
    if (frag & 0x3fff) { /* MF or an offset: a fragment */
      p->is_fragment = 1;
      p->frag_id = bpf_ntohs(*(__u16 *)(ip + 4));
      if (frag & 0x1fff) {
        p->key_flags |= TCFLOW_KEY_NON_FIRST_FRAGMENT;
        return TCFLOW_PARSE_OK;
      }
    }
    tcflow_parse_l4(data, data_end, off + ihl, off + tot, p);
    return TCFLOW_PARSE_OK;
  }
  if (proto == bpf_htons(ETH_P_IPV6)) {
    __u8 *ip = data + off;
    if ((void *)(ip + 40) > data_end) return TCFLOW_PARSE_TRUNCATED_IPV6;
    if ((ip[0] >> 4) != 6) return TCFLOW_PARSE_BAD_IPV6_HEADER;
    __u32 tot = bpf_ntohs(*(__u16 *)(ip + 4)) + 40;
    /* payload length 0: jumbogram or BIG TCP; the frame says how long it is */
    if (gso || tot == 40) tot = frame_ip;
    tot = tcflow_min_u32(tot, frame_ip);
    p->ip_version = 6;
    p->ip_len = tot;
    __u32 w0 = bpf_ntohl(*(__u32 *)ip);
    p->tos = (w0 >> 20) & 0xff;
    p->flow_label = w0 & 0xfffff;
    p->ttl = ip[7];
    p->src6[0] = *(__u64 *)(ip + 8); /* 8-byte loads: unaligned packet loads are fine */
    p->src6[1] = *(__u64 *)(ip + 16);
    p->dst6[0] = *(__u64 *)(ip + 24);
    p->dst6[1] = *(__u64 *)(ip + 32);
    p->hdr_len = 40;
    __u8 nh = ip[6];
    if (tcflow_ext_kind(nh) < 0) {
      p->protocol = nh;
      tcflow_parse_l4(data, data_end, off + 40, off + tot, p);
    } else {
      struct tcflow_ext_walk w = {.off = off + 40, .end = off + tot, .nh = nh};
      tcflow_walk_ext(skb, &w);
      p->protocol = w.nh;
      p->hdr_len += w.hdr_len;
      p->frag_id = w.frag_id;
      p->ext_bitmap = w.ext_bitmap;
      p->key_flags |= w.key_flags;
      p->ext_depth = w.ext_depth;
      p->ext_deeper = w.ext_deeper;
      p->is_fragment = w.is_fragment;
      __builtin_memcpy(p->ext_count, w.ext_count, sizeof(p->ext_count));
      if (w.l4_follows) {
        data = (void *)(long)skb->data;
        data_end = (void *)(long)skb->data_end;
        tcflow_parse_l4(data, data_end, w.off & 0x7fff, off + tot, p);
      }
    }
    return TCFLOW_PARSE_OK;
  }
  return TCFLOW_PARSE_NOT_IP;
}

#endif /* TCFLOW_BENCH_V0_PARSING_H_ */
