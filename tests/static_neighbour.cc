#include "tests/static_neighbour.h"

// libnl's headers and <linux/tcp.h> (which tcflowd_test_support.cc needs) cannot share a
// translation unit.
#include <netlink/netlink.h>
#include <netlink/route/neighbour.h>

#include "absl/strings/str_cat.h"
#include "netlink/socket.h"

namespace tcflow::testing {

// A permanent neighbour entry: the kernel never solicits or probes it.
absl::Status AddStaticNeighbour(const Namespace& ns, const std::string& ifname,
                                const std::string& ip, const std::vector<uint8_t>& mac) {
  auto index = ns.IfIndex(ifname);
  if (!index.ok()) return index.status();
  return ns.Run([&]() -> absl::Status {
    netlink::NlSockPtr sock(nl_socket_alloc());
    if (sock == nullptr || nl_connect(sock.get(), NETLINK_ROUTE) < 0) {
      return absl::InternalError("netlink socket");
    }
    nl_addr* dst = nullptr;
    nl_addr_parse(ip.c_str(), AF_INET6, &dst);
    nl_addr* ll = nl_addr_build(AF_LLC, mac.data(), mac.size());
    rtnl_neigh* n = rtnl_neigh_alloc();
    rtnl_neigh_set_ifindex(n, *index);
    rtnl_neigh_set_dst(n, dst);
    rtnl_neigh_set_lladdr(n, ll);
    rtnl_neigh_set_state(n, NUD_PERMANENT);
    int rc = rtnl_neigh_add(sock.get(), n, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_neigh_put(n);
    nl_addr_put(ll);
    if (dst != nullptr) nl_addr_put(dst);
    return rc < 0 ? absl::InternalError(absl::StrCat("neighbour ", ip, " on ", ifname, ": ",
                                                     nl_geterror(rc)))
                   : absl::OkStatus();
  });
}

}  // namespace tcflow::testing
