// Address and protocol text shared by the flow log, `flowctl dump` and flowctl's flags.
//
// Flow keys carry 128-bit addresses; IPv4 ones are IPv4-mapped (::ffff:a.b.c.d) and the
// key's ip_version says which family. IPv4 is shown as a dotted quad, IPv6 as RFC 5952
// text (lowercase, no leading zeros, the longest run of two or more zero groups as "::",
// the first on a tie; an IPv4-mapped IPv6 address in mixed notation "::ffff:192.0.2.1").

#ifndef TCFLOW_DAEMON_RUNTIME_ADDRESS_H_
#define TCFLOW_DAEMON_RUNTIME_ADDRESS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcflow::runtime {

// Long enough for any address this file writes, plus a NUL.
inline constexpr size_t kAddressBufferSize = 48;

// Writes the text of `addr` into `buf` (at least kAddressBufferSize bytes), NUL-terminated,
// and returns its length. Allocates nothing (for per-record use). `ip_version` 4 shows the
// mapped tail as a dotted quad; anything else formats the full 128 bits as IPv6.
size_t FormatAddressTo(const uint8_t (&addr)[16], uint8_t ip_version, char* buf);

std::string FormatAddress(const uint8_t (&addr)[16], uint8_t ip_version);

struct ParsedAddress {
  uint8_t addr[16] = {};  // IPv4 as IPv4-mapped, like the flow key
  uint8_t ip_version = 0;
};

// Parses a dotted quad or IPv6 text (inet_pton rules). Errors name the text.
absl::StatusOr<ParsedAddress> ParseAddress(absl::string_view text);

// "tcp", "udp", "icmp", "ipv6-icmp", ... for the common protocols; the number otherwise.
std::string ProtocolName(uint8_t protocol);
// Accepts the names above (case-insensitive) and "0".."255".
absl::StatusOr<uint8_t> ParseProtocol(absl::string_view text);

}  // namespace tcflow::runtime

#endif  // TCFLOW_DAEMON_RUNTIME_ADDRESS_H_
