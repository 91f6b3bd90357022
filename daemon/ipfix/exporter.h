// One collector's IPFIX exporting process: templates, sequence numbers, template refresh,
// options records, and the hand-off of finished messages to its transport.
//
// Single-threaded: the export loop calls Export() with each batch of flow records and
// Tick() on its timer; both take the current time, so tests drive the clock.

#ifndef TCFLOW_DAEMON_IPFIX_EXPORTER_H_
#define TCFLOW_DAEMON_IPFIX_EXPORTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"
#include "daemon/ipfix/message_writer.h"
#include "daemon/ipfix/template.h"
#include "daemon/ipfix/transport.h"

namespace tcflow::ipfix {

struct ExporterOptions {
  uint32_t observation_domain_id = 1;
  // Scope of the reliability options record.
  uint32_t exporting_process_id = 1;
  // UDP only: templates and options records are re-sent this often (RFC 7011 10.3.6).
  absl::Duration template_refresh = absl::Seconds(60);
  // Element names of the flow templates; empty = DefaultTemplateElementNames().
  std::vector<std::string> ipv4_elements;
  std::vector<std::string> ipv6_elements;
  // Send the options templates and records (reliability, metering, interfaces).
  bool options_records = true;
  // Stream transports (TCP) only: bytes of data messages kept while there is no session
  // (collector down, restarting) or the transport's queue is full. They are sent after the
  // next session's templates, with that session's sequence numbers. Messages beyond the
  // bound are counted as not sent. 0: such messages are counted as not sent at once.
  size_t hold_bytes = 0;
};

struct InterfaceInfo {
  uint32_t ifindex = 0;
  std::string name;
  std::string description;
};

// Metering Process statistics, as the daemon sums them from the kernel's counters.
struct MeteringStats {
  uint64_t packets_observed = 0;
  uint64_t octets_observed = 0;
  uint64_t flows_observed = 0;
  // Packets counted in no flow record (no flow slot and no overflow slot left).
  uint64_t packets_ignored = 0;
};

struct ExporterStats {
  // Accepted by the transport. Over TCP some may still be lost with their session; those
  // are counted in `loss` too.
  uint64_t messages = 0;
  uint64_t octets = 0;
  uint64_t flow_records = 0;
  uint64_t options_records = 0;
  uint64_t template_sends = 0;  // times the templates went out (template sets sent)
  bool collector_up = false;    // Transport::up(): tcflow_collector_up
  // Encoded and kept for the next session (ExporterOptions::hold_bytes): neither sent nor
  // lost yet. flow_records + loss.records + held_records = records given to Export().
  uint64_t held_messages = 0;
  uint64_t held_records = 0;
  uint64_t held_packets = 0;
  uint64_t held_octets = 0;          // sum of their octetDeltaCount
  uint64_t held_message_bytes = 0;   // what they take of hold_bytes
  LossStats loss;               // everything not sent (exporter drops + transport losses)
};

class Exporter {
 public:
  static absl::StatusOr<std::unique_ptr<Exporter>> Create(
      const ExporterOptions& options, std::unique_ptr<Transport> transport);

  // Encodes `records` into messages and hands them to the transport; flushes at the end.
  // Records that cannot be sent (no session, queue full) are counted in stats().loss.
  void Export(absl::Span<const FlowRecord> records, absl::Time now);
  // Drives the transport (connects, queued sends) and the template refresh.
  void Tick(absl::Time now);
  // At shutdown: counts every held message as not sent (they will never go out).
  void DropHeld(absl::Time now);

  void SetInterfaces(std::vector<InterfaceInfo> interfaces) {
    interfaces_ = std::move(interfaces);
  }
  void SetMeteringStats(const MeteringStats& stats) { metering_ = stats; }

  ExporterStats stats() const;
  Transport& transport() { return *transport_; }
  const Template& ipv4_template() const { return v4_; }
  const Template& ipv6_template() const { return v6_; }
  uint32_t sequence() const { return sequence_; }

 private:
  Exporter(const ExporterOptions& options, std::unique_ptr<Transport> transport,
           Template v4, Template v6);

  // Sends templates (and options) when the session is new or the refresh is due. Returns
  // false when the current session has no templates yet, so data must not be sent.
  bool EnsureTemplates(absl::Time now);
  bool SendTemplatesAndOptions(absl::Time now);
  void StartMessage(absl::Time now);
  enum class Outcome { kSent, kHeld, kLost };
  // Finishes the open message and commits it (or holds it, see hold_bytes).
  Outcome CommitMessage(absl::Time now);
  // Keeps a finished data message for the next session; kLost when there is no room.
  Outcome Hold(const uint8_t* data, size_t length, absl::Time now);
  // Sends held messages (oldest first) while the session has its templates and the
  // transport takes them.
  void Replay(absl::Time now);
  // Takes back what the transport never wrote before its session broke (older than
  // anything held): into the front of the hold, or counted as not sent without one.
  void Reclaim(absl::Time now);

  ExporterOptions options_;
  std::unique_ptr<Transport> transport_;
  Template v4_;
  Template v6_;
  Template reliability_;
  Template metering_template_;
  Template interface_template_;
  std::vector<InterfaceInfo> interfaces_;
  MeteringStats metering_;

  MessageWriter writer_;
  MessageInfo info_;
  uint32_t sequence_ = 0;
  uint64_t templates_session_ = 0;  // session whose templates went out
  absl::Time last_templates_ = absl::InfinitePast();
  ExporterStats stats_;

  // Held data messages (see hold_bytes): bytes of held_[held_first_..] in held_data_.
  struct Held {
    size_t offset;
    size_t length;
    MessageInfo info;
  };
  std::vector<const FlowRecord*> v6_pending_;  // Export(): IPv6 records, after the IPv4 ones
  bool holding_ = false;     // messages being written now go to the hold
  bool may_hold_ = false;    // data messages of Export(): a refused one may be held
  std::vector<uint8_t> hold_scratch_;
  std::vector<uint8_t> held_data_;
  std::vector<Held> held_;
  size_t held_first_ = 0;
  size_t held_live_bytes_ = 0;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_EXPORTER_H_
