#include "daemon/cache/flow_cache.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace tcflow::cache {
namespace {

constexpr uint16_t kTcpFin = 0x01;
constexpr uint16_t kTcpSyn = 0x02;
constexpr uint16_t kTcpRst = 0x04;
constexpr int64_t kNoFloor = std::numeric_limits<int64_t>::min();
constexpr int64_t kBuckets = FlowCache::kWheelBuckets;

size_t BucketOf(int64_t tick) { return static_cast<size_t>(((tick % kBuckets) + kBuckets) % kBuckets); }

bool IsTcp(const FlowRecord& r) { return r.key.protocol == IPPROTO_TCP; }

// Adds an increment to a record holding counts.
inline void Accumulate(FlowRecord& r, const FlowRecord& inc) {
  r.packets += inc.packets;
  r.bytes += inc.bytes;
  if (inc.start_ms < r.start_ms) {
    // An older increment (e.g. taken over after a restart): its first-packet fields win.
    r.start_ms = inc.start_ms;
    r.tos = inc.tos;
    r.flow_label = inc.flow_label;
    if (inc.frag_id != 0) r.frag_id = inc.frag_id;
  } else if (r.frag_id == 0) {
    r.frag_id = inc.frag_id;  // the first fragment may come after unfragmented packets
  }
  if (inc.end_ms > r.end_ms) r.end_ms = inc.end_ms;
  r.tcp_flags |= inc.tcp_flags;
  if (inc.min_ttl < r.min_ttl) r.min_ttl = inc.min_ttl;
  if (inc.max_ttl > r.max_ttl) r.max_ttl = inc.max_ttl;
  r.ext_hdr_bitmap |= inc.ext_hdr_bitmap;
  if (inc.ext_hdr_depth > r.ext_hdr_depth) r.ext_hdr_depth = inc.ext_hdr_depth;
}

}  // namespace

absl::Status FlowCacheOptions::Validate() const {
  if (idle_timeout_ms <= 0) return absl::InvalidArgumentError("idle timeout must be > 0");
  if (active_timeout_ms <= 0) return absl::InvalidArgumentError("active timeout must be > 0");
  if (tcp_end_grace_ms < 0) return absl::InvalidArgumentError("TCP end grace must be >= 0");
  if (max_flows < 1) return absl::InvalidArgumentError("max flows must be >= 1");
  if (max_flows >= UINT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("max flows must be < ", UINT32_MAX));
  }
  if (tick_ms <= 0) return absl::InvalidArgumentError("expiry tick must be > 0");
  return absl::OkStatus();
}

uint64_t FlowCacheStats::records_ended_total() const {
  uint64_t total = 0;
  for (uint64_t n : records_ended) total += n;
  return total;
}

namespace {

FlowCacheOptions Sane(FlowCacheOptions o) {
  // Invalid options are the caller's bug (Validate() first); keep the cache usable anyway.
  if (o.tick_ms <= 0) o.tick_ms = 100;
  if (o.max_flows < 1) o.max_flows = 1;
  return o;
}

CacheState AnonymousOrDie(size_t entries) {
  absl::StatusOr<CacheState> s = CacheState::Anonymous(entries);
  if (!s.ok()) {
    std::fprintf(stderr, "flow cache: %s\n", std::string(s.status().message()).c_str());
    std::abort();
  }
  return *std::move(s);
}

// Keeps the stores around it in program order: a process killed between two of them
// leaves the state file as of an instruction boundary, and recovery relies on their order.
inline void Order() { std::atomic_signal_fence(std::memory_order_seq_cst); }

}  // namespace

FlowCache::FlowCache(const FlowCacheOptions& options)
    : FlowCache(Sane(options), AnonymousOrDie(Sane(options).max_flows)) {}

FlowCache::FlowCache(const FlowCacheOptions& options, CacheState state)
    : options_(Sane(options)),
      // Per-cache secret: absl's per-process seed applied to this object's address.
      seed_(absl::HashOf(reinterpret_cast<uintptr_t>(this), uint64_t{0x7463666c6f77})),
      state_(std::move(state)),
      idle_wheel_(kWheelBuckets),
      active_wheel_(kWheelBuckets) {
  entries_ = state_.entries();
  index_.Reset(options_.max_flows);
}

