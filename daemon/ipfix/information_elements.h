// The IANA IPFIX information elements tcflow knows: their numbers, names, abstract types,
// the length it exports them with, and which field of a FlowRecord fills them.
//
// Numbers and types follow the IANA "IPFIX Information Elements" registry (RFC 7012 and
// later). Elements the flow source cannot fill (flow_field == kNone) are still listed, so a
// config naming them gets "cannot be filled" rather than "unknown"; options-record elements
// are listed for the options templates.

#ifndef TCFLOW_DAEMON_IPFIX_INFORMATION_ELEMENTS_H_
#define TCFLOW_DAEMON_IPFIX_INFORMATION_ELEMENTS_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tcflow::ipfix {

// RFC 7012 abstract data types (only those tcflow uses).
enum class IeType : uint8_t {
  kUnsigned8,
  kUnsigned16,
  kUnsigned32,
  kUnsigned64,
  kIpv4Address,
  kIpv6Address,
  kDateTimeSeconds,
  kDateTimeMilliseconds,
  kString,  // variable length
};

// Which FlowRecord value an element carries. kNone: the flow source cannot fill it.
enum class FlowField : uint8_t {
  kNone = 0,
  kOctetDeltaCount,
  kPacketDeltaCount,
  kProtocol,
  kIpClassOfService,
  kTcpControlBits,
  kSourcePort,            // 0 for ICMP/ICMPv6 (type/code go to icmpTypeCode*)
  kDestinationPort,       // 0 for ICMP/ICMPv6
  kSourceIpv4,
  kDestinationIpv4,
  kIngressInterface,      // key.ifindex on ingress, key.other_ifindex on egress
  kEgressInterface,       // key.ifindex on egress, key.other_ifindex on ingress
  kSourceIpv6,
  kDestinationIpv6,
  kFlowLabelIpv6,
  kIcmpTypeCodeIpv4,      // type*256+code for protocol 1, else 0
  kIcmpTypeCodeIpv6,      // type*256+code for protocol 58, else 0
  kMinimumTtl,
  kMaximumTtl,
  kFragmentIdentification,
  kVlanId,                // outer VLAN id
  kDot1qVlanId,           // outer VLAN id (same value, the 802.1Q element)
  kDot1qCustomerVlanId,   // inner (QinQ) VLAN id
  kIpVersion,
  kFlowDirection,
  kIpv6ExtensionHeaders,
  kFlowEndReason,
  kFlowStartMilliseconds,
  kFlowEndMilliseconds,
};

// Address family an element belongs to: a template for the other family leaves it out.
enum class IeFamily : uint8_t { kAny, kIpv4Only, kIpv6Only };

struct InformationElement {
  uint16_t id;
  const char* name;
  IeType type;
  // Length on the wire; kVariableLength for strings.
  uint16_t length;
  FlowField flow_field;
  IeFamily family;
};

inline constexpr uint16_t kVariableLength = 0xffff;

// Every element tcflow knows, ordered by id.
absl::Span<const InformationElement> AllInformationElements();

// nullptr when unknown. Names are case-sensitive, as in the IANA registry.
const InformationElement* FindInformationElementByName(absl::string_view name);
const InformationElement* FindInformationElementById(uint16_t id);

// True when a FlowRecord can fill `ie` (for at least one address family).
inline bool FlowSourceCanFill(const InformationElement& ie) {
  return ie.flow_field != FlowField::kNone;
}

// Whether `ie` belongs in a template of the given IP version (4 or 6).
inline bool AppliesToFamily(const InformationElement& ie, int ip_version) {
  switch (ie.family) {
    case IeFamily::kAny: return true;
    case IeFamily::kIpv4Only: return ip_version == 4;
    case IeFamily::kIpv6Only: return ip_version == 6;
  }
  return false;
}

absl::string_view IeTypeName(IeType type);

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_INFORMATION_ELEMENTS_H_
