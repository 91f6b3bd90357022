// Turns the slots of one drained generation into FlowRecords, merging slots that carry the
// same key: a flow whose index entry the LRU evicted early got a second slot in the same
// generation, and both must leave as one record.
//
// The merge table is open addressing over record indices, allocated once for the largest
// generation and reused: draining allocates nothing.

#ifndef TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
#define TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "bpf/tcflow_abi.h"
#include "daemon/drain/wall_clock.h"
#include "daemon/flow/flow_record.h"

namespace tcflow {

// Copies a slot's key and counters into a record, times converted to wall-clock ms.
void SlotToRecord(const tcflow_slot& slot, const WallClock& clock, FlowRecord* out);

// Folds `b` into `a` (same key): sums, min/max, OR-ed flags; the first-packet fields
// (DSCP/ECN, flow label, fragment id) come from the record that started first.
void MergeInto(FlowRecord* a, const FlowRecord& b);

// 64-bit hash of a flow key (all 56 bytes; the key has no padding).
uint64_t HashFlowKey(const tcflow_flow_key& key);

class GenerationMerger {
 public:
  // max_records: the most slots one generation can hold (flow + overflow slots of a half).
  explicit GenerationMerger(size_t max_records);

  // Starts a new generation: forgets the records of the previous one (O(1)).
  void Begin();
  // Adds `n` slots (packets == 0 ones are skipped: nothing to export). Slots are read
  // once; the caller may zero them right after.
  void AddSlots(const tcflow_slot* slots, size_t n, const WallClock& clock);

  absl::Span<const FlowRecord> records() const { return {records_.data(), count_}; }
  // Slots folded into an earlier slot of the same key in this generation.
  uint64_t duplicates() const { return duplicates_; }
  size_t capacity() const { return records_.size(); }
  // Slots not taken because the generation held more than max_records (a caller bug; the
  // drain reports it as an error rather than losing counts silently).
  uint64_t rejected() const { return rejected_; }

 private:
  void Insert(const tcflow_slot& slot, uint64_t hash, const WallClock& clock);

  std::vector<FlowRecord> records_;
  size_t count_ = 0;
  // Entry: bits 0-31 record index, 32-47 hash tag, 48-63 epoch (0 = never used).
  std::vector<uint64_t> table_;
  uint64_t mask_ = 0;
  uint64_t epoch_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
