// SPDX-License-Identifier: GPL-2.0
// A "foreign" tc program for coexistence tests: counts every packet it sees in
// count_packets_map[0] and lets it continue (TC_ACT_UNSPEC), as another tool's filter would.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} count_packets_map SEC(".maps");

SEC("tc")
int foreign_counter(struct __sk_buff *skb) {
  __u32 key = 0;
  __u64 *count = bpf_map_lookup_elem(&count_packets_map, &key);
  if (count) __sync_fetch_and_add(count, 1);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
