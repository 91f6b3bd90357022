#include "daemon/ipfix/template.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(p), n));
}

FlowRecord Parse(const std::string& line) {
  auto flows = ParseFlowText(line, 1700000000000);
  EXPECT_TRUE(flows.ok()) << flows.status();
  EXPECT_EQ(flows->size(), 1u);
  return flows->at(0);
}

TEST(TemplateTest, DefaultTemplateSizes) {
  auto v4 = BuildFlowTemplate(kIpv4TemplateId, 4, DefaultTemplateElementNames());
  auto v6 = BuildFlowTemplate(kIpv6TemplateId, 6, DefaultTemplateElementNames());
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v4->record_length, 66);
  EXPECT_EQ(v6->record_length, 90);
  EXPECT_EQ(v4->fields.size(), 20u);
  EXPECT_EQ(v6->fields.size(), 20u);
  // The template record: id, count, then (id, length) pairs.
  std::vector<uint8_t> buf(v4->TemplateRecordSize());
  ASSERT_EQ(v4->WriteTemplateRecord(buf.data()), 4 + 20 * 4u);
  EXPECT_EQ(Hex(buf.data(), 16), "01000014009800080099000800080004");
}

TEST(TemplateTest, BuildErrors) {
  struct Case {
    std::vector<std::string> names;
    std::string error;
  };
  const Case cases[] = {
      {{"octetDeltaCount", "bogus"}, "unknown information element \"bogus\""},
      {{"octetDeltaCount", "octetDeltaCount"},
       "information element \"octetDeltaCount\" is listed twice"},
      {{"forwardingStatus"}, "information element \"forwardingStatus\" cannot be filled"},
      {{"sourceIPv6Address"}, "the IPv4 template has no elements"},
      {{}, "the IPv4 template has no elements"},
  };
  for (const Case& c : cases) {
    auto t = BuildFlowTemplate(kIpv4TemplateId, 4, c.names);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(std::string(t.status().message()).find(c.error), std::string::npos)
        << t.status();
  }
  EXPECT_FALSE(BuildFlowTemplate(255, 4, DefaultTemplateElementNames()).ok());
}

// Records in, exact bytes out (the default template's order).
TEST(TemplateTest, EncodesExactBytes) {
  struct Case {
    const char* flow;
    const char* hex;
  };
  const Case cases[] = {
      {"10.0.0.1 192.0.2.9 tcp 40000 443 10 5200 in=2 out=3 flags=0x1b duration_ms=1500 "
       "vlan=100 tos=0x20 ttl_min=60 ttl_max=64 end_reason=3",
       "0000018bcfe56224"    // start 1699999998500
       "0000018bcfe56800"    // end 1700000000000
       "0a000001" "c0000209"  // addresses
       "9c40" "01bb" "06"    // ports, protocol
       "0000"                // icmpTypeCodeIPv4
       "00000002" "00000003" "00"  // ingress, egress, direction
       "0064" "0000"         // vlan, inner vlan
       "0000000000001450" "000000000000000a"  // octets, packets
       "001b" "20" "3c" "40" "03"},
      // ICMP echo request: ports 0, type/code in icmpTypeCodeIPv4; egress swaps interfaces.
      {"10.0.0.1 10.0.0.2 icmp 0 2048 1 84 in=5 out=6 dir=egress start_ms=1000 "
       "duration_ms=0 end_reason=1",
       "00000000000003e8" "00000000000003e8"
       "0a000001" "0a000002" "0000" "0000" "01" "0800"
       "00000005" "00000006" "01" "0000" "0000"
       "0000000000000054" "0000000000000001" "0000" "00" "40" "40" "01"},
  };
  auto v4 = BuildFlowTemplate(kIpv4TemplateId, 4, DefaultTemplateElementNames());
  ASSERT_TRUE(v4.ok());
  for (const Case& c : cases) {
    FlowRecord r = Parse(c.flow);
    std::vector<uint8_t> out(v4->record_length);
    EncodeFlowRecord(*v4, r, out.data());
    EXPECT_EQ(Hex(out.data(), out.size()), c.hex) << c.flow;
  }
}

// The straight-line default path writes what the field-by-field path writes.
TEST(TemplateTest, DefaultFastPathMatchesGenericPath) {
  for (int family : {4, 6}) {
    auto t = BuildFlowTemplate(family == 4 ? kIpv4TemplateId : kIpv6TemplateId, family,
                               DefaultTemplateElementNames());
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(t->is_default);
    for (const FlowRecord& r : SyntheticFlows(500, family == 6 ? 1.0 : 0.0, 1700000000000)) {
      std::vector<uint8_t> fast(t->record_length, 0xaa), slow(t->record_length, 0x55);
      EncodeFlowRecord(*t, r, fast.data());
      EncodeFlowRecordGeneric(*t, r, slow.data());
      ASSERT_EQ(Hex(fast.data(), fast.size()), Hex(slow.data(), slow.size()));
    }
  }
  auto other = BuildFlowTemplate(kIpv4TemplateId, 4, AllFlowElementNames());
  EXPECT_FALSE(other->is_default);
}

TEST(TemplateTest, EncodesIpv6ExactBytes) {
  auto v6 = BuildFlowTemplate(kIpv6TemplateId, 6,
                              {"sourceIPv6Address", "destinationIPv6Address", "flowLabelIPv6",
                               "icmpTypeCodeIPv6", "ipv6ExtensionHeaders", "ipVersion",
                               "sourceIPv4Address"});
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->record_length, 16 + 16 + 4 + 2 + 4 + 1);  // the IPv4 element is left out
  FlowRecord r = Parse("2001:db8::1 ff02::2 icmpv6 0 34304 1 64 label=0x12345 ext=0x12");
  std::vector<uint8_t> out(v6->record_length);
  EncodeFlowRecord(*v6, r, out.data());
  EXPECT_EQ(Hex(out.data(), out.size()),
            "20010db8000000000000000000000001"
            "ff020000000000000000000000000002"
            "00012345" "8600" "00000012" "06");
}

TEST(TemplateTest, OptionsTemplates) {
  Template rel = ReliabilityOptionsTemplate();
  EXPECT_TRUE(rel.is_options());
  EXPECT_EQ(rel.record_length, 4 + 3 * 8 + 2 * 8);
  std::vector<uint8_t> buf(rel.TemplateRecordSize());
  rel.WriteTemplateRecord(buf.data());
  EXPECT_EQ(Hex(buf.data(), buf.size()),
            "010200060001" "00900004" "00a60008" "00a70008" "00a80008" "01430008" "01430008");
  Template itf = InterfaceOptionsTemplate();
  EXPECT_EQ(itf.record_length, 0);  // variable-length strings
  buf.resize(itf.TemplateRecordSize());
  itf.WriteTemplateRecord(buf.data());
  EXPECT_EQ(Hex(buf.data(), buf.size()), "010400030001" "000a0004" "0052ffff" "0053ffff");
}

}  // namespace
}  // namespace tcflow::ipfix
