#include "daemon/ipfix/file_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::ipfix {
namespace {
constexpr size_t kBufferedMessages = 16;
}

absl::StatusOr<std::unique_ptr<FileTransport>> FileTransport::Create(
    const std::string& path, size_t max_message) {
  if (max_message < 512 || max_message > 65535) {
    return absl::InvalidArgumentError("message size must be 512..65535");
  }
  ScopedFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return absl::UnavailableError(absl::StrCat(path, ": ", strerror(errno)));
  }
  return std::unique_ptr<FileTransport>(new FileTransport(std::move(fd), max_message));
}

FileTransport::FileTransport(ScopedFd fd, size_t max_message)
    : fd_(std::move(fd)), max_message_(max_message),
      buffer_(max_message * kBufferedMessages) {
  infos_.reserve(kBufferedMessages);
}

FileTransport::~FileTransport() { Flush(absl::Now()); }

bool FileTransport::Commit(size_t length, const MessageInfo& info, absl::Time now) {
  used_ += length;
  infos_.push_back(info);
  if (buffer_.size() - used_ < max_message_) Flush(now);
  return true;
}

void FileTransport::Flush(absl::Time now) {
  size_t done = 0;
  while (done < used_) {
    ssize_t n = write(fd_.get(), buffer_.data() + done, used_ - done);
    if (n > 0) {
      done += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // Disk full or an I/O error: the buffered messages are lost, and counted.
    ++stats_.send_errors;
    up_ = false;
    for (const MessageInfo& info : infos_) loss_.Add(info, now);
    break;
  }
  if (done == used_) {
    if (used_ > 0) up_ = true;
    stats_.messages_sent += infos_.size();
    stats_.bytes_sent += used_;
  }
  used_ = 0;
  infos_.clear();
}

}  // namespace tcflow::ipfix
