// The race-free drain of bpf/tcflow_abi.h: flip the generation, wait a grace period, then
// read the old half's slots straight from memory into record batches for a sink (duplicate
// keys merged, see GenerationReader), zeroing them as it goes, and reset the half's
// counters.
//
//   Drainer::Create(loader->tables(), loader->layout()) -> drainer
//   drainer->Drain([&](absl::Span<const FlowRecord> batch) { cache.Add(batch); });
//
// One Drainer per table set (two drainers flipping the same tables would race).
// Allocation-free per drain: the merge table and records are sized once.

#ifndef TCFLOW_DAEMON_DRAIN_DRAINER_H_
#define TCFLOW_DAEMON_DRAIN_DRAINER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bpf/tcflow_abi.h"
#include "daemon/drain/flow_merge.h"
#include "daemon/drain/grace_period.h"
#include "daemon/drain/mmap_region.h"
#include "daemon/drain/wall_clock.h"
#include "daemon/flow/flow_record.h"
#include "daemon/loader/layout.h"
#include "daemon/loader/tables.h"

namespace tcflow {

struct DrainOptions {
  GraceMode grace = GraceMode::kAuto;
  // Records handed to the sink per call.
  size_t sink_batch = 4096;
  // Merge slots of one generation that carry the same key (a flow that got a second slot
  // after an early LRU eviction, or was counted on several CPUs) before handing them on.
  // A consumer that merges by key anyway (tcflowd's flow cache) turns this off: the drain
  // then streams every used slot at memory speed and the merge is done once, not twice.
  bool merge_duplicates = true;
};

struct DrainResult {
  uint64_t generation = 0;      // the generation drained
  uint32_t slots_read = 0;      // flow slots read (min(next_slot, capacity))
  uint32_t overflow_read = 0;   // overflow slots read
  uint64_t slots_wanted = 0;    // next_slot as the programs left it (> capacity: table full)
  uint64_t records = 0;         // records handed to the sink
  uint64_t duplicates = 0;      // slots merged into another slot of the same key (0 when
                                // merge_duplicates is off: the consumer merges them)
  uint64_t packets = 0;         // sum over the records
  uint64_t bytes = 0;
  absl::Duration grace_wait;    // flip -> grace period over
  absl::Duration read_time;     // merge + read + zero + reset (sink time excluded)
  absl::Duration merge_time;    // part of read_time: pass 1, finding duplicate keys
  absl::Duration sink_time;     // in the sink
};

class Drainer {
 public:
  // `tables` must stay open while the Drainer lives (it maps control and slots).
  static absl::StatusOr<std::unique_ptr<Drainer>> Create(const TableFds& tables,
                                                         const TableLayout& layout,
                                                         const DrainOptions& options = {});

  // Drains the generation being written now; the programs move on to the next one.
  absl::StatusOr<DrainResult> Drain(RecordSink sink);

  // The generation the programs write now.
  uint64_t generation() const;
  // What every flow slot drained so far adds to the kernel's tcflow_stats (the counters the
  // programs keep per flow; see tcflow_abi.h). Kernel counters + this = per-packet counts.
  const tcflow_stats& slot_stats() const { return slot_stats_; }
  GraceMode grace_mode() const { return grace_.mode(); }
  WallClock& clock() { return clock_; }
  const TableLayout& layout() const { return layout_; }

  // Direct access for tests and benchmarks (fill a half without the programs).
  tcflow_control* control() const { return control_; }
  tcflow_slot* slots() const { return slots_; }

 private:
  Drainer(const TableFds& tables, const TableLayout& layout, const DrainOptions& options,
          GracePeriod grace);
  // Merges, emits and zeroes one half; resets its counters.
  void CollectHalf(uint32_t half, RecordSink sink, DrainResult* r);
  void DeleteOverflowIndex(uint64_t up_to_generation);

  TableFds tables_;
  TableLayout layout_;
  DrainOptions options_;
  GracePeriod grace_;
  MmapRegion control_map_;
  MmapRegion slot_map_;
  tcflow_stats slot_stats_ = {};
  tcflow_control* control_ = nullptr;
  tcflow_slot* slots_ = nullptr;
  WallClock clock_;
  GenerationReader reader_;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_DRAINER_H_
