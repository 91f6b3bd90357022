#include "daemon/ipfix/synthetic_flows.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tcflow::ipfix {
namespace {

void SetV4(uint8_t (&addr)[16], uint32_t host_order) {
  std::memset(addr, 0, 16);
  addr[10] = 0xff;
  addr[11] = 0xff;
  uint32_t be = htonl(host_order);
  std::memcpy(addr + 12, &be, 4);
}

std::string AddressText(const FlowRecord& r, const uint8_t (&addr)[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (r.is_ipv6()) {
    inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET, addr + 12, buf, sizeof(buf));
  }
  return buf;
}

bool IsIcmp(const FlowRecord& r) {
  return r.key.protocol == (r.is_ipv6() ? 58 : 1);
}

}  // namespace

FlowRecord SyntheticFlow(uint64_t i, bool ipv6, int64_t end_ms) {
  FlowRecord r;
  std::memset(&r.key, 0, sizeof(r.key));
  tcflow_flow_key& k = r.key;
  k.ip_version = ipv6 ? 6 : 4;
  uint32_t h = static_cast<uint32_t>(i * 2654435761u);
  if (ipv6) {
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(k.src_addr, src, 16);
    std::memcpy(k.dst_addr, src, 16);
    k.dst_addr[5] = 2;
    uint32_t be = htonl(static_cast<uint32_t>(i) + 1);
    std::memcpy(k.src_addr + 12, &be, 4);
    be = htonl(h | 1);
    std::memcpy(k.dst_addr + 12, &be, 4);
  } else {
    SetV4(k.src_addr, 0x0a000000u + static_cast<uint32_t>(i % 0xffffff) + 1);  // 10/8
    SetV4(k.dst_addr, 0xc6120000u + (h & 0xffff));                            // 198.18/15
  }
  // (i + i/4) % 4 rather than i % 4, so every protocol shows up in each family whatever
  // the IPv4/IPv6 mix.
  const uint64_t kind = (i + i / 4) % 4;
  switch (kind) {
    case 0:
    case 1:
      k.protocol = 6;
      k.src_port = static_cast<uint16_t>(1024 + i % 60000);
      k.dst_port = kind == 0 ? 443 : 80;
      r.tcp_flags = kind == 0 ? 0x1b : 0x12;
      break;
    case 2:
      k.protocol = 17;
      k.src_port = static_cast<uint16_t>(1024 + (h >> 8) % 60000);
      k.dst_port = 53;
      break;
    default:
      k.protocol = ipv6 ? 58 : 1;
      k.src_port = 0;
      k.dst_port = ipv6 ? (128 << 8) : (8 << 8);  // echo request
      break;
  }
  k.direction = (i & 4) ? TCFLOW_DIR_EGRESS : TCFLOW_DIR_INGRESS;
  k.ifindex = 2 + (i % 3);
  k.other_ifindex = 7;
  k.vlan_id = (i % 5 == 0) ? 0 : static_cast<uint16_t>(100 + i % 50);
  k.inner_vlan_id = (i % 7 == 0) ? static_cast<uint16_t>(1000 + i % 7) : 0;
  r.packets = 1 + (h % 1000);
  r.bytes = r.packets * (64 + i % 1400);
  r.end_ms = end_ms - static_cast<int64_t>(i % 1000);
  r.start_ms = r.end_ms - static_cast<int64_t>(1000 + h % 60000);
  r.flow_label = ipv6 ? (h & 0xfffff) : 0;
  r.frag_id = (i % 11 == 0) ? (h & 0xffff) + 1 : 0;
  r.ext_hdr_bitmap = ipv6 && ((h >> 4) % 3 == 0) ? 0x12 : 0;
  r.min_ttl = static_cast<uint8_t>(32 + i % 32);
  r.max_ttl = static_cast<uint8_t>(r.min_ttl + i % 8);
  r.tos = static_cast<uint8_t>((i % 8) << 2);
  r.end_reason = static_cast<FlowEndReason>(1 + i % 5);
  return r;
}

std::vector<FlowRecord> SyntheticFlows(size_t count, double ipv6_share, int64_t end_ms) {
  std::vector<FlowRecord> flows;
  flows.reserve(count);
  // Flow i is IPv6 when floor((i+1)*share) steps up: exactly round(count*share) of them,
  // spread evenly (the epsilon keeps 0.3*10 from landing at 2.9999).
  auto upto = [&](size_t n) { return static_cast<uint64_t>(n * ipv6_share + 1e-9); };
  for (size_t i = 0; i < count; ++i) {
    flows.push_back(SyntheticFlow(i, upto(i + 1) > upto(i), end_ms));
  }
  return flows;
}

