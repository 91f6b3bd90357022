#include "daemon/ipfix/template.h"

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/ipfix/wire.h"

namespace tcflow::ipfix {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpV6 = 58;

bool IsIcmp(const FlowRecord& r) {
  return r.key.protocol == (r.is_ipv6() ? kProtoIcmpV6 : kProtoIcmp);
}

Template MakeOptionsTemplate(uint16_t id, uint16_t scope_count,
                             std::initializer_list<const char*> names) {
  Template t;
  t.id = id;
  t.scope_count = scope_count;
  bool fixed = true;
  uint32_t length = 0;
  for (const char* name : names) {
    const InformationElement* ie = FindInformationElementByName(name);
    t.fields.push_back({ie, ie->length});
    if (ie->length == kVariableLength) {
      fixed = false;
    } else {
      length += ie->length;
    }
  }
  t.record_length = fixed ? length : 0;
  return t;
}

}  // namespace

size_t Template::TemplateRecordSize() const {
  size_t size = is_options() ? 6 : 4;
  for (const TemplateField& f : fields) size += f.ie->id >= 0x8000 ? 8 : 4;
  return size;
}

size_t Template::WriteTemplateRecord(uint8_t* out) const {
  uint8_t* p = out;
  Put16(p, id);
  Put16(p + 2, static_cast<uint16_t>(fields.size()));
  p += 4;
  if (is_options()) {
    Put16(p, scope_count);
    p += 2;
  }
  for (const TemplateField& f : fields) {
    Put16(p, f.ie->id);
    Put16(p + 2, f.length);
    p += 4;
  }
  return p - out;
}

std::vector<std::string> DefaultTemplateElementNames() {
  return {
      "flowStartMilliseconds", "flowEndMilliseconds", "sourceIPv4Address",
      "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
      "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
      "icmpTypeCodeIPv4", "icmpTypeCodeIPv6", "ingressInterface", "egressInterface",
      "flowDirection", "vlanId", "dot1qCustomerVlanId", "octetDeltaCount",
      "packetDeltaCount", "tcpControlBits", "ipClassOfService", "minimumTTL", "maximumTTL",
      "flowEndReason",
  };
}

std::vector<std::string> AllFlowElementNames() {
  std::vector<std::string> names;
  for (const InformationElement& ie : AllInformationElements()) {
    if (FlowSourceCanFill(ie)) names.push_back(ie.name);
  }
  return names;
}

absl::StatusOr<Template> BuildFlowTemplate(uint16_t id, int ip_version,
                                           absl::Span<const std::string> element_names) {
  if (id < kMinDataSetId) {
    return absl::InvalidArgumentError(absl::StrCat("template id ", id, " is below 256"));
  }
  if (ip_version != 4 && ip_version != 6) {
    return absl::InvalidArgumentError(absl::StrCat("ip version ", ip_version));
  }
  Template t;
  t.id = id;
  t.ip_version = ip_version;
  absl::flat_hash_set<uint16_t> seen;
  uint32_t length = 0;
  for (const std::string& name : element_names) {
    const InformationElement* ie = FindInformationElementByName(name);
    if (ie == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown information element \"", name, "\""));
    }
    if (!seen.insert(ie->id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("information element \"", name, "\" is listed twice"));
    }
    if (!FlowSourceCanFill(*ie)) {
      return absl::InvalidArgumentError(
          absl::StrCat("information element \"", name, "\" cannot be filled from a flow"));
    }
    if (!AppliesToFamily(*ie, ip_version)) continue;
    t.fields.push_back({ie, ie->length});
    length += ie->length;
  }
  if (t.fields.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the IPv", ip_version, " template has no elements"));
  }
  // A record must fit a message of the smallest MTU we accept; 1024 is far above any
  // template built from the elements above (all fixed-size, each at most 16 bytes).
  t.record_length = static_cast<uint16_t>(length);
  std::vector<std::string> defaults = DefaultTemplateElementNames();
  t.is_default = std::vector<std::string>(element_names.begin(), element_names.end()) == defaults;
  return t;
}

namespace {

// The default template, field by field in DefaultTemplateElementNames() order, without a
// per-field dispatch. template_test checks it writes the same bytes as the generic path.
inline void EncodeDefault(const FlowRecord& r, uint8_t* p) {
  const tcflow_flow_key& k = r.key;
  const bool ingress = k.direction == TCFLOW_DIR_INGRESS;
  const bool v6 = r.is_ipv6();
  const bool icmp = IsIcmp(r);
  Put64(p, static_cast<uint64_t>(r.start_ms));
  Put64(p + 8, static_cast<uint64_t>(r.end_ms));
  p += 16;
  if (v6) {
    std::memcpy(p, k.src_addr, 16);
    std::memcpy(p + 16, k.dst_addr, 16);
    p += 32;
  } else {
    std::memcpy(p, k.src_addr + 12, 4);
    std::memcpy(p + 4, k.dst_addr + 12, 4);
    p += 8;
  }
  Put16(p, icmp ? 0 : k.src_port);
  Put16(p + 2, icmp ? 0 : k.dst_port);
  p[4] = k.protocol;
  Put16(p + 5, icmp ? k.dst_port : 0);
  Put32(p + 7, ingress ? k.ifindex : k.other_ifindex);
  Put32(p + 11, ingress ? k.other_ifindex : k.ifindex);
  p[15] = k.direction;
  Put16(p + 16, k.vlan_id);
  Put16(p + 18, k.inner_vlan_id);
  Put64(p + 20, r.bytes);
  Put64(p + 28, r.packets);
  Put16(p + 36, r.tcp_flags);
  p[38] = r.tos;
  p[39] = r.min_ttl;
  p[40] = r.max_ttl;
  p[41] = static_cast<uint8_t>(r.end_reason);
}

}  // namespace