absl::StatusOr<std::unique_ptr<FlowCache>> FlowCache::CreateDurable(
    const FlowCacheOptions& options, const std::string& path,
    std::vector<FlowRecord>* recovered) {
  const FlowCacheOptions o = Sane(options);
  absl::StatusOr<std::vector<FlowRecord>> left = CacheState::Recover(path);
  if (!left.ok()) return left.status();
  *recovered = *std::move(left);
  // Room for every flow ended by a FlushAll while an earlier batch is still being sent.
  absl::StatusOr<CacheState> state =
      CacheState::Create(path + ".new", o.max_flows, 2 * o.max_flows + 4096);
  if (!state.ok()) return state.status();
  return std::unique_ptr<FlowCache>(new FlowCache(o, *std::move(state)));
}

absl::Status FlowCache::PublishState() {
  const std::string& p = state_.path();
  const std::string suffix = ".new";
  if (p.size() <= suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return absl::OkStatus();  // published already
  }
  return state_.Rename(p.substr(0, p.size() - suffix.size()));
}

void FlowCache::DiscardState() {
  if (state_.durable()) unlink(state_.path().c_str());
}

uint64_t FlowCache::outbox_position() const {
  return __atomic_load_n(&state_.header()->outbox_committed, __ATOMIC_ACQUIRE);
}

void FlowCache::MarkSent(uint64_t position) {
  if (!state_.durable()) return;
  __atomic_store_n(&state_.header()->outbox_consumed, position, __ATOMIC_RELEASE);
}

void FlowCache::BeginMerge(uint32_t index, const FlowRecord& inc, bool fresh) {
  if (!state_.durable()) return;
  CacheStateHeader* h = state_.header();
  if (fresh) {
    // The free entry already holds the increment as its record (StartRecord): recovery
    // takes it from there while the entry is still free. No copy.
    Order();
    h->op = uint64_t{index} << 32 | CacheStateHeader::kMerging | CacheStateHeader::kFresh;
    Order();
    merging_ = true;
    return;
  }
  h->intent_old = entries_[index].rec;
  h->intent_state = static_cast<uint8_t>(entries_[index].state);
  h->intent_increment = inc;
  Order();
  h->op = uint64_t{index} << 32 | CacheStateHeader::kMerging;
  Order();
  merging_ = true;
}

void FlowCache::EndMerge() {
  if (!state_.durable()) return;
  Order();
  state_.header()->op = 0;  // the merge and an export inside it, in one store
  Order();
  merging_ = false;
}

std::array<absl::Span<const FlowRecord>, 2> FlowCache::OutboxRuns(uint64_t from,
                                                                  uint64_t to) const {
  std::array<absl::Span<const FlowRecord>, 2> runs;
  const CacheStateHeader* h = state_.header();
  const uint64_t cap = h->outbox_capacity;
  if (!state_.durable() || to <= from || cap == 0) return runs;
  const uint64_t base = __atomic_load_n(&h->outbox_base, __ATOMIC_ACQUIRE);
  const uint64_t first = (from - base) % cap;
  const uint64_t n = to - from;
  const uint64_t head = std::min(n, cap - first);
  runs[0] = absl::MakeConstSpan(state_.outbox() + first, head);
  runs[1] = absl::MakeConstSpan(state_.outbox(), n - head);
  return runs;
}

bool FlowCache::OutboxHasRoom(uint64_t n) {
  CacheStateHeader* h = state_.header();
  const uint64_t cap = h->outbox_capacity;
  const uint64_t consumed = __atomic_load_n(&h->outbox_consumed, __ATOMIC_ACQUIRE);
  const uint64_t pos = h->outbox_committed;
  if (cap == 0 || pos - consumed + n > cap) return false;
  // Empty: start over at index 0 (fewer pages touched). Nothing handed out is unsent, so
  // no reader uses the old base.
  if (pos == consumed) __atomic_store_n(&h->outbox_base, pos, __ATOMIC_RELEASE);
  // Past the ring's end every index has its pages already.
  return state_.ReserveOutbox(std::min<uint64_t>(pos - h->outbox_base + n, cap));
}

