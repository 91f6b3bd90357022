// A transport that keeps every message in memory: for tests, and for sending the very same
// bytes to several collectors.

#ifndef TCFLOW_DAEMON_IPFIX_MEMORY_TRANSPORT_H_
#define TCFLOW_DAEMON_IPFIX_MEMORY_TRANSPORT_H_

#include <cstdint>
#include <vector>

#include "daemon/ipfix/transport.h"

namespace tcflow::ipfix {

class MemoryTransport : public Transport {
 public:
  explicit MemoryTransport(size_t max_message, bool datagram = true)
      : max_message_(max_message), datagram_(datagram), buffer_(max_message) {}

  size_t max_message_size() const override { return max_message_; }
  uint8_t* Buffer() override { return buffer_.data(); }
  bool Commit(size_t length, const MessageInfo& info, absl::Time now) override {
    if (refuse_) {
      return false;
    }
    messages_.emplace_back(buffer_.begin(), buffer_.begin() + length);
    infos_.push_back(info);
    ++stats_.messages_sent;
    stats_.bytes_sent += length;
    return true;
  }
  void Flush(absl::Time) override {}
  uint64_t session() const override { return session_; }
  bool datagram() const override { return datagram_; }
  const LossStats& loss() const override { return loss_; }
  const TransportStats& stats() const override { return stats_; }

  std::vector<std::vector<uint8_t>>& messages() { return messages_; }
  const std::vector<MessageInfo>& infos() const { return infos_; }
  // Test knobs: the session number (0 = none) and refusing every Commit.
  void set_session(uint64_t session) { session_ = session; }
  void set_refuse(bool refuse) { refuse_ = refuse; }

 private:
  size_t max_message_;
  bool datagram_;
  std::vector<uint8_t> buffer_;
  std::vector<std::vector<uint8_t>> messages_;
  std::vector<MessageInfo> infos_;
  uint64_t session_ = 1;
  bool refuse_ = false;
  LossStats loss_;
  TransportStats stats_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_MEMORY_TRANSPORT_H_
