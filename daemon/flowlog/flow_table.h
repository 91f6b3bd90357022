// `flowctl dump`'s table: one row per flow object (as AppendFlowObject writes them and the
// dump reply carries them), columns sized to their contents.
//
//   IFINDEX  DIR      PROTO      SRC             DST                  PKTS  BYTES  STATE
//   2(eth0)  ingress  tcp        10.0.0.1:40000  10.0.0.2:80            10   5230  active
//   3        egress   ipv6-icmp  [2001:db8::1]   [2001:db8::2] 128/0     4    416  idle_timeout
//
// IPv6 addresses in brackets (ports after them for TCP/UDP/SCTP); ICMP shows type/code after
// the destination.

#ifndef TCFLOW_DAEMON_FLOWLOG_FLOW_TABLE_H_
#define TCFLOW_DAEMON_FLOWLOG_FLOW_TABLE_H_

#include <string>

#include "absl/types/span.h"
#include "daemon/control/json.h"

namespace tcflow::flowlog {

// Fields missing from an object show as "-" (never a crash on a daemon of another version).
std::string FormatFlowTable(absl::Span<const control::JsonValue> flows);

}  // namespace tcflow::flowlog

#endif  // TCFLOW_DAEMON_FLOWLOG_FLOW_TABLE_H_
