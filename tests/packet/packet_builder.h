// A small builder of wire frames for tests and benchmarks: Ethernet, 802.1Q/802.1ad tags,
// IPv4 (options, fragments), IPv6 and every extension-header kind, TCP, UDP, SCTP, ICMP,
// ICMPv6, GRE and raw payload. Build() fills in what ties layers together (ethertypes,
// protocol/next-header numbers, lengths, checksums) unless a spec overrides it, and reports
// where each layer sits so tests can cut a frame at any header boundary.
//
//   Frame f = PacketBuilder().Ethernet().Vlan(10).Ipv4({.src = Ip4("10.0.0.1"),
//       .dst = Ip4("10.0.0.2")}).Udp(1234, 53).Payload(20).Build();

#ifndef TCFLOW_TESTS_PACKET_PACKET_BUILDER_H_
#define TCFLOW_TESTS_PACKET_PACKET_BUILDER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tcflow::packet {

using Mac = std::array<uint8_t, 6>;
using Ipv4Address = std::array<uint8_t, 4>;
using Ipv6Address = std::array<uint8_t, 16>;

// Parses a textual address; aborts on a malformed literal (test input is a programming error).
Ipv4Address Ip4(const std::string& text);
Ipv6Address Ip6(const std::string& text);

enum class LayerKind {
  kEthernet,
  kVlan,
  kIpv4,
  kIpv6,
  kIpv6Extension,  // Layer::protocol says which (0, 43, 44, 50, 51, 60, 135)
  kTcp,
  kUdp,
  kSctp,
  kIcmp,
  kIcmpv6,
  kGre,
  kPayload,
};

struct Layer {
  LayerKind kind;
  size_t offset = 0;      // first byte of the layer in the frame
  size_t length = 0;      // header length (payload: its length)
  uint8_t protocol = 0;   // IP protocol number of this layer where it has one
};

struct Frame {
  std::vector<uint8_t> bytes;
  std::vector<Layer> layers;

  // The first layer of `kind`, or nullptr.
  const Layer* Find(LayerKind kind) const;
  // A copy cut to its first `length` bytes (layers keep their nominal offsets).
  Frame Truncated(size_t length) const;
};

struct Ipv4Spec {
  Ipv4Address src = {10, 0, 0, 1};
  Ipv4Address dst = {10, 0, 0, 2};
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 1;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;   // in 8-byte units
  std::vector<uint8_t> options;   // padded with EOL to a multiple of 4
  std::optional<uint8_t> protocol;         // default: the next layer's
  std::optional<uint16_t> total_length;    // default: to the end of the frame
  std::optional<uint8_t> version_ihl;      // raw first byte, for malformed headers
};

struct Ipv6Spec {
  Ipv6Address src = Ip6("2001:db8::1");
  Ipv6Address dst = Ip6("2001:db8::2");
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  std::optional<uint8_t> next_header;        // default: the next layer's
  std::optional<uint16_t> payload_length;    // default: to the end of the frame
  std::optional<uint8_t> version;            // default 6
};

struct TcpSpec {
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint16_t flags = 0x10;  // ACK; the low 12 bits of the TCP header's 13th/14th bytes
  uint32_t seq = 1;
  uint32_t ack = 0;
  uint16_t window = 65535;
  std::vector<uint8_t> options;  // padded with NOP to a multiple of 4
};

class PacketBuilder {
 public:
  // ethertype: set it only when a raw Payload follows (default then 0x88b5, local experimental).
  PacketBuilder& Ethernet(std::optional<uint16_t> ethertype = std::nullopt,
                          Mac dst = {0x02, 0, 0, 0, 0, 2}, Mac src = {0x02, 0, 0, 0, 0, 1});
  PacketBuilder& Vlan(uint16_t vid, uint16_t tpid = 0x8100, uint8_t pcp = 0);
  PacketBuilder& Ipv4(const Ipv4Spec& spec = {});
  PacketBuilder& Ipv6(const Ipv6Spec& spec = {});

  // IPv6 extension headers. `length` is the whole header in bytes (multiple of 8; AH: of 4).
  // next_header overrides the chained value (e.g. a later fragment naming the upper layer).
  PacketBuilder& HopByHop(size_t length = 8, std::optional<uint8_t> next_header = {});
  PacketBuilder& DestinationOptions(size_t length = 8, std::optional<uint8_t> next_header = {});
  PacketBuilder& Routing(size_t length = 24, std::optional<uint8_t> next_header = {});
  PacketBuilder& Fragment(uint16_t offset, bool more, uint32_t id,
                          std::optional<uint8_t> next_header = {});
  PacketBuilder& Ah(size_t length = 24, std::optional<uint8_t> next_header = {});
  PacketBuilder& Mobility(size_t length = 8);
  // ESP ends the header chain: SPI, sequence number, then `encrypted` opaque bytes.
  PacketBuilder& Esp(uint32_t spi, size_t encrypted = 32);

  PacketBuilder& Tcp(const TcpSpec& spec = {});
  PacketBuilder& Udp(uint16_t sport = 40000, uint16_t dport = 53);
  PacketBuilder& Sctp(uint16_t sport = 40000, uint16_t dport = 38412);
  PacketBuilder& Icmp(uint8_t type = 8, uint8_t code = 0);
  // ICMPv6: `body` follows the 4-byte type/code/checksum header.
  PacketBuilder& Icmpv6(uint8_t type, uint8_t code = 0, std::vector<uint8_t> body = {0, 0, 0, 0});
  // Neighbour solicitation/advertisement: reserved/flags word, then the target address.
  PacketBuilder& NeighborSolicitation(const Ipv6Address& target);
  PacketBuilder& NeighborAdvertisement(const Ipv6Address& target);
  PacketBuilder& Gre(uint16_t protocol = 0x0800);
  PacketBuilder& Payload(size_t length, uint8_t fill = 0xab);
  PacketBuilder& Payload(std::vector<uint8_t> bytes);

  Frame Build() const;

 private:
  struct Spec {
    LayerKind kind;
    std::vector<uint8_t> header;          // serialised header with fixed fields
    std::optional<uint16_t> next_override;  // ethertype or protocol override
    std::optional<uint16_t> length_override;
    uint8_t protocol = 0;  // this layer's protocol number / ext header number
  };
  PacketBuilder& Add(Spec spec);
  PacketBuilder& Extension(uint8_t number, size_t length, std::optional<uint8_t> next_header);

  std::vector<Spec> specs_;
};

// RFC 1071 one's-complement sum folded to 16 bits (not inverted).
uint32_t ChecksumPartial(const uint8_t* data, size_t length, uint32_t sum = 0);
uint16_t ChecksumFinish(uint32_t sum);
// CRC32c as SCTP uses it (RFC 4960 appendix B).
uint32_t Crc32c(const uint8_t* data, size_t length);

}  // namespace tcflow::packet

#endif  // TCFLOW_TESTS_PACKET_PACKET_BUILDER_H_
