// The user-space flow cache: merges the increments the drain produces (one FlowRecord per
// kernel slot and drain) into flows keyed by the full tcflow_flow_key, and ends them:
//
//   kIdleTimeout      no packet for idle_timeout_ms (judged by the record's end_ms).
//   kActiveTimeout    the record started active_timeout_ms ago: what was counted so far is
//                     exported and the flow goes on counting in a fresh record. The fresh
//                     record's start is its first packet, never earlier than the exported
//                     record's end, so consecutive records neither overlap nor lose a packet.
//   kEndOfFlow        a TCP FIN or RST was merged. The flow is not exported at once: it
//                     lingers for tcp_end_grace_ms and keeps absorbing packets, so the final
//                     ACK after the FIN (and retransmitted FINs/RSTs) stay in the same record
//                     instead of becoming a lone one-packet flow exported later. A SYN merged
//                     into a lingering flow ends it at once and starts a new record (port
//                     reuse). Under cache pressure lingering flows go first.
//   kForcedEnd        Flush()/FlushAll(): `flowctl flush`, shutdown.
//   kLackOfResources  inserting a flow into a full cache (max_flows) evicts the least
//                     recently seen flow.
//
// Exactness: every packet/byte merged is in exactly one ended record (or still in the
// cache); nothing is dropped on any path. Ended records are appended to a caller-owned
// vector, which the caller hands to the exporters and clears (its capacity is reused, so the
// steady state allocates nothing).
//
// The key index is a linear-probing table sized for max_flows (key_index.h); entries live
// in one array. Expiry costs nothing per merge: two timing wheels (idle, active) of `kWheelBuckets`
// buckets of tick_ms each hold (entry, stamp) items. A merge only updates the record; when a
// bucket comes due its items are checked against the record's real deadline and either
// ended or re-queued (lazily), so each flow is touched about once per timeout, not once per
// merge. Deadlines are met to within one tick (plus the drain interval, since increments of
// one drain are merged in table order, not time order). Removed entries leave stale items
// behind, recognised by their stamp.
//
// Times (record start/end, `now_ms`) are wall-clock ms in the drain's timebase. Not
// thread-safe: one owner (the drain thread); only MarkSent() may be called from another.
//
// Crash safety (CreateDurable): the entries live in a state file (cache_state.h), every
// ended record also goes to the file's outbox until the export thread says it was sent,
// and the one merge or export in flight is described in the file's header, so a process
// killed at any instant leaves exactly what it held, recovered by the next one.

#ifndef TCFLOW_DAEMON_CACHE_FLOW_CACHE_H_
#define TCFLOW_DAEMON_CACHE_FLOW_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/cache/cache_state.h"
#include "daemon/cache/flow_filter.h"
#include "daemon/cache/flow_key_hash.h"
#include "daemon/cache/key_index.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::cache {

struct FlowCacheOptions {
  int64_t idle_timeout_ms = 15'000;
  int64_t active_timeout_ms = 120'000;
  // How long a flow that saw FIN/RST keeps absorbing packets before it is exported.
  int64_t tcp_end_grace_ms = 2'000;
  size_t max_flows = 1'000'000;
  // Expiry granularity.
  int64_t tick_ms = 100;

  absl::Status Validate() const;
};

struct FlowCacheStats {
  uint64_t increments_merged = 0;  // Merge() calls with packets
  uint64_t flows_created = 0;      // new keys (including re-creations after an end)
  // Records exported, by FlowEndReason (index = the enum's value; [0] unused).
  std::array<uint64_t, 6> records_ended = {};
  uint64_t packets_exported = 0;
  uint64_t bytes_exported = 0;
  // Durable caches: ended records that found the outbox full (sent, but a crash before the
  // send would lose them).
  uint64_t records_unprotected = 0;
  // Durable caches: new flows that found no room on the state's file system; the cache
  // ended another flow, or exported the increment at once, instead.
  uint64_t storage_full = 0;

  uint64_t records_evicted() const {
    return records_ended[static_cast<int>(FlowEndReason::kLackOfResources)];
  }
  uint64_t records_ended_total() const;
};

// Told when a key enters the cache (a new flow) and when it leaves it: once per flow, not
// per merge, so gauges of flows by kind (tcflow_ipv6_flows) cost nothing on the merge path.
class FlowCacheObserver {
 public:
  virtual ~FlowCacheObserver() = default;
  virtual void FlowAdded(const tcflow_flow_key& key) = 0;
  virtual void FlowRemoved(const tcflow_flow_key& key) = 0;
};

