#include "tests/packet/packet_builder.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace tcflow::packet {
namespace {

constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthDefaultRaw = 0x88b5;

void Put16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}
void Put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  Put16(b, at, v >> 16);
  Put16(b, at + 2, v & 0xffff);
}

bool IsL2(LayerKind k) { return k == LayerKind::kEthernet || k == LayerKind::kVlan; }
bool IsIp(LayerKind k) { return k == LayerKind::kIpv4 || k == LayerKind::kIpv6; }

}  // namespace

Ipv4Address Ip4(const std::string& text) {
  Ipv4Address a{};
  if (inet_pton(AF_INET, text.c_str(), a.data()) != 1) {
    std::fprintf(stderr, "bad IPv4 literal %s\n", text.c_str());
    std::abort();
  }
  return a;
}

Ipv6Address Ip6(const std::string& text) {
  Ipv6Address a{};
  if (inet_pton(AF_INET6, text.c_str(), a.data()) != 1) {
    std::fprintf(stderr, "bad IPv6 literal %s\n", text.c_str());
    std::abort();
  }
  return a;
}

const Layer* Frame::Find(LayerKind kind) const {
  for (const Layer& l : layers)
    if (l.kind == kind) return &l;
  return nullptr;
}

Frame Frame::Truncated(size_t length) const {
  Frame f = *this;
  if (length < f.bytes.size()) f.bytes.resize(length);
  return f;
}

uint32_t ChecksumPartial(const uint8_t* data, size_t length, uint32_t sum) {
  for (size_t i = 0; i + 1 < length; i += 2) sum += (uint32_t(data[i]) << 8) | data[i + 1];
  if (length & 1) sum += uint32_t(data[length - 1]) << 8;
  return sum;
}

uint16_t ChecksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint32_t Crc32c(const uint8_t* data, size_t length) {
  uint32_t crc = 0xffffffff;
  for (size_t i = 0; i < length; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82f63b78 & (0 - (crc & 1)));
  }
  return ~crc;
}

