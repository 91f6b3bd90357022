#include "tests/tcflowd_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <linux/tcp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "daemon/control/client.h"
#include "tests/static_neighbour.h"
#include "daemon/drain/stats_reader.h"
#include "daemon/ipfix/decoder.h"
#include "daemon/loader/tables.h"
#include "netlink/attach.h"
#include "netlink/netns.h"
#include "netlink/socket.h"

namespace tcflow::testing {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, uint64_t> TcpSnmp() {
  std::ifstream in("/proc/thread-self/net/snmp");
  std::string header, values;
  std::map<std::string, uint64_t> out;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (header.rfind("Tcp:", 0) != 0) continue;
    std::istringstream h(header.substr(4)), v(values.substr(4));
    std::string name;
    long long value;
    while (h >> name && v >> value) out[name] = static_cast<uint64_t>(value);
  }
  return out;
}

uint64_t SegmentsSent(const std::map<std::string, uint64_t>& before,
                      const std::map<std::string, uint64_t>& after) {
  return (after.at("OutSegs") - before.at("OutSegs")) +
         (after.at("RetransSegs") - before.at("RetransSegs"));
}

// sockaddr for an IPv4 or IPv6 literal.
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = 0;
};
absl::StatusOr<Addr> MakeAddr(const std::string& ip, uint16_t port) {
  Addr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(*v4);
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(*v6);
    a.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("not an address: ", ip));
  }
  return a;
}

uint16_t Checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len & 1) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

}  // namespace

std::string TcflowBinary() {
  if (const char* bin = std::getenv("TCFLOW_BINARY"); bin != nullptr) return bin;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/tcflow/tools/tcflow";
}

absl::Status WriteSysctl(const Namespace& ns, const std::string& path, const std::string& value) {
  return ns.Run([&]() -> absl::Status {
    std::ofstream f("/proc/sys/" + path);
    f << value << "\n";
    f.close();
    return f.good() ? absl::OkStatus()
                    : absl::InternalError(absl::StrCat(ns.name(), ": cannot write ", path));
  });
}

