// A realistic /metrics snapshot for tests and the render benchmark: `interfaces` links
// (both directions) fed through TrafficMetrics with several protocols over IPv4 and IPv6,
// ICMPv6 neighbour discovery and echo, IPv6 flows of every scope; kernel counters, four
// collectors, drain histogram.

#ifndef TCFLOW_DAEMON_METRICS_SYNTHETIC_SNAPSHOT_H_
#define TCFLOW_DAEMON_METRICS_SYNTHETIC_SNAPSHOT_H_

#include <map>
#include <string>

#include "daemon/metrics/render.h"
#include "daemon/metrics/traffic_metrics.h"

namespace tcflow::metrics {

// A drained record with only what TrafficMetrics reads set. `dport` carries ICMP type << 8
// | code for ICMP/ICMPv6, as the flow key does.
FlowRecord TrafficRecord(uint32_t ifindex, uint8_t direction, uint8_t ip_version,
                         uint8_t protocol, uint16_t dport, uint64_t packets, uint64_t bytes);

// The traffic part alone: interfaces eth0.. (ifindex 100..) and their names.
TrafficMetrics SyntheticTraffic(int interfaces, std::map<uint32_t, std::string>* names);
PipelineSnapshot SyntheticSnapshot(int interfaces);
ProcessInfo SyntheticProcessInfo();

}  // namespace tcflow::metrics

#endif  // TCFLOW_DAEMON_METRICS_SYNTHETIC_SNAPSHOT_H_
