// The JSON-lines flow log: one object per ended flow (flow_json.h), appended to a file.
//
//   FlowLogOptions options;
//   options.path = "/var/log/tcflow/flows.jsonl";
//   auto log = FlowLog::Open(options);          // error: cannot open (message names the path)
//   (*log)->Write(records);                      // after each export batch
//   (*log)->Flush();                             // on the drain tick (also automatic when
//                                                //   the buffer passes flush_bytes)
//   (*log)->Reopen();                            // on SIGHUP, after logrotate moved the file
//
// Never blocks the pipeline for long: the file is opened O_NONBLOCK (a FIFO or a pipe
// reader that stalls gives EAGAIN, the data waits), the buffer is bounded (records beyond
// max_buffer_bytes are dropped and counted), and write errors (ENOSPC, EIO...) drop the
// buffered records and are counted; the next Flush tries again, reopening the file if it
// had to be closed. Writes to a regular file on a slow disk can still take as long as the
// kernel makes them (the disk, not tcflowd, is the limit). Not thread-safe.

#ifndef TCFLOW_DAEMON_FLOWLOG_FLOW_LOG_H_
#define TCFLOW_DAEMON_FLOWLOG_FLOW_LOG_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"
#include "daemon/flowlog/flow_json.h"

namespace tcflow::flowlog {

struct FlowLogOptions {
  std::string path;
  size_t flush_bytes = 256 * 1024;       // write out when the buffer reaches this
  size_t max_buffer_bytes = 16 << 20;    // drop (and count) records beyond this
  InterfaceNamer interface_name;         // optional: adds "ifname"/"other_ifname"
};

struct FlowLogStats {
  uint64_t records_written = 0;  // whole lines handed to the kernel
  uint64_t records_dropped = 0;  // buffer full or write error
  uint64_t write_errors = 0;     // failed write()/open() calls
  uint64_t bytes_written = 0;
  uint64_t reopens = 0;
};

class FlowLog {
 public:
  static absl::StatusOr<std::unique_ptr<FlowLog>> Open(FlowLogOptions options);
  ~FlowLog();  // flushes what it can

  void Write(const FlowRecord& record);
  void Write(absl::Span<const FlowRecord> records);
  // Writes the buffer out; an error status describes the last failure (already counted).
  absl::Status Flush();
  // Flushes to the current file, then opens the path anew (log rotation).
  absl::Status Reopen();

  const FlowLogStats& stats() const { return stats_; }
  const std::string& path() const { return options_.path; }
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  explicit FlowLog(FlowLogOptions options) : options_(std::move(options)) {}
  absl::Status OpenFile();
  void DropBuffered();

  FlowLogOptions options_;
  int fd_ = -1;
  std::string buffer_;
  size_t offset_ = 0;  // bytes of buffer_ already written
  // A failed write left half a line in the file: the next write starts with a '\n' that
  // ends it (and is not a record).
  int separator_newlines_ = 0;
  FlowLogStats stats_;
};

}  // namespace tcflow::flowlog

#endif  // TCFLOW_DAEMON_FLOWLOG_FLOW_LOG_H_
