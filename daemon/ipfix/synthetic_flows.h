// Synthetic flow records: deterministic generated flows (tests, benchmark, `flowctl ipfix
// send-dummy`) and a small text format for hand-written ones.
//
// Text format, one flow per line ('#' starts a comment):
//   SRC DST PROTO SPORT DPORT PACKETS BYTES [key=value ...]
//   10.0.0.1 10.0.0.2 tcp 40000 443 10 5200 in=2 out=3 flags=0x1b duration_ms=1500
// PROTO is tcp, udp, icmp, icmpv6 or a number. For ICMP, DPORT is type*256+code and SPORT
// must be 0. Keys: in, out (interface indexes), dir (ingress|egress), vlan, inner_vlan, tos,
// flags (TCP), ttl_min, ttl_max, label (IPv6 flow label), start_ms (absolute; default now),
// duration_ms, end_reason (1..5), frag_id, ext (IPv6 extension header bitmap).

#ifndef TCFLOW_DAEMON_IPFIX_SYNTHETIC_FLOWS_H_
#define TCFLOW_DAEMON_IPFIX_SYNTHETIC_FLOWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/flow/flow_record.h"
#include "daemon/ipfix/information_elements.h"

namespace tcflow::ipfix {

// Flow number `index` of a deterministic set: varied addresses, ports, protocols (TCP,
// UDP, ICMP/ICMPv6), interfaces, VLANs, counters and times ending at `end_ms`. Every
// value an IE can carry is non-zero somewhere in the set.
FlowRecord SyntheticFlow(uint64_t index, bool ipv6, int64_t end_ms);

// `count` flows, a fraction `ipv6_share` (0..1) of them IPv6, spread evenly.
std::vector<FlowRecord> SyntheticFlows(size_t count, double ipv6_share, int64_t end_ms);

// Parses the text format above; errors say "line N: ...". `now_ms` is the default end.
absl::StatusOr<std::vector<FlowRecord>> ParseFlowText(absl::string_view text, int64_t now_ms);

// What an IPFIX decoder should show for `ie` of `record` (as DecodedField::ValueText()
// prints it): the value EncodeFlowRecord writes.
std::string ExpectedValueText(const FlowRecord& record, const InformationElement& ie);
// The same as a number (0 for addresses).
uint64_t ExpectedValue(const FlowRecord& record, const InformationElement& ie);

// The address of an IPv4 or IPv6 record as text.
std::string SourceAddressText(const FlowRecord& record);
std::string DestinationAddressText(const FlowRecord& record);

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_SYNTHETIC_FLOWS_H_