PacketBuilder& PacketBuilder::Add(Spec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

PacketBuilder& PacketBuilder::Ethernet(std::optional<uint16_t> ethertype, Mac dst, Mac src) {
  Spec s{LayerKind::kEthernet, std::vector<uint8_t>(14, 0)};
  for (int i = 0; i < 6; i++) {
    s.header[i] = dst[i];
    s.header[6 + i] = src[i];
  }
  s.next_override = ethertype;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Vlan(uint16_t vid, uint16_t tpid, uint8_t pcp) {
  // Stored as the tag's TCI + inner type; the TPID goes into the previous layer's type field.
  Spec s{LayerKind::kVlan, std::vector<uint8_t>(4, 0)};
  Put16(s.header, 0, static_cast<uint16_t>((pcp & 7) << 13 | (vid & 0x0fff)));
  s.protocol = 0;
  s.length_override = tpid;  // the ethertype that announces this tag
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Ipv4(const Ipv4Spec& spec) {
  std::vector<uint8_t> opts = spec.options;
  while (opts.size() % 4) opts.push_back(0);
  size_t ihl = 20 + opts.size();
  Spec s{LayerKind::kIpv4, std::vector<uint8_t>(ihl, 0)};
  s.header[0] = spec.version_ihl ? *spec.version_ihl : static_cast<uint8_t>(0x40 | (ihl / 4));
  s.header[1] = spec.tos;
  Put16(s.header, 4, spec.id);
  uint16_t frag = (spec.fragment_offset & 0x1fff) | (spec.dont_fragment ? 0x4000 : 0) |
                  (spec.more_fragments ? 0x2000 : 0);
  Put16(s.header, 6, frag);
  s.header[8] = spec.ttl;
  for (int i = 0; i < 4; i++) {
    s.header[12 + i] = spec.src[i];
    s.header[16 + i] = spec.dst[i];
  }
  for (size_t i = 0; i < opts.size(); i++) s.header[20 + i] = opts[i];
  if (spec.protocol) s.next_override = *spec.protocol;
  s.length_override = spec.total_length;
  s.protocol = 4;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Ipv6(const Ipv6Spec& spec) {
  Spec s{LayerKind::kIpv6, std::vector<uint8_t>(40, 0)};
  uint32_t w0 = (uint32_t(spec.version.value_or(6)) << 28) | (uint32_t(spec.traffic_class) << 20) |
                (spec.flow_label & 0xfffff);
  Put32(s.header, 0, w0);
  s.header[7] = spec.hop_limit;
  for (int i = 0; i < 16; i++) {
    s.header[8 + i] = spec.src[i];
    s.header[24 + i] = spec.dst[i];
  }
  if (spec.next_header) s.next_override = *spec.next_header;
  s.length_override = spec.payload_length;
  s.protocol = 41;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Extension(uint8_t number, size_t length,
                                        std::optional<uint8_t> next_header) {
  Spec s{LayerKind::kIpv6Extension, std::vector<uint8_t>(length, 0)};
  s.protocol = number;
  if (next_header) s.next_override = *next_header;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::HopByHop(size_t length, std::optional<uint8_t> next_header) {
  Extension(0, length, next_header);
  auto& h = specs_.back().header;
  h[1] = static_cast<uint8_t>(length / 8 - 1);
  h[2] = 1;  // PadN over the rest
  h[3] = static_cast<uint8_t>(length - 4);
  return *this;
}

PacketBuilder& PacketBuilder::DestinationOptions(size_t length,
                                                 std::optional<uint8_t> next_header) {
  Extension(60, length, next_header);
  auto& h = specs_.back().header;
  h[1] = static_cast<uint8_t>(length / 8 - 1);
  h[2] = 1;
  h[3] = static_cast<uint8_t>(length - 4);
  return *this;
}

PacketBuilder& PacketBuilder::Routing(size_t length, std::optional<uint8_t> next_header) {
  Extension(43, length, next_header);
  auto& h = specs_.back().header;
  h[1] = static_cast<uint8_t>(length / 8 - 1);
  h[2] = 4;  // segment routing header
  h[3] = 0;  // segments left
  for (size_t i = 8; i < length; i++) h[i] = static_cast<uint8_t>(0x20 + i);
  return *this;
}

PacketBuilder& PacketBuilder::Fragment(uint16_t offset, bool more, uint32_t id,
                                       std::optional<uint8_t> next_header) {
  Extension(44, 8, next_header);
  auto& h = specs_.back().header;
  Put16(h, 2, static_cast<uint16_t>((offset & 0x1fff) << 3 | (more ? 1 : 0)));
  Put32(h, 4, id);
  return *this;
}

PacketBuilder& PacketBuilder::Ah(size_t length, std::optional<uint8_t> next_header) {
  Extension(51, length, next_header);
  auto& h = specs_.back().header;
  h[1] = static_cast<uint8_t>(length / 4 - 2);  // 4-byte units, minus 2
  Put32(h, 4, 0x1000);                          // SPI
  Put32(h, 8, 1);                               // sequence number
  return *this;
}

PacketBuilder& PacketBuilder::Mobility(size_t length) {
  Extension(135, length, 59);  // payload proto must be "no next header"
  auto& h = specs_.back().header;
  h[1] = static_cast<uint8_t>(length / 8 - 1);
  h[2] = 0;  // binding refresh request
  return *this;
}

PacketBuilder& PacketBuilder::Esp(uint32_t spi, size_t encrypted) {
  Spec s{LayerKind::kIpv6Extension, std::vector<uint8_t>(8 + encrypted, 0x5a)};
  Put32(s.header, 0, spi);
  Put32(s.header, 4, 1);
  s.protocol = 50;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Tcp(const TcpSpec& spec) {
  std::vector<uint8_t> opts = spec.options;
  while (opts.size() % 4) opts.push_back(1);  // NOP
  size_t len = 20 + opts.size();
  Spec s{LayerKind::kTcp, std::vector<uint8_t>(len, 0)};
  Put16(s.header, 0, spec.sport);
  Put16(s.header, 2, spec.dport);
  Put32(s.header, 4, spec.seq);
  Put32(s.header, 8, spec.ack);
  Put16(s.header, 12, static_cast<uint16_t>((len / 4) << 12 | (spec.flags & 0x0fff)));
  Put16(s.header, 14, spec.window);
  for (size_t i = 0; i < opts.size(); i++) s.header[20 + i] = opts[i];
  s.protocol = 6;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Udp(uint16_t sport, uint16_t dport) {
  Spec s{LayerKind::kUdp, std::vector<uint8_t>(8, 0)};
  Put16(s.header, 0, sport);
  Put16(s.header, 2, dport);
  s.protocol = 17;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Sctp(uint16_t sport, uint16_t dport) {
  Spec s{LayerKind::kSctp, std::vector<uint8_t>(12, 0)};
  Put16(s.header, 0, sport);
  Put16(s.header, 2, dport);
  Put32(s.header, 4, 0x01020304);  // verification tag
  s.protocol = 132;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Icmp(uint8_t type, uint8_t code) {
  Spec s{LayerKind::kIcmp, std::vector<uint8_t>(8, 0)};
  s.header[0] = type;
  s.header[1] = code;
  Put16(s.header, 4, 0x1234);  // identifier
  Put16(s.header, 6, 1);       // sequence
  s.protocol = 1;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Icmpv6(uint8_t type, uint8_t code, std::vector<uint8_t> body) {
  Spec s{LayerKind::kIcmpv6, std::vector<uint8_t>(4, 0)};
  s.header[0] = type;
  s.header[1] = code;
  s.header.insert(s.header.end(), body.begin(), body.end());
  s.protocol = 58;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::NeighborSolicitation(const Ipv6Address& target) {
  std::vector<uint8_t> body(4, 0);
  body.insert(body.end(), target.begin(), target.end());
  return Icmpv6(135, 0, body);
}

PacketBuilder& PacketBuilder::NeighborAdvertisement(const Ipv6Address& target) {
  std::vector<uint8_t> body = {0x60, 0, 0, 0};  // solicited + override
  body.insert(body.end(), target.begin(), target.end());
  return Icmpv6(136, 0, body);
}

PacketBuilder& PacketBuilder::Gre(uint16_t protocol) {
  Spec s{LayerKind::kGre, std::vector<uint8_t>(4, 0)};
  Put16(s.header, 2, protocol);
  s.protocol = 47;
  return Add(std::move(s));
}

PacketBuilder& PacketBuilder::Payload(size_t length, uint8_t fill) {
  return Payload(std::vector<uint8_t>(length, fill));
}

PacketBuilder& PacketBuilder::Payload(std::vector<uint8_t> bytes) {
  Spec s{LayerKind::kPayload, std::move(bytes)};
  return Add(std::move(s));
}

Frame PacketBuilder::Build() const {
  Frame f;
  for (const Spec& s : specs_) {
    f.layers.push_back(Layer{s.kind, f.bytes.size(), s.header.size(), s.protocol});
    f.bytes.insert(f.bytes.end(), s.header.begin(), s.header.end());
  }
  std::vector<uint8_t>& b = f.bytes;
  const size_t n = specs_.size();

  // Chaining fields: what announces layer i+1 inside layer i.
  for (size_t i = 0; i < n; i++) {
    const Spec& s = specs_[i];
    const Layer& l = f.layers[i];
    const Spec* next = i + 1 < n ? &specs_[i + 1] : nullptr;
    if (IsL2(s.kind)) {
      uint16_t type = kEthDefaultRaw;
      if (s.kind == LayerKind::kEthernet && s.next_override) {
        type = *s.next_override;
      } else if (next && next->kind == LayerKind::kVlan) {
        type = *next->length_override;
      } else if (next && next->kind == LayerKind::kIpv4) {
        type = kEthIpv4;
      } else if (next && next->kind == LayerKind::kIpv6) {
        type = kEthIpv6;
      }
      // Ethernet: type at 12; a VLAN tag: inner type at 2.
      Put16(b, l.offset + (s.kind == LayerKind::kEthernet ? 12 : 2), type);
      continue;
    }
    uint8_t proto;
    if (s.next_override) {
      proto = static_cast<uint8_t>(*s.next_override);
    } else if (next && next->kind != LayerKind::kPayload) {
      proto = next->protocol;
    } else {
      proto = s.kind == LayerKind::kIpv4 ? 253 : 59;  // experimental / no next header
    }
    if (s.kind == LayerKind::kIpv4) {
      b[l.offset + 9] = proto;
      uint16_t tot = s.length_override ? *s.length_override
                                       : static_cast<uint16_t>(b.size() - l.offset);
      Put16(b, l.offset + 2, tot);
      Put16(b, l.offset + 10, 0);
      Put16(b, l.offset + 10, ChecksumFinish(ChecksumPartial(&b[l.offset], l.length)));
    } else if (s.kind == LayerKind::kIpv6) {
      b[l.offset + 6] = proto;
      uint16_t pl = s.length_override ? *s.length_override
                                      : static_cast<uint16_t>(b.size() - l.offset - 40);
      Put16(b, l.offset + 4, pl);
    } else if (s.kind == LayerKind::kIpv6Extension && s.protocol != 50) {
      b[l.offset] = proto;
    }
  }

  // Transport checksums over the pseudo-header of the nearest IP layer before them.
  for (size_t i = 0; i < n; i++) {
    const Layer& l = f.layers[i];
    if (l.kind != LayerKind::kTcp && l.kind != LayerKind::kUdp && l.kind != LayerKind::kIcmp &&
        l.kind != LayerKind::kIcmpv6 && l.kind != LayerKind::kSctp)
      continue;
    const size_t seg_len = b.size() - l.offset;
    if (l.kind == LayerKind::kSctp) {
      Put32(b, l.offset + 8, 0);
      uint32_t crc = Crc32c(&b[l.offset], seg_len);
      // CRC32c goes on the wire little-endian-first (RFC 4960 appendix B).
      b[l.offset + 8] = crc & 0xff;
      b[l.offset + 9] = (crc >> 8) & 0xff;
      b[l.offset + 10] = (crc >> 16) & 0xff;
      b[l.offset + 11] = crc >> 24;
      continue;
    }
    size_t csum_at = l.kind == LayerKind::kTcp ? 16 : l.kind == LayerKind::kUdp ? 6 : 2;
    if (l.kind == LayerKind::kUdp) Put16(b, l.offset + 4, static_cast<uint16_t>(seg_len));
    Put16(b, l.offset + csum_at, 0);
    uint32_t sum = 0;
    if (l.kind != LayerKind::kIcmp) {
      const Layer* ip = nullptr;
      for (size_t j = i; j-- > 0;)
        if (IsIp(f.layers[j].kind)) {
          ip = &f.layers[j];
          break;
        }
      if (ip && ip->kind == LayerKind::kIpv4) {
        sum = ChecksumPartial(&b[ip->offset + 12], 8);
        sum += l.protocol;
        sum += static_cast<uint32_t>(seg_len);
      } else if (ip) {
        sum = ChecksumPartial(&b[ip->offset + 8], 32);
        sum += static_cast<uint32_t>(seg_len >> 16) + static_cast<uint32_t>(seg_len & 0xffff);
        sum += l.protocol;
      }
    }
    sum = ChecksumPartial(&b[l.offset], seg_len, sum);
    uint16_t c = ChecksumFinish(sum);
    if (l.kind == LayerKind::kUdp && c == 0) c = 0xffff;
    Put16(b, l.offset + csum_at, c);
  }
  return f;
}

}  // namespace tcflow::packet
