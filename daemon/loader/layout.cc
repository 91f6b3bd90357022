#include "daemon/loader/layout.h"

#include "absl/strings/str_format.h"

namespace tcflow {

size_t TableLayout::SlotMapBytes(size_t page_size) const {
  size_t bytes = ArrayElemSize(sizeof(tcflow_slot)) * static_cast<size_t>(slot_entries);
  return (bytes + page_size - 1) / page_size * page_size;
}

absl::Status ComputeLayout(uint32_t slots_per_half, uint32_t index_factor,
                           uint32_t ringbuf_bytes, TableLayout* out) {
  if (slots_per_half == 0 || slots_per_half > kMaxSlotsPerHalf) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "slots per half must be in [1, %u], got %u", kMaxSlotsPerHalf, slots_per_half));
  }
  if (index_factor < 2 || index_factor > 16) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "index factor must be in [2, 16] (both live generations must fit), got %u",
        index_factor));
  }
  if (ringbuf_bytes < 4096 || (ringbuf_bytes & (ringbuf_bytes - 1)) != 0 ||
      ringbuf_bytes > (1u << 30)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ring buffer size must be a power of two in [4096, 1 GiB], got %u", ringbuf_bytes));
  }
  uint64_t index = static_cast<uint64_t>(slots_per_half) * index_factor;
  if (index > UINT32_MAX) {
    return absl::InvalidArgumentError("index size overflows 32 bits; lower the factor");
  }
  TableLayout l;
  l.slots_per_half = slots_per_half;
  l.half_stride = tcflow_half_stride(slots_per_half);
  l.slot_entries = 2 * l.half_stride;
  l.index_entries = static_cast<uint32_t>(index);
  // One overflow record per (interface, direction, generation): both live generations fit
  // twice over (an LRU hash evicts per CPU before it is full); the drain also deletes a
  // generation's entries once drained.
  l.overflow_entries = 4 * TCFLOW_OVERFLOW_SLOTS;
  l.ringbuf_bytes = ringbuf_bytes;
  *out = l;
  return absl::OkStatus();
}

}  // namespace tcflow
