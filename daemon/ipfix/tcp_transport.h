// IPFIX over TCP (RFC 7011 10.4): a non-blocking connect, reconnect with exponential
// backoff, and a bounded send queue. The exporter never blocks: a message that finds no
// connection or no room is refused; the exporter holds it for the next session (bounded,
// ExporterOptions::hold_bytes) or counts it as not sent.
//
// Nothing is lost silently: a message stays accounted until the collector's TCP has
// acknowledged its last byte (tcp_info.tcpi_bytes_acked). When the session breaks, every
// message not yet acknowledged is counted in loss(); the next session starts with
// templates again (the exporter sees a new session()).

#ifndef TCFLOW_DAEMON_IPFIX_TCP_TRANSPORT_H_
#define TCFLOW_DAEMON_IPFIX_TCP_TRANSPORT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/transport.h"

namespace tcflow::ipfix {

struct TcpOptions {
  // Messages are at most mtu - IP header - 20 bytes, like one segment on the path.
  uint32_t mtu = 1500;
  // Bytes of messages waiting to be written; beyond it messages are refused (and counted).
  size_t queue_bytes = 4 << 20;
  // Messages written but not yet acknowledged that are tracked (beyond it: refused).
  size_t max_unacked_messages = 65536;
  absl::Duration reconnect_min = absl::Seconds(1);
  absl::Duration reconnect_max = absl::Seconds(60);
  absl::Duration connect_timeout = absl::Seconds(10);
};

class TcpTransport : public Transport {
 public:
  // Starts the first connection attempt at once (it completes in a later Flush()).
  static absl::StatusOr<std::unique_ptr<TcpTransport>> Create(const SocketAddress& collector,
                                                              const TcpOptions& options,
                                                              absl::Time now);

  size_t max_message_size() const override { return max_message_; }
  uint8_t* Buffer() override { return scratch_.data(); }
  bool Commit(size_t length, const MessageInfo& info, absl::Time now) override;
  void Flush(absl::Time now) override;
  uint64_t session() const override { return state_ == State::kConnected ? session_ : 0; }
  bool datagram() const override { return false; }
  void TakeUnsent(absl::FunctionRef<void(const uint8_t*, size_t, const MessageInfo&)> take)
      override;
  const LossStats& loss() const override { return loss_; }
  const TransportStats& stats() const override { return stats_; }

  bool connected() const { return state_ == State::kConnected; }
  // Messages queued or sent but not acknowledged yet.
  size_t unacknowledged() const { return pending_count_; }

 private:
  enum class State { kIdle, kConnecting, kConnected };
  struct Pending {
    uint64_t end;  // stream offset just past the message
    uint32_t length;
    MessageInfo info;
  };
  struct Unsent {
    size_t offset;  // in unsent_data_
    size_t length;
    MessageInfo info;
  };

  TcpTransport(const SocketAddress& collector, const TcpOptions& options);
  void StartConnect(absl::Time now);
  void OnConnected(absl::Time now);
  void Disconnect(absl::Time now);
  void Write(absl::Time now);
  void UpdateAcknowledged();

  SocketAddress collector_;
  TcpOptions options_;
  size_t max_message_;
  State state_ = State::kIdle;
  ScopedFd fd_;
  uint64_t session_ = 0;
  absl::Time next_attempt_ = absl::InfinitePast();
  absl::Time connect_deadline_;
  absl::Duration backoff_;

  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> queue_;  // bytes [head_, tail_) not yet written
  size_t head_ = 0;
  size_t tail_ = 0;
  uint64_t written_ = 0;        // stream bytes written this session
  uint64_t queued_ = 0;         // stream bytes queued this session
  uint64_t acked_base_ = 0;     // tcpi_bytes_acked when the session started
  std::vector<Pending> pending_;  // ring
  size_t pending_first_ = 0;
  size_t pending_count_ = 0;

  // Data messages never written when the last session broke (see TakeUnsent()).
  std::vector<uint8_t> unsent_data_;
  std::vector<Unsent> unsent_;

  LossStats loss_;
  TransportStats stats_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_TCP_TRANSPORT_H_
