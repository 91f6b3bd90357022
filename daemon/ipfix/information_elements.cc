#include "daemon/ipfix/information_elements.h"

#include <iterator>

namespace tcflow::ipfix {
namespace {

using F = FlowField;
using T = IeType;
constexpr IeFamily kAny = IeFamily::kAny;
constexpr IeFamily kV4 = IeFamily::kIpv4Only;
constexpr IeFamily kV6 = IeFamily::kIpv6Only;

// Ordered by id (FindInformationElementById relies on it; a unit test checks it).
constexpr InformationElement kElements[] = {
    {1, "octetDeltaCount", T::kUnsigned64, 8, F::kOctetDeltaCount, kAny},
    {2, "packetDeltaCount", T::kUnsigned64, 8, F::kPacketDeltaCount, kAny},
    {4, "protocolIdentifier", T::kUnsigned8, 1, F::kProtocol, kAny},
    {5, "ipClassOfService", T::kUnsigned8, 1, F::kIpClassOfService, kAny},
    {6, "tcpControlBits", T::kUnsigned16, 2, F::kTcpControlBits, kAny},
    {7, "sourceTransportPort", T::kUnsigned16, 2, F::kSourcePort, kAny},
    {8, "sourceIPv4Address", T::kIpv4Address, 4, F::kSourceIpv4, kV4},
    {10, "ingressInterface", T::kUnsigned32, 4, F::kIngressInterface, kAny},
    {11, "destinationTransportPort", T::kUnsigned16, 2, F::kDestinationPort, kAny},
    {12, "destinationIPv4Address", T::kIpv4Address, 4, F::kDestinationIpv4, kV4},
    {14, "egressInterface", T::kUnsigned32, 4, F::kEgressInterface, kAny},
    {21, "flowEndSysUpTime", T::kUnsigned32, 4, F::kNone, kAny},
    {22, "flowStartSysUpTime", T::kUnsigned32, 4, F::kNone, kAny},
    {27, "sourceIPv6Address", T::kIpv6Address, 16, F::kSourceIpv6, kV6},
    {28, "destinationIPv6Address", T::kIpv6Address, 16, F::kDestinationIpv6, kV6},
    {31, "flowLabelIPv6", T::kUnsigned32, 4, F::kFlowLabelIpv6, kV6},
    {32, "icmpTypeCodeIPv4", T::kUnsigned16, 2, F::kIcmpTypeCodeIpv4, kV4},
    {40, "exportedOctetTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {41, "exportedMessageTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {42, "exportedFlowRecordTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {52, "minimumTTL", T::kUnsigned8, 1, F::kMinimumTtl, kAny},
    {53, "maximumTTL", T::kUnsigned8, 1, F::kMaximumTtl, kAny},
    {54, "fragmentIdentification", T::kUnsigned32, 4, F::kFragmentIdentification, kAny},
    {58, "vlanId", T::kUnsigned16, 2, F::kVlanId, kAny},
    {60, "ipVersion", T::kUnsigned8, 1, F::kIpVersion, kAny},
    {61, "flowDirection", T::kUnsigned8, 1, F::kFlowDirection, kAny},
    {64, "ipv6ExtensionHeaders", T::kUnsigned32, 4, F::kIpv6ExtensionHeaders, kV6},
    {82, "interfaceName", T::kString, kVariableLength, F::kNone, kAny},
    {83, "interfaceDescription", T::kString, kVariableLength, F::kNone, kAny},
    {85, "octetTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {86, "packetTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {89, "forwardingStatus", T::kUnsigned32, 4, F::kNone, kAny},
    {130, "exporterIPv4Address", T::kIpv4Address, 4, F::kNone, kAny},
    {131, "exporterIPv6Address", T::kIpv6Address, 16, F::kNone, kAny},
    {136, "flowEndReason", T::kUnsigned8, 1, F::kFlowEndReason, kAny},
    {139, "icmpTypeCodeIPv6", T::kUnsigned16, 2, F::kIcmpTypeCodeIpv6, kV6},
    {143, "meteringProcessId", T::kUnsigned32, 4, F::kNone, kAny},
    {144, "exportingProcessId", T::kUnsigned32, 4, F::kNone, kAny},
    {149, "observationDomainId", T::kUnsigned32, 4, F::kNone, kAny},
    {152, "flowStartMilliseconds", T::kDateTimeMilliseconds, 8, F::kFlowStartMilliseconds, kAny},
    {153, "flowEndMilliseconds", T::kDateTimeMilliseconds, 8, F::kFlowEndMilliseconds, kAny},
    {160, "systemInitTimeMilliseconds", T::kDateTimeMilliseconds, 8, F::kNone, kAny},
    {163, "observedFlowTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {164, "ignoredPacketTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {165, "ignoredOctetTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {166, "notSentFlowTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {167, "notSentPacketTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {168, "notSentOctetTotalCount", T::kUnsigned64, 8, F::kNone, kAny},
    {243, "dot1qVlanId", T::kUnsigned16, 2, F::kDot1qVlanId, kAny},
    {245, "dot1qCustomerVlanId", T::kUnsigned16, 2, F::kDot1qCustomerVlanId, kAny},
    {322, "observationTimeSeconds", T::kDateTimeSeconds, 4, F::kNone, kAny},
    {323, "observationTimeMilliseconds", T::kDateTimeMilliseconds, 8, F::kNone, kAny},
};

}  // namespace

absl::Span<const InformationElement> AllInformationElements() { return kElements; }

const InformationElement* FindInformationElementByName(absl::string_view name) {
  for (const InformationElement& ie : kElements) {
    if (name == ie.name) return &ie;
  }
  return nullptr;
}

const InformationElement* FindInformationElementById(uint16_t id) {
  const InformationElement* lo = std::begin(kElements);
  const InformationElement* hi = std::end(kElements);
  while (lo < hi) {
    const InformationElement* mid = lo + (hi - lo) / 2;
    if (mid->id < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return (lo != std::end(kElements) && lo->id == id) ? lo : nullptr;
}

absl::string_view IeTypeName(IeType type) {
  switch (type) {
    case IeType::kUnsigned8: return "unsigned8";
    case IeType::kUnsigned16: return "unsigned16";
    case IeType::kUnsigned32: return "unsigned32";
    case IeType::kUnsigned64: return "unsigned64";
    case IeType::kIpv4Address: return "ipv4Address";
    case IeType::kIpv6Address: return "ipv6Address";
    case IeType::kDateTimeSeconds: return "dateTimeSeconds";
    case IeType::kDateTimeMilliseconds: return "dateTimeMilliseconds";
    case IeType::kString: return "string";
  }
  return "unknown";
}

}  // namespace tcflow::ipfix
