#include "daemon/runtime/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "gtest/gtest.h"

namespace tcflow::runtime {
namespace {

struct FormatCase {
  const char* input;  // parsed with inet_pton (v6) to build the 16 bytes
  uint8_t ip_version;
  const char* want;
};

void Bytes(const char* text, uint8_t (&out)[16]) {
  std::memset(out, 0, sizeof(out));
  if (inet_pton(AF_INET6, text, out) != 1) {
    ASSERT_EQ(inet_pton(AF_INET, text, out + 12), 1) << text;
    out[10] = out[11] = 0xff;
  }
}

TEST(FormatAddressTest, Table) {
  const FormatCase cases[] = {
      {"10.0.0.1", 4, "10.0.0.1"},
      {"0.0.0.0", 4, "0.0.0.0"},
      {"255.255.255.255", 4, "255.255.255.255"},
      {"192.168.100.9", 4, "192.168.100.9"},
      // RFC 5952 examples and edge cases.
      {"2001:db8::1", 6, "2001:db8::1"},
      {"2001:0db8:0000:0000:0000:0000:0002:0001", 6, "2001:db8::2:1"},
      {"2001:db8:0:1:1:1:1:1", 6, "2001:db8:0:1:1:1:1:1"},  // one zero group: no "::"
      {"2001:0:0:1:0:0:0:1", 6, "2001:0:0:1::1"},            // longest run wins
      {"2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1"},      // tie: the first run
      {"2001:DB8::AAAA", 6, "2001:db8::aaaa"},               // lowercase
      {"::", 6, "::"},
      {"::1", 6, "::1"},
      {"1::", 6, "1::"},
      {"fe80::1:2", 6, "fe80::1:2"},
      {"1:2:3:4:5:6:7:8", 6, "1:2:3:4:5:6:7:8"},
      {"1:0:0:0:0:0:0:0", 6, "1::"},
      {"0:0:1:0:0:0:0:0", 6, "0:0:1::"},
      {"ff02::1:ff00:1", 6, "ff02::1:ff00:1"},
      {"::ffff:192.0.2.1", 6, "::ffff:192.0.2.1"},  // mapped shown mixed when v6
      {"0:0:0:0:0:0:0:1", 6, "::1"},
      {"2001:db8:abcd:12:0:0:0:0", 6, "2001:db8:abcd:12::"},
  };
  for (const auto& c : cases) {
    uint8_t addr[16];
    Bytes(c.input, addr);
    EXPECT_EQ(FormatAddress(addr, c.ip_version), c.want) << c.input;
    char buf[kAddressBufferSize];
    size_t n = FormatAddressTo(addr, c.ip_version, buf);
    EXPECT_EQ(n, std::strlen(c.want));
    EXPECT_STREQ(buf, c.want);
  }
}

TEST(FormatAddressTest, AgreesWithInetNtopOnManyAddresses) {
  // glibc's inet_ntop follows RFC 5952 for non-mapped addresses; cross-check patterns of
  // zero groups exhaustively (every subset of the 8 groups zeroed).
  for (int mask = 0; mask < 256; ++mask) {
    uint8_t addr[16];
    for (int g = 0; g < 8; ++g) {
      uint16_t v = (mask >> g & 1) ? 0 : static_cast<uint16_t>(0x1000 * g + 0xa0 + g);
      addr[2 * g] = v >> 8;
      addr[2 * g + 1] = v & 0xff;
    }
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, kMappedPrefix, 12) == 0) continue;
    char want[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, addr, want, sizeof(want)), nullptr);
    // glibc writes ::a.b.c.d for IPv4-compatible addresses; RFC 5952 does not, skip them.
    bool compat = true;
    for (int i = 0; i < 12; ++i) compat &= addr[i] == 0;
    if (compat) continue;
    EXPECT_EQ(FormatAddress(addr, 6), want) << "mask " << mask;
  }
}

TEST(ParseAddressTest, Table) {
  auto v4 = ParseAddress("192.0.2.7");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->ip_version, 4);
  EXPECT_EQ(FormatAddress(v4->addr, 4), "192.0.2.7");
  EXPECT_EQ(FormatAddress(v4->addr, 6), "::ffff:192.0.2.7");

  auto v6 = ParseAddress("2001:db8::42");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->ip_version, 6);
  EXPECT_EQ(FormatAddress(v6->addr, 6), "2001:db8::42");

  for (const char* bad : {"", "1.2.3", "1.2.3.256", "2001:db8:::1", "host", "1.2.3.4/24"}) {
    auto r = ParseAddress(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("not an IPv4 or IPv6"), std::string::npos);
    }
  }
}

TEST(ProtocolTest, NamesAndNumbers) {
  EXPECT_EQ(ProtocolName(6), "tcp");
  EXPECT_EQ(ProtocolName(17), "udp");
  EXPECT_EQ(ProtocolName(1), "icmp");
  EXPECT_EQ(ProtocolName(58), "ipv6-icmp");
  EXPECT_EQ(ProtocolName(253), "253");
  EXPECT_EQ(*ParseProtocol("TCP"), 6);
  EXPECT_EQ(*ParseProtocol("udp"), 17);
  EXPECT_EQ(*ParseProtocol("icmpv6"), 58);
  EXPECT_EQ(*ParseProtocol("ipv6-icmp"), 58);
  EXPECT_EQ(*ParseProtocol("47"), 47);
  EXPECT_EQ(*ParseProtocol("0"), 0);
  EXPECT_FALSE(ParseProtocol("256").ok());
  EXPECT_FALSE(ParseProtocol("-1").ok());
  EXPECT_FALSE(ParseProtocol("tcpx").ok());
  EXPECT_FALSE(ParseProtocol("").ok());
}

}  // namespace
}  // namespace tcflow::runtime