absl::StatusOr<std::vector<FlowRecord>> ParseFlowText(absl::string_view text, int64_t now_ms) {
  std::vector<FlowRecord> flows;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": ", what));
    };
    if (words.size() < 7) {
      return error("expected SRC DST PROTO SPORT DPORT PACKETS BYTES [key=value ...]");
    }
    FlowRecord r;
    std::memset(&r.key, 0, sizeof(r.key));
    std::string src(words[0]), dst(words[1]);
    in_addr a4;
    if (inet_pton(AF_INET, src.c_str(), &a4) == 1) {
      r.key.ip_version = 4;
      SetV4(r.key.src_addr, ntohl(a4.s_addr));
      if (inet_pton(AF_INET, dst.c_str(), &a4) != 1) {
        return error(absl::StrCat("\"", dst, "\" is not an IPv4 address like the source"));
      }
      SetV4(r.key.dst_addr, ntohl(a4.s_addr));
    } else if (inet_pton(AF_INET6, src.c_str(), r.key.src_addr) == 1) {
      r.key.ip_version = 6;
      if (inet_pton(AF_INET6, dst.c_str(), r.key.dst_addr) != 1) {
        return error(absl::StrCat("\"", dst, "\" is not an IPv6 address like the source"));
      }
    } else {
      return error(absl::StrCat("\"", src, "\" is not an IP address"));
    }
    std::string proto = absl::AsciiStrToLower(words[2]);
    uint32_t num = 0;
    if (proto == "tcp") {
      r.key.protocol = 6;
    } else if (proto == "udp") {
      r.key.protocol = 17;
    } else if (proto == "icmp") {
      r.key.protocol = 1;
    } else if (proto == "icmpv6") {
      r.key.protocol = 58;
    } else if (absl::SimpleAtoi(proto, &num) && num < 256) {
      r.key.protocol = static_cast<uint8_t>(num);
    } else {
      return error(absl::StrCat("\"", words[2], "\" is not a protocol"));
    }
    uint32_t sport, dport;
    if (!absl::SimpleAtoi(words[3], &sport) || sport > 65535) {
      return error(absl::StrCat("\"", words[3], "\" is not a port"));
    }
    if (!absl::SimpleAtoi(words[4], &dport) || dport > 65535) {
      return error(absl::StrCat("\"", words[4], "\" is not a port"));
    }
    r.key.src_port = static_cast<uint16_t>(sport);
    r.key.dst_port = static_cast<uint16_t>(dport);
    if (!absl::SimpleAtoi(words[5], &r.packets)) {
      return error(absl::StrCat("\"", words[5], "\" is not a packet count"));
    }
    if (!absl::SimpleAtoi(words[6], &r.bytes)) {
      return error(absl::StrCat("\"", words[6], "\" is not a byte count"));
    }
    r.key.ifindex = 1;
    r.end_ms = now_ms;
    int64_t duration = 1000;
    bool start_set = false;
    r.min_ttl = r.max_ttl = 64;
    r.end_reason = FlowEndReason::kIdleTimeout;
    for (size_t w = 7; w < words.size(); ++w) {
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(words[w], '=');
      int64_t v = 0;
      if (kv.first == "dir") {
        if (kv.second == "ingress") {
          r.key.direction = TCFLOW_DIR_INGRESS;
        } else if (kv.second == "egress") {
          r.key.direction = TCFLOW_DIR_EGRESS;
        } else {
          return error(absl::StrCat("dir must be ingress or egress, not \"", kv.second, "\""));
        }
        continue;
      }
      bool ok = absl::StartsWith(kv.second, "0x")
                    ? absl::SimpleHexAtoi(kv.second.substr(2), &v)
                    : absl::SimpleAtoi(kv.second, &v);
      if (!ok || v < 0) {
        return error(absl::StrCat("\"", words[w], "\" is not key=number"));
      }
      if (kv.first == "in") {
        r.key.ifindex = static_cast<uint32_t>(v);
      } else if (kv.first == "out") {
        r.key.other_ifindex = static_cast<uint32_t>(v);
      } else if (kv.first == "vlan") {
        r.key.vlan_id = static_cast<uint16_t>(v);
      } else if (kv.first == "inner_vlan") {
        r.key.inner_vlan_id = static_cast<uint16_t>(v);
      } else if (kv.first == "tos") {
        r.tos = static_cast<uint8_t>(v);
      } else if (kv.first == "flags") {
        r.tcp_flags = static_cast<uint16_t>(v);
      } else if (kv.first == "ttl_min") {
        r.min_ttl = static_cast<uint8_t>(v);
      } else if (kv.first == "ttl_max") {
        r.max_ttl = static_cast<uint8_t>(v);
      } else if (kv.first == "label") {
        r.flow_label = static_cast<uint32_t>(v);
      } else if (kv.first == "start_ms") {
        r.start_ms = v;
        start_set = true;
      } else if (kv.first == "duration_ms") {
        duration = v;
      } else if (kv.first == "end_reason") {
        if (v < 1 || v > 5) return error("end_reason must be 1..5");
        r.end_reason = static_cast<FlowEndReason>(v);
      } else if (kv.first == "frag_id") {
        r.frag_id = static_cast<uint32_t>(v);
      } else if (kv.first == "ext") {
        r.ext_hdr_bitmap = static_cast<uint32_t>(v);
      } else {
        return error(absl::StrCat("unknown key \"", kv.first, "\""));
      }
    }
    if (r.key.direction == TCFLOW_DIR_EGRESS) {
      // "in"/"out" name the ingress and egress interfaces whatever the direction.
      std::swap(r.key.ifindex, r.key.other_ifindex);
    }
    if (start_set) {
      r.end_ms = r.start_ms + duration;
    } else {
      r.start_ms = r.end_ms - duration;
    }
    flows.push_back(r);
  }
  return flows;
}

