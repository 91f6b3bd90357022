#include "tests/netns/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netlink/addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "netlink/attach.h"

namespace tcflow::testing {
namespace {

using netlink::ErrnoStatus;
using netlink::NlSockPtr;

constexpr char kNetnsDir[] = "/var/run/netns";

absl::Status NlError(int rc, absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", nl_geterror(rc)));
}

// A libnl route socket opened inside `ns` (it keeps the namespace for life).
absl::StatusOr<NlSockPtr> RouteSocket(const Namespace& ns) {
  NlSockPtr sock(nl_socket_alloc());
  if (sock == nullptr) return absl::ResourceExhaustedError("nl_socket_alloc");
  absl::Status status = ns.Run([&]() -> absl::Status {
    int rc = nl_connect(sock.get(), NETLINK_ROUTE);
    return rc < 0 ? NlError(rc, "nl_connect") : absl::OkStatus();
  });
  if (!status.ok()) return status;
  return sock;
}

struct LinkDeleter {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;

struct FdCloser {
  int fd = -1;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

uint16_t Checksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// Opens a socket inside `ns`.
absl::StatusOr<int> SocketIn(const Namespace& ns, int domain, int type, int protocol) {
  int fd = -1;
  absl::Status status = ns.Run([&]() -> absl::Status {
    fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? ErrnoStatus(errno, "socket") : absl::OkStatus();
  });
  if (!status.ok()) return status;
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Namespace>> Namespace::Create(absl::string_view prefix) {
  static std::atomic<int> counter{0};
  std::unique_ptr<Namespace> ns(new Namespace());
  ns->name_ = absl::StrCat(prefix, "-", getpid(), "-", counter.fetch_add(1));
  ns->path_ = absl::StrCat(kNetnsDir, "/", ns->name_);
  if (mkdir(kNetnsDir, 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", kNetnsDir));
  }
  int mark = open(ns->path_.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (mark < 0) return ErrnoStatus(errno, absl::StrCat("create ", ns->path_));
  close(mark);
  // unshare() on a throw-away thread: the test's own threads stay where they are.
  absl::Status status;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = ErrnoStatus(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    if (mount("/proc/thread-self/ns/net", ns->path_.c_str(), "none", MS_BIND, nullptr) != 0) {
      status = ErrnoStatus(errno, absl::StrCat("bind-mount ", ns->path_));
    }
  });
  worker.join();
  if (!status.ok()) {
    unlink(ns->path_.c_str());
    return status;
  }
  auto opened = netlink::Netns::Open(ns->path_);
  if (!opened.ok()) return opened.status();  // the destructor cleans up
  ns->netns_ = std::move(*opened);
  if (absl::Status up = ns->SetUp("lo"); !up.ok()) return up;
  // The id tcflow keys its "created this clsact" markers with, to remove them with the
  // namespace (they would outlive it in /run/tcflow/clsact).
  (void)ns->Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (sock.ok()) ns->netns_id_ = (*sock)->NamespaceId();
    return absl::OkStatus();
  });
  return ns;
}

Namespace::~Namespace() {
  if (path_.empty()) return;
  umount2(path_.c_str(), MNT_DETACH);
  unlink(path_.c_str());
  if (netns_id_.empty()) return;
  std::error_code ec;
  const std::string prefix = netns_id_ + ".";
  for (const auto& entry : std::filesystem::directory_iterator(
           std::string(netlink::kDefaultStateDir) + "/clsact", ec)) {
    if (absl::StartsWith(entry.path().filename().string(), prefix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

absl::Status Namespace::Run(const std::function<absl::Status()>& fn) const {
  if (netns_.is_current()) return absl::FailedPreconditionError("namespace not open");
  return netlink::RunInNetns(netns_, fn);
}

// Creates a link of `kind` with no lower device; returns libnl's code.
static int AddLinkOfKind(nl_sock* sock, const std::string& name, const char* kind) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int rc = rtnl_link_set_type(link.get(), kind);
  if (rc < 0) return rc;
  return rtnl_link_add(sock, link.get(), NLM_F_CREATE | NLM_F_EXCL);
}

// A dummy link; on kernels built without CONFIG_DUMMY an ifb link, which is just as inert
// (no lower device, no traffic of its own) and carries a clsact qdisc the same way.
static absl::Status AddDummyOn(nl_sock* sock, const std::string& name, const std::string& ns_name) {
  int rc = AddLinkOfKind(sock, name, "dummy");
  if (rc == -NLE_OPNOTSUPP) rc = AddLinkOfKind(sock, name, "ifb");
  return rc < 0 ? NlError(rc, absl::StrCat("add dummy ", name, " in ", ns_name)) : absl::OkStatus();
}

absl::Status Namespace::AddDummy(const std::string& name) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  return AddDummyOn(sock->get(), name, name_);
}

absl::Status Namespace::AddDummies(const std::string& prefix, int count) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  for (int i = 0; i < count; ++i) {
    absl::Status status = AddDummyOn(sock->get(), absl::StrCat(prefix, i), name_);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status Namespace::DeleteLink(const std::string& name) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int rc = rtnl_link_delete(sock->get(), link.get());
  return rc < 0 ? NlError(rc, absl::StrCat("delete link ", name)) : absl::OkStatus();
}

// Applies `edit` to a change request for link `name`.
static absl::Status ChangeLink(const Namespace& ns, const std::string& name,
                               const std::function<void(rtnl_link*)>& edit,
                               absl::string_view what) {
  auto sock = RouteSocket(ns);
  if (!sock.ok()) return sock.status();
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock->get(), 0, name.c_str(), &raw);
  if (rc < 0) return NlError(rc, absl::StrCat("get link ", name));
  LinkPtr orig(raw);
  LinkPtr change(rtnl_link_alloc());
  edit(change.get());
  rc = rtnl_link_change(sock->get(), orig.get(), change.get(), 0);
  return rc < 0 ? NlError(rc, absl::StrCat(what, " ", name)) : absl::OkStatus();
}

absl::Status Namespace::SetUp(const std::string& name) const {
  return ChangeLink(
      *this, name, [](rtnl_link* l) { rtnl_link_set_flags(l, IFF_UP); }, "set up");
}

absl::Status Namespace::SetDown(const std::string& name) const {
  return ChangeLink(
      *this, name, [](rtnl_link* l) { rtnl_link_unset_flags(l, IFF_UP); }, "set down");
}

absl::Status Namespace::RenameLink(const std::string& from, const std::string& to) const {
  return ChangeLink(
      *this, from, [&](rtnl_link* l) { rtnl_link_set_name(l, to.c_str()); },
      absl::StrCat("rename to ", to));
}

absl::StatusOr<int> Namespace::IfIndex(const std::string& name) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock->get(), 0, name.c_str(), &raw);
  if (rc < 0) return NlError(rc, absl::StrCat("get link ", name));
  LinkPtr link(raw);
  return rtnl_link_get_ifindex(link.get());
}

absl::StatusOr<std::string> Namespace::LinkKind(const std::string& name) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock->get(), 0, name.c_str(), &raw);
  if (rc < 0) return NlError(rc, absl::StrCat("get link ", name));
  LinkPtr link(raw);
  const char* kind = rtnl_link_get_type(link.get());
  return std::string(kind != nullptr ? kind : "");
}

absl::Status Namespace::AddAddress(const std::string& ifname, const std::string& cidr) const {
  auto index = IfIndex(ifname);
  if (!index.ok()) return index.status();
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  nl_addr* local = nullptr;
  int rc = nl_addr_parse(cidr.c_str(), AF_UNSPEC, &local);
  if (rc < 0) return NlError(rc, absl::StrCat("address ", cidr));
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, *index);
  rtnl_addr_set_local(addr, local);
  if (nl_addr_get_family(local) == AF_INET6) rtnl_addr_set_flags(addr, IFA_F_NODAD);
  rc = rtnl_addr_add(sock->get(), addr, 0);
  rtnl_addr_put(addr);
  nl_addr_put(local);
  return rc < 0 ? NlError(rc, absl::StrCat("add ", cidr, " to ", ifname)) : absl::OkStatus();
}