bool FlowCache::ToOutbox(uint32_t index, Entry& e, FlowEndReason reason) {
  CacheStateHeader* h = state_.header();
  const uint64_t cap = h->outbox_capacity;
  const uint64_t pos = h->outbox_committed;
  // A full outbox, or no room for its pages: the record goes out unprotected.
  if (!OutboxHasRoom(1)) {
    ++stats_.records_unprotected;
    return false;
  }
  h->export_position = pos;
  Order();
  h->op = uint64_t{index} << 32 | CacheStateHeader::kExporting |
          (merging_ ? CacheStateHeader::kMerging : 0);
  Order();
  FlowRecord& rec = state_.outbox()[(pos - h->outbox_base) % cap];
  rec = e.rec;
  rec.end_reason = reason;
  Order();
  __atomic_store_n(&h->outbox_committed, pos + 1, __ATOMIC_RELEASE);
  Order();
  e.state = State::kExported;
  Order();
  if (!merging_) h->op = 0;  // inside a merge, EndMerge() clears both at once
  Order();
  return true;
}

namespace {

// Copies records into the outbox with a given end reason, without first reading the
// destination's cache lines (x86 streaming stores): the outbox is written once, far ahead
// of the export thread, and read back from memory anyway. The end reason is patched in a
// register (a plain store into a streamed line would fetch the line after all). The
// caller fences (StreamFence) before it publishes the records.
class RecordStreamer {
 public:
  explicit RecordStreamer(FlowEndReason reason) : reason_(reason) {
#if defined(__SSE2__)
    alignas(16) unsigned char keep[16], set[16];
    for (size_t b = 0; b < 16; ++b) {
      keep[b] = b == kAt % 16 ? 0 : 0xff;
      set[b] = b == kAt % 16 ? static_cast<unsigned char>(reason) : 0;
    }
    keep_ = _mm_load_si128(reinterpret_cast<const __m128i*>(keep));
    set_ = _mm_load_si128(reinterpret_cast<const __m128i*>(set));
#endif
  }

  void Copy(FlowRecord* to, const FlowRecord& from) const {
#if defined(__SSE2__)
    if (reinterpret_cast<uintptr_t>(to) % 16 == 0) {
      const auto* src = reinterpret_cast<const __m128i*>(&from);
      auto* dst = reinterpret_cast<__m128i*>(to);
      for (size_t i = 0; i < sizeof(FlowRecord) / 16; ++i) {
        __m128i v = _mm_loadu_si128(src + i);
        if (i == kAt / 16) v = _mm_or_si128(_mm_and_si128(v, keep_), set_);
        _mm_stream_si128(dst + i, v);
      }
      return;
    }
#endif
    *to = from;
    to->end_reason = reason_;
  }