// A flow's traffic since the last FlowCache::ClearWindow() (`flowctl top`'s rates).
struct FlowWindowCounts {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

class FlowCache {
 public:
  static constexpr size_t kWheelBuckets = 1024;

  // In anonymous memory (aborts if even the address space cannot be had).
  explicit FlowCache(const FlowCacheOptions& options);
  // Crash-safe: recovers into `recovered` what a killed process left in the state file at
  // `path` (records to Merge() into the new cache, then call PublishState()), and keeps the
  // new cache in `path`.new until then.
  static absl::StatusOr<std::unique_ptr<FlowCache>> CreateDurable(
      const FlowCacheOptions& options, const std::string& path,
      std::vector<FlowRecord>* recovered);
  // Makes the new state file the one a successor recovers from (renames `path`.new).
  absl::Status PublishState();
  // Removes the state file (clean shutdown: everything was sent).
  void DiscardState();
  bool durable() const { return state_.durable(); }
  const std::string& state_path() const { return state_.path(); }
  // The outbox position after the last record ended so far; once the records handed out
  // up to it were sent, MarkSent(position) releases them (any thread; in order).
  uint64_t outbox_position() const;
  void MarkSent(uint64_t position);
  // Durable caches: ended records are handed over in the outbox instead of also being
  // copied to `ended` (a record the full outbox cannot take still goes there). The records
  // between two positions handed out and not yet marked sent are in OutboxRuns() (any
  // thread: the owner never writes those positions until MarkSent() passed them).
  void set_outbox_handoff(bool on) { handoff_ = on && state_.durable(); }
  bool outbox_handoff() const { return handoff_; }
  std::array<absl::Span<const FlowRecord>, 2> OutboxRuns(uint64_t from, uint64_t to) const;
  FlowCache(const FlowCache&) = delete;
  FlowCache& operator=(const FlowCache&) = delete;

  // Merges one increment (a drained slot). Records ended on the way (pressure eviction,
  // a SYN after FIN) are appended to `ended`.
  void Merge(const FlowRecord& increment, std::vector<FlowRecord>* ended) {
    MergeHashed(increment, HashFlowKey(increment.key, seed_), ended);
  }
  // The same for many increments, overlapping their memory accesses (faster).
  void MergeBatch(absl::Span<const FlowRecord> increments, std::vector<FlowRecord>* ended);

  // Ends what is due at `now_ms` (idle, active, FIN/RST grace) and what exceeds max_flows.
  void Expire(int64_t now_ms, std::vector<FlowRecord>* ended);

  // Ends every flow matching `filter` (kForcedEnd); returns how many records were exported.
  size_t Flush(const FlowFilter& filter, std::vector<FlowRecord>* ended);
  size_t FlushAll(std::vector<FlowRecord>* ended) { return Flush(FlowFilter{}, ended); }

  // Visits the flows holding counts (end_reason kNone), for `flowctl dump`.
  void ForEach(absl::FunctionRef<void(const FlowRecord&)> visit) const;

  // New timeouts apply to every flow at once (the wheels are rebuilt); a smaller max_flows
  // takes effect at the next Expire().
  absl::Status SetOptions(const FlowCacheOptions& options);
  const FlowCacheOptions& options() const { return options_; }

  // Keys held, including flows waiting for traffic after an active timeout.
  size_t size() const { return index_.size(); }
  // Entries ever handed out and not released by FlushAll (the state's high-water mark).
  size_t entries_used() const { return used(); }
  const FlowCacheStats& stats() const { return stats_; }
  // `observer` (may be null) must outlive the cache or be reset first.
  void set_observer(FlowCacheObserver* observer) { observer_ = observer; }

  // The traffic window for `flowctl top`: while enabled, every merge also adds its counts
  // to an array beside the entries (16 bytes per entry, indexed like them), so a key's
  // traffic since ClearWindow() is known without a second hash table, across its records
  // (an active timeout or a SYN after FIN starts a new record, not a new window). Disabling
  // frees the array.
  void EnableWindow(bool on);
  bool window_enabled() const { return window_on_; }
  void ClearWindow();
  // ForEach with each flow's window counts (zero when the window is off).
  void ForEachWithWindow(
      absl::FunctionRef<void(const FlowRecord&, const FlowWindowCounts&)> visit) const;

