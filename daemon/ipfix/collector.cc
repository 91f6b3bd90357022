#include "daemon/ipfix/collector.h"

#include <netinet/in.h>

#include "absl/strings/str_cat.h"
#include "daemon/ipfix/file_transport.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/tcp_transport.h"
#include "daemon/ipfix/udp_transport.h"

namespace tcflow::ipfix {

absl::StatusOr<std::unique_ptr<Exporter>> MakeExporter(const CollectorOptions& options,
                                                       absl::Time now) {
  std::unique_ptr<Transport> transport;
  if (options.transport == TransportKind::kFile) {
    auto f = FileTransport::Create(options.address, MaxUdpMessageSize(options.mtu, AF_INET));
    if (!f.ok()) return f.status();
    transport = *std::move(f);
  } else {
    absl::StatusOr<SocketAddress> address = ParseSocketAddress(options.address);
    if (!address.ok()) return address.status();
    if (options.transport == TransportKind::kUdp) {
      UdpOptions u;
      u.mtu = options.mtu;
      u.gso = options.udp_gso;
      auto t = UdpTransport::Create(*address, u);
      if (!t.ok()) return t.status();
      transport = *std::move(t);
    } else {
      TcpOptions o;
      o.mtu = options.mtu;
      o.queue_bytes = options.tcp_queue_bytes;
      o.reconnect_min = options.reconnect_min;
      o.reconnect_max = options.reconnect_max;
      auto t = TcpTransport::Create(*address, o, now);
      if (!t.ok()) return t.status();
      transport = *std::move(t);
    }
  }
  ExporterOptions exporter = options.exporter;
  // Over TCP, what the collector cannot take now (down, restarting, slow) waits in a hold
  // as large as the send queue and goes out after the next session's templates.
  if (options.transport == TransportKind::kTcp) exporter.hold_bytes = options.tcp_queue_bytes;
  return Exporter::Create(exporter, std::move(transport));
}

absl::StatusOr<ExporterSet> ExporterSet::Create(const std::vector<CollectorOptions>& collectors,
                                                absl::Time now) {
  ExporterSet set;
  for (size_t i = 0; i < collectors.size(); ++i) {
    auto e = MakeExporter(collectors[i], now);
    if (!e.ok()) {
      return absl::Status(e.status().code(),
                          absl::StrCat("collector[", i, "] ", collectors[i].address, ": ",
                                       e.status().message()));
    }
    set.exporters_.push_back(*std::move(e));
  }
  return set;
}

}  // namespace tcflow::ipfix
