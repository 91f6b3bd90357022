// Reads one drained generation out of its slots: every non-empty slot becomes a
// FlowRecord, slots that carry the same key are merged into one record (a flow whose index
// entry the LRU evicted early got a second slot in the same generation), and the slots are
// zeroed for reuse.
//
// Two sequential passes over the slots, nothing buffered:
//   1. merge: hash every key into an open-addressing table of 32-bit entries (slot index
//      plus spare hash bits, so a probe rarely touches another slot); a key seen before is
//      folded into its first slot in place (no program writes a drained half) and its
//      own slot emptied;
//   2. stream: every non-empty slot becomes a record in a small batch handed to the sink,
//      and the slots are zeroed chunk by chunk while still in cache.
// The table is allocated once (on huge pages where the kernel allows: its accesses are
// random, and with 4 KiB pages TLB misses would dominate) and cleared per generation.

#ifndef TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
#define TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

#include "bpf/tcflow_abi.h"
#include "daemon/drain/wall_clock.h"
#include "daemon/flow/flow_record.h"

namespace tcflow {

// Copies a slot's key and counters into a record, times converted to wall-clock ms.
void SlotToRecord(const tcflow_slot& slot, const WallClock& clock, FlowRecord* out);

// Folds `b` into `a` (same key): sums, min/max, OR-ed flags; the first-packet fields
// (DSCP/ECN, flow label, fragment id) come from the one that started first.
void MergeInto(FlowRecord* a, const FlowRecord& b);
void MergeSlotStats(tcflow_flow_stats* a, const tcflow_flow_stats& b);

// 64-bit hash of a flow key (all 56 bytes; the key has no padding).
uint64_t HashFlowKey(const tcflow_flow_key& key);

using RecordSink = absl::FunctionRef<void(absl::Span<const FlowRecord>)>;

class GenerationReader {
 public:
  struct Range {
    uint32_t begin;
    uint32_t end;
  };
  struct Counts {
    uint64_t records = 0;     // handed to the sink
    uint64_t duplicates = 0;  // slots folded into an earlier slot of the same key
    uint64_t packets = 0;
    uint64_t bytes = 0;
    absl::Duration sink_time;
    absl::Duration merge_time;  // pass 1
    // If set, every flow slot read is added to it (tcflow_stats_add_flow_slot): the
    // counters the programs count per flow rather than per packet.
    tcflow_stats* slot_stats = nullptr;
  };

  // max_slots: the most slots one generation can hold (flow + overflow slots of a half);
  // slot indices passed to Read() must be below it. With merge false, Read() hands on
  // every used slot as it is (no merge table), for consumers that merge by key anyway.
  GenerationReader(size_t max_slots, size_t sink_batch, bool merge = true);
  ~GenerationReader();
  GenerationReader(const GenerationReader&) = delete;
  GenerationReader& operator=(const GenerationReader&) = delete;

  // Emits the slots base[r.begin, r.end) of every range as merged records, in batches of
  // at most sink_batch, and zeroes them. Ranges must not overlap. Returns false (and reads
  // nothing) if a range reaches max_slots.
  bool Read(tcflow_slot* base, absl::Span<const Range> ranges, const WallClock& clock,
            RecordSink sink, Counts* counts);

 private:
  void Merge(tcflow_slot* base, uint32_t begin, uint32_t end, Counts* c);
  void Insert(tcflow_slot* base, uint32_t index, uint64_t hash, Counts* c);
  void Emit(const tcflow_slot& s, const WallClock& clock, RecordSink sink, Counts* c);
  void Flush(RecordSink sink, Counts* c);

  size_t max_slots_;
  bool merge_;
  // Entry: 0 = free, else (slot index + 1) | hash tag in the bits above the index.
  uint32_t* table_ = nullptr;
  size_t table_bytes_ = 0;
  bool table_mapped_ = false;  // mmap (huge pages) rather than the heap
  uint64_t mask_ = 0;
  uint32_t tag_mask_ = 0;
  std::vector<FlowRecord> batch_;
  size_t batch_len_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