 private:
  static constexpr size_t kAt = offsetof(FlowRecord, end_reason);
  static_assert(sizeof(FlowRecord) % 16 == 0 && alignof(FlowRecord) <= 16);
  static_assert(sizeof(FlowEndReason) == 1);
  FlowEndReason reason_;
#if defined(__SSE2__)
  __m128i keep_;
  __m128i set_;
#endif
};

inline void StreamFence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace

bool FlowCache::FlushAllToOutbox(std::vector<FlowRecord>* ended) {
  const uint64_t n = used();  // at most this many records
  if (!OutboxHasRoom(n)) return false;
  CacheStateHeader* h = state_.header();
  const uint64_t cap = h->outbox_capacity;
  const uint64_t pos = h->outbox_committed;
  const uint64_t base = h->outbox_base;

  // The records go past the committed end, where neither recovery nor the export thread
  // looks, so nothing is described in the header until they are all written.
  FlowRecord* const outbox = state_.outbox();
  uint64_t at = (pos - base) % cap;
  uint64_t end = pos;
  constexpr int kForced = static_cast<int>(FlowEndReason::kForcedEnd);
  const RecordStreamer streamer(FlowEndReason::kForcedEnd);
  for (uint64_t i = 0; i < n; ++i) {
    // Entries are read in order, but the prefetcher stops at every 4 KiB page of the
    // state file: fetch ahead.
    __builtin_prefetch(&entries_[std::min(i + 8, n - 1)]);
    const Entry& e = entries_[i];
    if (e.state == State::kFree) continue;
    if (e.rec.packets != 0 || e.rec.bytes != 0) {
      ++stats_.records_ended[kForced];
      stats_.packets_exported += e.rec.packets;
      stats_.bytes_exported += e.rec.bytes;
      streamer.Copy(outbox + at, e.rec);
      if (++at == cap) at = 0;
      ++end;
      if (!handoff_) {
        ended->push_back(e.rec);
        ended->back().end_reason = FlowEndReason::kForcedEnd;
      }
    }
    if (observer_ != nullptr) observer_->FlowRemoved(e.rec.key);
  }
  StreamFence();
  h->export_position = end;
  Order();
  h->op = CacheStateHeader::kFlushing;
  Order();
  __atomic_store_n(&h->outbox_committed, end, __ATOMIC_RELEASE);  // the commit
  Order();
  h->entries_used = 0;
  Order();
  h->op = 0;
  Order();
  return true;
}

int64_t FlowCache::TickOf(int64_t ms) const {
  // Deadlines queued one after another mostly fall into the same tick: answer those
  // without a 64-bit division (two are queued per new flow).
  const int64_t t = options_.tick_ms;
  if (ms >= tick_memo_.start_ms && ms - tick_memo_.start_ms < t) return tick_memo_.tick;
  const int64_t tick = ms >= 0 ? ms / t : -((-ms + t - 1) / t);
  tick_memo_ = {tick * t, tick};
  return tick;
}

void FlowCache::EnsureBase(int64_t ms) {
  if (base_set_) return;
  base_set_ = true;
  base_tick_ = TickOf(ms);
  evict_scan_tick_ = base_tick_;
}

void FlowCache::ReleaseBucket(Bucket& b) {
  b.items.clear();
  b.head = 0;
  // Deadlines move on with the clock, so the next pushes go to other buckets: hand the
  // memory on instead of growing a fresh vector there (page faults and copies).
  if (b.items.capacity() >= 4096 && spare_items_.size() < 8) {
    spare_items_.push_back(std::move(b.items));
    b.items = std::vector<WheelItem>();
  }
}

void FlowCache::Push(Wheel& wheel, uint32_t index, uint32_t stamp, int64_t deadline_ms,
                     int64_t min_tick) {
  int64_t tick = std::clamp(TickOf(deadline_ms), min_tick, base_tick_ + kBuckets - 1);
  std::vector<WheelItem>& items = wheel[BucketOf(tick)].items;
  if (items.size() == items.capacity() && !spare_items_.empty() &&
      spare_items_.back().capacity() > items.capacity()) {
    spare_items_.back().assign(items.begin(), items.end());
    items.swap(spare_items_.back());
    spare_items_.back().clear();  // the smaller one, now spare (or dropped)
    if (spare_items_.back().capacity() < 4096) spare_items_.pop_back();
  }
  // Written in place: a WheelItem built on the stack was two 32-bit stores read back as one
  // 64-bit load, a store-forwarding stall on every push.
  items.emplace_back();
  items.back().index = index;
  items.back().stamp = stamp;
  if (&wheel == &idle_wheel_ && tick < evict_scan_tick_) evict_scan_tick_ = tick;
}

int64_t FlowCache::IdleDeadline(const Entry& e) const {
  switch (e.state) {
    case State::kClosing:
      return std::min(e.aux + options_.tcp_end_grace_ms,
                      e.rec.end_ms + options_.idle_timeout_ms);
    case State::kEmpty:
      return e.aux + options_.idle_timeout_ms;
    default:
      return e.rec.end_ms + options_.idle_timeout_ms;
  }
}

void FlowCache::QueueIdle(uint32_t index, int64_t min_tick) {
  Entry& e = entries_[index];
  ++e.idle_stamp;
  Push(idle_wheel_, index, e.idle_stamp, IdleDeadline(e), min_tick);
  static_assert(sizeof(Entry) == 128);
}

void FlowCache::QueueActive(uint32_t index, int64_t min_tick) {
  Entry& e = entries_[index];
  ++e.active_stamp;
  Push(active_wheel_, index, e.active_stamp, e.rec.start_ms + options_.active_timeout_ms,
       min_tick);
}

void FlowCache::Start(uint32_t index, const FlowRecord& increment, int64_t floor_ms) {
  StartRecord(index, increment, floor_ms);
  StartState(index);
}

void FlowCache::StartRecord(uint32_t index, const FlowRecord& increment, int64_t floor_ms) {
  Entry& e = entries_[index];
  e.rec = increment;
  e.rec.end_reason = FlowEndReason::kNone;
  if (floor_ms != kNoFloor && e.rec.start_ms < floor_ms) {
    e.rec.start_ms = floor_ms;
    if (e.rec.end_ms < floor_ms) e.rec.end_ms = floor_ms;
  }
}

void FlowCache::StartState(uint32_t index) {
  Entry& e = entries_[index];
  EnsureBase(e.rec.end_ms);
  if (IsTcp(e.rec) && (e.rec.tcp_flags & (kTcpFin | kTcpRst))) {
    e.state = State::kClosing;
    e.aux = e.rec.end_ms;
    ++e.active_stamp;  // a closing flow has no active timeout
  } else {
    e.state = State::kOpen;
    QueueActive(index, base_tick_);
  }
  QueueIdle(index, base_tick_);
}

void FlowCache::Export(Entry& e, FlowEndReason reason, std::vector<FlowRecord>* ended) {
  if (e.rec.packets == 0 && e.rec.bytes == 0) return;  // nothing counted: nothing to say
  ++stats_.records_ended[static_cast<int>(reason)];
  stats_.packets_exported += e.rec.packets;
  stats_.bytes_exported += e.rec.bytes;
  const bool in_outbox =
      state_.durable() && ToOutbox(static_cast<uint32_t>(&e - entries_), e, reason);
  if (in_outbox && handoff_) return;  // the caller takes it from the outbox
  ended->push_back(e.rec);
  ended->back().end_reason = reason;
}

void FlowCache::Free(uint32_t index) {
  Entry& e = entries_[index];
  if (observer_ != nullptr) observer_->FlowRemoved(e.rec.key);
  index_.Erase(HashFlowKey(e.rec.key, seed_), index);
  ++e.idle_stamp;
  ++e.active_stamp;
  e.state = State::kFree;
  e.aux = free_head_;
  free_head_ = index;
}

uint32_t FlowCache::Allocate() {
  if (free_head_ != UINT32_MAX) {
    uint32_t index = free_head_;
    free_head_ = static_cast<uint32_t>(entries_[index].aux);
    return index;
  }
  // Never past the capacity: the index holds at most max_flows keys, and every entry that
  // is not the index's is on the free list (FlushAll releases them all).
  const uint32_t index = static_cast<uint32_t>(used());
  if (!state_.ReserveEntries(index + 1)) return kNoEntry;  // the state's file system is full
  // Only what Start() does not write (its record it copies whole); zeroing all 128 bytes
  // here was a string store that waited for memory on every new flow. Stamps restart at
  // zero: no wheel item names an entry past entries_used (FlushAll emptied the wheels).
  Entry& e = entries_[index];
  e.aux = 0;
  e.idle_stamp = 0;
  e.active_stamp = 0;
  e.state = State::kFree;
  Order();
  state_.header()->entries_used = index + 1;
  if (window_on_) window_.emplace_back();
  return index;
}

void FlowCache::MergeHashed(const FlowRecord& inc, uint64_t hash,
                            std::vector<FlowRecord>* ended) {
  if (inc.packets == 0 && inc.bytes == 0) return;
  ++stats_.increments_merged;
  const uint32_t found = index_.Find(
      hash, [&](uint32_t i) { return FlowKeyEqual(entries_[i].rec.key, inc.key); });
  if (found != KeyIndex::kNone) {
    BeginMerge(found, inc, /*fresh=*/false);
    MergeExisting(found, inc, ended);
    EndMerge();
    return;
  }
  if (index_.size() >= options_.max_flows) EvictOne(ended);
  uint32_t index = Allocate();
  if (index == kNoEntry) {
    // The crash state's file system is full: the cache cannot grow. Make room by ending
    // the least recently seen flow; with none to end, the increment leaves at once as a
    // record of its own. Counted in storage_full; never a lost packet.
    ++stats_.storage_full;
    EvictOne(ended);
    index = Allocate();
    if (index == kNoEntry) {
      ++stats_.records_ended[static_cast<int>(FlowEndReason::kLackOfResources)];
      ++stats_.records_unprotected;  // only in `ended`, not in the state file
      stats_.packets_exported += inc.packets;
      stats_.bytes_exported += inc.bytes;
      ended->push_back(inc);
      ended->back().end_reason = FlowEndReason::kLackOfResources;
      return;
    }
  }
  // The new entry's record is written while the entry is still free; a durable cache
  // then names it in the merge it begins (no copy of the increment), and the entry counts
  // once its state is set.
  StartRecord(index, inc, kNoFloor);
  BeginMerge(index, inc, /*fresh=*/true);
  if (window_on_) window_[index] = {inc.packets, inc.bytes};  // the entry's previous key's
  StartState(index);
  index_.Insert(hash, index);
  EndMerge();
  ++stats_.flows_created;
  if (observer_ != nullptr) observer_->FlowAdded(inc.key);
}

void FlowCache::MergeExisting(uint32_t index, const FlowRecord& inc,
                              std::vector<FlowRecord>* ended) {
  Entry& e = entries_[index];
  if (window_on_) {
    window_[index].packets += inc.packets;
    window_[index].bytes += inc.bytes;
  }
  switch (e.state) {
    case State::kEmpty:  // counting again after an active timeout
      Start(index, inc, e.aux);
      return;
    case State::kClosing:
      if (IsTcp(inc) && (inc.tcp_flags & kTcpSyn)) {
        // A new connection on the same ports: the old one is over.
        Export(e, FlowEndReason::kEndOfFlow, ended);
        Start(index, inc, kNoFloor);
        return;
      }
      Accumulate(e.rec, inc);  // the last ACKs; the grace deadline stays
      return;
    default:
      Accumulate(e.rec, inc);
      if (IsTcp(inc) && (inc.tcp_flags & (kTcpFin | kTcpRst))) {
        e.state = State::kClosing;
        e.aux = inc.end_ms;
        ++e.active_stamp;
        QueueIdle(index, base_tick_);  // the grace deadline is earlier than the idle one
      }
      return;
  }
}

void FlowCache::MergeBatch(absl::Span<const FlowRecord> increments,
                           std::vector<FlowRecord>* ended) {
  // Random access to the table and the entries dominates, so look ahead: the table slot
  // of record i + 2d and the entry of record i + d are fetched while record i merges.
  // Only prefetches: merges in between may move things, so each merge looks up anew (hot).
  constexpr size_t d = kPrefetchDistance;
  constexpr size_t kRing = 4 * d;  // > 2d, a power of two
  uint64_t hashes[kRing];
  const size_t n = increments.size();
  for (size_t i = 0; i < n && i < 2 * d; ++i) {
    hashes[i] = HashFlowKey(increments[i].key, seed_);
    index_.Prefetch(hashes[i]);
  }
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 * d < n) {
      const uint64_t h = HashFlowKey(increments[i + 2 * d].key, seed_);
      hashes[(i + 2 * d) % kRing] = h;
      index_.Prefetch(h);
    }
    if (i + d < n) {
      const uint32_t c = index_.PeekCandidate(hashes[(i + d) % kRing]);
      if (c != KeyIndex::kNone) {
        __builtin_prefetch(&entries_[c], 1);
        __builtin_prefetch(reinterpret_cast<const char*>(&entries_[c]) + 64, 1);
      }
    }
    // A new flow takes the next unused entry (or the free list's head): fetch it for
    // writing ahead too, so its first store and the reads after it do not wait for memory.
    if (used() + d < state_.entry_capacity()) {
      __builtin_prefetch(&entries_[used() + d], 1);
      __builtin_prefetch(reinterpret_cast<const char*>(&entries_[used() + d]) + 64, 1);
    }
    MergeHashed(increments[i], hashes[i % kRing], ended);
  }
}

