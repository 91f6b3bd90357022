// Drain benchmark: entries drained per second from a full table of N flows (default 1 Mi),
// the generation drain (flip + grace period + read/merge + zero + reset) against
// BPF_MAP_LOOKUP_AND_DELETE_BATCH on a per-CPU and a plain hash of the same size, measured
// side by side in one run.
//
//   bazel run -c opt //tools/bench:drain_bench -- [--flows N] [--rounds R]
//
// The tables are created directly (same types, flags and sizes as the loader makes them);
// the slots are filled from user space, as the programs would have left them: the drain
// does not care who wrote them, and this keeps the figure about the drain alone.
#include <errno.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bpf/tcflow_abi.h"
#include "daemon/drain/drainer.h"
#include "daemon/drain/grace_period.h"
#include "daemon/loader/layout.h"
#include "daemon/loader/scoped_fd.h"
#include "daemon/loader/tables.h"
#include "tools/bench/stats.h"
#include "tools/bench/synthetic_slots.h"
#include "tools/cli/flags.h"

namespace tcflow {
namespace {

using bench::Median;
using bench::Min;

struct BareTables {
  ScopedFd control, slots, overflow;
  TableFds fds() const {
    TableFds f;
    f.fd[kTableControl] = control.get();
    f.fd[kTableSlots] = slots.get();
    f.fd[kTableOverflow] = overflow.get();
    return f;
  }
};

absl::Status CreateTables(const TableLayout& l, BareTables* t) {
  bpf_map_create_opts o;
  std::memset(&o, 0, sizeof(o));
  o.sz = sizeof(o);
  o.map_flags = BPF_F_MMAPABLE;
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, TCFLOW_MAP_CONTROL, 4, sizeof(tcflow_control),
                          1, &o);
  if (fd < 0) return absl::ErrnoToStatus(errno, "create control");
  t->control.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, TCFLOW_MAP_SLOTS, 4, sizeof(tcflow_slot),
                      l.slot_entries, &o);
  if (fd < 0) return absl::ErrnoToStatus(errno, "create slots");
  t->slots.reset(fd);
  fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, TCFLOW_MAP_OVERFLOW, sizeof(tcflow_overflow_key),
                      4, l.overflow_entries, nullptr);
  if (fd < 0) return absl::ErrnoToStatus(errno, "create overflow index");
  t->overflow.reset(fd);
  return absl::OkStatus();
}

// CPU time of this thread: what the drain costs, separate from waiting for the CPU on a
// busy machine (wall time) and from sleeping in the grace period.
double ThreadCpuNs() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// Memory-speed yardstick: read every slot of a half and zero it, nothing else.
double RawReadZeroNs(Drainer* d, uint32_t n) {
  uint32_t half = d->generation() & 1;
  tcflow_slot* base = d->slots() + d->layout().SlotIndex(half, 0);
  absl::Time t0 = absl::Now();
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; i += 256) {
    uint32_t m = std::min<uint32_t>(256, n - i);
    for (uint32_t j = 0; j < m; ++j) sum += base[i + j].stats.packets + base[i + j].key.ifindex;
    std::memset(static_cast<void*>(base + i), 0, sizeof(tcflow_slot) * m);
  }
  double ns = absl::ToDoubleNanoseconds(absl::Now() - t0);
  if (sum == 1) std::printf(" ");  // keep the loop
  d->control()->next_slot[half] = 0;
  return ns;
}

// BPF_MAP_LOOKUP_AND_DELETE_BATCH of a full hash of `n` flow-sized entries (56-byte key,
// 56-byte value, per CPU when asked). Returns ns for the whole drain, or -1.
double BatchDrainNs(bpf_map_type type, uint32_t n, uint32_t batch, uint64_t* drained) {
  const uint32_t value_size = sizeof(tcflow_flow_stats);
  int ncpu = type == BPF_MAP_TYPE_PERCPU_HASH ? libbpf_num_possible_cpus() : 1;
  const size_t vstride = ArrayElemSize(value_size) * ncpu;
  int fd = bpf_map_create(type, "tcflow_bench", sizeof(tcflow_flow_key), value_size, n, nullptr);
  if (fd < 0) {
    std::fprintf(stderr, "create hash: %s\n", strerror(errno));
    return -1;
  }
  ScopedFd map(fd);
  std::vector<tcflow_flow_key> keys(batch);
  std::vector<uint8_t> values(vstride * batch, 1);
  bpf_map_batch_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  for (uint32_t i = 0; i < n; i += batch) {
    uint32_t m = std::min(batch, n - i);
    for (uint32_t j = 0; j < m; ++j) keys[j] = bench::SyntheticFlowKey(i + j);
    uint32_t count = m;
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) != 0) {
      std::fprintf(stderr, "fill hash: %s\n", strerror(errno));
      return -1;
    }
  }
  uint64_t in_batch_token = 0, out_batch_token = 0;
  bool first = true;
  *drained = 0;
  absl::Time t0 = absl::Now();
  for (;;) {
    uint32_t count = batch;
    int err = bpf_map_lookup_and_delete_batch(fd, first ? nullptr : &in_batch_token,
                                              &out_batch_token, keys.data(), values.data(),
                                              &count, &opts);
    int e = errno;
    *drained += count;
    if (err != 0 && e == ENOENT) break;  // table empty
    if (err != 0) {
      std::fprintf(stderr, "lookup_and_delete_batch: %s\n", strerror(e));
      return -1;
    }
    in_batch_token = out_batch_token;
    first = false;
  }
  return absl::ToDoubleNanoseconds(absl::Now() - t0);
}

