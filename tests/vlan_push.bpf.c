// SPDX-License-Identifier: GPL-2.0
// Test fixture (not tcflow): tags IPv4 frames with VLAN 100 the way VLAN TX offload leaves
// them, i.e. in skb metadata (bpf_skb_vlan_push), so tcflow's programs attached after it (and
// on the veth peer's ingress) see __sk_buff.vlan_present on a kernel without 802.1Q devices.
// ARP stays untagged so neighbours still resolve.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int vlan_push_100(struct __sk_buff *skb) {
  if (skb->protocol == bpf_htons(ETH_P_IP)) bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 100);
  return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
