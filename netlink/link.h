// Interfaces as rtnetlink reports them (RTM_GETLINK / RTM_NEWLINK / RTM_DELLINK).

#ifndef TCFLOW_NETLINK_LINK_H_
#define TCFLOW_NETLINK_LINK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "netlink/socket.h"

struct nlmsghdr;

namespace tcflow::netlink {

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  uint32_t flags = 0;  // IFF_*
  bool is_loopback() const;
  bool is_up() const;
};

// Parses an RTM_NEWLINK/RTM_DELLINK message; nullopt for anything else or without a name.
std::optional<LinkInfo> ParseLinkMessage(const nlmsghdr* hdr);

// Every interface of the socket's namespace, by ifindex order of the kernel's dump.
absl::StatusOr<std::vector<LinkInfo>> ListLinks(RtnlSocket& sock);

// One interface by name; NotFound names it ("no such interface eth9").
absl::StatusOr<LinkInfo> GetLink(RtnlSocket& sock, absl::string_view name);

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_LINK_H_
