// Where the flow cache keeps its entries: anonymous memory, or a state file (tmpfs, e.g.
// /run/tcflow/flows.state) mapped shared, so that a tcflowd killed at any instant leaves
// behind exactly what it held. Nothing is written per record besides the cache's own
// memory; the file *is* the cache.
//
// The file: a header page, the outbox, then the entries.
//   - Entries: the cache's entry array (CacheEntry). Entries [0, entries_used) were handed
//     out; a live flow is an entry in state kOpen/kClosing with counts.
//   - Outbox: a ring of ended records not yet sent. The cache appends every record it ends
//     (and marks the entry kExported) before the caller sees it; the export thread, once it
//     has sent the records up to a position, moves outbox_consumed there (MarkSent).
//   - One operation at a time is in flight (the cache has one owner thread): `op` names its
//     entry and kind. A merge keeps the entry's previous record and state and the increment
//     (an intent: recovery puts the entry back and counts the increment once); an export
//     names the outbox position its record goes to (recovery trusts the outbox once the
//     record is committed there, the entry otherwise). One 64-bit store clears both.
//   - A merge into a new entry (kMerging | kFresh) keeps no intent: the increment is written
//     as the entry's record while the entry is still free, and the entry counts from the
//     store that sets its state; until then recovery counts the free entry's record.
//   - FlushAll ends every flow with one commit: it writes all their records past the
//     outbox's committed end, names that end in export_position, sets op to kFlushing,
//     moves outbox_committed there (the commit), then empties the entries. Recovery trusts
//     the outbox and skips every entry once the commit is made, the entries otherwise.
//
// Recovery (a new process, before it creates its own state): the live entries, the
// committed and unsent outbox records, and the increment of an interrupted merge are every
// packet the dead process held, each once. Windows left: records sent but not yet marked
// sent are sent again; the drain's current batch, zeroed in the kernel but not yet merged,
// is lost (microseconds); a machine crash loses the file (tmpfs, no fsync).

#ifndef TCFLOW_DAEMON_CACHE_CACHE_STATE_H_
#define TCFLOW_DAEMON_CACHE_CACHE_STATE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::cache {

enum class EntryState : uint8_t {
  kFree = 0,
  kOpen = 1,
  kClosing = 2,   // TCP FIN/RST seen: lingering for the end grace
  kEmpty = 3,     // key kept after an active timeout, nothing counted since
  kExported = 4,  // its record is in the outbox; the entry is about to be reused or freed
};

// One cache-line pair per flow: the key and counters (what a merge touches) come first.
struct alignas(64) CacheEntry {
  FlowRecord rec;
  // kClosing: end_ms of the increment with FIN/RST. kEmpty: the exported record's end
  // (the next record starts no earlier). kFree: the next free entry.
  int64_t aux = 0;
  // Wheel items carry the stamp they were queued with; a changed stamp marks them stale.
  uint32_t idle_stamp = 0;
  uint16_t active_stamp = 0;
  EntryState state = EntryState::kFree;
};
static_assert(sizeof(CacheEntry) == 128, "two cache lines per entry");

struct CacheStateHeader {
  static constexpr uint64_t kMagic = 0x6574617473666374ull;  // "tcfstate"
  // Version 2 added kFlushing and kFresh; a version 1 file has neither, so it recovers the
  // same way.
  static constexpr uint32_t kVersion = 2;
  static constexpr uint32_t kOldestReadable = 1;
  static constexpr uint64_t kMerging = 1;   // op flag: a merge into the entry
  static constexpr uint64_t kExporting = 2; // op flag: its record goes to export_position
  static constexpr uint64_t kFlushing = 4;  // op flag: every entry's record, up to export_position
  static constexpr uint64_t kFresh = 8;     // with kMerging: into a new entry, whose record is
                                            // the increment while its state is still kFree

