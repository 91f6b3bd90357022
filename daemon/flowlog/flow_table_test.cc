#include "daemon/flowlog/flow_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <vector>

#include "daemon/control/json.h"
#include "daemon/flowlog/flow_json.h"
#include "gtest/gtest.h"

namespace tcflow::flowlog {
namespace {

FlowRecord Flow(const char* src, const char* dst, uint8_t proto, uint16_t sport,
                uint16_t dport, uint64_t packets, uint64_t bytes) {
  FlowRecord r{};
  r.key.ifindex = 2;
  if (inet_pton(AF_INET, src, r.key.src_addr + 12) == 1) {
    inet_pton(AF_INET, dst, r.key.dst_addr + 12);
    r.key.src_addr[10] = r.key.src_addr[11] = r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
    r.key.ip_version = 4;
  } else {
    inet_pton(AF_INET6, src, r.key.src_addr);
    inet_pton(AF_INET6, dst, r.key.dst_addr);
    r.key.ip_version = 6;
  }
  r.key.protocol = proto;
  r.key.src_port = sport;
  r.key.dst_port = dport;
  r.packets = packets;
  r.bytes = bytes;
  return r;
}

// From records through the dump's JSON (as the daemon sends it) to flowctl's table.
TEST(FlowTableTest, RendersDumpObjects) {
  std::vector<FlowRecord> records = {
      Flow("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40000, 80, 10, 5230),
      Flow("2001:db8::1", "2001:db8::2", IPPROTO_ICMPV6, 0, 128 << 8, 4, 416),
      Flow("2001:db8::1", "2001:db8:0:0:1::3", IPPROTO_UDP, 5353, 53, 1234567, 98765432),
  };
  records[1].key.ifindex = 3;
  records[1].key.direction = TCFLOW_DIR_EGRESS;
  records[1].end_reason = FlowEndReason::kIdleTimeout;
  InterfaceNamer namer = [](uint32_t i) -> absl::string_view { return i == 2 ? "eth0" : ""; };
  std::string reply;
  control::JsonWriter w(&reply);
  w.BeginObject().Key("flows").BeginArray();
  for (const auto& r : records) {
    std::string obj;
    AppendFlowObject(r, &namer, &obj);
    w.Raw(obj);
  }
  w.EndArray().EndObject();
  auto v = control::ParseJson(reply);
  ASSERT_TRUE(v.ok()) << v.status();
  std::string table = FormatFlowTable(v->Find("flows")->items());
  EXPECT_EQ(table,
            "IFINDEX  DIR      PROTO      SRC                 DST                        PKTS     BYTES  STATE\n"
            "2(eth0)  ingress  tcp        10.0.0.1:40000      10.0.0.2:80                  10      5230  active\n"
            "3        egress   ipv6-icmp  [2001:db8::1]       [2001:db8::2] 128/0           4       416  idle_timeout\n"
            "2(eth0)  ingress  udp        [2001:db8::1]:5353  [2001:db8::1:0:0:3]:53  1234567  98765432  active\n");
}

TEST(FlowTableTest, MissingFieldsShowAsDashes) {
  auto v = control::ParseJson(R"([{"ifindex":7}])");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(FormatFlowTable(v->items()),
            "IFINDEX  DIR  PROTO  SRC  DST  PKTS  BYTES  STATE\n"
            "7        -    -      -    -       -      -  -\n");
  EXPECT_EQ(FormatFlowTable({}), "IFINDEX  DIR  PROTO  SRC  DST  PKTS  BYTES  STATE\n");
}

}  // namespace
}  // namespace tcflow::flowlog
