// SPDX-License-Identifier: GPL-2.0
// The empty tc program: returns TC_ACT_UNSPEC and does nothing else. It is the yardstick the
// benchmarks measure tcflow's programs against, and the minimal program the attach tests use.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int tcflow_empty(struct __sk_buff *skb) { return TC_ACT_UNSPEC; }

char LICENSE[] SEC("license") = "GPL";
