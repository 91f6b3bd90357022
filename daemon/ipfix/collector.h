// The options of one collector, and the set of exporters that feeds several collectors at
// once (each with its own templates, sequence numbers, session and loss counters). The
// daemon maps its config onto CollectorOptions.

#ifndef TCFLOW_DAEMON_IPFIX_COLLECTOR_H_
#define TCFLOW_DAEMON_IPFIX_COLLECTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"
#include "daemon/ipfix/exporter.h"

namespace tcflow::ipfix {

enum class TransportKind { kUdp, kTcp, kFile };

struct CollectorOptions {
  // "ADDR:PORT" ([v6]:port, or a host name resolved when the exporter is created); for
  // kFile the path of the RFC 5655 file.
  std::string address;
  TransportKind transport = TransportKind::kUdp;
  uint32_t mtu = 1500;
  ExporterOptions exporter;                   // domain, refresh, templates, options records
  size_t tcp_queue_bytes = 4 << 20;           // TCP send queue bound
  absl::Duration reconnect_min = absl::Seconds(1);
  absl::Duration reconnect_max = absl::Seconds(60);
  bool udp_gso = true;
};

absl::StatusOr<std::unique_ptr<Exporter>> MakeExporter(const CollectorOptions& options,
                                                       absl::Time now);

// Several collectors fed the same records.
class ExporterSet {
 public:
  // Creates every exporter; the first error names the collector ("collector[1]: ...").
  static absl::StatusOr<ExporterSet> Create(const std::vector<CollectorOptions>& collectors,
                                            absl::Time now);

  void Export(absl::Span<const FlowRecord> records, absl::Time now) {
    for (auto& e : exporters_) e->Export(records, now);
  }
  void Tick(absl::Time now) {
    for (auto& e : exporters_) e->Tick(now);
  }
  void DropHeld(absl::Time now) {
    for (auto& e : exporters_) e->DropHeld(now);
  }
  void SetInterfaces(const std::vector<InterfaceInfo>& interfaces) {
    for (auto& e : exporters_) e->SetInterfaces(interfaces);
  }
  void SetMeteringStats(const MeteringStats& stats) {
    for (auto& e : exporters_) e->SetMeteringStats(stats);
  }
  size_t size() const { return exporters_.size(); }
  Exporter& at(size_t i) { return *exporters_[i]; }

 private:
  std::vector<std::unique_ptr<Exporter>> exporters_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_COLLECTOR_H_