void EncodeFlowRecordGeneric(const Template& t, const FlowRecord& r, uint8_t* out);

void EncodeFlowRecord(const Template& t, const FlowRecord& r, uint8_t* out) {
  if (t.is_default) {
    EncodeDefault(r, out);
  } else {
    EncodeFlowRecordGeneric(t, r, out);
  }
}

void EncodeFlowRecordGeneric(const Template& t, const FlowRecord& r, uint8_t* out) {
  const tcflow_flow_key& k = r.key;
  const bool ingress = k.direction == TCFLOW_DIR_INGRESS;
  uint8_t* p = out;
  for (const TemplateField& f : t.fields) {
    switch (f.ie->flow_field) {
      case FlowField::kNone:
        break;
      case FlowField::kOctetDeltaCount: Put64(p, r.bytes); break;
      case FlowField::kPacketDeltaCount: Put64(p, r.packets); break;
      case FlowField::kProtocol: Put8(p, k.protocol); break;
      case FlowField::kIpClassOfService: Put8(p, r.tos); break;
      case FlowField::kTcpControlBits: Put16(p, r.tcp_flags); break;
      case FlowField::kSourcePort: Put16(p, IsIcmp(r) ? 0 : k.src_port); break;
      case FlowField::kDestinationPort: Put16(p, IsIcmp(r) ? 0 : k.dst_port); break;
      case FlowField::kSourceIpv4: std::memcpy(p, k.src_addr + 12, 4); break;
      case FlowField::kDestinationIpv4: std::memcpy(p, k.dst_addr + 12, 4); break;
      case FlowField::kIngressInterface:
        Put32(p, ingress ? k.ifindex : k.other_ifindex);
        break;
      case FlowField::kEgressInterface:
        Put32(p, ingress ? k.other_ifindex : k.ifindex);
        break;
      case FlowField::kSourceIpv6: std::memcpy(p, k.src_addr, 16); break;
      case FlowField::kDestinationIpv6: std::memcpy(p, k.dst_addr, 16); break;
      case FlowField::kFlowLabelIpv6: Put32(p, r.flow_label); break;
      case FlowField::kIcmpTypeCodeIpv4:
        Put16(p, k.protocol == kProtoIcmp ? k.dst_port : 0);
        break;
      case FlowField::kIcmpTypeCodeIpv6:
        Put16(p, k.protocol == kProtoIcmpV6 ? k.dst_port : 0);
        break;
      case FlowField::kMinimumTtl: Put8(p, r.min_ttl); break;
      case FlowField::kMaximumTtl: Put8(p, r.max_ttl); break;
      case FlowField::kFragmentIdentification: Put32(p, r.frag_id); break;
      case FlowField::kVlanId: Put16(p, k.vlan_id); break;
      case FlowField::kDot1qVlanId: Put16(p, k.vlan_id); break;
      case FlowField::kDot1qCustomerVlanId: Put16(p, k.inner_vlan_id); break;
      case FlowField::kIpVersion: Put8(p, k.ip_version); break;
      case FlowField::kFlowDirection: Put8(p, k.direction); break;
      case FlowField::kIpv6ExtensionHeaders: Put32(p, r.ext_hdr_bitmap); break;
      case FlowField::kFlowEndReason: Put8(p, static_cast<uint8_t>(r.end_reason)); break;
      case FlowField::kFlowStartMilliseconds: Put64(p, static_cast<uint64_t>(r.start_ms)); break;
      case FlowField::kFlowEndMilliseconds: Put64(p, static_cast<uint64_t>(r.end_ms)); break;
    }
    p += f.length;
  }
}

Template ReliabilityOptionsTemplate() {
  // RFC 7011 4.3: the records, packets and octets the exporting process could not send,
  // and the times of the first and last loss (two observationTimeMilliseconds, in order).
  return MakeOptionsTemplate(
      kReliabilityTemplateId, 1,
      {"exportingProcessId", "notSentFlowTotalCount", "notSentPacketTotalCount",
       "notSentOctetTotalCount", "observationTimeMilliseconds",
       "observationTimeMilliseconds"});
}

Template MeteringOptionsTemplate() {
  // Packets and octets the metering process observed, flows it created, and packets it
  // could count in no flow record at all (table and overflow full); plus the exporting
  // side's totals from RFC 7011 4.1.
  return MakeOptionsTemplate(
      kMeteringTemplateId, 1,
      {"observationDomainId", "packetTotalCount", "octetTotalCount",
       "observedFlowTotalCount", "ignoredPacketTotalCount", "exportedMessageTotalCount",
       "exportedFlowRecordTotalCount", "exportedOctetTotalCount"});
}

Template InterfaceOptionsTemplate() {
  return MakeOptionsTemplate(kInterfaceTemplateId, 1,
                             {"ingressInterface", "interfaceName", "interfaceDescription"});
}

}  // namespace tcflow::ipfix
