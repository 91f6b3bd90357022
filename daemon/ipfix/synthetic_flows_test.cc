#include "daemon/ipfix/synthetic_flows.h"

#include <string>

#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

TEST(SyntheticFlowsTest, ParsesFlowText) {
  auto flows = ParseFlowText(
      "# a comment\n"
      "10.0.0.1 10.0.0.2 tcp 40000 443 10 5200 in=2 out=3 flags=0x1b duration_ms=1500\n"
      "\n"
      "2001:db8::1 2001:db8::2 udp 5353 53 1 80 dir=egress in=4 out=5 vlan=7 label=0x12345\n"
      "10.0.0.1 10.0.0.9 icmp 0 2048 3 252 start_ms=1000 duration_ms=0  # echo request\n",
      1700000000000);
  ASSERT_TRUE(flows.ok()) << flows.status();
  ASSERT_EQ(flows->size(), 3u);
  const FlowRecord& a = (*flows)[0];
  EXPECT_EQ(a.key.ip_version, 4);
  EXPECT_EQ(SourceAddressText(a), "10.0.0.1");
  EXPECT_EQ(a.key.protocol, 6);
  EXPECT_EQ(a.key.src_port, 40000);
  EXPECT_EQ(a.packets, 10u);
  EXPECT_EQ(a.bytes, 5200u);
  EXPECT_EQ(a.tcp_flags, 0x1b);
  EXPECT_EQ(a.end_ms, 1700000000000);
  EXPECT_EQ(a.start_ms, 1699999998500);
  const FlowRecord& b = (*flows)[1];
  EXPECT_TRUE(b.is_ipv6());
  EXPECT_EQ(DestinationAddressText(b), "2001:db8::2");
  EXPECT_EQ(b.key.direction, TCFLOW_DIR_EGRESS);
  // in/out name the ingress and egress interfaces whatever the direction.
  EXPECT_EQ(ExpectedValue(b, *FindInformationElementByName("ingressInterface")), 4u);
  EXPECT_EQ(ExpectedValue(b, *FindInformationElementByName("egressInterface")), 5u);
  EXPECT_EQ(b.flow_label, 0x12345u);
  const FlowRecord& c = (*flows)[2];
  EXPECT_EQ(ExpectedValue(c, *FindInformationElementByName("icmpTypeCodeIPv4")), 2048u);
  EXPECT_EQ(ExpectedValue(c, *FindInformationElementByName("destinationTransportPort")), 0u);
  EXPECT_EQ(c.start_ms, 1000);
  EXPECT_EQ(c.end_ms, 1000);
}

TEST(SyntheticFlowsTest, FlowTextErrors) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"10.0.0.1 10.0.0.2 tcp 1 2 3", "line 1: expected SRC DST PROTO SPORT DPORT PACKETS "
                                      "BYTES [key=value ...]"},
      {"\n10.0.0.x 10.0.0.2 tcp 1 2 3 4", "line 2: \"10.0.0.x\" is not an IP address"},
      {"10.0.0.1 ::1 tcp 1 2 3 4", "line 1: \"::1\" is not an IPv4 address like the source"},
      {"10.0.0.1 10.0.0.2 sctpx 1 2 3 4", "line 1: \"sctpx\" is not a protocol"},
      {"10.0.0.1 10.0.0.2 tcp 70000 2 3 4", "line 1: \"70000\" is not a port"},
      {"10.0.0.1 10.0.0.2 tcp 1 2 many 4", "line 1: \"many\" is not a packet count"},
      {"10.0.0.1 10.0.0.2 tcp 1 2 3 4 colour=red", "line 1: \"colour=red\" is not key=number"},
      {"10.0.0.1 10.0.0.2 tcp 1 2 3 4 colour=1", "line 1: unknown key \"colour\""},
      {"10.0.0.1 10.0.0.2 tcp 1 2 3 4 dir=up", "line 1: dir must be ingress or egress, not \"up\""},
      {"10.0.0.1 10.0.0.2 tcp 1 2 3 4 end_reason=9", "line 1: end_reason must be 1..5"},
  };
  for (const Case& c : cases) {
    auto flows = ParseFlowText(c.text, 0);
    ASSERT_FALSE(flows.ok()) << c.text;
    EXPECT_EQ(flows.status().message(), c.error);
  }
}

TEST(SyntheticFlowsTest, MixAndEveryValueSomewhere) {
  std::vector<FlowRecord> flows = SyntheticFlows(1000, 0.25, 1700000000000);
  size_t v6 = 0;
  for (const FlowRecord& f : flows) v6 += f.is_ipv6();
  EXPECT_EQ(v6, 250u);
  // Every element a flow can fill is non-zero in some record of each family it applies to.
  for (const InformationElement& ie : AllInformationElements()) {
    if (!FlowSourceCanFill(ie)) continue;
    for (int family : {4, 6}) {
      if (!AppliesToFamily(ie, family)) continue;
      bool nonzero = false;
      for (const FlowRecord& f : flows) {
        if (f.key.ip_version != family) continue;
        if (ExpectedValueText(f, ie) != "0") nonzero = true;
      }
      EXPECT_TRUE(nonzero) << ie.name << " IPv" << family;
    }
  }
}

}  // namespace
}  // namespace tcflow::ipfix
