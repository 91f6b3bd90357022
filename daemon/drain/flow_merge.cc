#include "daemon/drain/flow_merge.h"

#include <algorithm>
#include <cstring>

namespace tcflow {

static_assert(sizeof(tcflow_flow_key) == 56, "flow key must have no padding (hashed raw)");

void SlotToRecord(const tcflow_slot& slot, const WallClock& clock, FlowRecord* out) {
  const tcflow_flow_stats& s = slot.stats;
  out->key = slot.key;
  out->packets = s.packets;
  out->bytes = s.bytes;
  out->start_ms = clock.ToWallMs(s.first_seen_ns);
  out->end_ms = clock.ToWallMs(s.last_seen_ns);
  out->flow_label = s.flow_label;
  out->frag_id = s.frag_id;
  out->ext_hdr_bitmap = s.ext_hdr_bitmap;
  out->tcp_flags = s.tcp_flags;
  out->min_ttl = s.min_ttl;
  out->max_ttl = s.max_ttl;
  out->tos = s.tos;
  out->ext_hdr_depth = s.ext_hdr_depth;
  out->end_reason = FlowEndReason::kNone;
}

void MergeInto(FlowRecord* a, const FlowRecord& b) {
  if (b.start_ms < a->start_ms) {
    a->start_ms = b.start_ms;
    a->tos = b.tos;
    a->flow_label = b.flow_label;
    a->frag_id = b.frag_id;
  }
  a->end_ms = std::max(a->end_ms, b.end_ms);
  a->packets += b.packets;
  a->bytes += b.bytes;
  a->ext_hdr_bitmap |= b.ext_hdr_bitmap;
  a->tcp_flags |= b.tcp_flags;
  a->min_ttl = std::min(a->min_ttl, b.min_ttl);
  a->max_ttl = std::max(a->max_ttl, b.max_ttl);
  a->ext_hdr_depth = std::max(a->ext_hdr_depth, b.ext_hdr_depth);
}

uint64_t HashFlowKey(const tcflow_flow_key& key) {
  uint64_t w[7];
  std::memcpy(w, &key, sizeof(w));
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (uint64_t x : w) {
    h ^= x * 0xC2B2AE3D27D4EB4Full;
    h = ((h << 31) | (h >> 33)) * 0x9E3779B97F4A7C15ull;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

GenerationMerger::GenerationMerger(size_t max_records) : records_(max_records) {
  size_t size = 1024;
  while (size < 2 * max_records) size <<= 1;
  table_.assign(size, 0);
  mask_ = size - 1;
}

void GenerationMerger::Begin() {
  count_ = 0;
  duplicates_ = 0;
  rejected_ = 0;
  epoch_ = (epoch_ + 1) & 0xFFFF;
  if (epoch_ == 0) {  // wrapped: stale entries could look current, so clear once
    std::fill(table_.begin(), table_.end(), 0);
    epoch_ = 1;
  }
}

void GenerationMerger::Insert(const tcflow_slot& slot, uint64_t hash, const WallClock& clock) {
  const uint64_t tag = (hash >> 48) & 0xFFFF;
  for (uint64_t pos = hash & mask_;; pos = (pos + 1) & mask_) {
    uint64_t e = table_[pos];
    if ((e >> 48) != epoch_) {
      // Free: a new record. count_ < records_.size() holds because a generation has at
      // most max_records slots.
      FlowRecord* r = &records_[count_];
      SlotToRecord(slot, clock, r);
      table_[pos] = (epoch_ << 48) | (tag << 32) | count_;
      ++count_;
      return;
    }
    if (((e >> 32) & 0xFFFF) == tag) {
      FlowRecord* r = &records_[e & 0xFFFFFFFFu];
      if (std::memcmp(&r->key, &slot.key, sizeof(slot.key)) == 0) {
        FlowRecord b;
        SlotToRecord(slot, clock, &b);
        MergeInto(r, b);
        ++duplicates_;
        return;
      }
    }
  }
}

void GenerationMerger::AddSlots(const tcflow_slot* slots, size_t n, const WallClock& clock) {
  // Hash a small batch first and prefetch its buckets, so the table's cache misses overlap.
  constexpr size_t kBatch = 16;
  uint64_t hashes[kBatch];
  for (size_t base = 0; base < n; base += kBatch) {
    size_t m = std::min(kBatch, n - base);
    for (size_t i = 0; i < m; ++i) {
      hashes[i] = HashFlowKey(slots[base + i].key);
      __builtin_prefetch(&table_[hashes[i] & mask_]);
    }
    for (size_t i = 0; i < m; ++i) {
      const tcflow_slot& s = slots[base + i];
      if (s.stats.packets == 0) continue;
      if (count_ >= records_.size()) {  // more slots than max_records: a caller bug
        ++rejected_;
        continue;
      }
      Insert(s, hashes[i], clock);
    }
  }
}

}  // namespace tcflow
