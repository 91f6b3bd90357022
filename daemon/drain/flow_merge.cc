#include "daemon/drain/flow_merge.h"

#include <algorithm>
#include <cstring>

#include <sys/mman.h>

#include "absl/time/clock.h"

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

void MergeSlotStats(tcflow_flow_stats* a, const tcflow_flow_stats& b) {
  if (b.first_seen_ns < a->first_seen_ns) {
    a->first_seen_ns = b.first_seen_ns;
    a->tos = b.tos;
    a->flow_label = b.flow_label;
    a->frag_id = b.frag_id;
  }
  a->last_seen_ns = std::max(a->last_seen_ns, b.last_seen_ns);
  a->packets += b.packets;
  a->bytes += b.bytes;
  a->ext_hdr_bitmap |= b.ext_hdr_bitmap;
  a->tcp_flags |= b.tcp_flags;
  a->min_ttl = std::min(a->min_ttl, b.min_ttl);
  a->max_ttl = std::max(a->max_ttl, b.max_ttl);
  a->ext_hdr_depth = std::max(a->ext_hdr_depth, b.ext_hdr_depth);
}

__attribute__((always_inline)) inline uint64_t HashKey(const tcflow_flow_key& key) {
  // Seven independent multiplies (no dependency chain between words), then an avalanche.
  uint64_t w[7];
  std::memcpy(w, &key, sizeof(w));
  auto lane = [](uint64_t x, uint64_t k) { return (x ^ (x >> 29)) * k; };
  uint64_t a = lane(w[0], 0x9E3779B97F4A7C15ull) + lane(w[2], 0x165667B19E3779F9ull) +
               lane(w[4], 0xFF51AFD7ED558CCDull) + lane(w[6], 0x27D4EB2F165667C5ull);
  uint64_t b = lane(w[1], 0xC2B2AE3D27D4EB4Full) + lane(w[3], 0xD6E8FEB86659FD93ull) +
               lane(w[5], 0xC4CEB9FE1A85EC53ull);
  uint64_t h = a ^ ((b << 31) | (b >> 33));
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 29;
  return h;
}

uint64_t HashFlowKey(const tcflow_flow_key& key) { return HashKey(key); }

