#include "daemon/control/requests.h"

#include "daemon/runtime/address.h"
#include "gtest/gtest.h"

namespace tcflow::control {
namespace {

TEST(FlushRequestTest, FlagsRoundTripThroughJson) {
  FlushFlags f;
  f.interface = "veth0";
  f.protocol = "tcp";
  f.src = "10.1.2.3";
  f.src_port = "40000";
  f.dst = "2001:db8::0:1";
  f.dst_port = "443";
  auto r = FlushRequestFromFlags(f);
  ASSERT_TRUE(r.ok()) << r.status();
  JsonValue json = EncodeFlushRequest(*r);
  EXPECT_EQ(json.Serialize(),
            R"({"interface":"veth0","protocol":6,"src":"10.1.2.3","sport":40000,)"
            R"("dst":"2001:db8::1","dport":443})");
  auto back = DecodeFlushRequest(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->all);
  EXPECT_EQ(back->interface, "veth0");
  EXPECT_EQ(back->filter.protocol, 6);
  EXPECT_EQ(back->filter.src, r->filter.src);
  EXPECT_EQ(back->filter.src->ip_version, 4);
  EXPECT_EQ(back->filter.dst->ip_version, 6);
  EXPECT_EQ(back->filter.src_port, 40000);
  EXPECT_EQ(back->filter.dst_port, 443);
  EXPECT_FALSE(back->filter.ifindex.has_value());

  // The decoded filter matches the flow it names and not its neighbour.
  tcflow_flow_key k{};
  std::memcpy(k.src_addr, r->filter.src->addr, 16);
  std::memcpy(k.dst_addr, r->filter.dst->addr, 16);
  k.ip_version = 4;  // mixed families cannot match both: src v4 and dst v6
  k.protocol = 6;
  k.src_port = 40000;
  k.dst_port = 443;
  EXPECT_FALSE(back->filter.Matches(k));
  FlushFlags v4only = f;
  v4only.dst = "10.9.9.9";
  auto r4 = FlushRequestFromFlags(v4only);
  ASSERT_TRUE(r4.ok());
  std::memcpy(k.dst_addr, r4->filter.dst->addr, 16);
  EXPECT_TRUE(r4->filter.Matches(k));
  k.src_port = 40001;
  EXPECT_FALSE(r4->filter.Matches(k));
}

TEST(FlushRequestTest, AllAndErrors) {
  FlushFlags all;
  all.all = true;
  auto r = FlushRequestFromFlags(all);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(EncodeFlushRequest(*r).Serialize(), R"({"all":true})");
  EXPECT_TRUE(DecodeFlushRequest(EncodeFlushRequest(*r))->filter.MatchesAll());

  struct Bad {
    FlushFlags flags;
    const char* message_part;
  };
  FlushFlags none;
  FlushFlags all_and_proto = all;
  all_and_proto.protocol = "udp";
  FlushFlags bad_port;
  bad_port.dst_port = "65536";
  FlushFlags neg_port;
  neg_port.src_port = "-1";
  FlushFlags bad_addr;
  bad_addr.src = "10.0.0.300";
  FlushFlags bad_proto;
  bad_proto.protocol = "tcpp";
  const Bad cases[] = {
      {none, "say which flows"},
      {all_and_proto, "cannot be combined"},
      {bad_port, "not a port number"},
      {neg_port, "not a port number"},
      {bad_addr, "not an IPv4 or IPv6 address"},
      {bad_proto, "not a protocol"},
  };
  for (const auto& c : cases) {
    auto res = FlushRequestFromFlags(c.flags);
    ASSERT_FALSE(res.ok()) << c.message_part;
    EXPECT_NE(res.status().message().find(c.message_part), std::string::npos)
        << res.status().message();
  }

  for (const char* bad : {R"({"cmd":"flush"})", R"({"cmd":"flush","sport":70000})",
                          R"({"cmd":"flush","all":1})", R"({"cmd":"flush","bogus":1})",
                          R"({"cmd":"flush","src":"nowhere"})",
                          R"({"cmd":"flush","all":true,"protocol":6})"}) {
    auto v = ParseJson(bad);
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(DecodeFlushRequest(*v).ok()) << bad;
  }
}

}  // namespace
}  // namespace tcflow::control