std::string SourceAddressText(const FlowRecord& r) { return AddressText(r, r.key.src_addr); }
std::string DestinationAddressText(const FlowRecord& r) {
  return AddressText(r, r.key.dst_addr);
}

uint64_t ExpectedValue(const FlowRecord& r, const InformationElement& ie) {
  const tcflow_flow_key& k = r.key;
  const bool ingress = k.direction == TCFLOW_DIR_INGRESS;
  switch (ie.flow_field) {
    case FlowField::kOctetDeltaCount: return r.bytes;
    case FlowField::kPacketDeltaCount: return r.packets;
    case FlowField::kProtocol: return k.protocol;
    case FlowField::kIpClassOfService: return r.tos;
    case FlowField::kTcpControlBits: return r.tcp_flags;
    case FlowField::kSourcePort: return IsIcmp(r) ? 0 : k.src_port;
    case FlowField::kDestinationPort: return IsIcmp(r) ? 0 : k.dst_port;
    case FlowField::kIngressInterface: return ingress ? k.ifindex : k.other_ifindex;
    case FlowField::kEgressInterface: return ingress ? k.other_ifindex : k.ifindex;
    case FlowField::kFlowLabelIpv6: return r.flow_label;
    case FlowField::kIcmpTypeCodeIpv4: return k.protocol == 1 ? k.dst_port : 0;
    case FlowField::kIcmpTypeCodeIpv6: return k.protocol == 58 ? k.dst_port : 0;
    case FlowField::kMinimumTtl: return r.min_ttl;
    case FlowField::kMaximumTtl: return r.max_ttl;
    case FlowField::kFragmentIdentification: return r.frag_id;
    case FlowField::kVlanId: return k.vlan_id;
    case FlowField::kDot1qVlanId: return k.vlan_id;
    case FlowField::kDot1qCustomerVlanId: return k.inner_vlan_id;
    case FlowField::kIpVersion: return k.ip_version;
    case FlowField::kFlowDirection: return k.direction;
    case FlowField::kIpv6ExtensionHeaders: return r.ext_hdr_bitmap;
    case FlowField::kFlowEndReason: return static_cast<uint64_t>(r.end_reason);
    case FlowField::kFlowStartMilliseconds: return static_cast<uint64_t>(r.start_ms);
    case FlowField::kFlowEndMilliseconds: return static_cast<uint64_t>(r.end_ms);
    default: return 0;
  }
}

std::string ExpectedValueText(const FlowRecord& r, const InformationElement& ie) {
  switch (ie.flow_field) {
    case FlowField::kSourceIpv4:
    case FlowField::kSourceIpv6:
      return SourceAddressText(r);
    case FlowField::kDestinationIpv4:
    case FlowField::kDestinationIpv6:
      return DestinationAddressText(r);
    default:
      return absl::StrCat(ExpectedValue(r, ie));
  }
}

}  // namespace tcflow::ipfix
