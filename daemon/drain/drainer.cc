#include "daemon/drain/drainer.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <bpf/bpf.h>

#include "absl/strings/str_format.h"

namespace tcflow {
namespace {

uint32_t LoadU32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void StoreU32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

}  // namespace

Drainer::Drainer(const TableFds& tables, const TableLayout& layout,
                 const DrainOptions& options, GracePeriod grace)
    : tables_(tables),
      layout_(layout),
      options_(options),
      grace_(std::move(grace)),
      reader_(layout.half_stride, options.sink_batch, options.merge_duplicates) {}

absl::StatusOr<std::unique_ptr<Drainer>> Drainer::Create(const TableFds& tables,
                                                         const TableLayout& layout,
                                                         const DrainOptions& options) {
  absl::StatusOr<TableSpec> slots = GetTableSpec(tables.slots());
  if (!slots.ok()) return slots.status();
  if (slots->max_entries != layout.slot_entries || slots->value_size != sizeof(tcflow_slot)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "slot array has %u entries of %u bytes; the layout says %u of %u",
        slots->max_entries, slots->value_size, layout.slot_entries, sizeof(tcflow_slot)));
  }
  if (options.sink_batch == 0) return absl::InvalidArgumentError("sink batch must be > 0");
  absl::StatusOr<GracePeriod> grace = GracePeriod::Create(options.grace);
  if (!grace.ok()) return grace.status();

  std::unique_ptr<Drainer> d(new Drainer(tables, layout, options, *std::move(grace)));
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  absl::StatusOr<MmapRegion> ctl = MmapRegion::Map(tables.control(), page);
  if (!ctl.ok()) return ctl.status();
  absl::StatusOr<MmapRegion> sl = MmapRegion::Map(tables.slots(), layout.SlotMapBytes(page));
  if (!sl.ok()) return sl.status();
  d->control_map_ = *std::move(ctl);
  d->slot_map_ = *std::move(sl);
  d->control_ = static_cast<tcflow_control*>(d->control_map_.addr());
  d->slots_ = static_cast<tcflow_slot*>(d->slot_map_.addr());
  return d;
}

uint64_t Drainer::generation() const {
  return __atomic_load_n(&control_->generation, __ATOMIC_ACQUIRE);
}

void Drainer::CollectHalf(uint32_t half, RecordSink sink, DrainResult* r) {
  const uint32_t next = LoadU32(&control_->next_slot[half]);
  const uint32_t next_ovf = LoadU32(&control_->next_overflow_slot[half]);
  const uint32_t n = std::min(next, layout_.slots_per_half);
  const uint32_t o = std::min<uint32_t>(next_ovf, TCFLOW_OVERFLOW_SLOTS);
  r->slots_wanted += next;
  r->slots_read += n;
  r->overflow_read += o;

  tcflow_slot* base = slots_ + layout_.SlotIndex(half, 0);
  const uint32_t ovf = layout_.slots_per_half;  // overflow slots follow the flow slots
  const GenerationReader::Range ranges[] = {{0, n}, {ovf, ovf + o}};
  GenerationReader::Counts c;
  c.slot_stats = &slot_stats_;
  // Cannot fail: the ranges are clamped to the half, which the reader is sized for.
  reader_.Read(base, ranges, clock_, sink, &c);
  r->records += c.records;
  r->duplicates += c.duplicates;
  r->packets += c.packets;
  r->bytes += c.bytes;
  r->sink_time += c.sink_time;
  r->merge_time += c.merge_time;
  // Zeroed slots must be visible before a program can hand them out again.
  StoreU32(&control_->next_slot[half], 0);
  StoreU32(&control_->next_overflow_slot[half], 0);
}

void Drainer::DeleteOverflowIndex(uint64_t up_to_generation) {
  // The overflow index holds at most a few hundred entries per generation. Deleting the
  // drained generation's entries keeps its LRU from evicting a live entry instead (which
  // would only cost a second overflow slot, merged, but could also run the slots out).
  tcflow_overflow_key key, next;
  tcflow_overflow_key doomed[2 * TCFLOW_OVERFLOW_SLOTS];
  size_t ndoomed = 0;
  const void* prev = nullptr;
  while (ndoomed < sizeof(doomed) / sizeof(doomed[0]) &&
         bpf_map_get_next_key(tables_.overflow(), prev, &next) == 0) {
    if (next.generation <= up_to_generation) doomed[ndoomed++] = next;
    key = next;
    prev = &key;
  }
  for (size_t i = 0; i < ndoomed; ++i) bpf_map_delete_elem(tables_.overflow(), &doomed[i]);
}

absl::StatusOr<DrainResult> Drainer::Drain(RecordSink sink) {
  DrainResult r;
  const uint64_t gen = generation();
  const uint32_t half = gen & 1;
  const uint32_t other = half ^ 1;
  absl::Time t0 = absl::Now();

  // The half the programs do not write should be empty. It is not when a previous drain
  // stopped between its flip and its reset (a crash, a failed grace period): collect that
  // older generation first, before the flip hands the half out again.
  if (LoadU32(&control_->next_slot[other]) != 0 ||
      LoadU32(&control_->next_overflow_slot[other]) != 0) {
    absl::Status s = grace_.Wait();
    if (!s.ok()) return s;
    CollectHalf(other, sink, &r);
  }

  // Aligned 64-bit store: each program run sees either the old or the new generation.
  __atomic_store_n(&control_->generation, gen + 1, __ATOMIC_SEQ_CST);
  absl::Status s = grace_.Wait();
  if (!s.ok()) {
    // The programs already write gen + 1; the old half is collected by the next drain
    // (the path above), so nothing is lost.
    return s;
  }
  absl::Time t1 = absl::Now();
  const absl::Duration sink_before = r.sink_time;
  r.generation = gen;
  r.grace_wait = t1 - t0;

  CollectHalf(half, sink, &r);
  DeleteOverflowIndex(gen);
  r.read_time = absl::Now() - t1 - (r.sink_time - sink_before);
  return r;
}

}  // namespace tcflow
