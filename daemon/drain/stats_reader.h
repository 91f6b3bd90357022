// Reads the per-CPU tcflow_stats and sums the CPUs. The counters are monotonic (never
// reset by user space); exporters compute deltas.

#ifndef TCFLOW_DAEMON_DRAIN_STATS_READER_H_
#define TCFLOW_DAEMON_DRAIN_STATS_READER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/tcflow_abi.h"

namespace tcflow {

class StatsReader {
 public:
  static absl::StatusOr<StatsReader> Create(int stats_map_fd);

  // Sum over all possible CPUs.
  absl::Status Read(tcflow_stats* out);

  // Sums `ncpus` per-CPU copies laid out `stride` bytes apart (the kernel rounds the value
  // size up to 8). Every field of tcflow_stats is a __u64, so the sum is element-wise.
  static void Sum(const void* percpu, int ncpus, size_t stride, tcflow_stats* out);
  // *to += from, element-wise (e.g. the kernel's counters + Drainer::slot_stats()).
  static void Add(const tcflow_stats& from, tcflow_stats* to);

 private:
  int fd_ = -1;
  int ncpus_ = 0;
  std::vector<uint64_t> buf_;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_STATS_READER_H_