void FlowCache::EvictOne(std::vector<FlowRecord>* ended) {
  if (index_.empty()) return;
  const int64_t last = base_tick_ + kBuckets - 1;
  for (int64_t t = std::max(evict_scan_tick_, base_tick_); t <= last; ++t) {
    Bucket& b = idle_wheel_[BucketOf(t)];
    while (b.head < b.items.size()) {
      const WheelItem item = b.items[b.head++];
      Entry& e = entries_[item.index];
      if (e.state == State::kFree || e.idle_stamp != item.stamp) continue;
      const int64_t due = std::clamp(TickOf(IdleDeadline(e)), t, last);
      if (due > t) {  // seen since it was queued: it belongs further back
        QueueIdle(item.index, t + 1);
        continue;
      }
      evict_scan_tick_ = t;
      if (b.head == b.items.size()) {
        ReleaseBucket(b);
      }
      Export(e, e.state == State::kClosing ? FlowEndReason::kEndOfFlow
                                           : FlowEndReason::kLackOfResources,
             ended);
      Free(item.index);
      return;
    }
    ReleaseBucket(b);
  }
}

void FlowCache::ProcessIdleBucket(int64_t tick, int64_t now_ms,
                                  std::vector<FlowRecord>* ended) {
  Bucket& b = idle_wheel_[BucketOf(tick)];
  // Re-queued items go to later ticks (never this bucket), so b.items does not grow here.
  const size_t n = b.items.size();
  for (size_t i = b.head; i < n; ++i) {
    // Ending a flow reads its entry and erases its table slot: fetch both ahead.
    if (i + 2 * kPrefetchDistance < n) {
      __builtin_prefetch(&entries_[b.items[i + 2 * kPrefetchDistance].index]);
    }
    if (i + kPrefetchDistance < n) {
      const Entry& ahead = entries_[b.items[i + kPrefetchDistance].index];
      if (ahead.state != State::kFree) index_.Prefetch(HashFlowKey(ahead.rec.key, seed_));
    }
    const WheelItem item = b.items[i];
    Entry& e = entries_[item.index];
    if (e.state == State::kFree || e.idle_stamp != item.stamp) continue;
    if (IdleDeadline(e) > now_ms) {
      QueueIdle(item.index, tick + 1);
      continue;
    }
    if (e.state == State::kClosing) {
      Export(e, FlowEndReason::kEndOfFlow, ended);
    } else if (e.state == State::kOpen) {
      Export(e, FlowEndReason::kIdleTimeout, ended);
    }  // kEmpty: nothing counted since the active timeout
    Free(item.index);
  }
  ReleaseBucket(b);
}

