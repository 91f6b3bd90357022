// Collector addresses: "192.0.2.1:4739", "[2001:db8::1]:4739", "host:4739" (resolved once).

#ifndef TCFLOW_DAEMON_IPFIX_SOCKET_ADDRESS_H_
#define TCFLOW_DAEMON_IPFIX_SOCKET_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcflow::ipfix {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  std::string ToString() const;  // "192.0.2.1:4739", "[::1]:4739"
};

// An IP literal and a port.
absl::StatusOr<SocketAddress> MakeSocketAddress(absl::string_view ip, uint16_t port);
// "ADDR:PORT" with ADDR an IPv4 literal, a bracketed IPv6 literal or a host name (resolved
// with getaddrinfo at call time).
absl::StatusOr<SocketAddress> ParseSocketAddress(absl::string_view text);

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_SOCKET_ADDRESS_H_
