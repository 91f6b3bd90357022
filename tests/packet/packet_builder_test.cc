#include "tests/packet/packet_builder.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow::packet {
namespace {

uint16_t Get16(const std::vector<uint8_t>& b, size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }

// A correct one's-complement checksum sums (with the checksum field in place) to 0xffff.
bool ChecksumOk(const uint8_t* p, size_t n, uint32_t pseudo = 0) {
  return ChecksumFinish(ChecksumPartial(p, n, pseudo)) == 0;
}

TEST(PacketBuilderTest, Ipv4UdpLengthsAndChecksums) {
  Frame f = PacketBuilder()
                .Ethernet()
                .Ipv4({.src = Ip4("192.0.2.1"), .dst = Ip4("198.51.100.7"), .ttl = 33})
                .Udp(1234, 53)
                .Payload(11)
                .Build();
  ASSERT_EQ(f.bytes.size(), 14u + 20 + 8 + 11);
  EXPECT_EQ(Get16(f.bytes, 12), 0x0800);
  EXPECT_EQ(f.bytes[14], 0x45);
  EXPECT_EQ(Get16(f.bytes, 16), 39);  // total length
  EXPECT_EQ(f.bytes[23], 17);
  EXPECT_EQ(f.bytes[22], 33);
  EXPECT_TRUE(ChecksumOk(&f.bytes[14], 20));
  EXPECT_EQ(Get16(f.bytes, 38), 19);  // UDP length
  uint32_t pseudo = ChecksumPartial(&f.bytes[26], 8) + 17 + 19;
  EXPECT_TRUE(ChecksumOk(&f.bytes[34], 19, pseudo));
  const Layer* udp = f.Find(LayerKind::kUdp);
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->offset, 34u);
  EXPECT_EQ(udp->length, 8u);
}

TEST(PacketBuilderTest, QinQAndIpv4OptionsAndTcp) {
  Frame f = PacketBuilder()
                .Ethernet()
                .Vlan(100, 0x88a8)
                .Vlan(200)
                .Ipv4({.options = {0x94, 0x04, 0, 0}})  // router alert
                .Tcp({.sport = 1, .dport = 2, .flags = 0x02, .options = {2, 4, 0x05, 0xb4}})
                .Build();
  EXPECT_EQ(Get16(f.bytes, 12), 0x88a8);
  EXPECT_EQ(Get16(f.bytes, 14) & 0xfff, 100);
  EXPECT_EQ(Get16(f.bytes, 16), 0x8100);
  EXPECT_EQ(Get16(f.bytes, 18) & 0xfff, 200);
  EXPECT_EQ(Get16(f.bytes, 20), 0x0800);
  EXPECT_EQ(f.bytes[22], 0x46);  // IHL 6
  EXPECT_TRUE(ChecksumOk(&f.bytes[22], 24));
  EXPECT_EQ(f.bytes[46 + 12] >> 4, 6);  // TCP data offset with MSS option
  uint32_t pseudo = ChecksumPartial(&f.bytes[22 + 12], 8) + 6 + 24;
  EXPECT_TRUE(ChecksumOk(&f.bytes[46], 24, pseudo));
}

TEST(PacketBuilderTest, Ipv6ExtensionChainIsLinked) {
  Frame f = PacketBuilder()
                .Ethernet()
                .Ipv6({.flow_label = 0x12345})
                .HopByHop()
                .Routing()
                .Fragment(0, true, 77)
                .DestinationOptions(16)
                .Ah()
                .Icmpv6(128, 0)
                .Build();
  size_t ip = 14;
  EXPECT_EQ(Get16(f.bytes, 12), 0x86dd);
  EXPECT_EQ(f.bytes[ip + 6], 0);                    // -> hop-by-hop
  EXPECT_EQ(f.bytes[ip + 40], 43);                  // -> routing
  EXPECT_EQ(f.bytes[ip + 48], 44);                  // -> fragment
  EXPECT_EQ(f.bytes[ip + 48 + 24], 60);             // -> dest options
  EXPECT_EQ(f.bytes[ip + 48 + 24 + 8], 51);         // -> AH
  EXPECT_EQ(f.bytes[ip + 48 + 24 + 8 + 1], 1);      // 16 bytes
  EXPECT_EQ(f.bytes[ip + 48 + 24 + 8 + 16], 58);    // -> ICMPv6
  EXPECT_EQ(f.bytes[ip + 48 + 24 + 8 + 16 + 1], 4); // AH 24 bytes: 24/4-2
  EXPECT_EQ(Get16(f.bytes, ip + 4), f.bytes.size() - ip - 40);
  const Layer* icmp = f.Find(LayerKind::kIcmpv6);
  ASSERT_NE(icmp, nullptr);
  EXPECT_EQ(icmp->offset, ip + 40 + 8 + 24 + 8 + 16 + 24);
}

TEST(PacketBuilderTest, Icmpv6ChecksumCoversPseudoHeader) {
  Frame f = PacketBuilder().Ethernet().Ipv6().NeighborSolicitation(Ip6("fe80::1")).Build();
  size_t l4 = 54, len = f.bytes.size() - l4;
  uint32_t pseudo = ChecksumPartial(&f.bytes[22], 32) + len + 58;
  EXPECT_TRUE(ChecksumOk(&f.bytes[l4], len, pseudo));
  EXPECT_EQ(f.bytes[l4], 135);
}

TEST(PacketBuilderTest, SctpCrc32cKnownVector) {
  // RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
}

TEST(PacketBuilderTest, TruncatedKeepsLayerMap) {
  Frame f = PacketBuilder().Ethernet().Ipv4().Udp().Build();
  Frame t = f.Truncated(20);
  EXPECT_EQ(t.bytes.size(), 20u);
  EXPECT_EQ(t.layers.size(), f.layers.size());
}

}  // namespace
}  // namespace tcflow::packet
