#include "daemon/flowlog/flow_json.h"

#include <netinet/in.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "daemon/control/json.h"
#include "daemon/runtime/address.h"

namespace tcflow::flowlog {
namespace {

// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

void AppendKeyFlags(uint8_t flags, std::string* out) {
  static constexpr struct {
    uint8_t bit;
    const char* name;
  } kNames[] = {
      {TCFLOW_KEY_NON_FIRST_FRAGMENT, "non_first_fragment"},
      {TCFLOW_KEY_OVERFLOW, "overflow"},
      {TCFLOW_KEY_L4_TRUNCATED, "l4_truncated"},
      {TCFLOW_KEY_EXT_CHAIN_TRUNCATED, "ext_chain_truncated"},
  };
  out->push_back('[');
  bool first = true;
  for (const auto& n : kNames) {
    if (!(flags & n.bit)) continue;
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, "\"", n.name, "\"");
  }
  out->push_back(']');
}

}  // namespace

const char* FlowEndReasonName(FlowEndReason reason) {
  switch (reason) {
    case FlowEndReason::kNone: return "active";
    case FlowEndReason::kIdleTimeout: return "idle_timeout";
    case FlowEndReason::kActiveTimeout: return "active_timeout";
    case FlowEndReason::kEndOfFlow: return "end_of_flow";
    case FlowEndReason::kForcedEnd: return "forced_end";
    case FlowEndReason::kLackOfResources: return "lack_of_resources";
  }
  return "unknown";
}

const char* DirectionName(uint8_t direction) {
  return direction == TCFLOW_DIR_EGRESS ? "egress" : "ingress";
}

namespace {
// Writes the flag names into buf (at least 40 bytes); returns the length.
size_t TcpFlagsTo(uint16_t flags, char* buf) {
  static constexpr const char* kNames[] = {"FIN", "SYN", "RST", "PSH", "ACK",
                                           "URG", "ECE", "CWR", "NS"};
  size_t n = 0;
  for (int bit = 0; bit < 9; ++bit) {
    if (!(flags & (1u << bit))) continue;
    if (n) buf[n++] = '|';
    for (const char* p = kNames[bit]; *p; ++p) buf[n++] = *p;
  }
  return n;
}
}  // namespace

std::string TcpFlagsText(uint16_t flags) {
  char buf[40];
  return std::string(buf, TcpFlagsTo(flags, buf));
}

void FormatIso8601Ms(int64_t unix_ms, char (&buf)[32]) {
  int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
  const int ms = static_cast<int>(unix_ms - secs * 1000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  const int64_t sod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0) y = 0;  // outside ISO 8601's four digits: clamp (never happens for real flows)
  if (y > 9999) y = 9999;
  std::snprintf(buf, sizeof(buf), "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
                static_cast<unsigned>(y) % 10000u, m % 100u, d % 100u,
                static_cast<unsigned>(sod / 3600) % 100u, static_cast<unsigned>(sod / 60 % 60),
                static_cast<unsigned>(sod % 60), static_cast<unsigned>(ms) % 1000u);
}

void AppendFlowJson(const FlowRecord& r, const InterfaceNamer* namer, std::string* out) {
  AppendFlowObject(r, namer, out);
  out->push_back('\n');
}

void AppendFlowObject(const FlowRecord& r, const InterfaceNamer* namer, std::string* out) {
  const tcflow_flow_key& k = r.key;
  char start[32], end[32];
  FormatIso8601Ms(r.start_ms, start);
  FormatIso8601Ms(r.end_ms, end);
  char src[runtime::kAddressBufferSize], dst[runtime::kAddressBufferSize];
  runtime::FormatAddressTo(k.src_addr, k.ip_version, src);
  runtime::FormatAddressTo(k.dst_addr, k.ip_version, dst);

  absl::StrAppend(out, "{\"start\":\"", start, "\",\"end\":\"", end, "\",\"start_ms\":",
                  r.start_ms, ",\"end_ms\":", r.end_ms, ",\"ifindex\":", k.ifindex);
  if (namer && *namer) {
    absl::string_view name = (*namer)(k.ifindex);
    if (!name.empty()) {
      out->append(",\"ifname\":");
      control::JsonWriter::AppendQuoted(out, name);
    }
  }
  absl::StrAppend(out, ",\"other_ifindex\":", k.other_ifindex);
  if (namer && *namer && k.other_ifindex != 0) {
    absl::string_view name = (*namer)(k.other_ifindex);
    if (!name.empty()) {
      out->append(",\"other_ifname\":");
      control::JsonWriter::AppendQuoted(out, name);
    }
  }
  absl::StrAppend(out, ",\"direction\":\"", DirectionName(k.direction),
                  "\",\"ip_version\":", k.ip_version, ",\"protocol\":", k.protocol,
                  ",\"protocol_name\":\"", runtime::ProtocolName(k.protocol), "\",\"src\":\"",
                  src, "\",\"dst\":\"", dst, "\",\"src_port\":", k.src_port,
                  ",\"dst_port\":", k.dst_port);
  if (k.protocol == IPPROTO_ICMP || k.protocol == IPPROTO_ICMPV6) {
    absl::StrAppend(out, ",\"icmp_type\":", k.dst_port >> 8, ",\"icmp_code\":",
                    k.dst_port & 0xff);
  }
  char flags[40];
  const absl::string_view flags_text(flags, TcpFlagsTo(r.tcp_flags, flags));
  absl::StrAppend(out, ",\"packets\":", r.packets, ",\"bytes\":", r.bytes,
                  ",\"tcp_flags\":", r.tcp_flags, ",\"tcp_flags_text\":\"",
                  flags_text, "\",\"vlan\":", k.vlan_id,
                  ",\"inner_vlan\":", k.inner_vlan_id, ",\"mark\":", k.mark,
                  ",\"tos\":", r.tos, ",\"min_ttl\":", r.min_ttl, ",\"max_ttl\":", r.max_ttl);
  absl::StrAppend(out, ",\"flow_label\":", r.flow_label, ",\"frag_id\":", r.frag_id,
                  ",\"ext_hdr_bitmap\":", r.ext_hdr_bitmap, ",\"ext_hdr_depth\":",
                  r.ext_hdr_depth, ",\"key_flags\":");
  AppendKeyFlags(k.key_flags, out);
  absl::StrAppend(out, ",\"end_reason\":\"", FlowEndReasonName(r.end_reason), "\"}");
}

}  // namespace tcflow::flowlog
