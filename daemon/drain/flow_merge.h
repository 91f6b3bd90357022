// Merges slots of one drained generation that carry the same key: a flow whose index entry
// the LRU evicted early got a second slot in the same generation, and both must leave as
// one record. The merge happens in place, in the drained half (no program writes it any
// more): the first slot of a key absorbs the later ones, which are left empty
// (packets == 0) and skipped when records are produced.
//
// Keeping the merge in place means the drain never buffers a whole generation of records:
// it streams slots into small record batches right after (see drainer.cc). The merge table
// is open addressing over 32-bit entries (slot index + a few hash bits, so most probes of
// a taken bucket need not touch the other slot), allocated once on huge pages where the
// kernel allows (random accesses; TLB misses dominate with 4 KiB pages) and cleared per
// generation: draining allocates nothing.

#ifndef TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
#define TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

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

class SlotMerger {
 public:
  // max_slots: the most slots one generation can hold (flow + overflow slots of a half).
  explicit SlotMerger(size_t max_slots);
  ~SlotMerger();
  SlotMerger(const SlotMerger&) = delete;
  SlotMerger& operator=(const SlotMerger&) = delete;

  // Starts a generation whose slots are base[0, max_slots).
  void Begin(tcflow_slot* base);
  // Merges slots [begin, end) of the generation with every slot added before (and among
  // themselves). Empty slots (packets == 0) are ignored.
  void Add(uint32_t begin, uint32_t end);

  // Slots folded into an earlier slot of the same key since Begin().
  uint64_t duplicates() const { return duplicates_; }
  // Slots beyond max_slots (a caller bug): left untouched, reported by the drain.
  uint64_t rejected() const { return rejected_; }

 private:
  void Insert(uint32_t index, uint64_t hash);

  tcflow_slot* base_ = nullptr;
  size_t max_slots_;
  // Entry: 0 = free, else (slot index + 1) | hash tag in the bits above the index.
  uint32_t* table_ = nullptr;
  size_t table_bytes_ = 0;
  bool table_mapped_ = false;  // mmap (huge pages) rather than new[]
  uint64_t mask_ = 0;
  uint32_t index_bits_ = 0;    // bits holding slot index + 1
  uint32_t tag_mask_ = 0;      // the remaining high bits
  bool dirty_ = false;
  uint64_t duplicates_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_FLOW_MERGE_H_
