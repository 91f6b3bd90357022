// Where an exporter's messages go: a UDP socket, a TCP connection or an RFC 5655 file.
// Every transport is driven from the exporter's thread and never blocks it.

#ifndef TCFLOW_DAEMON_IPFIX_TRANSPORT_H_
#define TCFLOW_DAEMON_IPFIX_TRANSPORT_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace tcflow::ipfix {

// What a message carries, for the loss accounting.
struct MessageInfo {
  uint32_t records = 0;       // data records (flow and options): what sequence numbers count
  uint32_t flow_records = 0;  // of which flow records: what the loss counters count
  uint64_t packets = 0;       // sum of packetDeltaCount of its flow records
  uint64_t octets = 0;   // sum of octetDeltaCount
};

// Exporting Process Reliability Statistics (RFC 7011 section 4.3): what was not sent.
struct LossStats {
  uint64_t messages = 0;
  uint64_t records = 0;  // flow records (notSentFlowTotalCount)
  uint64_t packets = 0;
  uint64_t octets = 0;
  int64_t first_loss_ms = 0;  // wall clock, ms since the epoch; 0 = never
  int64_t last_loss_ms = 0;

  void Add(const MessageInfo& info, absl::Time now) {
    ++messages;
    records += info.flow_records;
    packets += info.packets;
    octets += info.octets;
    int64_t ms = absl::ToUnixMillis(now);
    if (first_loss_ms == 0) first_loss_ms = ms;
    last_loss_ms = ms;
  }
  void Merge(const LossStats& o) {
    messages += o.messages;
    records += o.records;
    packets += o.packets;
    octets += o.octets;
    if (o.first_loss_ms != 0 && (first_loss_ms == 0 || o.first_loss_ms < first_loss_ms)) {
      first_loss_ms = o.first_loss_ms;
    }
    if (o.last_loss_ms > last_loss_ms) last_loss_ms = o.last_loss_ms;
  }
};

struct TransportStats {
  uint64_t messages_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t connects = 0;      // TCP sessions started
  uint64_t disconnects = 0;   // TCP sessions lost
  uint64_t send_errors = 0;
  // UDP: messages sent and then reported dropped by an ICMP error (collector down); they
  // are in messages_sent and in loss() both.
  uint64_t refused_after_send = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // The largest message this transport carries (derived from the MTU).
  virtual size_t max_message_size() const = 0;
  // A buffer of max_message_size() bytes for the next message, valid until Commit().
  virtual uint8_t* Buffer() = 0;
  // Hands over the message written in Buffer(). Returns false when it was dropped at once
  // (no session, queue full); such a loss is the caller's to count.
  virtual bool Commit(size_t length, const MessageInfo& info, absl::Time now) = 0;
  // Sends what is batched or queued as far as possible without blocking, and drives
  // connection set-up. Losses found here (send errors, a session lost with messages not
  // acknowledged) are counted in loss().
  virtual void Flush(absl::Time now) = 0;
  // The current transport session, numbered from 1; 0 while there is none. A new number
  // means a new session: templates must be sent again and sequence numbers restart.
  virtual uint64_t session() const = 0;
  // True for datagram transports, whose templates are refreshed by time.
  virtual bool datagram() const = 0;
  // Whether the collector is reachable as far as the transport knows, for
  // tcflow_collector_up: TCP: a session is connected; UDP: the last send succeeded;
  // file: no write error yet.
  virtual bool up() const { return session() != 0; }
  // Stream transports: messages accepted but never written when their session broke (so
  // the collector cannot have them), oldest first, handed back once to be sent again in a
  // later session; they are no longer counted in stats().messages_sent.
  virtual void TakeUnsent(
      absl::FunctionRef<void(const uint8_t* data, size_t length, const MessageInfo& info)>) {}
  virtual const LossStats& loss() const = 0;
  virtual const TransportStats& stats() const = 0;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_TRANSPORT_H_
