// Test harness around the tcflow skeleton: loads the programs with chosen knobs, runs frames
// through BPF_PROG_TEST_RUN, and reads back what the programs left (flow slots, overflow
// slots, per-CPU stats summed over CPUs, ring-buffer events). Used by the datapath and fuzz
// tests; header-only so each test binary stays one translation unit plus this.

#ifndef TCFLOW_TESTS_DATAPATH_HARNESS_H_
#define TCFLOW_TESTS_DATAPATH_HARNESS_H_

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/tcflow_abi.h"
#include "daemon/drain/stats_reader.h"

// The skeleton's C struct is called `tcflow`, like the project's namespace: keep it apart.
namespace tcflow_bpf {
#include "bpf/tcflow.skel.h"
}  // namespace tcflow_bpf

namespace tcflow::testing {

using tcflow_bpf::tcflow__destroy;
using tcflow_bpf::tcflow__load;
using tcflow_bpf::tcflow__open;

struct Knobs {
  uint32_t slots_per_half = 1024;
  bool key_vlan = true;
  bool key_mark = false;
  uint32_t ext_alert_depth = 0;
  bool ndp_events = true;
  bool flow_cache = true;
};

// __sk_buff fields BPF_PROG_TEST_RUN lets a test set.
struct RunContext {
  uint32_t gso_segs = 0;
  uint32_t gso_size = 0;
  uint32_t ingress_ifindex = 0;
  uint32_t mark = 0;
};

struct RunResult {
  int err = 0;            // bpf_prog_test_run_opts() result (0 or -errno)
  uint32_t retval = 0;
  bool output_equal = false;
};

// Pins the calling thread to one CPU: the programs give each CPU its own slot for a flow,
// so a test that expects one record per flow must run its frames on one CPU.
inline bool PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

class Datapath {
 public:
  // Opens, configures and loads the object; nullptr (and `error`) if the kernel refuses it.
  static std::unique_ptr<Datapath> Load(const Knobs& knobs, std::string* error) {
    std::unique_ptr<Datapath> d(new Datapath());
    d->knobs_ = knobs;
    d->skel_ = tcflow__open();
    if (!d->skel_) {
      *error = "tcflow__open failed: " + std::string(strerror(errno));
      return nullptr;
    }
    auto* ro = d->skel_->rodata;
    ro->tcflow_cfg_slots_per_half = knobs.slots_per_half;
    ro->tcflow_cfg_key_vlan = knobs.key_vlan;
    ro->tcflow_cfg_key_mark = knobs.key_mark;
    ro->tcflow_cfg_ext_alert_depth = knobs.ext_alert_depth;
    ro->tcflow_cfg_ndp_events = knobs.ndp_events;
    ro->tcflow_cfg_flow_cache = knobs.flow_cache;
    bpf_map__set_max_entries(d->skel_->maps.tcflow_slots,
                             2 * tcflow_half_stride(knobs.slots_per_half));
    bpf_map__set_max_entries(d->skel_->maps.tcflow_idx_v4, 2 * knobs.slots_per_half);
    bpf_map__set_max_entries(d->skel_->maps.tcflow_idx_v6, 2 * knobs.slots_per_half);
    // The flow cache's second level: a region per possible CPU, as the loader sizes it.
    const uint32_t cpus = static_cast<uint32_t>(libbpf_num_possible_cpus());
    bpf_map__set_max_entries(d->skel_->maps.tcflow_l2_v4, cpus << TCFLOW_L2_V4_BITS);
    bpf_map__set_max_entries(d->skel_->maps.tcflow_l2_v6, cpus << TCFLOW_L2_V6_BITS);
    int err = tcflow__load(d->skel_);
    if (err) {
      *error = "tcflow__load failed (verifier?): " + std::string(strerror(-err));
      return nullptr;
    }
    d->ncpus_ = libbpf_num_possible_cpus();
    d->ring_ = ring_buffer__new(bpf_map__fd(d->skel_->maps.tcflow_events), &Datapath::OnEvent,
                                d.get(), nullptr);
    if (!d->ring_) {
      *error = "ring_buffer__new failed";
      return nullptr;
    }
    return d;
  }

  ~Datapath() {
    if (ring_) ring_buffer__free(ring_);
    if (skel_) tcflow__destroy(skel_);
  }

  tcflow_bpf::tcflow* skel() { return skel_; }
  int ingress_fd() { return bpf_program__fd(skel_->progs.tcflow_ingress); }
  int egress_fd() { return bpf_program__fd(skel_->progs.tcflow_egress); }
  int fd(uint8_t direction) { return direction == TCFLOW_DIR_EGRESS ? egress_fd() : ingress_fd(); }

  RunResult Run(const std::vector<uint8_t>& frame, uint8_t direction, const RunContext& c = {},
                uint32_t repeat = 1) {
    RunResult r;
    std::vector<uint8_t> out(frame.size() + 256);
    __sk_buff ctx = {};
    ctx.gso_segs = c.gso_segs;
    ctx.gso_size = c.gso_size;
    ctx.ingress_ifindex = c.ingress_ifindex;
    ctx.mark = c.mark;
    bpf_test_run_opts opts = {};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.repeat = repeat;
    r.err = bpf_prog_test_run_opts(fd(direction), &opts);
    if (r.err) r.err = -errno;
    r.retval = opts.retval;
    r.output_equal = opts.data_size_out == frame.size() &&
                     std::memcmp(out.data(), frame.data(), frame.size()) == 0;
    return r;
  }

