// Address syntax of the config: IP literals, host names, "IP:PORT" listen addresses and
// interface names/globs. Pure string checks: nothing is resolved or looked up here.

#ifndef TCFLOW_CONFIG_ADDRESS_H_
#define TCFLOW_CONFIG_ADDRESS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace tcflow::config {

struct IpLiteral {
  int family = 0;         // 4 or 6
  uint8_t bytes[16] = {};  // network order; IPv4 uses the first 4
  std::string zone;       // IPv6 scope ("eth0" in "fe80::1%eth0"), else empty

  bool is_unspecified() const;
  bool is_multicast() const;
  // Canonical text (inet_ntop form plus "%zone").
  std::string ToString() const;
};

// An IPv4 dotted quad or an IPv6 address (with an optional %zone); nullopt otherwise.
std::optional<IpLiteral> ParseIpLiteral(absl::string_view text);

// RFC 1123 host name: dot-separated labels of letters, digits and '-', 1-63 bytes each,
// 253 in all, an optional final dot.
bool IsHostName(absl::string_view text);

// Why `text` cannot be a collector address, or "" when it can (IP literal or host name).
std::string CollectorAddressProblem(absl::string_view text);

// "IP:PORT" / "[IPv6]:PORT" with a port of 1-65535.
struct ListenAddress {
  IpLiteral ip;
  uint16_t port = 0;
};
std::optional<ListenAddress> ParseListenAddress(absl::string_view text);

// Why `pattern` is not a usable interface name or fnmatch(3) glob, or "" when it is.
std::string InterfacePatternProblem(absl::string_view pattern);

// True when `pattern` has glob wildcards.
bool IsGlob(absl::string_view pattern);

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_ADDRESS_H_