 private:
  using State = EntryState;
  using Entry = CacheEntry;
  static constexpr uint32_t kNoEntry = UINT32_MAX;
  static_assert(sizeof(FlowRecord) <= 112, "Entry should stay 128 bytes");

  FlowCache(const FlowCacheOptions& options, CacheState state);

  struct WheelItem {
    uint32_t index;
    uint32_t stamp;
  };
  static constexpr int kPrefetchDistance = 32;
  struct Bucket {
    std::vector<WheelItem> items;
    size_t head = 0;  // items before head were consumed
  };
  using Wheel = std::vector<Bucket>;
  // Empties a bucket; big item vectors go to spare_items_ for the next bucket that grows.
  void ReleaseBucket(Bucket& b);

  void MergeHashed(const FlowRecord& increment, uint64_t hash, std::vector<FlowRecord>* ended);
  void MergeExisting(uint32_t index, const FlowRecord& inc, std::vector<FlowRecord>* ended);
  // Durable caches: describe the merge into entry `index` in the state header before it
  // starts, and clear it (and an export inside it) once it is done.
  // `fresh`: the entry was just allocated (state kFree until StartState()) and already
  // holds the increment as its record (StartRecord()).
  void BeginMerge(uint32_t index, const FlowRecord& inc, bool fresh);
  void EndMerge();
  // Durable caches: the ended record of entry `index` into the outbox (see cache_state.h);
  // false when the outbox is full.
  bool ToOutbox(uint32_t index, Entry& e, FlowEndReason reason);
  // Durable caches: whether the outbox takes `n` more records now (ring room and file
  // pages); moves an empty outbox's base back to index 0.
  bool OutboxHasRoom(uint64_t n);
  // Durable caches: FlushAll's records into the outbox with one commit (cache_state.h),
  // and the entries emptied; false, having changed nothing, when the outbox has no room
  // for all of them (FlushAll then exports them one by one).
  bool FlushAllToOutbox(std::vector<FlowRecord>* ended);
  size_t used() const { return state_.header()->entries_used; }
  int64_t TickOf(int64_t ms) const;
  // The last tick TickOf() computed and the ms it starts at (an empty range at first).
  struct TickMemo {
    int64_t start_ms = INT64_MAX;
    int64_t tick = 0;
  };
  mutable TickMemo tick_memo_;
  void EnsureBase(int64_t ms);
  void Push(Wheel& wheel, uint32_t index, uint32_t stamp, int64_t deadline_ms,
            int64_t min_tick);
  void QueueIdle(uint32_t index, int64_t min_tick);
  void QueueActive(uint32_t index, int64_t min_tick);
  int64_t IdleDeadline(const Entry& e) const;
  void Start(uint32_t index, const FlowRecord& increment, int64_t floor_ms);
  // Start's two halves: the record (the entry's state untouched), then the state and the
  // timers.
  void StartRecord(uint32_t index, const FlowRecord& increment, int64_t floor_ms);
  void StartState(uint32_t index);
  void Export(Entry& e, FlowEndReason reason, std::vector<FlowRecord>* ended);
  void Free(uint32_t index);
  uint32_t Allocate();
  // Ends the least recently seen flow (a lingering FIN/RST one if it comes first).
  void EvictOne(std::vector<FlowRecord>* ended);
  void ProcessIdleBucket(int64_t tick, int64_t now_ms, std::vector<FlowRecord>* ended);
  void ProcessActiveBucket(int64_t tick, int64_t now_ms, std::vector<FlowRecord>* ended);
  void RebuildWheels();

  FlowCacheOptions options_;
  uint64_t seed_;
  CacheState state_;
  Entry* entries_ = nullptr;  // state_.entries(), cached
  bool merging_ = false;      // between BeginMerge and EndMerge
  bool handoff_ = false;      // set_outbox_handoff()
  uint32_t free_head_ = UINT32_MAX;
  KeyIndex index_;
  Wheel idle_wheel_;
  Wheel active_wheel_;
  std::vector<std::vector<WheelItem>> spare_items_;  // empty, with capacity
  bool base_set_ = false;
  int64_t base_tick_ = 0;       // the next tick Expire() processes
  int64_t evict_scan_tick_ = 0; // no idle item is queued below this tick (>= base_tick_)
  FlowCacheStats stats_;
  FlowCacheObserver* observer_ = nullptr;
  bool window_on_ = false;
  std::vector<FlowWindowCounts> window_;  // parallel to entries_ while window_on_
};

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_FLOW_CACHE_H_
