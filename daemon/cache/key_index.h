// The cache's key -> entry index: a fixed-capacity linear-probing table of
// (entry index, 32 hash bits) slots, 8 bytes each, kept at most half full.
//
// Why not absl::flat_hash_set<uint32_t> with a transparent key lookup: confirming a match
// there compares the key, i.e. reads the entry, so a look-ahead lookup (to prefetch the
// entry) stalls on the very miss it wants to hide. Here the 32 stored hash bits let
// PeekCandidate() name the entry without touching it, and the merge loop overlaps the
// table and entry misses of several records (flow_cache.cc, MergeBatch). Deletion shifts
// the following run back (no tombstones), so lookups never degrade over time.

#ifndef TCFLOW_DAEMON_CACHE_KEY_INDEX_H_
#define TCFLOW_DAEMON_CACHE_KEY_INDEX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "daemon/cache/huge_page_array.h"

namespace tcflow::cache {

class KeyIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Sizes the table for up to `max_keys` keys; drops what it held.
  void Reset(size_t max_keys) {
    size_t capacity = 16;
    while (capacity < 2 * max_keys) capacity *= 2;
    slots_ = HugePageArray<Slot>(capacity, Slot{kNone, 0});
    mask_ = static_cast<uint32_t>(capacity - 1);
    size_ = 0;
  }
  // Drops every key, keeping the size.
  void Clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{kNone, 0});
    size_ = 0;
  }
  size_t capacity() const { return slots_.size(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[Home(hash)]); }

  // The first entry whose stored hash bits match (probably the key's entry), without
  // reading any entry; kNone if the key is certainly absent.
  uint32_t PeekCandidate(uint64_t hash) const {
    const uint32_t tag = Tag(hash);
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == kNone) return kNone;
      if (s.tag == tag) return s.index;
    }
  }

  // The entry whose key `is_key(index)` confirms, or kNone.
  template <typename IsKey>
  uint32_t Find(uint64_t hash, IsKey is_key) const {
    const uint32_t tag = Tag(hash);
    for (uint32_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index == kNone) return kNone;
      if (s.tag == tag && is_key(s.index)) return s.index;
    }
  }

  // The key must be absent and size() < capacity() / 2.
  void Insert(uint64_t hash, uint32_t index) {
    const uint32_t tag = Tag(hash);
    uint32_t i = tag & mask_;
    while (slots_[i].index != kNone) i = (i + 1) & mask_;
    slots_[i] = Slot{index, tag};
    ++size_;
  }

  // Removes the entry `index`, which was inserted with `hash`.
  void Erase(uint64_t hash, uint32_t index) {
    uint32_t i = Tag(hash) & mask_;
    while (slots_[i].index != index) {
      if (slots_[i].index == kNone) return;  // not present
      i = (i + 1) & mask_;
    }
    // Backward-shift: move later members of the run into the hole when their home
    // position does not lie cyclically in (hole, their position].
    for (uint32_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      const Slot s = slots_[j];
      if (s.index == kNone) break;
      const uint32_t home = s.tag & mask_;
      const bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!home_in_range) {
        slots_[i] = s;
        i = j;
      }
    }
    slots_[i] = Slot{kNone, 0};
    --size_;
  }

 private:
  struct Slot {
    uint32_t index;
    uint32_t tag;
  };
  static uint32_t Tag(uint64_t hash) { return static_cast<uint32_t>(hash >> 32); }
  uint32_t Home(uint64_t hash) const { return Tag(hash) & mask_; }

  // Read at random, one slot per look-up: huge pages spare a page walk on most of them.
  HugePageArray<Slot> slots_;
  uint32_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_KEY_INDEX_H_