  uint64_t magic;
  uint32_t version;
  uint32_t entry_size;
  uint32_t record_size;
  uint32_t reserved0;
  uint64_t entry_capacity;
  uint64_t outbox_capacity;
  uint64_t entries_used;
  uint64_t outbox_committed;  // records appended (a count since the file was made)
  uint64_t outbox_consumed;   // records sent (written by the export thread)
  uint64_t outbox_base;       // the position stored at outbox index 0
  uint64_t op;                // entry index << 32 | kMerging | kExporting | kFresh, or
                              // kFlushing; 0 = none
  uint64_t export_position;
  uint8_t intent_state;       // the entry's state before the merge
  uint8_t reserved1[7];
  FlowRecord intent_old;      // the entry's record before the merge
  FlowRecord intent_increment;
};

class CacheState {
 public:
  // Entries in anonymous memory (nothing survives the process; no outbox).
  static absl::StatusOr<CacheState> Anonymous(size_t entry_capacity);
  // A fresh state file at `path` (replaced if it exists).
  static absl::StatusOr<CacheState> Create(const std::string& path, size_t entry_capacity,
                                           size_t outbox_capacity);
  // What the owner of the state file at `path` held and had not sent when it died, as
  // records to merge into a new cache (a key may appear more than once). A missing file
  // holds nothing; an unreadable or foreign one is an error.
  static absl::StatusOr<std::vector<FlowRecord>> Recover(const std::string& path);

  CacheState() = default;
  CacheState(CacheState&& other) noexcept { *this = std::move(other); }
  CacheState& operator=(CacheState&& other) noexcept;
  ~CacheState();

  // Room for more entries (the mapping may move: no pointers into it survive this).
  absl::Status GrowEntries(size_t entry_capacity);
  // State files: gives entries [0, n) / outbox records [0, n) their pages now (fallocate, in
  // 1 MiB steps), so that writing them later cannot fault on a full file system: a shared
  // mapping would get SIGBUS there. False when the file system has no room: the caller
  // degrades (fewer flows, unprotected records) instead. Always true in anonymous memory.
  // (Called per new flow and per ended record: the common case, pages already reserved,
  // is checked inline.)
  bool ReserveEntries(size_t n) { return n <= reserved_entries_ || ReserveMoreEntries(n); }
  bool ReserveOutbox(size_t n) { return n <= reserved_outbox_ || ReserveMoreOutbox(n); }
  // Renames the state file (after the recovered records were merged into it).
  absl::Status Rename(const std::string& path);

  bool durable() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  CacheStateHeader* header() const { return header_; }
  CacheEntry* entries() const { return entries_; }
  FlowRecord* outbox() const { return outbox_; }
  size_t entry_capacity() const { return header_ == nullptr ? 0 : header_->entry_capacity; }
  size_t outbox_capacity() const { return header_ == nullptr ? 0 : header_->outbox_capacity; }

 private:
  void Unmap();
  void Point();

  bool Reserve(size_t offset, size_t bytes);
  // Items [0, n) of a run of `capacity` items of `item_size` bytes at `offset`, of which
  // *reserved have pages already.
  bool ReserveRun(size_t* reserved, size_t n, size_t capacity, size_t item_size, size_t offset);
  bool ReserveMoreEntries(size_t n);
  bool ReserveMoreOutbox(size_t n);

  std::string path_;
  int fd_ = -1;
  size_t reserved_entries_ = 0;
  size_t reserved_outbox_ = 0;
  bool reserve_failed_ = false;
  bool reserve_unsupported_ = false;  // the file system has no fallocate
  uint64_t reserve_skipped_ = 0;
  void* base_ = nullptr;
  size_t bytes_ = 0;
  size_t outbox_bytes_ = 0;  // page-rounded
  CacheStateHeader* header_ = nullptr;
  FlowRecord* outbox_ = nullptr;
  CacheEntry* entries_ = nullptr;
};

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_CACHE_STATE_H_