absl::StatusOr<std::vector<uint8_t>> MacOf(const Namespace& ns, const std::string& ifname) {
  std::vector<uint8_t> mac(6);
  absl::Status s = ns.Run([&]() -> absl::Status {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq req{};
    std::snprintf(req.ifr_name, sizeof(req.ifr_name), "%s", ifname.c_str());
    int rc = ioctl(fd, SIOCGIFHWADDR, &req);
    close(fd);
    if (rc != 0) return absl::InternalError(absl::StrCat("SIOCGIFHWADDR ", ifname));
    std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, 6);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return mac;
}

absl::StatusOr<Router> Router::Create(const std::string& tag, RouterOptions options) {
  Router r;
  for (auto [slot, name] : {std::pair{&r.h1, "h1"}, {&r.rt, "rt"}, {&r.h2, "h2"}}) {
    auto ns = Namespace::Create(tag + name);
    if (!ns.ok()) return ns.status();
    *slot = std::move(*ns);
    if (!options.quiet_ipv6) continue;
    // Before any link exists, so every link inherits it ("default").
    for (const char* conf : {"all", "default"}) {
      const std::string base = absl::StrCat("net/ipv6/conf/", conf, "/");
      for (auto [key, value] : {std::pair{"accept_dad", "0"},
                                {"router_solicitations", "0"},
                                {"mldv1_unsolicited_report_interval", "1"},
                                {"mldv2_unsolicited_report_interval", "1"}}) {
        if (absl::Status s = WriteSysctl(**slot, base + key, value); !s.ok()) return s;
      }
    }
  }
  // Forwarding before the links exist: rt's legs join ff02::2 when created, not later.
  for (const char* path : {"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"}) {
    if (absl::Status s = WriteSysctl(*r.rt, path, "1"); !s.ok()) return s;
  }
  for (absl::Status s : {
           CreateVethPair(*r.h1, "e0", *r.rt, "r1"),
           CreateVethPair(*r.rt, "r2", *r.h2, "e0"),
           r.h1->AddAddress("e0", "10.61.1.1/24"),
           r.h1->AddAddress("e0", "fd61:1::1/64"),
           r.rt->AddAddress("r1", "10.61.1.254/24"),
           r.rt->AddAddress("r1", "fd61:1::fe/64"),
           r.rt->AddAddress("r2", "10.61.2.254/24"),
           r.rt->AddAddress("r2", "fd61:2::fe/64"),
           r.h2->AddAddress("e0", "10.61.2.1/24"),
           r.h2->AddAddress("e0", "fd61:2::1/64"),
           r.h1->AddRoute("default", "10.61.1.254"),
           r.h1->AddRoute("default", "fd61:1::fe"),
           r.h2->AddRoute("default", "10.61.2.254"),
           r.h2->AddRoute("default", "fd61:2::fe"),
       }) {
    if (!s.ok()) return s;
  }
  if (options.quiet_ipv6) {
    auto h1_mac = MacOf(*r.h1, "e0"), r1_mac = MacOf(*r.rt, "r1");
    auto r2_mac = MacOf(*r.rt, "r2"), h2_mac = MacOf(*r.h2, "e0");
    for (const auto* m : {&h1_mac, &r1_mac, &r2_mac, &h2_mac}) {
      if (!m->ok()) return m->status();
    }
    for (absl::Status s : {
             AddStaticNeighbour(*r.h1, "e0", "fd61:1::fe", *r1_mac),
             AddStaticNeighbour(*r.rt, "r1", "fd61:1::1", *h1_mac),
             AddStaticNeighbour(*r.rt, "r2", "fd61:2::1", *h2_mac),
             AddStaticNeighbour(*r.h2, "e0", "fd61:2::fe", *r2_mac),
         }) {
      if (!s.ok()) return s;
    }
  }
  auto r1 = r.rt->IfIndex("r1");
  auto r2 = r.rt->IfIndex("r2");
  if (!r1.ok()) return r1.status();
  if (!r2.ok()) return r2.status();
  r.r1 = *r1;
  r.r2 = *r2;
  return r;
}

// --- Process ---

Process::Process(const std::vector<std::string>& argv, const std::string& log,
                 const std::string& netns_path, const std::vector<std::string>& env)
    : log_(log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int ns_fd = netns_path.empty() ? -1 : open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = fork();
  if (pid_ == 0) {
    if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  if (ns_fd >= 0) close(ns_fd);
  if (log_fd >= 0) close(log_fd);
}

Process::~Process() {
  if (running()) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(5));
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

bool Process::running() {
  if (pid_ <= 0 || status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

int Process::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (running()) {
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return status_;
}

std::string Process::Log() const { return ReadAll(log_); }

// --- IpfixSink ---

std::string FlowId::ToString() const {
  return absl::StrCat("v", ip_version, " proto ", protocol, " ", src, ":", sport, " > ", dst, ":",
                      dport, " if ", ifindex, direction == 0 ? " in" : " out");
}

absl::StatusOr<std::unique_ptr<IpfixSink>> IpfixSink::Start(const Namespace& ns) {
  std::unique_ptr<IpfixSink> sink(new IpfixSink());
  absl::Status s = ns.Run([&]() -> absl::Status {
    sink->fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sink->fd_ < 0) return Errno("socket");
    int buf = 16 << 20;
    setsockopt(sink->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(sink->fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return Errno("bind");
    socklen_t len = sizeof(a);
    getsockname(sink->fd_, reinterpret_cast<sockaddr*>(&a), &len);
    sink->port_ = ntohs(a.sin_port);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  sink->thread_ = std::thread([raw = sink.get()] { raw->Run(); });
  return sink;
}

absl::StatusOr<std::unique_ptr<IpfixSink>> IpfixSink::StartTcp(const Namespace& ns,
                                                               uint16_t port) {
  std::unique_ptr<IpfixSink> sink(new IpfixSink());
  sink->tcp_ = true;
  absl::Status s = ns.Run([&]() -> absl::Status {
    sink->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sink->fd_ < 0) return Errno("socket");
    int one = 1;
    setsockopt(sink->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (bind(sink->fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return Errno("bind");
    if (listen(sink->fd_, 8) != 0) return Errno("listen");
    socklen_t len = sizeof(a);
    getsockname(sink->fd_, reinterpret_cast<sockaddr*>(&a), &len);
    sink->port_ = ntohs(a.sin_port);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  sink->thread_ = std::thread([raw = sink.get()] { raw->RunTcp(); });
  return sink;
}

void IpfixSink::RunTcp() {
  struct Conn {
    int fd;
    std::vector<uint8_t> buf;
    ipfix::Decoder decoder;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<uint8_t> chunk(1 << 16);
  auto read_conn = [&](Conn& c) {
    for (;;) {
      ssize_t n = recv(c.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n <= 0) return n == 0 ? false : (errno == EAGAIN || errno == EWOULDBLOCK);
      c.buf.insert(c.buf.end(), chunk.begin(), chunk.begin() + n);
      for (;;) {
        size_t len = 0;
        if (!ipfix::Decoder::MessageLength(c.buf, &len).ok()) {
          absl::MutexLock lock(&mu_);
          ++errors_;
          return false;
        }
        if (len == 0 || c.buf.size() < len) break;
        Decode(c.decoder, c.buf.data(), len);
        c.buf.erase(c.buf.begin(), c.buf.begin() + len);
      }
    }
  };
  while (!stop_) {
    std::vector<pollfd> p = {{fd_, POLLIN, 0}};
    for (auto& c : conns) p.push_back({c->fd, POLLIN, 0});
    if (poll(p.data(), p.size(), 50) <= 0) continue;
    if (p[0].revents & POLLIN) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) conns.push_back(std::unique_ptr<Conn>(new Conn{c, {}, {}}));
    }
    for (size_t i = 0; i < conns.size();) {
      if (!read_conn(*conns[i])) {
        close(conns[i]->fd);
        conns.erase(conns.begin() + i);
      } else {
        ++i;
      }
    }
  }
  // Read what is there before closing: it was acknowledged to the exporter.
  for (auto& c : conns) {
    read_conn(*c);
    close(c->fd);
  }
}

IpfixSink::~IpfixSink() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void IpfixSink::Run() {
  ipfix::Decoder decoder;
  std::vector<uint8_t> buf(65536);
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) continue;
    Decode(decoder, buf.data(), static_cast<size_t>(n));
  }
}

void IpfixSink::Decode(ipfix::Decoder& decoder, const uint8_t* data, size_t n) {
  {
    ipfix::DecodedMessage msg;
    absl::Status st = decoder.Decode(absl::MakeConstSpan(data, n), &msg);
    absl::MutexLock lock(&mu_);
    if (!st.ok()) ++errors_;
    for (const ipfix::DecodedRecord& r : msg.records) {
      if (r.options) {
        if (r.template_id == 259) {
          for (const auto& f : r.fields) metering_[f.Name()] = f.AsUnsigned();
        } else if (const auto* name = r.Find(82); name != nullptr && r.Find(10) != nullptr) {
          names_[static_cast<uint32_t>(r.Find(10)->AsUnsigned())] = name->ValueText();
        }
        continue;
      }
      ++records_;
      FlowId id;
      const ipfix::DecodedField* src = r.Find(8);
      id.ip_version = src != nullptr ? 4 : 6;
      if (src == nullptr) src = r.Find(27);
      const ipfix::DecodedField* dst = r.Find(id.ip_version == 4 ? 12 : 28);
      id.src = src ? src->ValueText() : "?";
      id.dst = dst ? dst->ValueText() : "?";
      auto u = [&](uint16_t ie) {
        const ipfix::DecodedField* f = r.Find(ie);
        return f != nullptr ? f->AsUnsigned() : 0;
      };
      id.protocol = static_cast<int>(u(4));
      id.sport = static_cast<int>(u(7));
      id.dport = static_cast<int>(u(11));
      if (id.protocol == 1 || id.protocol == 58) {
        id.dport = static_cast<int>(u(id.ip_version == 4 ? 32 : 139));
      }
      id.direction = static_cast<int>(u(61));
      const uint32_t in = static_cast<uint32_t>(u(10)), out = static_cast<uint32_t>(u(14));
      id.ifindex = id.direction == 0 ? in : out;
      FlowSum& sum = flows_[id];
      sum.packets += u(2);
      sum.bytes += u(1);
      ++sum.records;
      sum.other_ifindex = id.direction == 0 ? out : in;
      ++sum.end_reasons[static_cast<int>(u(136))];
      sum.ipv6_ext_headers |= static_cast<uint32_t>(u(64));
      sum.vlan = static_cast<uint32_t>(u(58));
    }
  }
}

std::map<FlowId, FlowSum> IpfixSink::Flows() const {
  absl::MutexLock lock(&mu_);
  return flows_;
}
uint64_t IpfixSink::flow_records() const {
  absl::MutexLock lock(&mu_);
  return records_;
}
uint64_t IpfixSink::decode_errors() const {
  absl::MutexLock lock(&mu_);
  return errors_;
}
std::map<std::string, uint64_t> IpfixSink::MeteringStats() const {
  absl::MutexLock lock(&mu_);
  return metering_;
}
std::map<uint32_t, std::string> IpfixSink::InterfaceNames() const {
  absl::MutexLock lock(&mu_);
  return names_;
}

bool IpfixSink::WaitFor(const std::function<bool(const std::map<FlowId, FlowSum>&)>& pred,
                        absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (pred(Flows())) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// --- Traffic ---

absl::StatusOr<Wire> Echo(const Namespace& from, const std::string& dst, int count, int payload,
                          int* replies) {
  auto addr = MakeAddr(dst, 0);
  if (!addr.ok()) return addr.status();
  const bool v6 = addr->family == AF_INET6;
  *replies = 0;
  const uint16_t ident = static_cast<uint16_t>(getpid() ^ 0x5a5a);
  absl::Status s = from.Run([&]() -> absl::Status {
    int fd = socket(addr->family, SOCK_RAW | SOCK_CLOEXEC, v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
    if (fd < 0) return Errno("raw socket");
    std::vector<uint8_t> pkt(8 + payload), in(65536);
    for (int seq = 1; seq <= count; ++seq) {
      std::fill(pkt.begin(), pkt.end(), 0);
      pkt[0] = v6 ? 128 : 8;
      pkt[4] = ident >> 8;
      pkt[5] = ident & 0xff;
      pkt[6] = seq >> 8;
      pkt[7] = seq & 0xff;
      for (int i = 0; i < payload; ++i) pkt[8 + i] = static_cast<uint8_t>(i);
      if (!v6) {
        uint16_t c = Checksum(pkt.data(), pkt.size());
        std::memcpy(&pkt[2], &c, 2);
      }
      if (sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&addr->ss),
                 addr->len) != static_cast<ssize_t>(pkt.size())) {
        close(fd);
        return Errno("sendto");
      }
      absl::Time deadline = absl::Now() + absl::Seconds(2);
      while (absl::Now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, in.data(), in.size(), 0);
        if (n <= 0) continue;
        size_t off = v6 ? 0 : (in[0] & 0xf) * 4;
        if (static_cast<size_t>(n) < off + 8) continue;
        const uint8_t* icmp = &in[off];
        if (icmp[0] == (v6 ? 129 : 0) && ((icmp[4] << 8) | icmp[5]) == ident &&
            ((icmp[6] << 8) | icmp[7]) == seq) {
          ++*replies;
          break;
        }
      }
    }
    close(fd);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Wire w;
  w.packets = count;
  w.bytes = static_cast<uint64_t>(count) * ((v6 ? 40 : 20) + 8 + payload);
  return w;
}

absl::StatusOr<Wire> UdpBurst(const Namespace& from, const Namespace& to, const std::string& dst,
                              uint16_t sport, uint16_t dport, int count, int payload,
                              int* received, absl::Duration gap,
                              const std::function<void(int fd)>& sender_setup) {
  auto addr = MakeAddr(dst, dport);
  if (!addr.ok()) return addr.status();
  const bool v6 = addr->family == AF_INET6;
  int rfd = -1;
  absl::Status s = to.Run([&]() -> absl::Status {
    rfd = socket(addr->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (rfd < 0) return Errno("socket");
    int buf = 32 << 20;
    setsockopt(rfd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    if (bind(rfd, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) != 0) return Errno("bind");
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (rfd >= 0) close(rfd);
    return s;
  }
  *received = 0;
  std::vector<uint8_t> buf(65536);
  auto drain = [&] {
    while (recv(rfd, buf.data(), buf.size(), 0) >= 0) ++*received;
  };
  s = from.Run([&]() -> absl::Status {
    int fd = socket(addr->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Errno("socket");
    auto local = MakeAddr(v6 ? "::" : "0.0.0.0", sport);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local->ss), local->len) != 0) {
      close(fd);
      return Errno("bind sender");
    }
    if (sender_setup) sender_setup(fd);
    std::vector<uint8_t> data(payload, 0xab);
    for (int i = 0; i < count; ++i) {
      if (sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr->ss),
                 addr->len) != payload) {
        close(fd);
        return Errno("sendto");
      }
      if (gap > absl::ZeroDuration()) absl::SleepFor(gap);
      if (i % 64 == 63) drain();
    }
    close(fd);
    return absl::OkStatus();
  });
  absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (*received < count && absl::Now() < deadline) {
    drain();
    absl::SleepFor(absl::Milliseconds(5));
  }
  close(rfd);
  if (!s.ok()) return s;
  Wire w;
  w.packets = count;
  w.bytes = static_cast<uint64_t>(count) * ((v6 ? 40 : 20) + 8 + payload);
  return w;
}

absl::StatusOr<Wire> UdpFlows(const Namespace& from, const Namespace& to, const std::string& dst,
                              uint16_t first_sport, int flows, uint16_t dport, int payload,
                              int* received) {
  auto addr = MakeAddr(dst, dport);
  if (!addr.ok()) return addr.status();
  const bool v6 = addr->family == AF_INET6;
  int rfd = -1;
  absl::Status s = to.Run([&]() -> absl::Status {
    rfd = socket(addr->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (rfd < 0) return Errno("socket");
    int buf = 64 << 20;
    setsockopt(rfd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    if (bind(rfd, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) != 0) return Errno("bind");
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (rfd >= 0) close(rfd);
    return s;
  }
  s = from.Run([&]() -> absl::Status {
    std::vector<uint8_t> data(payload, 0xcd);
    for (int i = 0; i < flows; ++i) {
      int fd = socket(addr->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      auto local = MakeAddr(v6 ? "::" : "0.0.0.0", static_cast<uint16_t>(first_sport + i));
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&local->ss), local->len) != 0 ||
          sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr->ss),
                 addr->len) != payload) {
        if (fd >= 0) close(fd);
        return Errno("udp flow");
      }
      close(fd);
    }
    return absl::OkStatus();
  });
  *received = 0;
  std::vector<uint8_t> buf(65536);
  absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (*received < flows && absl::Now() < deadline) {
    while (recv(rfd, buf.data(), buf.size(), 0) >= 0) ++*received;
    absl::SleepFor(absl::Milliseconds(5));
  }
  close(rfd);
  if (!s.ok()) return s;
  Wire w;
  w.packets = flows;
  w.bytes = static_cast<uint64_t>(flows) * ((v6 ? 40 : 20) + 8 + payload);
  return w;
}

absl::StatusOr<TcpResult> TcpBulk(const Namespace& from, const Namespace& to,
                                  const std::string& dst, uint16_t port, size_t bytes) {
  auto addr = MakeAddr(dst, port);
  if (!addr.ok()) return addr.status();
  const uint64_t ip_hdr = addr->family == AF_INET6 ? 40 : 20;
  std::map<std::string, uint64_t> from_before, from_after, to_before, to_after;
  int lfd = -1;
  absl::Status s = to.Run([&]() -> absl::Status {
    to_before = TcpSnmp();
    lfd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) != 0) return Errno("bind");
    if (listen(lfd, 4) != 0) return Errno("listen");
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (lfd >= 0) close(lfd);
    return s;
  }
  // What `to` really sends: its TCP's ACKs may carry SACK/DSACK blocks (after a
  // retransmission on a busy machine), so their bytes are read off the wire: a packet socket
  // in `to`, outgoing IP/TCP frames from `port`, summed by IP length.
  int cap = -1;
  (void)to.Run([&] {
    cap = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    int big = 64 << 20;
    if (cap >= 0) setsockopt(cap, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    return absl::OkStatus();
  });
  std::atomic<bool> cap_stop{false};
  uint64_t cap_packets = 0, cap_bytes = 0, cap_drops = 0;
  std::thread capture([&] {
    if (cap < 0) return;
    std::vector<uint8_t> frame(1 << 16);
    auto drain = [&] {
      for (;;) {
        sockaddr_ll from{};
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(cap, frame.data(), frame.size(), MSG_TRUNC,
                             reinterpret_cast<sockaddr*>(&from), &flen);
        if (n < 0) return;
        if (from.sll_pkttype != PACKET_OUTGOING || n < 14) continue;
        const uint16_t type = (frame[12] << 8) | frame[13];
        const uint8_t* ip = frame.data() + 14;
        size_t avail = std::min<size_t>(n, frame.size()) - 14;
        uint64_t ip_len = 0;
        const uint8_t* tcp = nullptr;
        if (type == 0x0800 && avail >= 20 && ip[9] == IPPROTO_TCP) {
          ip_len = (ip[2] << 8) | ip[3];
          tcp = ip + (ip[0] & 0xf) * 4;
        } else if (type == 0x86dd && avail >= 40 && ip[6] == IPPROTO_TCP) {
          ip_len = 40 + ((ip[4] << 8) | ip[5]);
          tcp = ip + 40;
        }
        if (tcp == nullptr || tcp + 4 > frame.data() + std::min<size_t>(n, frame.size())) continue;
        if (((tcp[0] << 8) | tcp[1]) != port) continue;
        ++cap_packets;
        cap_bytes += ip_len;
      }
    };
    while (!cap_stop) {
      pollfd p{cap, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) drain();
    }
    drain();
    tpacket_stats st{};
    socklen_t sl = sizeof(st);
    if (getsockopt(cap, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) cap_drops = st.tp_drops;
  });
  uint64_t server_got = 0;
  std::thread server([&] {
    int c = accept(lfd, nullptr, nullptr);
    if (c < 0) return;
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      server_got += n;
    }
    close(c);
  });
  TcpResult result;
  uint64_t payload_sent = 0;
  s = from.Run([&]() -> absl::Status {
    from_before = TcpSnmp();
    int fd = socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) != 0) {
      close(fd);
      return Errno("connect");
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    result.sport = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    std::vector<char> chunk(1 << 16, 'x');
    size_t left = bytes;
    while (left > 0) {
      ssize_t n = send(fd, chunk.data(), std::min(left, chunk.size()), 0);
      if (n <= 0) {
        close(fd);
        return Errno("send");
      }
      left -= n;
    }
    shutdown(fd, SHUT_WR);
    char c;
    while (recv(fd, &c, 1, 0) > 0) {
    }
    tcp_info info{};
    len = sizeof(info);
    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
    payload_sent = info.tcpi_bytes_sent;
    close(fd);
    return absl::OkStatus();
  });
  server.join();
  close(lfd);
  if (!s.ok()) return s;
  if (server_got != bytes) {
    return absl::DataLossError(absl::StrCat("server got ", server_got, " of ", bytes, " bytes"));
  }
  absl::SleepFor(absl::Milliseconds(200));  // the last ACKs
  (void)from.Run([&] { from_after = TcpSnmp(); return absl::OkStatus(); });
  (void)to.Run([&] { to_after = TcpSnmp(); return absl::OkStatus(); });
  cap_stop = true;
  capture.join();
  if (cap >= 0) close(cap);
  // Data direction: payload (retransmissions included) plus headers; the SYN carries 20
  // option bytes (MSS, SACK-permitted, timestamps, window scale), every later segment 12
  // (timestamps). The data segments carry no SACK blocks (the receiver sends no data).
  result.forward.packets = SegmentsSent(from_before, from_after);
  result.forward.bytes = payload_sent + (ip_hdr + 40) + (result.forward.packets - 1) * (ip_hdr + 32);
  result.reverse.packets = SegmentsSent(to_before, to_after);
  if (cap < 0 || cap_drops != 0 || cap_packets != result.reverse.packets) {
    return absl::InternalError(absl::StrCat("capture of ", to.name(), "'s segments: ",
                                            cap_packets, " captured (", cap_drops,
                                            " dropped), its TCP sent ", result.reverse.packets));
  }
  result.reverse.bytes = cap_bytes;
  return result;
}

uint16_t FreeTcpPortIn(const Namespace& ns) {
  uint16_t port = 0;
  (void)ns.Run([&] {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    close(fd);
    return absl::OkStatus();
  });
  return port;
}

absl::StatusOr<HttpReply> HttpRequest(const Namespace& ns, uint16_t port,
                                      const std::string& path) {
  std::string response;
  absl::Status s = ns.Run([&]() -> absl::Status {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      close(fd);
      return Errno("connect");
    }
    std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: localhost\r\n\r\n");
    send(fd, req.data(), req.size(), 0);
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      response.append(buf, n);
    }
    close(fd);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  HttpReply reply;
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 ||
      !absl::SimpleAtoi(response.substr(9, 3), &reply.code)) {
    return absl::InternalError(absl::StrCat("not an HTTP response: ", response.substr(0, 200)));
  }
  size_t body = response.find("\r\n\r\n");
  if (body != std::string::npos) reply.body = response.substr(body + 4);
  return reply;
}

absl::StatusOr<std::string> HttpGet(const Namespace& ns, uint16_t port, const std::string& path) {
  auto reply = HttpRequest(ns, port, path);
  if (!reply.ok()) return reply.status();
  if (reply->code != 200) {
    return absl::InternalError(
        absl::StrCat("HTTP ", reply->code, ": ", reply->body.substr(0, 200)));
  }
  return std::move(reply->body);
}

absl::StatusOr<std::map<std::string, double>> MetricSamples(const std::string& text) {
  std::map<std::string, double> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    double value = 0;
    if (sp == absl::string_view::npos || !absl::SimpleAtod(line.substr(sp + 1), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("not a sample: ", line));
    }
    if (!out.emplace(std::string(line.substr(0, sp)), value).second) {
      return absl::InvalidArgumentError(absl::StrCat("series twice: ", line));
    }
  }
  return out;
}

// --- Daemon ---

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  return f.good() ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
}

std::string RunDirOf(const std::string& pin_path) {
  return absl::StrCat("/tmp/", std::filesystem::path(pin_path).filename().string());
}

std::string DaemonConfig::control_socket() const {
  return absl::StrCat(RunDirOf(pin_path), "/control.sock");
}

std::string DaemonConfig::Text() const {
  std::string t = interfaces + "\n";
  for (uint16_t port : udp_collectors) {
    absl::StrAppend(&t, "collector { address: \"127.0.0.1\" port: ", port, " }\n");
  }
  absl::StrAppend(&t, "table { drain_interval_ms: ", drain_interval_ms,
                  " slots_per_half: ", slots_per_half, " }\n");
  absl::StrAppend(&t, "flow_cache { idle_timeout_s: ", idle_timeout_s,
                  " active_timeout_s: ", active_timeout_s, " }\n");
  absl::StrAppend(&t, "daemon { control_socket: \"", control_socket(), "\" bpffs_pin_path: \"",
                  pin_path, "\" }\n");
  if (metrics_listen.empty()) {
    absl::StrAppend(&t, "metrics { enabled: false }\n");
  } else {
    absl::StrAppend(&t, "metrics { enabled: true listen: \"", metrics_listen, "\" }\n");
  }
  absl::StrAppend(&t, "json_log { path: \"", dir, "/flows.jsonl\" }\n");
  absl::StrAppend(&t, extra, "\n");
  return t;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Namespace& ns,
                                                      const DaemonConfig& config,
                                                      size_t interfaces,
                                                      const std::string& log_name,
                                                      const std::vector<std::string>& extra_args) {
  std::unique_ptr<Daemon> d(new Daemon());
  d->config_ = config;
  if (absl::Status s = WriteFile(config.config_path(), config.Text()); !s.ok()) return s;
  std::vector<std::string> argv = {TcflowBinary(), "tcflowd", "-c", config.config_path()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  std::vector<std::string> env;
  if (!config.notify_socket.empty()) env.push_back("NOTIFY_SOCKET=" + config.notify_socket);
  d->process_ = std::make_unique<Process>(argv, config.dir + "/" + log_name, ns.path(), env);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (!d->process_->running()) {
      return absl::InternalError(absl::StrCat("tcflowd exited: ", d->process_->Log()));
    }
    if (d->AttachedInterfaces() >= interfaces) return d;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("tcflowd did not attach ", interfaces, " interfaces: ", d->process_->Log()));
}

absl::StatusOr<control::JsonValue> Daemon::Call(const std::string& cmd,
                                                const control::JsonValue& args) {
  auto client = control::ControlClient::Connect(config_.control_socket(), absl::Seconds(10));
  if (!client.ok()) return client.status();
  return client->Call(cmd, args);
}

size_t Daemon::AttachedInterfaces() {
  auto status = Call("status");
  if (!status.ok()) return 0;
  const control::JsonValue* list = status->Find("interfaces");
  return list != nullptr ? list->items().size() : 0;
}

RunResult Flowctl(const std::vector<std::string>& args) {
  static std::atomic<int> n{0};
  const std::string base = absl::StrCat("/tmp/tcflowd_flowctl_", getpid(), "_", n++);
  std::vector<std::string> argv = {TcflowBinary(), "flowctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (const std::string& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  const std::string out = base + ".out", err = base + ".err";
  int ofd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int efd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ofd, 1);
    dup2(efd, 2);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  close(ofd);
  close(efd);
  int st = 0;
  waitpid(pid, &st, 0);
  RunResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

absl::StatusOr<std::vector<std::string>> TcflowFilters(const Namespace& ns) {
  std::vector<std::string> out;
  absl::Status s = ns.Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    netlink::AttachOptions options;
    options.state_dir = "";
    auto attacher = netlink::Attacher::Create(sock->get(), options);
    if (!attacher.ok()) return attacher.status();
    auto list = attacher->List();
    if (!list.ok()) return list.status();
    for (const auto& f : *list) out.push_back(f.link.name);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<KernelTotals> ReadKernelTotals(const std::string& pin_path) {
  auto tables = PinnedTables::Open(pin_path);
  if (!tables.ok()) return tables.status();
  auto reader = StatsReader::Create(tables->tables().stats());
  if (!reader.ok()) return reader.status();
  tcflow_stats st{};
  if (absl::Status s = reader->Read(&st); !s.ok()) return s;
  KernelTotals t;
  t.not_ip = st.not_ip;
  for (int i = 1; i < TCFLOW_PARSE_RESULT_COUNT; ++i) t.parse_errors += st.parse_error[i];
  for (uint64_t n : st.size_hist) t.packets += n;
  t.packets += t.not_ip + t.parse_errors;
  t.overflow_lost = st.overflow_lost;
  t.flows_not_created = st.flows_not_created;
  return t;
}

void RemovePins(const std::string& pin_path) {
  std::error_code ec;
  std::filesystem::remove_all(pin_path, ec);
  if (!std::filesystem::path(pin_path).filename().empty()) {
    std::filesystem::remove_all(RunDirOf(pin_path), ec);
  }
}

}  // namespace tcflow::testing
