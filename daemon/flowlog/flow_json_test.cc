#include "daemon/flowlog/flow_json.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "daemon/control/json.h"
#include "gtest/gtest.h"

namespace tcflow::flowlog {
namespace {

FlowRecord V4Tcp() {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.other_ifindex = 3;
  r.key.src_addr[10] = r.key.src_addr[11] = 0xff;
  r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
  inet_pton(AF_INET, "10.0.0.1", r.key.src_addr + 12);
  inet_pton(AF_INET, "192.168.1.20", r.key.dst_addr + 12);
  r.key.src_port = 40000;
  r.key.dst_port = 80;
  r.key.ip_version = 4;
  r.key.protocol = IPPROTO_TCP;
  r.key.direction = TCFLOW_DIR_EGRESS;
  r.packets = 10;
  r.bytes = 5230;
  r.start_ms = 1795303440123;
  r.end_ms = 1795303445000;
  r.tcp_flags = 0x1b;
  r.min_ttl = 63;
  r.max_ttl = 64;
  r.end_reason = FlowEndReason::kEndOfFlow;
  return r;
}

TEST(FlowJsonTest, Ipv4TcpRecordExactly) {
  std::string out;
  AppendFlowJson(V4Tcp(), nullptr, &out);
  EXPECT_EQ(out,
            "{\"start\":\"2026-11-21T23:24:00.123Z\",\"end\":\"2026-11-21T23:24:05.000Z\","
            "\"start_ms\":1795303440123,\"end_ms\":1795303445000,\"ifindex\":2,"
            "\"other_ifindex\":3,\"direction\":\"egress\",\"ip_version\":4,\"protocol\":6,"
            "\"protocol_name\":\"tcp\",\"src\":\"10.0.0.1\",\"dst\":\"192.168.1.20\","
            "\"src_port\":40000,\"dst_port\":80,\"packets\":10,\"bytes\":5230,"
            "\"tcp_flags\":27,\"tcp_flags_text\":\"FIN|SYN|PSH|ACK\",\"vlan\":0,"
            "\"inner_vlan\":0,\"mark\":0,\"tos\":0,\"min_ttl\":63,\"max_ttl\":64,"
            "\"flow_label\":0,\"frag_id\":0,\"ext_hdr_bitmap\":0,\"ext_hdr_depth\":0,"
            "\"key_flags\":[],\"end_reason\":\"end_of_flow\"}\n");
}

TEST(FlowJsonTest, Ipv6IcmpWithNamesAndFlags) {
  FlowRecord r{};
  r.key.ifindex = 7;
  r.key.other_ifindex = 0;
  inet_pton(AF_INET6, "2001:db8:0:0:1::2", r.key.src_addr);
  inet_pton(AF_INET6, "ff02::1:ff00:2", r.key.dst_addr);
  r.key.ip_version = 6;
  r.key.protocol = IPPROTO_ICMPV6;
  r.key.dst_port = 135 << 8 | 0;  // neighbour solicitation
  r.key.vlan_id = 100;
  r.key.key_flags = TCFLOW_KEY_EXT_CHAIN_TRUNCATED | TCFLOW_KEY_NON_FIRST_FRAGMENT;
  r.packets = 1;
  r.bytes = 72;
  r.flow_label = 0xabcde;
  r.ext_hdr_bitmap = 0x4;
  r.ext_hdr_depth = 1;
  r.end_reason = FlowEndReason::kIdleTimeout;
  InterfaceNamer namer = [](uint32_t ifindex) -> absl::string_view {
    return ifindex == 7 ? "eth\"7" : "";
  };
  std::string out;
  AppendFlowJson(r, &namer, &out);
  ASSERT_EQ(out.back(), '\n');
  auto v = control::ParseJson(out);
  ASSERT_TRUE(v.ok()) << v.status() << "\n" << out;
  EXPECT_EQ(v->GetString("src"), "2001:db8::1:0:0:2");
  EXPECT_EQ(v->GetString("dst"), "ff02::1:ff00:2");
  EXPECT_EQ(v->GetString("ifname"), "eth\"7");
  EXPECT_EQ(v->Find("other_ifname"), nullptr);
  EXPECT_EQ(v->GetString("protocol_name"), "ipv6-icmp");
  EXPECT_EQ(v->GetInt("icmp_type"), 135);
  EXPECT_EQ(v->GetInt("icmp_code"), 0);
  EXPECT_EQ(v->GetInt("vlan"), 100);
  EXPECT_EQ(v->GetInt("flow_label"), 0xabcde);
  EXPECT_EQ(v->GetString("end_reason"), "idle_timeout");
  EXPECT_EQ(v->GetString("direction"), "ingress");
  EXPECT_EQ(v->Find("key_flags")->Serialize(), R"(["non_first_fragment","ext_chain_truncated"])");
  EXPECT_EQ(v->GetString("start"), "1970-01-01T00:00:00.000Z");
}

TEST(FlowJsonTest, Iso8601Table) {
  const struct {
    int64_t ms;
    const char* want;
  } cases[] = {
      {0, "1970-01-01T00:00:00.000Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {951782400000, "2000-02-29T00:00:00.000Z"},
      {951868799999, "2000-02-29T23:59:59.999Z"},
      {1709210096789, "2024-02-29T12:34:56.789Z"},
      {4102444800000, "2100-01-01T00:00:00.000Z"},
      {1795303440123, "2026-11-21T23:24:00.123Z"},
  };
  for (const auto& c : cases) {
    char buf[32];
    FormatIso8601Ms(c.ms, buf);
    EXPECT_STREQ(buf, c.want) << c.ms;
  }
}

TEST(FlowJsonTest, Names) {
  EXPECT_STREQ(FlowEndReasonName(FlowEndReason::kLackOfResources), "lack_of_resources");
  EXPECT_STREQ(FlowEndReasonName(FlowEndReason::kActiveTimeout), "active_timeout");
  EXPECT_STREQ(FlowEndReasonName(FlowEndReason::kForcedEnd), "forced_end");
  EXPECT_STREQ(FlowEndReasonName(FlowEndReason::kNone), "active");
  EXPECT_EQ(TcpFlagsText(0), "");
  EXPECT_EQ(TcpFlagsText(0x1ff), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR|NS");
  EXPECT_EQ(TcpFlagsText(0x12), "SYN|ACK");
}

}  // namespace
}  // namespace tcflow::flowlog
