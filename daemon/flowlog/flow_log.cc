#include "daemon/flowlog/flow_log.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcflow::flowlog {

absl::StatusOr<std::unique_ptr<FlowLog>> FlowLog::Open(FlowLogOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("flow log path is empty");
  if (options.flush_bytes > options.max_buffer_bytes) options.flush_bytes = options.max_buffer_bytes;
  std::unique_ptr<FlowLog> log(new FlowLog(std::move(options)));
  if (absl::Status s = log->OpenFile(); !s.ok()) return s;
  log->buffer_.reserve(log->options_.flush_bytes + 4096);
  return log;
}

FlowLog::~FlowLog() {
  (void)Flush();
  if (fd_ >= 0) close(fd_);
}

absl::Status FlowLog::OpenFile() {
  const int fd = open(options_.path.c_str(),
                      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0640);
  if (fd < 0) {
    ++stats_.write_errors;
    return absl::Status(absl::ErrnoToStatusCode(errno),
                        absl::StrCat("cannot open flow log ", options_.path, ": ",
                                     std::strerror(errno)));
  }
  fd_ = fd;
  return absl::OkStatus();
}

void FlowLog::Write(const FlowRecord& record) {
  if (buffered_bytes() >= options_.max_buffer_bytes) {
    ++stats_.records_dropped;
    return;
  }
  AppendFlowJson(record, &options_.interface_name, &buffer_);
  if (buffered_bytes() >= options_.flush_bytes) (void)Flush();
}

void FlowLog::Write(absl::Span<const FlowRecord> records) {
  for (const FlowRecord& r : records) Write(r);
}

void FlowLog::DropBuffered() {
  const char* begin = buffer_.data() + offset_;
  const char* end = buffer_.data() + buffer_.size();
  int64_t lines = std::count(begin, end, '\n');
  // Separators not yet written are not records.
  const int64_t unwritten_separators = std::min<int64_t>(separator_newlines_, lines);
  separator_newlines_ -= static_cast<int>(unwritten_separators);
  stats_.records_dropped += lines - unwritten_separators;
  const bool half_line_written = offset_ > 0 && buffer_[offset_ - 1] != '\n';
  buffer_.clear();
  offset_ = 0;
  if (half_line_written) {
    buffer_.push_back('\n');
    ++separator_newlines_;
  }
}

absl::Status FlowLog::Flush() {
  if (buffered_bytes() == 0) return absl::OkStatus();
  if (fd_ < 0) {
    if (absl::Status s = OpenFile(); !s.ok()) return s;  // keep the data (bounded)
  }
  absl::Status result;
  while (offset_ < buffer_.size()) {
    const ssize_t n = write(fd_, buffer_.data() + offset_, buffer_.size() - offset_);
    if (n > 0) {
      int64_t lines = std::count(buffer_.data() + offset_, buffer_.data() + offset_ + n, '\n');
      const int64_t separators = std::min<int64_t>(separator_newlines_, lines);
      separator_newlines_ -= static_cast<int>(separators);
      stats_.records_written += lines - separators;
      stats_.bytes_written += n;
      offset_ += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // the reader is slow
    ++stats_.write_errors;
    result = absl::Status(absl::ErrnoToStatusCode(n < 0 ? errno : EIO),
                          absl::StrCat("cannot write flow log ", options_.path, ": ",
                                       std::strerror(n < 0 ? errno : EIO)));
    DropBuffered();
    close(fd_);  // reopened at the next flush (the file may have been replaced)
    fd_ = -1;
    return result;
  }
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ * 2 > buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return result;
}

absl::Status FlowLog::Reopen() {
  (void)Flush();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  ++stats_.reopens;
  return OpenFile();
}

}  // namespace tcflow::flowlog
