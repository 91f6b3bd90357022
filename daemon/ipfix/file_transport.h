// An RFC 5655 IPFIX file: the messages one after another. Templates go out once, at the
// start, as on a stream.

#ifndef TCFLOW_DAEMON_IPFIX_FILE_TRANSPORT_H_
#define TCFLOW_DAEMON_IPFIX_FILE_TRANSPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/transport.h"

namespace tcflow::ipfix {

class FileTransport : public Transport {
 public:
  // Creates (truncates) `path`. `max_message` is the largest message written.
  static absl::StatusOr<std::unique_ptr<FileTransport>> Create(const std::string& path,
                                                               size_t max_message = 65535);
  ~FileTransport() override;

  size_t max_message_size() const override { return max_message_; }
  uint8_t* Buffer() override { return buffer_.data() + used_; }
  bool Commit(size_t length, const MessageInfo& info, absl::Time now) override;
  void Flush(absl::Time now) override;
  uint64_t session() const override { return 1; }
  bool datagram() const override { return false; }
  bool up() const override { return up_; }
  const LossStats& loss() const override { return loss_; }
  const TransportStats& stats() const override { return stats_; }

 private:
  FileTransport(ScopedFd fd, size_t max_message);

  ScopedFd fd_;
  size_t max_message_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 0;
  std::vector<MessageInfo> infos_;  // of the buffered messages, for the loss accounting
  bool up_ = true;                  // no write error since the last successful write
  LossStats loss_;
  TransportStats stats_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_FILE_TRANSPORT_H_
