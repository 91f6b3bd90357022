// The flow cache's crash journal: what tcflowd has taken out of the kernel tables but not
// yet exported, kept in a file that outlives the process (tmpfs under /run), so a tcflowd
// killed with SIGKILL loses nothing: the next one replays the journal into its cache.
//
// Append-only: every drained increment is appended (+) in the drain's sink, before it is
// merged, and every record handed to the exporters is appended (-) after it was sent. Each
// append is one block, a header (kind, record count) and the caller's records written
// straight from its span (writev: no staging copy, no staging buffer). On
// start-up the entries are replayed in order: per flow key, what was added and not yet
// subtracted is what the dead process still held. When the file grows past a bound it is
// rewritten as the cache's current content (compaction). A clean shutdown (everything
// exported) empties it.
//
// Windows that remain: a drain batch zeroed in the kernel but not yet appended (the
// drainer zeroes slots a chunk ahead of its sink: microseconds), and records sent but not
// yet marked exported (sent twice after a crash there). Writes go to the page cache
// (write(2), no fsync): a process crash is covered, a machine crash is not.

#ifndef TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_
#define TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::tcflowd {

class FlowJournal {
 public:
  // Opens (creating) the journal at `path` and returns what a previous process left
  // unexported in `recovered` (one record per flow key). Merge them into the cache, then
  // Compact() so the journal holds exactly the cache again.
  static absl::StatusOr<std::unique_ptr<FlowJournal>> Open(const std::string& path,
                                                           std::vector<FlowRecord>* recovered);
  ~FlowJournal();

  void AppendMerged(absl::Span<const FlowRecord> increments) { Append(kMerged, increments); }
  void AppendExported(absl::Span<const FlowRecord> records) { Append(kExported, records); }

  // True when the file is past its bound for a cache holding `cached_flows` flows.
  bool NeedsCompaction(size_t cached_flows) const;
  // Rewrites the journal as exactly the records `for_each` visits (the cache's content).
  // `for_each` must not append to this journal.
  absl::Status Compact(
      absl::FunctionRef<void(absl::FunctionRef<void(const FlowRecord&)>)> for_each);
  // Everything is exported: nothing to recover.
  absl::Status Clear();

  // Pure replay, for tests: the unexported remainder of a sequence of entries.
  struct Entry {
    uint32_t kind = 0;  // kMerged or kExported
    uint32_t reserved = 0;
    FlowRecord record;
  };
  // On disk, a block: this header, then `count` FlowRecords. A header with count 0 is the
  // journal's first format (one record per header), still read.
  struct BlockHeader {
    uint32_t kind = 0;
    uint32_t count = 0;
  };
  static constexpr uint32_t kMerged = 0x2b6a7466;    // "ftj+"
  static constexpr uint32_t kExported = 0x2d6a7466;  // "ftj-"
  static std::vector<FlowRecord> Replay(absl::Span<const Entry> entries);

  const std::string& path() const { return path_; }
  uint64_t bytes() const {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }
  uint64_t write_errors() const {
    absl::MutexLock lock(&mu_);
    return write_errors_;
  }
  uint64_t compactions() const {
    absl::MutexLock lock(&mu_);
    return compactions_;
  }

 private:
  FlowJournal(std::string path, int fd, uint64_t bytes) : path_(std::move(path)), fd_(fd), bytes_(bytes) {}
  void Append(uint32_t kind, absl::Span<const FlowRecord> records) ABSL_LOCKS_EXCLUDED(mu_);
  void AppendLocked(uint32_t kind, absl::Span<const FlowRecord> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Appends come from two threads (tcflowd's drain merges, its export worker marks records
  // exported); the mutex keeps each block whole and in one place.
  mutable absl::Mutex mu_;
  std::string path_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t write_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t compactions_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_
