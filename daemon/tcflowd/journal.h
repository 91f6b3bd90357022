// The crash journal of earlier tcflowd versions (the crash state, daemon/cache/cache_state.h,
// took its place): a file of blocks, each a header (kind, record count) and records; every
// drained increment was appended as merged (+), every exported record as exported (-).
// tcflowd reads one it finds at start: per flow key, what was added and not yet subtracted
// is what the dead process still held, and it goes back into the cache (then the file is
// removed). Appending remains, written straight from the caller's span (writev), for tests
// that make such files.
#ifndef TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_
#define TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::tcflowd {

class FlowJournal {
 public:
  // Opens (creating) the journal at `path` and returns what a previous process left
  // unexported in `recovered` (one record per flow key). A torn tail is cut off.
  static absl::StatusOr<std::unique_ptr<FlowJournal>> Open(const std::string& path,
                                                           std::vector<FlowRecord>* recovered);
  ~FlowJournal();

  void AppendMerged(absl::Span<const FlowRecord> increments) { Append(kMerged, increments); }
  void AppendExported(absl::Span<const FlowRecord> records) { Append(kExported, records); }

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
  uint64_t bytes() const { return bytes_; }
  uint64_t write_errors() const { return write_errors_; }

 private:
  FlowJournal(std::string path, int fd, uint64_t bytes) : path_(std::move(path)), fd_(fd), bytes_(bytes) {}
  void Append(uint32_t kind, absl::Span<const FlowRecord> records);

  std::string path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
  uint64_t write_errors_ = 0;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_JOURNAL_H_