void FlowCache::ProcessActiveBucket(int64_t tick, int64_t now_ms,
                                    std::vector<FlowRecord>* ended) {
  Bucket& b = active_wheel_[BucketOf(tick)];
  for (size_t i = b.head; i < b.items.size(); ++i) {
    const WheelItem item = b.items[i];
    Entry& e = entries_[item.index];
    if (e.state != State::kOpen || e.active_stamp != item.stamp) continue;
    if (e.rec.start_ms + options_.active_timeout_ms > now_ms) {
      QueueActive(item.index, tick + 1);
      continue;
    }
    Export(e, FlowEndReason::kActiveTimeout, ended);
    // Keep the key; the next increment starts a fresh record no earlier than this end.
    e.state = State::kEmpty;
    e.aux = e.rec.end_ms;
    e.rec.packets = 0;
    e.rec.bytes = 0;
    ++e.active_stamp;
  }
  ReleaseBucket(b);
}

void FlowCache::Expire(int64_t now_ms, std::vector<FlowRecord>* ended) {
  EnsureBase(now_ms);
  const int64_t now_tick = TickOf(now_ms);
  // After a long pause every bucket is due once; items are checked against their real
  // deadlines, so where they sat does not matter.
  if (now_tick - base_tick_ > kBuckets) base_tick_ = now_tick - kBuckets;
  while (base_tick_ < now_tick) {
    ProcessIdleBucket(base_tick_, now_ms, ended);
    ProcessActiveBucket(base_tick_, now_ms, ended);
    ++base_tick_;
  }
  evict_scan_tick_ = std::max(evict_scan_tick_, base_tick_);
  while (index_.size() > options_.max_flows) EvictOne(ended);
}

