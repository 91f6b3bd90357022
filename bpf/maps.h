/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Map definitions and load-time knobs of tcflow.bpf.c. Sizes here are defaults for a bare
 * load; the loader sets tcflow_cfg_* and every max_entries before load (see tcflow_abi.h for
 * how they relate: slots = 2 * tcflow_half_stride(slots_per_half)).
 */
#ifndef TCFLOW_BPF_MAPS_H_
#define TCFLOW_BPF_MAPS_H_

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf/parsing.h"
#include "bpf/tcflow_abi.h"

#define TCFLOW_DEFAULT_SLOTS_PER_HALF 16384

/* Load-time knobs (.rodata). The verifier sees their final values, so a knob that is off
 * costs nothing at run time. */
const volatile __u32 tcflow_cfg_slots_per_half = TCFLOW_DEFAULT_SLOTS_PER_HALF;
const volatile bool tcflow_cfg_key_vlan = true;
const volatile bool tcflow_cfg_key_mark = false;
const volatile __u32 tcflow_cfg_ext_alert_depth = 0;
const volatile bool tcflow_cfg_ndp_events = true;
const volatile bool tcflow_cfg_flow_cache = true;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct tcflow_control);
} tcflow_control SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2 * (TCFLOW_DEFAULT_SLOTS_PER_HALF + TCFLOW_OVERFLOW_SLOTS));
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct tcflow_slot);
} tcflow_slots SEC(".maps");

/* Both generations' entries live here until they age out, so twice a half. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 2 * TCFLOW_DEFAULT_SLOTS_PER_HALF);
  __type(key, struct tcflow_index_key_v4);
  __type(value, __u32);
} tcflow_idx_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 2 * TCFLOW_DEFAULT_SLOTS_PER_HALF);
  __type(key, struct tcflow_index_key_v6);
  __type(value, __u32);
} tcflow_idx_v6 SEC(".maps");

/* LRU as well: nobody deletes entries of past generations. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4 * TCFLOW_OVERFLOW_SLOTS);
  __type(key, struct tcflow_overflow_key);
  __type(value, __u32);
} tcflow_ovf_idx SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tcflow_stats);
} tcflow_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} tcflow_events SEC(".maps");

/*
 * Per-CPU scratch, private to the programs (not part of the ABI):
 *  - a clock cache: the coarse monotonic clock only moves once per tick, so it is read
 *    again only when jiffies (an inlined load) moved;
 *  - the parse result of the packet being handled (the BPF stack is only 512 bytes);
 *  - a direct-mapped exact-match flow cache (index key -> slot) in front of the LRU hashes,
 *    like Open vSwitch's EMC. Every entry belongs to the generation `cache_gen`: the general
 *    path, which alone fills entries, first empties the cache when the generation moved, and
 *    the fast path uses the cache only while the generation it read is `cache_gen`. So an
 *    entry of a past generation can never match, and the generation need not be part of
 *    every compared key. A slot stays owned by its key for its whole generation, so a hit is
 *    always a valid slot. tc programs do not nest on one CPU (softirq / BH disabled), so
 *    plain stores suffice.
 */
#define TCFLOW_CACHE_V4 256 /* power of two */
#define TCFLOW_CACHE_V6 128 /* power of two */

/* Keys as the 64-bit words of struct tcflow_index_key_v4/_v6 (compared in registers). The
 * flow cache leaves out word 0, the generation. */
#define TCFLOW_KEY_WORDS_V4 (sizeof(struct tcflow_index_key_v4) / 8)
#define TCFLOW_KEY_WORDS_V6 (sizeof(struct tcflow_index_key_v6) / 8)

/* `key` is the index key's words 1.. (no generation); `slot` is the index in tcflow_slots
 * (the half's base included). Entries are 64 bytes so that addressing one is a shift, not a
 * multiply, on the probe's critical path. No `valid` flag: an emptied entry has key[0] == 0,
 * and no packet's key word 1 is 0 (its ifindex is not). */
struct tcflow_cache_v4 {
  __u64 key[TCFLOW_KEY_WORDS_V4 - 1];
  __u32 slot;
  __u32 gen; /* second level only: the generation's low 32 bits */
  __u32 unused[6];
};

struct tcflow_cache_v6 {
  __u64 key[TCFLOW_KEY_WORDS_V6 - 1];
  __u32 slot;
  __u32 gen; /* second level only: the generation's low 32 bits */
};
_Static_assert(sizeof(struct tcflow_cache_v4) == 64, "a shift addresses an entry");
_Static_assert(sizeof(struct tcflow_cache_v6) == 64, "a shift addresses an entry");

struct tcflow_pcpu {
  __u64 clock_jiffies;
  __u64 clock_ns;
  __u64 cache_gen; /* the generation of every entry in v4/v6 */
  struct tcflow_parsed parsed; /* the current packet (saves stack) */
  /* The index key of a cache miss (an index_key_v4/_v6): the general path is a function
   * called from the programs, and the stack of the whole call chain must stay within 512
   * bytes. */
  __u64 key_scratch[TCFLOW_KEY_WORDS_V6];
  /* Unused: ring-buffer maps carry no value type, so this puts struct tcflow_event into the
   * object's BTF, where //bpf:abi_layout_test compares it with the C++ layout. */
  struct tcflow_event btf_event;
  struct tcflow_cache_v4 v4[TCFLOW_CACHE_V4];
  struct tcflow_cache_v6 v6[TCFLOW_CACHE_V6];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct tcflow_pcpu);
} tcflow_pcpu SEC(".maps");

/*
 * Second level of the flow cache, for a CPU with more active flows than the first level
 * holds: 4096 IPv4 and 2048 IPv6 entries per CPU, direct-mapped on more bits of the same
 * hash. The general path probes it on a first-level miss, before the LRU index, and a hit
 * refills the first level; the fast path knows only the first level, so its hit path pays
 * nothing for it.
 * CPU c's entries are [c << bits, (c + 1) << bits) of one plain array: the loader sizes it for
 * the possible CPUs (a bare load has room for TCFLOW_L2_DEFAULT_CPUS; a CPU past the array
 * finds nothing and takes the LRU index). Entries carry the generation's low 32 bits instead
 * of being emptied: an entry would have to sit untouched for 2^32 drains to match again.
 */
#define TCFLOW_L2_DEFAULT_CPUS 4 /* TCFLOW_L2_V4_BITS, _V6_BITS: in tcflow_abi.h */

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TCFLOW_L2_DEFAULT_CPUS << TCFLOW_L2_V4_BITS);
  __type(key, __u32);
  __type(value, struct tcflow_cache_v4);
} tcflow_l2_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, TCFLOW_L2_DEFAULT_CPUS << TCFLOW_L2_V6_BITS);
  __type(key, __u32);
  __type(value, struct tcflow_cache_v6);
} tcflow_l2_v6 SEC(".maps");

#endif /* TCFLOW_BPF_MAPS_H_ */
