// SPDX-License-Identifier: GPL-2.0
// Clock sources a tc program could read per packet, each alone in an otherwise empty tc
// program, so //tools/bench:datapath_bench can print what each costs over the empty program
// (the choice tcflow made is tcflow_now(): jiffies-keyed cache of the coarse clock).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct clock_cache {
  __u64 jiffies;
  __u64 ns;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct clock_cache);
} clock_sink SEC(".maps");

static __always_inline int sink(__u64 v) {
  __u32 zero = 0;
  struct clock_cache *c = bpf_map_lookup_elem(&clock_sink, &zero);
  if (c) c->ns = v;
  return TC_ACT_UNSPEC;
}

SEC("tc") int clock_none(struct __sk_buff *skb) { return sink(skb->len); }
SEC("tc") int clock_ktime_ns(struct __sk_buff *skb) { return sink(bpf_ktime_get_ns()); }
SEC("tc") int clock_coarse_ns(struct __sk_buff *skb) { return sink(bpf_ktime_get_coarse_ns()); }
SEC("tc") int clock_jiffies64(struct __sk_buff *skb) { return sink(bpf_jiffies64()); }

SEC("tc") int clock_cached_coarse(struct __sk_buff *skb) {
  __u32 zero = 0;
  struct clock_cache *c = bpf_map_lookup_elem(&clock_sink, &zero);
  if (!c) return TC_ACT_UNSPEC;
  __u64 j = bpf_jiffies64();
  if (j != c->jiffies) {
    c->ns = bpf_ktime_get_coarse_ns();
    c->jiffies = j;
  }
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
