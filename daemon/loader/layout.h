// Sizes of the kernel tables, derived from one number (flow slots per half) so that the
// loader, the drain, flowctl and the tests agree on them. Pure arithmetic: no kernel needed.

#ifndef TCFLOW_DAEMON_LOADER_LAYOUT_H_
#define TCFLOW_DAEMON_LOADER_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "bpf/tcflow_abi.h"

namespace tcflow {

struct TableLayout {
  uint32_t slots_per_half = 0;   // flow slots per half (excluding overflow slots)
  uint32_t half_stride = 0;      // slots_per_half + TCFLOW_OVERFLOW_SLOTS
  uint32_t slot_entries = 0;     // max_entries of TCFLOW_MAP_SLOTS: 2 * half_stride
  uint32_t index_entries = 0;    // max_entries of each LRU index hash (v4 and v6)
  uint32_t overflow_entries = 0; // max_entries of TCFLOW_MAP_OVERFLOW
  uint32_t ringbuf_bytes = 0;    // max_entries of TCFLOW_MAP_EVENTS (power of 2, >= page)

  // Index of slot `i` of half `half` in the slot array.
  uint64_t SlotIndex(uint32_t half, uint32_t i) const {
    return static_cast<uint64_t>(half & 1) * half_stride + i;
  }
  uint64_t OverflowSlotIndex(uint32_t half, uint32_t i) const {
    return SlotIndex(half, slots_per_half + i);
  }
  // Bytes user space maps for the slot array (whole pages, as the kernel requires).
  size_t SlotMapBytes(size_t page_size) const;
};

// Largest slots_per_half accepted: keeps 2 * half_stride and the index sizes within u32 and
// the slot array well inside what vmalloc hands out.
inline constexpr uint32_t kMaxSlotsPerHalf = 64u << 20;  // 64 Mi flows per half
inline constexpr uint32_t kDefaultRingbufBytes = 256u << 10;

// index_factor: LRU index entries per flow slot of one half. Both live generations (the one
// being written and the one being drained) must fit, plus headroom because LRU hashes evict
// per CPU before they are globally full: the default 3 gives 1.5x the two generations.
absl::Status ComputeLayout(uint32_t slots_per_half, uint32_t index_factor,
                           uint32_t ringbuf_bytes, TableLayout* out);

// Bytes of one element of an array map as the kernel stores it (value size rounded to 8).
inline constexpr size_t ArrayElemSize(size_t value_size) { return (value_size + 7) & ~size_t{7}; }

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_LOADER_LAYOUT_H_