absl::Status Namespace::AddRoute(const std::string& dst_cidr, const std::string& gateway) const {
  auto sock = RouteSocket(*this);
  if (!sock.ok()) return sock.status();
  nl_addr* gw = nullptr;
  int rc = nl_addr_parse(gateway.c_str(), AF_UNSPEC, &gw);
  if (rc < 0) return NlError(rc, absl::StrCat("gateway ", gateway));
  nl_addr* dst = nullptr;
  rc = nl_addr_parse(dst_cidr.c_str(), nl_addr_get_family(gw), &dst);
  if (rc < 0) {
    nl_addr_put(gw);
    return NlError(rc, absl::StrCat("destination ", dst_cidr));
  }
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, nl_addr_get_family(gw));
  rtnl_route_set_dst(route, dst);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_gateway(nh, gw);
  rtnl_route_add_nexthop(route, nh);
  rc = rtnl_route_add(sock->get(), route, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_route_put(route);
  nl_addr_put(dst);
  nl_addr_put(gw);
  return rc < 0 ? NlError(rc, absl::StrCat("route ", dst_cidr, " via ", gateway))
                : absl::OkStatus();
}

absl::Status CreateVethPair(const Namespace& a, const std::string& name_a, const Namespace& b,
                            const std::string& name_b) {
  auto sock = RouteSocket(a);
  if (!sock.ok()) return sock.status();
  LinkPtr link(rtnl_link_veth_alloc());
  if (link == nullptr) return absl::InternalError("rtnl_link_veth_alloc");
  rtnl_link_set_name(link.get(), name_a.c_str());
  rtnl_link* peer = rtnl_link_veth_get_peer(link.get());
  rtnl_link_set_name(peer, name_b.c_str());
  rtnl_link_set_ns_fd(peer, b.netns().fd());
  int rc = rtnl_link_add(sock->get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_put(peer);
  if (rc < 0) return NlError(rc, absl::StrCat("add veth ", name_a, "/", name_b));
  if (absl::Status s = a.SetUp(name_a); !s.ok()) return s;
  return b.SetUp(name_b);
}

absl::StatusOr<int> Ping(const Namespace& from, const std::string& dst, int count,
                         absl::Duration timeout) {
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  if (inet_pton(AF_INET, dst.c_str(), &to.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", dst));
  }
  auto fd = SocketIn(from, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (!fd.ok()) return fd.status();
  FdCloser closer{*fd};
  const uint16_t id = static_cast<uint16_t>(getpid() ^ 0x7cf1);
  int replies = 0;
  for (int seq = 1; seq <= count; ++seq) {
    uint8_t packet[64] = {};
    auto* icmp = reinterpret_cast<icmphdr*>(packet);
    icmp->type = ICMP_ECHO;
    icmp->un.echo.id = htons(id);
    icmp->un.echo.sequence = htons(static_cast<uint16_t>(seq));
    std::memset(packet + sizeof(icmphdr), 0xa5, sizeof(packet) - sizeof(icmphdr));
    icmp->checksum = Checksum(packet, sizeof(packet));
    if (sendto(*fd, packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0) {
      return ErrnoStatus(errno, absl::StrCat("ping ", dst));
    }
    absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (wait_ms <= 0) break;
      pollfd pfd = {*fd, POLLIN, 0};
      if (poll(&pfd, 1, wait_ms) <= 0) break;
      uint8_t buf[1500];
      ssize_t n = recv(*fd, buf, sizeof(buf), 0);
      if (n < static_cast<ssize_t>(sizeof(iphdr))) continue;
      const auto* ip = reinterpret_cast<const iphdr*>(buf);
      size_t ihl = ip->ihl * 4u;
      if (n < static_cast<ssize_t>(ihl + sizeof(icmphdr))) continue;
      const auto* reply = reinterpret_cast<const icmphdr*>(buf + ihl);
      if (reply->type == ICMP_ECHOREPLY && ntohs(reply->un.echo.id) == id &&
          ntohs(reply->un.echo.sequence) == seq && ip->saddr == to.sin_addr.s_addr) {
        ++replies;
        break;
      }
    }
  }
  return replies;
}

absl::Status TcpTransfer(const Namespace& client, const Namespace& server,
                         const std::string& server_ip, uint16_t port, size_t bytes) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, server_ip.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", server_ip));
  }
  auto listener = SocketIn(server, AF_INET, SOCK_STREAM, 0);
  if (!listener.ok()) return listener.status();
  FdCloser listener_closer{*listener};
  int one = 1;
  setsockopt(*listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(*listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("bind ", server_ip, ":", port));
  }
  if (listen(*listener, 1) != 0) return ErrnoStatus(errno, "listen");

  // The receiver checks every byte against the pattern the sender writes.
  size_t received = 0;
  size_t mismatches = 0;
  absl::Status server_status;
  std::thread receiver([&] {
    pollfd pfd = {*listener, POLLIN, 0};
    if (poll(&pfd, 1, 10000) <= 0) {
      server_status = absl::DeadlineExceededError("no connection within 10 s");
      return;
    }
    int conn = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      server_status = ErrnoStatus(errno, "accept");
      return;
    }
    FdCloser conn_closer{conn};
    timeval tv = {10, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::vector<uint8_t> buf(65536);
    for (;;) {
      ssize_t n = recv(conn, buf.data(), buf.size(), 0);
      if (n == 0) break;
      if (n < 0) {
        server_status = ErrnoStatus(errno, "recv");
        return;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != static_cast<uint8_t>((received + i) * 7 + 3)) ++mismatches;
      }
      received += n;
    }
  });

  absl::Status client_status;
  auto conn = SocketIn(client, AF_INET, SOCK_STREAM, 0);
  if (!conn.ok()) {
    client_status = conn.status();
  } else {
    FdCloser conn_closer{*conn};
    timeval tv = {10, 0};
    setsockopt(*conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(*conn, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      client_status = ErrnoStatus(errno, absl::StrCat("connect ", server_ip, ":", port));
    } else {
      std::vector<uint8_t> chunk(65536);
      size_t sent = 0;
      while (sent < bytes && client_status.ok()) {
        size_t n = std::min(chunk.size(), bytes - sent);
        for (size_t i = 0; i < n; ++i) chunk[i] = static_cast<uint8_t>((sent + i) * 7 + 3);
        size_t off = 0;
        while (off < n) {
          ssize_t w = send(*conn, chunk.data() + off, n - off, MSG_NOSIGNAL);
          if (w < 0) {
            client_status = ErrnoStatus(errno, "send");
            break;
          }
          off += w;
        }
        sent += off;
      }
      shutdown(*conn, SHUT_WR);
    }
  }
  if (!client_status.ok()) shutdown(*listener, SHUT_RDWR);
  receiver.join();
  if (!client_status.ok()) return client_status;
  if (!server_status.ok()) return server_status;
  if (received != bytes || mismatches != 0) {
    return absl::DataLossError(absl::StrCat("server received ", received, " of ", bytes, " bytes, ",
                                            mismatches, " corrupted"));
  }
  return absl::OkStatus();
}

}  // namespace tcflow::testing
