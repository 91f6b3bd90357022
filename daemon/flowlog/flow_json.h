// One ended flow as one line of JSON: the flow log's format, also handy for
// `flowctl dump -o json`. Every field is always present (one schema for jq and friends),
// except `ifname`/`other_ifname` (when a name is known) and icmp_type/icmp_code (ICMP only).
//
// {"start":"2026-11-21T23:24:00.123Z","end":"2026-11-21T23:24:05.000Z",
//  "start_ms":1795303440123,"end_ms":1795303445000,"ifindex":2,"ifname":"eth0",
//  "other_ifindex":3,"direction":"ingress","ip_version":4,"protocol":6,
//  "protocol_name":"tcp","src":"10.0.0.1","dst":"10.0.0.2","src_port":40000,
//  "dst_port":80,"packets":10,"bytes":5230,"tcp_flags":27,
//  "tcp_flags_text":"FIN|SYN|PSH|ACK","vlan":0,"inner_vlan":0,"mark":0,"tos":0,
//  "min_ttl":63,"max_ttl":64,"flow_label":0,"frag_id":0,"ext_hdr_bitmap":0,
//  "ext_hdr_depth":0,"key_flags":[],"end_reason":"end_of_flow"}

#ifndef TCFLOW_DAEMON_FLOWLOG_FLOW_JSON_H_
#define TCFLOW_DAEMON_FLOWLOG_FLOW_JSON_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::flowlog {

// "idle_timeout", "active_timeout", "end_of_flow", "forced_end", "lack_of_resources",
// "active" (kNone: a flow still in the cache).
const char* FlowEndReasonName(FlowEndReason reason);
// "ingress" / "egress".
const char* DirectionName(uint8_t direction);
// "FIN|SYN|..." in bit order (FIN SYN RST PSH ACK URG ECE CWR NS), "" for none.
std::string TcpFlagsText(uint16_t flags);
// ISO 8601 UTC with milliseconds: "2026-11-21T23:24:00.123Z". Writes 24 bytes + NUL.
void FormatIso8601Ms(int64_t unix_ms, char (&buf)[32]);

// Returns the interface's name, or an empty view when unknown. Must not block.
using InterfaceNamer = std::function<absl::string_view(uint32_t ifindex)>;

// Appends the record's JSON object and a '\n'. Allocates only if `out` must grow.
void AppendFlowJson(const FlowRecord& record, const InterfaceNamer* namer, std::string* out);
// The same object without the newline (for arrays, e.g. the dump reply:
// JsonWriter::Raw() it).
void AppendFlowObject(const FlowRecord& record, const InterfaceNamer* namer, std::string* out);

}  // namespace tcflow::flowlog

#endif  // TCFLOW_DAEMON_FLOWLOG_FLOW_JSON_H_