size_t FlowCache::Flush(const FlowFilter& filter, std::vector<FlowRecord>* ended) {
  const uint64_t before = stats_.records_ended_total();
  const bool all = filter.MatchesAll();
  if (all) {
    if (!state_.durable() || !FlushAllToOutbox(ended)) {
      for (size_t i = 0, n = used(); i < n; ++i) {
        Entry& e = entries_[i];
        if (e.state == State::kFree) continue;
        Export(e, FlowEndReason::kForcedEnd, ended);
        if (observer_ != nullptr) observer_->FlowRemoved(e.rec.key);
      }
    }
    // Every flow is gone: drop the index, the entries and the wheels at once. Erasing key
    // by key costs a random access into the index per flow, most of the time of ending
    // 1 M flows (shutdown, `flowctl flush --all`). The entries' address space stays.
    index_.Clear();
    Order();
    state_.header()->entries_used = 0;
    free_head_ = UINT32_MAX;
    if (window_on_) window_.clear();
    RebuildWheels();
    return static_cast<size_t>(stats_.records_ended_total() - before);
  }
  for (uint32_t i = 0; i < used(); ++i) {
    Entry& e = entries_[i];
    if (e.state == State::kFree || (!all && !filter.Matches(e.rec.key))) continue;
    Export(e, FlowEndReason::kForcedEnd, ended);
    Free(i);
  }
  return static_cast<size_t>(stats_.records_ended_total() - before);
}

