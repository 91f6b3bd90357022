#include "daemon/ipfix/information_elements.h"

#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

TEST(InformationElementsTest, SortedAndUniqueById) {
  auto all = AllInformationElements();
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1].id, all[i].id) << all[i].name;
  }
}

TEST(InformationElementsTest, LookupsAgree) {
  for (const InformationElement& ie : AllInformationElements()) {
    EXPECT_EQ(FindInformationElementByName(ie.name), &ie);
    EXPECT_EQ(FindInformationElementById(ie.id), &ie);
  }
  EXPECT_EQ(FindInformationElementByName("noSuchElement"), nullptr);
  EXPECT_EQ(FindInformationElementByName("OCTETDELTACOUNT"), nullptr);
  EXPECT_EQ(FindInformationElementById(3), nullptr);
  EXPECT_EQ(FindInformationElementById(65535), nullptr);
}

// The numbers and types from the IANA registry, as checked in shared/reference/ipfix.md.
TEST(InformationElementsTest, IanaNumbersAndTypes) {
  struct Case {
    const char* name;
    uint16_t id;
    IeType type;
    bool fillable;
  };
  const Case cases[] = {
      {"octetDeltaCount", 1, IeType::kUnsigned64, true},
      {"packetDeltaCount", 2, IeType::kUnsigned64, true},
      {"protocolIdentifier", 4, IeType::kUnsigned8, true},
      {"ipClassOfService", 5, IeType::kUnsigned8, true},
      {"tcpControlBits", 6, IeType::kUnsigned16, true},
      {"sourceTransportPort", 7, IeType::kUnsigned16, true},
      {"sourceIPv4Address", 8, IeType::kIpv4Address, true},
      {"ingressInterface", 10, IeType::kUnsigned32, true},
      {"destinationTransportPort", 11, IeType::kUnsigned16, true},
      {"destinationIPv4Address", 12, IeType::kIpv4Address, true},
      {"egressInterface", 14, IeType::kUnsigned32, true},
      {"sourceIPv6Address", 27, IeType::kIpv6Address, true},
      {"destinationIPv6Address", 28, IeType::kIpv6Address, true},
      {"flowLabelIPv6", 31, IeType::kUnsigned32, true},
      {"icmpTypeCodeIPv4", 32, IeType::kUnsigned16, true},
      {"minimumTTL", 52, IeType::kUnsigned8, true},
      {"maximumTTL", 53, IeType::kUnsigned8, true},
      {"fragmentIdentification", 54, IeType::kUnsigned32, true},
      {"vlanId", 58, IeType::kUnsigned16, true},
      {"ipVersion", 60, IeType::kUnsigned8, true},
      {"flowDirection", 61, IeType::kUnsigned8, true},
      {"ipv6ExtensionHeaders", 64, IeType::kUnsigned32, true},
      {"interfaceName", 82, IeType::kString, false},
      {"interfaceDescription", 83, IeType::kString, false},
      {"forwardingStatus", 89, IeType::kUnsigned32, false},
      {"flowEndReason", 136, IeType::kUnsigned8, true},
      {"icmpTypeCodeIPv6", 139, IeType::kUnsigned16, true},
      {"flowStartMilliseconds", 152, IeType::kDateTimeMilliseconds, true},
      {"flowEndMilliseconds", 153, IeType::kDateTimeMilliseconds, true},
      {"notSentFlowTotalCount", 166, IeType::kUnsigned64, false},
      {"notSentPacketTotalCount", 167, IeType::kUnsigned64, false},
      {"notSentOctetTotalCount", 168, IeType::kUnsigned64, false},
      {"dot1qVlanId", 243, IeType::kUnsigned16, true},
      {"dot1qCustomerVlanId", 245, IeType::kUnsigned16, true},
      {"flowStartSysUpTime", 22, IeType::kUnsigned32, false},
  };
  for (const Case& c : cases) {
    const InformationElement* ie = FindInformationElementByName(c.name);
    ASSERT_NE(ie, nullptr) << c.name;
    EXPECT_EQ(ie->id, c.id) << c.name;
    EXPECT_EQ(ie->type, c.type) << c.name;
    EXPECT_EQ(FlowSourceCanFill(*ie), c.fillable) << c.name;
  }
}

TEST(InformationElementsTest, Families) {
  EXPECT_TRUE(AppliesToFamily(*FindInformationElementByName("sourceIPv4Address"), 4));
  EXPECT_FALSE(AppliesToFamily(*FindInformationElementByName("sourceIPv4Address"), 6));
  EXPECT_TRUE(AppliesToFamily(*FindInformationElementByName("flowLabelIPv6"), 6));
  EXPECT_FALSE(AppliesToFamily(*FindInformationElementByName("flowLabelIPv6"), 4));
  EXPECT_TRUE(AppliesToFamily(*FindInformationElementByName("octetDeltaCount"), 4));
  EXPECT_TRUE(AppliesToFamily(*FindInformationElementByName("octetDeltaCount"), 6));
}

}  // namespace
}  // namespace tcflow::ipfix
