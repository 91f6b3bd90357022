#include "daemon/runtime/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tcflow::runtime {
namespace {

size_t WriteDecimalByte(uint8_t v, char* out) {
  if (v >= 100) {
    out[0] = static_cast<char>('0' + v / 100);
    out[1] = static_cast<char>('0' + v / 10 % 10);
    out[2] = static_cast<char>('0' + v % 10);
    return 3;
  }
  if (v >= 10) {
    out[0] = static_cast<char>('0' + v / 10);
    out[1] = static_cast<char>('0' + v % 10);
    return 2;
  }
  out[0] = static_cast<char>('0' + v);
  return 1;
}

size_t WriteDottedQuad(const uint8_t* b, char* out) {
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    if (i) out[n++] = '.';
    n += WriteDecimalByte(b[i], out + n);
  }
  return n;
}

size_t WriteHexGroup(uint16_t v, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t n = 0;
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    unsigned nibble = (v >> shift) & 0xf;
    if (nibble || started || shift == 0) {
      out[n++] = kHex[nibble];
      started = true;
    }
  }
  return n;
}

bool IsV4Mapped(const uint8_t (&a)[16]) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kPrefix, sizeof(kPrefix)) == 0;
}

}  // namespace

size_t FormatAddressTo(const uint8_t (&addr)[16], uint8_t ip_version, char* buf) {
  size_t n = 0;
  if (ip_version == 4) {
    n = WriteDottedQuad(addr + 12, buf);
    buf[n] = '\0';
    return n;
  }
  if (IsV4Mapped(addr)) {  // RFC 5952 section 5: mixed notation
    std::memcpy(buf, "::ffff:", 7);
    n = 7 + WriteDottedQuad(addr + 12, buf + 7);
    buf[n] = '\0';
    return n;
  }
  uint16_t groups[8];
  for (int i = 0; i < 8; ++i) groups[i] = static_cast<uint16_t>(addr[2 * i] << 8 | addr[2 * i + 1]);
  // The longest run of zero groups, at least two long; the first one wins a tie.
  int best_start = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) {
    best_start = -1;
    best_len = 0;
  }
  for (int i = 0; i < 8;) {
    if (i == best_start) {
      buf[n++] = ':';
      buf[n++] = ':';
      i += best_len;
      continue;
    }
    // After "::" the next group needs no separator of its own.
    if (i > 0 && !(best_start >= 0 && i == best_start + best_len)) buf[n++] = ':';
    n += WriteHexGroup(groups[i], buf + n);
    ++i;
  }
  buf[n] = '\0';
  return n;
}

std::string FormatAddress(const uint8_t (&addr)[16], uint8_t ip_version) {
  char buf[kAddressBufferSize];
  size_t n = FormatAddressTo(addr, ip_version, buf);
  return std::string(buf, n);
}

absl::StatusOr<ParsedAddress> ParseAddress(absl::string_view text) {
  std::string s(text);
  ParsedAddress out;
  if (inet_pton(AF_INET, s.c_str(), out.addr + 12) == 1) {
    out.addr[10] = 0xff;
    out.addr[11] = 0xff;
    out.ip_version = 4;
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.addr) == 1) {
    out.ip_version = 6;
    return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", text, "' is not an IPv4 or IPv6 address"));
}

namespace {
struct ProtocolNameEntry {
  uint8_t number;
  const char* name;
};
constexpr ProtocolNameEntry kProtocolNames[] = {
    {1, "icmp"}, {2, "igmp"}, {4, "ipip"}, {6, "tcp"},   {17, "udp"},
    {41, "ipv6"}, {47, "gre"}, {50, "esp"}, {51, "ah"},  {58, "ipv6-icmp"},
    {89, "ospf"}, {103, "pim"}, {112, "vrrp"}, {132, "sctp"}, {136, "udplite"},
};
}  // namespace

std::string ProtocolName(uint8_t protocol) {
  for (const auto& e : kProtocolNames) {
    if (e.number == protocol) return e.name;
  }
  return absl::StrCat(protocol);
}

absl::StatusOr<uint8_t> ParseProtocol(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  if (lower == "icmp6" || lower == "icmpv6") lower = "ipv6-icmp";
  for (const auto& e : kProtocolNames) {
    if (lower == e.name) return e.number;
  }
  uint32_t n;
  if (!lower.empty() && absl::ascii_isdigit(lower[0]) && absl::SimpleAtoi(lower, &n) &&
      n <= 255) {
    return static_cast<uint8_t>(n);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not a protocol (a name such as tcp, udp, icmp, ipv6-icmp or 0..255)"));
}

}  // namespace tcflow::runtime