int Run(int64_t flows, int64_t rounds, int64_t batch) {
  TableLayout layout;
  absl::Status s = ComputeLayout(static_cast<uint32_t>(flows), 3, kDefaultRingbufBytes, &layout);
  if (!s.ok()) {
    std::fprintf(stderr, "drain_bench: %s\n", s.ToString().c_str());
    return 2;
  }
  BareTables tables;
  s = CreateTables(layout, &tables);
  if (!s.ok()) {
    std::fprintf(stderr, "drain_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("drain_bench: %lld flows per half, %zu-byte slots, %d CPUs, %lld rounds "
              "(medians)\n", static_cast<long long>(flows), sizeof(tcflow_slot),
              libbpf_num_possible_cpus(), static_cast<long long>(rounds));

  // 1. Grace-period mechanisms alone.
  for (GraceMode mode : {GraceMode::kMembarrier, GraceMode::kMapUpdate}) {
    absl::StatusOr<GracePeriod> g = GracePeriod::Create(mode);
    if (!g.ok()) {
      std::printf("  grace period %-11s unavailable: %s\n", GraceModeName(mode),
                  g.status().ToString().c_str());
      continue;
    }
    std::vector<double> ms;
    for (int i = 0; i < 9; ++i) {
      absl::Time t0 = absl::Now();
      if (!g->Wait().ok()) break;
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    }
    if (!ms.empty()) {
      std::printf("  grace period %-11s %8.2f ms (median of %zu)\n", GraceModeName(mode),
                  Median(ms), ms.size());
    }
  }

  // 2. The generation drain of a full table, per grace mechanism.
  double best_drain_rate = 0;  // with grace, wall median, M entries/s
  struct Variant {
    GraceMode grace;
    bool merge;
  };
  for (Variant v : {Variant{GraceMode::kAuto, true}, Variant{GraceMode::kAuto, false},
                    Variant{GraceMode::kMapUpdate, true}}) {
    DrainOptions opts;
    opts.grace = v.grace;
    opts.merge_duplicates = v.merge;
    absl::StatusOr<std::unique_ptr<Drainer>> d = Drainer::Create(tables.fds(), layout, opts);
    if (!d.ok()) {
      std::fprintf(stderr, "drain_bench: %s\n", d.status().ToString().c_str());
      return 1;
    }
    std::vector<double> raw_ns, grace_ms, read_ns, total_ns, merge_ns, sink_ns, cpu_ns, raw_cpu_ns;
    for (int64_t r = 0; r < rounds; ++r) {
      bench::FillCurrentHalf(d->get(), static_cast<uint32_t>(flows));
      double c0 = ThreadCpuNs();
      raw_ns.push_back(RawReadZeroNs(d->get(), static_cast<uint32_t>(flows)));
      raw_cpu_ns.push_back(ThreadCpuNs() - c0);
      bench::FillCurrentHalf(d->get(), static_cast<uint32_t>(flows));
      uint64_t sink_packets = 0;
      c0 = ThreadCpuNs();
      absl::StatusOr<DrainResult> res = (*d)->Drain([&](absl::Span<const FlowRecord> b) {
        for (const FlowRecord& rec : b) sink_packets += rec.packets;
      });
      cpu_ns.push_back(ThreadCpuNs() - c0);
      if (!res.ok()) {
        std::fprintf(stderr, "drain_bench: %s\n", res.status().ToString().c_str());
        return 1;
      }
      if (res->records != static_cast<uint64_t>(flows) || sink_packets != res->packets) {
        std::fprintf(stderr, "drain_bench: drained %llu records, want %lld\n",
                     static_cast<unsigned long long>(res->records),
                     static_cast<long long>(flows));
        return 1;
      }
      grace_ms.push_back(absl::ToDoubleMilliseconds(res->grace_wait));
      merge_ns.push_back(absl::ToDoubleNanoseconds(res->merge_time));
      sink_ns.push_back(absl::ToDoubleNanoseconds(res->sink_time));
      read_ns.push_back(absl::ToDoubleNanoseconds(res->read_time + res->sink_time));
      total_ns.push_back(
          absl::ToDoubleNanoseconds(res->grace_wait + res->read_time + res->sink_time));
    }
    double n = static_cast<double>(flows);
    auto rate = [n](double ns) { return n / ns * 1e3; };  // M entries/s
    std::printf("  generation drain [%s, %s]  wall median (best)        M entries/s\n",
                GraceModeName((*d)->grace_mode()),
                v.merge ? "merging duplicate keys" : "no merge: the consumer merges");
    std::printf("    grace wait                 %8.2f ms (%6.2f)\n", Median(grace_ms),
                Min(grace_ms));
    std::printf("    merge+read+zero+sink       %8.2f ms (%6.2f)  %6.1f (%5.1f) without grace\n",
                Median(read_ns) / 1e6, Min(read_ns) / 1e6, rate(Median(read_ns)),
                rate(Min(read_ns)));
    best_drain_rate = std::max(best_drain_rate, rate(Median(total_ns)));
    std::printf("    flip+grace+all of the above%8.2f ms (%6.2f)  %6.1f (%5.1f) with grace\n",
                Median(total_ns) / 1e6, Min(total_ns) / 1e6, rate(Median(total_ns)),
                rate(Min(total_ns)));
    std::printf("      of which merge pass    %8.2f ms, sink %.2f ms\n", Median(merge_ns) / 1e6,
                Median(sink_ns) / 1e6);
    std::printf("    drain CPU time             %8.2f ms (%6.2f)  %6.1f (%5.1f) per CPU-second\n",
                Median(cpu_ns) / 1e6, Min(cpu_ns) / 1e6, rate(Median(cpu_ns)),
                rate(Min(cpu_ns)));
    std::printf("    yardstick: read+zero only  %8.2f ms (%6.2f)  %6.1f (%5.1f); CPU %.2f ms\n",
                Median(raw_ns) / 1e6, Min(raw_ns) / 1e6, rate(Median(raw_ns)),
                rate(Min(raw_ns)), Median(raw_cpu_ns) / 1e6);
  }

  // 3. The syscall alternative on the same number of flow-sized entries.
  for (bpf_map_type type : {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_HASH}) {
    uint64_t drained = 0;
    double ns = BatchDrainNs(type, static_cast<uint32_t>(flows), static_cast<uint32_t>(batch),
                             &drained);
    const char* name = type == BPF_MAP_TYPE_PERCPU_HASH ? "per-CPU hash" : "hash";
    if (ns < 0 || drained != static_cast<uint64_t>(flows)) {
      std::printf("  LOOKUP_AND_DELETE_BATCH %-12s failed (drained %llu)\n", name,
                  static_cast<unsigned long long>(drained));
      continue;
    }
    double batch_rate = static_cast<double>(flows) / ns * 1e3;
    std::printf("  LOOKUP_AND_DELETE_BATCH %-12s %8.2f ms  %7.1f M entries/s (batch %lld); "
                "generation drain with grace: %.1fx\n",
                name, ns / 1e6, batch_rate, static_cast<long long>(batch),
                best_drain_rate / batch_rate);
  }
  return 0;
}

}  // namespace
}  // namespace tcflow

int main(int argc, char** argv) {
  int64_t flows = 1 << 20, rounds = 5, batch = 4096;
  tcflow::cli::FlagParser flags("drain_bench", "Entries drained per second, side by side.");
  flags.AddInt("flows", 0, &flows, "N", "flows in the full table (default 1048576)");
  flags.AddInt("rounds", 0, &rounds, "R", "drains per mechanism; medians are printed");
  flags.AddInt("batch", 0, &batch, "B", "entries per LOOKUP_AND_DELETE_BATCH call");
  absl::Status s = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
  if (!s.ok()) {
    std::fprintf(stderr, "drain_bench: %s\n", s.ToString().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::printf("%s", flags.Help().c_str());
    return 0;
  }
  if (flows <= 0 || flows > tcflow::kMaxSlotsPerHalf || rounds <= 0 || batch <= 0) {
    std::fprintf(stderr, "drain_bench: --flows, --rounds and --batch must be positive\n");
    return 2;
  }
  return tcflow::Run(flows, rounds, batch);
}