  tcflow_control Control() {
    tcflow_control c = {};
    uint32_t zero = 0;
    bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tcflow_control), &zero, &c);
    return c;
  }
  void SetControl(const tcflow_control& c) {
    uint32_t zero = 0;
    bpf_map_update_elem(bpf_map__fd(skel_->maps.tcflow_control), &zero, &c, BPF_ANY);
  }

  // Starts a fresh generation in the same half, as if that half had just been drained: every
  // later packet lands in new slots, and old index entries can no longer match. Like a drain,
  // it keeps what the half's flow slots add to the stats (see Stats()) and zeroes them.
  void FreshGeneration() {
    tcflow_control c = Control();
    uint32_t half = c.generation & 1;
    int fd = bpf_map__fd(skel_->maps.tcflow_slots);
    const tcflow_slot zero_slot = {};
    for (uint32_t key : SlotKeys(half, false)) {
      tcflow_slot s = {};
      if (bpf_map_lookup_elem(fd, &key, &s) != 0) continue;
      tcflow_stats_add_flow_slot(&retired_, &s);
      bpf_map_update_elem(fd, &key, &zero_slot, BPF_ANY);
    }
    c.generation += 2;
    c.next_slot[half] = 0;
    c.next_overflow_slot[half] = 0;
    SetControl(c);
  }

  std::vector<tcflow_slot> Flows() { return ReadSlots(false); }
  std::vector<tcflow_slot> Overflows() { return ReadSlots(true); }

  // The stats as tcflowd reports them: the per-CPU counters summed over every possible CPU
  // (KernelStats()) plus what every flow slot adds (the counters the programs keep per flow,
  // see tcflow_abi.h): the slots of both halves now, and those FreshGeneration() zeroed.
  tcflow_stats Stats() {
    tcflow_stats sum = KernelStats();
    StatsReader::Add(retired_, &sum);
    int fd = bpf_map__fd(skel_->maps.tcflow_slots);
    for (uint32_t half = 0; half < 2; half++) {
      for (uint32_t key : SlotKeys(half, false)) {
        tcflow_slot s = {};
        if (bpf_map_lookup_elem(fd, &key, &s) == 0) tcflow_stats_add_flow_slot(&sum, &s);
      }
    }
    return sum;
  }

  // The per-CPU counters alone, summed over every possible CPU.
  tcflow_stats KernelStats() {
    static_assert(sizeof(tcflow_stats) % 8 == 0, "per-CPU values are not padded");
    std::vector<tcflow_stats> per_cpu(ncpus_);
    uint32_t zero = 0;
    tcflow_stats sum = {};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tcflow_stats), &zero, per_cpu.data()) != 0)
      return sum;
    StatsReader::Sum(per_cpu.data(), ncpus_, sizeof(tcflow_stats), &sum);
    return sum;
  }

  std::vector<tcflow_event> DrainEvents() {
    events_.clear();
    ring_buffer__consume(ring_);
    return events_;
  }

  const Knobs& knobs() const { return knobs_; }

 private:
  Datapath() = default;

  static int OnEvent(void* self, void* data, size_t size) {
    tcflow_event ev = {};
    std::memcpy(&ev, data, size < sizeof(ev) ? size : sizeof(ev));
    static_cast<Datapath*>(self)->events_.push_back(ev);
    return 0;
  }

  // Array keys of the slots handed out in a half (flow or overflow slots).
  std::vector<uint32_t> SlotKeys(uint32_t half, bool overflow) {
    tcflow_control c = Control();
    uint32_t base = half * tcflow_half_stride(knobs_.slots_per_half);
    uint32_t count = overflow ? c.next_overflow_slot[half] : c.next_slot[half];
    uint32_t cap = overflow ? TCFLOW_OVERFLOW_SLOTS : knobs_.slots_per_half;
    if (count > cap) count = cap;
    if (overflow) base += knobs_.slots_per_half;
    std::vector<uint32_t> keys;
    for (uint32_t i = 0; i < count; i++) keys.push_back(base + i);
    return keys;
  }

  std::vector<tcflow_slot> ReadSlots(bool overflow) {
    std::vector<tcflow_slot> out;
    int fd = bpf_map__fd(skel_->maps.tcflow_slots);
    for (uint32_t key : SlotKeys(Control().generation & 1, overflow)) {
      tcflow_slot s = {};
      if (bpf_map_lookup_elem(fd, &key, &s) == 0) out.push_back(s);
    }
    return out;
  }

  Knobs knobs_;
  tcflow_bpf::tcflow* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int ncpus_ = 1;
  std::vector<tcflow_event> events_;
  tcflow_stats retired_ = {};  // what the flow slots FreshGeneration() zeroed added
};

// Everything a packet can be counted in, per the exactness invariant of tcflow_abi.h.
inline uint64_t AccountedPackets(Datapath& d, const tcflow_stats& s) {
  uint64_t n = s.overflow_lost + s.not_ip;
  for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; r++) n += s.parse_error[r];
  for (const tcflow_slot& f : d.Flows()) n += f.stats.packets;
  for (const tcflow_slot& f : d.Overflows()) n += f.stats.packets;
  return n;
}

}  // namespace tcflow::testing

#endif  // TCFLOW_TESTS_DATAPATH_HARNESS_H_
