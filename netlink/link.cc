#include "netlink/link.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "absl/strings/str_cat.h"

namespace tcflow::netlink {

bool LinkInfo::is_loopback() const { return (flags & IFF_LOOPBACK) != 0; }
bool LinkInfo::is_up() const { return (flags & IFF_UP) != 0; }

std::optional<LinkInfo> ParseLinkMessage(const nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWLINK && hdr->nlmsg_type != RTM_DELLINK) return std::nullopt;
  nlattr* tb[IFLA_MAX + 1] = {};
  auto* mutable_hdr = const_cast<nlmsghdr*>(hdr);
  if (nlmsg_parse(mutable_hdr, sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) {
    return std::nullopt;
  }
  if (tb[IFLA_IFNAME] == nullptr) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(hdr));
  LinkInfo link;
  link.ifindex = ifi->ifi_index;
  link.flags = ifi->ifi_flags;
  const char* name = static_cast<const char*>(nla_data(tb[IFLA_IFNAME]));
  link.name.assign(name, strnlen(name, nla_len(tb[IFLA_IFNAME])));
  return link;
}

absl::StatusOr<std::vector<LinkInfo>> ListLinks(RtnlSocket& sock) {
  ifinfomsg ifi = {};
  ifi.ifi_family = AF_UNSPEC;
  NlMsgPtr msg = NewMessage(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  // Skip statistics and VF data: only names and flags are needed.
  nla_put_u32(msg.get(), IFLA_EXT_MASK, 0);
  std::vector<LinkInfo> links;
  absl::Status status = sock.Dump(msg.get(), "list interfaces", [&](const nlmsghdr* hdr) {
    if (auto link = ParseLinkMessage(hdr)) links.push_back(std::move(*link));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return links;
}

absl::StatusOr<LinkInfo> GetLink(RtnlSocket& sock, absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("invalid interface name '", name, "'"));
  }
  ifinfomsg ifi = {};
  ifi.ifi_family = AF_UNSPEC;
  NlMsgPtr msg = NewMessage(RTM_GETLINK, NLM_F_REQUEST, &ifi, sizeof(ifi));
  nla_put_string(msg.get(), IFLA_IFNAME, std::string(name).c_str());
  nla_put_u32(msg.get(), IFLA_EXT_MASK, 0);
  std::optional<LinkInfo> found;
  std::function<absl::Status(const nlmsghdr*)> on_reply = [&](const nlmsghdr* hdr) {
    if (auto link = ParseLinkMessage(hdr)) found = std::move(*link);
    return absl::OkStatus();
  };
  absl::Status status = sock.Request(msg.get(), absl::StrCat("interface ", name), &on_reply);
  if (ErrnoOf(status) == ENODEV) {
    return absl::NotFoundError(absl::StrCat("no such interface ", name));
  }
  if (!status.ok()) return status;
  if (!found.has_value()) return absl::NotFoundError(absl::StrCat("no such interface ", name));
  return *found;
}

}  // namespace tcflow::netlink