void FlowCache::ForEach(absl::FunctionRef<void(const FlowRecord&)> visit) const {
  for (size_t i = 0, n = used(); i < n; ++i) {
    const Entry& e = entries_[i];
    if ((e.state == State::kOpen || e.state == State::kClosing) &&
        (e.rec.packets != 0 || e.rec.bytes != 0)) {
      visit(e.rec);
    }
  }
}

void FlowCache::EnableWindow(bool on) {
  window_on_ = on;
  if (on) {
    window_.assign(used(), FlowWindowCounts{});
  } else {
    std::vector<FlowWindowCounts>().swap(window_);
  }
}

void FlowCache::ClearWindow() {
  if (window_on_) std::fill(window_.begin(), window_.end(), FlowWindowCounts{});
}

void FlowCache::ForEachWithWindow(
    absl::FunctionRef<void(const FlowRecord&, const FlowWindowCounts&)> visit) const {
  static const FlowWindowCounts kNone;
  for (size_t i = 0; i < used(); ++i) {
    const Entry& e = entries_[i];
    if ((e.state == State::kOpen || e.state == State::kClosing) &&
        (e.rec.packets != 0 || e.rec.bytes != 0)) {
      visit(e.rec, window_on_ ? window_[i] : kNone);
    }
  }
}

absl::Status FlowCache::SetOptions(const FlowCacheOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const int64_t base_ms = base_tick_ * options_.tick_ms;
  options_ = options;
  tick_memo_ = TickMemo{};
  if (options_.max_flows > state_.entry_capacity()) {
    if (absl::Status s = state_.GrowEntries(options_.max_flows); !s.ok()) {
      options_.max_flows = state_.entry_capacity();  // keep what fits
      return s;
    }
    entries_ = state_.entries();
  }
  if (2 * options_.max_flows > index_.capacity()) {  // grow the index, keep the flows
    index_.Reset(options_.max_flows);
    for (uint32_t i = 0; i < used(); ++i) {
      if (entries_[i].state != State::kFree) index_.Insert(HashFlowKey(entries_[i].rec.key, seed_), i);
    }
  }
  base_tick_ = TickOf(base_ms);
  evict_scan_tick_ = base_tick_;
  RebuildWheels();
  return absl::OkStatus();
}

void FlowCache::RebuildWheels() {
  for (Bucket& b : idle_wheel_) {
    ReleaseBucket(b);
  }
  for (Bucket& b : active_wheel_) {
    ReleaseBucket(b);
  }
  for (uint32_t i = 0; i < used(); ++i) {
    Entry& e = entries_[i];
    if (e.state == State::kFree) continue;
    QueueIdle(i, base_tick_);
    if (e.state == State::kOpen) QueueActive(i, base_tick_);
  }
}

}  // namespace tcflow::cache
