// Test topology helpers: throw-away network namespaces, veth pairs across them, dummy links,
// addresses, routes and test traffic (ICMP echo, a TCP transfer). Everything goes through
// libnl and sockets, never `ip` or `ping`, so tests run with an empty PATH.
//
//   auto a = Namespace::Create("attach");         // /var/run/netns/attach-<pid>-<n>
//   auto b = Namespace::Create("peer");
//   ASSERT_OK(CreateVethPair(**a, "va", **b, "vb"));
//   ASSERT_OK((*a)->AddAddress("va", "10.1.0.1/24")); (*a)->SetUp("va");
//   auto replies = Ping(**a, "10.1.0.2", 3);
//
// A Namespace is removed (unmounted and unlinked) by its destructor, so links inside it go
// away with it even when a test fails half-way.

#ifndef TCFLOW_TESTS_NETNS_NETNS_H_
#define TCFLOW_TESTS_NETNS_NETNS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "netlink/netns.h"
#include "netlink/socket.h"

namespace tcflow::testing {

class Namespace {
 public:
  // A new namespace named "<prefix>-<pid>-<n>" (at most 15 + suffix characters are kept),
  // bind-mounted under /var/run/netns like `ip netns add` does, with loopback up.
  static absl::StatusOr<std::unique_ptr<Namespace>> Create(absl::string_view prefix);
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const netlink::Netns& netns() const { return netns_; }

  // Runs `fn` on a thread inside the namespace and waits for it.
  absl::Status Run(const std::function<absl::Status()>& fn) const;

  // A dummy link (an ifb link where the kernel has no dummy driver), not brought up.
  absl::Status AddDummy(const std::string& name) const;
  // Creates `count` dummy links named prefix0, prefix1, ... (not brought up).
  absl::Status AddDummies(const std::string& prefix, int count) const;
  absl::Status DeleteLink(const std::string& name) const;
  absl::Status SetUp(const std::string& name) const;
  absl::Status SetDown(const std::string& name) const;
  // Renames a link (the kernel wants it down).
  absl::Status RenameLink(const std::string& from, const std::string& to) const;
  absl::StatusOr<int> IfIndex(const std::string& name) const;
  // The link's kind as the kernel reports it ("dummy", "ifb", "veth").
  absl::StatusOr<std::string> LinkKind(const std::string& name) const;
  // "10.1.0.1/24" or "fd00::1/64" (IPv6 without duplicate address detection).
  absl::Status AddAddress(const std::string& ifname, const std::string& cidr) const;
  // A route to `dst_cidr` via `gateway` ("default" for the default route).
  absl::Status AddRoute(const std::string& dst_cidr, const std::string& gateway) const;

 private:
  Namespace() = default;
  std::string name_;
  std::string path_;
  std::string netns_id_;  // netlink::RtnlSocket::NamespaceId() inside
  netlink::Netns netns_;
};

// A veth pair: `name_a` in `a`, `name_b` in `b`; both brought up.
absl::Status CreateVethPair(const Namespace& a, const std::string& name_a, const Namespace& b,
                            const std::string& name_b);

// Sends `count` ICMP echo requests from inside `from` to IPv4 `dst` (one at a time, each
// waiting up to `timeout`) and returns how many replies came back.
absl::StatusOr<int> Ping(const Namespace& from, const std::string& dst, int count,
                         absl::Duration timeout = absl::Seconds(2));

// Connects from `client` to `server_ip:port` (a listener inside `server`), sends `bytes`
// bytes of a pattern and checks that the server received exactly them.
absl::Status TcpTransfer(const Namespace& client, const Namespace& server,
                         const std::string& server_ip, uint16_t port, size_t bytes);

}  // namespace tcflow::testing

#endif  // TCFLOW_TESTS_NETNS_NETNS_H_