namespace {

size_t Pow2AtLeast(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

GenerationReader::GenerationReader(size_t max_slots, size_t sink_batch, bool merge)
    : max_slots_(max_slots), merge_(merge), batch_(std::max<size_t>(sink_batch, 1)) {
  if (!merge_) return;  // no merge table
  // Load factor at most 2/3.
  size_t size = Pow2AtLeast(std::max<size_t>(max_slots + max_slots / 2, 1024));
  mask_ = size - 1;
  uint32_t index_bits = 1;
  while ((uint64_t{1} << index_bits) <= max_slots) ++index_bits;
  tag_mask_ = index_bits >= 32 ? 0 : ~((uint32_t{1} << index_bits) - 1);
  table_bytes_ = size * sizeof(uint32_t);
  if (table_bytes_ >= (2u << 20)) {
    void* p = ::mmap(nullptr, table_bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      ::madvise(p, table_bytes_, MADV_HUGEPAGE);  // best effort
      table_ = static_cast<uint32_t*>(p);
      table_mapped_ = true;
    }
  }
  if (table_ == nullptr) table_ = static_cast<uint32_t*>(::operator new(table_bytes_));
  std::memset(table_, 0, table_bytes_);
}

GenerationReader::~GenerationReader() {
  if (table_mapped_) {
    ::munmap(table_, table_bytes_);
  } else {
    ::operator delete(table_);
  }
}

void GenerationReader::Insert(tcflow_slot* base, uint32_t index, uint64_t hash, Counts* c) {
  const uint32_t tag = static_cast<uint32_t>(hash >> 32) & tag_mask_;
  tcflow_slot& slot = base[index];
  for (uint64_t pos = hash & mask_;; pos = (pos + 1) & mask_) {
    uint32_t e = table_[pos];
    if (e == 0) {
      table_[pos] = (index + 1) | tag;
      return;
    }
    if ((e & tag_mask_) == tag) {
      tcflow_slot& first = base[(e & ~tag_mask_) - 1];
      if (std::memcmp(&first.key, &slot.key, sizeof(slot.key)) == 0) {
        MergeSlotStats(&first.stats, slot.stats);
        std::memset(static_cast<void*>(&slot.stats), 0, sizeof(slot.stats));
        ++c->duplicates;
        return;
      }
    }
  }
}

void GenerationReader::Merge(tcflow_slot* base, uint32_t begin, uint32_t end, Counts* c) {
  // Hash a small batch first and prefetch its buckets, so the table's cache misses overlap.
  constexpr uint32_t kBatch = 16;
  uint64_t hashes[kBatch];
  for (uint32_t lo = begin; lo < end; lo += kBatch) {
    const uint32_t m = std::min(kBatch, end - lo);
    // Keys a few batches ahead: the hardware prefetcher stops at every 4 KiB page of the
    // map, and this pass is bound by reading the keys.
    if (lo + 9 * kBatch <= end) {
      const char* ahead = reinterpret_cast<const char*>(base + lo + 8 * kBatch);
      for (size_t off = 0; off < kBatch * sizeof(tcflow_slot); off += 64) {
        __builtin_prefetch(ahead + off);
      }
    }
    for (uint32_t i = 0; i < m; ++i) {
      hashes[i] = HashKey(base[lo + i].key);
      __builtin_prefetch(&table_[hashes[i] & mask_], 1);
    }
    for (uint32_t i = 0; i < m; ++i) {
      if (base[lo + i].stats.packets == 0) continue;  // never handed out
      // Before a duplicate is folded away: its chain may differ from the first slot's.
      if (c->slot_stats != nullptr) tcflow_stats_add_flow_slot(c->slot_stats, &base[lo + i]);
      Insert(base, lo + i, hashes[i], c);
    }
  }
}

void GenerationReader::Flush(RecordSink sink, Counts* c) {
  if (batch_len_ == 0) return;
  absl::Time t0 = absl::Now();
  sink(absl::Span<const FlowRecord>(batch_.data(), batch_len_));
  c->sink_time += absl::Now() - t0;
  c->records += batch_len_;
  batch_len_ = 0;
}

void GenerationReader::Emit(const tcflow_slot& s, const WallClock& clock, RecordSink sink,
                            Counts* c) {
  c->packets += s.stats.packets;
  c->bytes += s.stats.bytes;
  SlotToRecord(s, clock, &batch_[batch_len_]);
  if (++batch_len_ == batch_.size()) Flush(sink, c);
}

bool GenerationReader::Read(tcflow_slot* base, absl::Span<const Range> ranges,
                            const WallClock& clock, RecordSink sink, Counts* c) {
  for (const Range& r : ranges) {
    if (r.begin > r.end || r.end > max_slots_) return false;
  }
  if (merge_) {
    absl::Time t0 = absl::Now();
    std::memset(table_, 0, table_bytes_);
    for (const Range& r : ranges) Merge(base, r.begin, r.end, c);
    c->merge_time += absl::Now() - t0;
  }

  constexpr uint32_t kChunk = 256;  // read, then zeroed while still in L1/L2
  for (const Range& r : ranges) {
    for (uint32_t lo = r.begin; lo < r.end; lo += kChunk) {
      const uint32_t hi = std::min(r.end, lo + kChunk);
      for (uint32_t i = lo; i < hi; ++i) {
        if (i + 16 < r.end) {
          __builtin_prefetch(reinterpret_cast<const char*>(base + i + 16));
          __builtin_prefetch(reinterpret_cast<const char*>(base + i + 16) + 64);
        }
        if (base[i].stats.packets == 0) continue;
        if (!merge_ && c->slot_stats != nullptr) tcflow_stats_add_flow_slot(c->slot_stats, &base[i]);
        Emit(base[i], clock, sink, c);
      }
      std::memset(static_cast<void*>(base + lo), 0, sizeof(tcflow_slot) * (hi - lo));
    }
  }
  Flush(sink, c);
  return true;
}

}  // namespace tcflow
