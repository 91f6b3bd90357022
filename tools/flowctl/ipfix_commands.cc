#include "tools/flowctl/ipfix_commands.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/ipfix/decoder.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/file_transport.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "daemon/ipfix/tcp_transport.h"
#include "daemon/ipfix/template.h"
#include "daemon/ipfix/udp_transport.h"
#include "tools/cli/flags.h"

namespace tcflow::flowctl {
namespace {

using ipfix::DecodedField;
using ipfix::DecodedMessage;
using ipfix::DecodedRecord;
using ipfix::Decoder;
using ipfix::ScopedFd;
using ipfix::SocketAddress;

int Fail(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  return 1;
}

// ---------------------------------------------------------------------------------------
// send-dummy

int RunIpfixSendDummyImpl(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl ipfix send-dummy",
                        "Sends synthetic flows as IPFIX to a collector, to test a collector "
                        "set-up without traffic.");
  std::string collector, transport = "udp", flows_file, write_file;
  int64_t count = 1000, rate = 0, ipv6_percent = 50, mtu = 1500, domain = 1;
  int64_t repeat = 1, refresh_s = 60;
  bool all_elements = false;
  flags.AddString("collector", 'c', &collector, "ADDR:PORT",
                  "collector (IPv4, [IPv6] or host name)");
  flags.AddString("transport", 't', &transport, "udp|tcp", "transport (default udp)");
  flags.AddInt("count", 'n', &count, "N", "synthetic flows to send (default 1000)");
  flags.AddInt("rate", 'r', &rate, "FLOWS_PER_S", "pace the flows (default: at once)");
  flags.AddInt("ipv6-percent", 0, &ipv6_percent, "P", "share of IPv6 flows (default 50)");
  flags.AddString("flows", 'f', &flows_file, "FILE",
                  "send the flows in FILE instead (SRC DST PROTO SPORT DPORT PACKETS BYTES "
                  "[key=value ...] per line)");
  flags.AddInt("repeat", 0, &repeat, "N", "send the flow set N times (default 1)");
  flags.AddString("write", 'w', &write_file, "FILE",
                  "write an RFC 5655 IPFIX file instead of sending");
  flags.AddInt("mtu", 0, &mtu, "BYTES", "path MTU (default 1500)");
  flags.AddInt("domain", 0, &domain, "ID", "observation domain id (default 1)");
  flags.AddInt("template-refresh", 0, &refresh_s, "SECONDS",
               "UDP template refresh interval (default 60)");
  flags.AddBool("all-elements", 0, &all_elements,
                "templates with every element a flow can fill, not the default set");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (collector.empty() == write_file.empty()) {
    return Fail("give exactly one of --collector ADDR:PORT or --write FILE");
  }
  if (ipv6_percent < 0 || ipv6_percent > 100) return Fail("--ipv6-percent must be 0..100");
  if (count < 0 || repeat < 1 || rate < 0) return Fail("--count, --repeat, --rate must be >= 0");
  if (mtu < 576 || mtu > 65535) return Fail("--mtu must be 576..65535");
  if (refresh_s < 1) return Fail("--template-refresh must be at least 1 second");

  absl::Time now = absl::Now();
  std::vector<FlowRecord> flows;
  if (!flows_file.empty()) {
    std::ifstream in(flows_file);
    if (!in) return Fail(absl::StrCat(flows_file, ": ", strerror(errno)));
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ipfix::ParseFlowText(text.str(), absl::ToUnixMillis(now));
    if (!parsed.ok()) return Fail(absl::StrCat(flows_file, ": ", parsed.status().message()));
    flows = *std::move(parsed);
  } else {
    flows = ipfix::SyntheticFlows(count, ipv6_percent / 100.0, absl::ToUnixMillis(now));
  }

  std::unique_ptr<ipfix::Transport> t;
  std::string where;
  if (!write_file.empty()) {
    auto f = ipfix::FileTransport::Create(write_file, ipfix::MaxUdpMessageSize(mtu, AF_INET));
    if (!f.ok()) return Fail(std::string(f.status().message()));
    t = *std::move(f);
    where = write_file;
  } else {
    auto address = ipfix::ParseSocketAddress(collector);
    if (!address.ok()) return Fail(absl::StrCat("--collector: ", address.status().message()));
    where = absl::StrCat(transport, " ", address->ToString());
    if (transport == "udp") {
      ipfix::UdpOptions o;
      o.mtu = mtu;
      auto u = ipfix::UdpTransport::Create(*address, o);
      if (!u.ok()) return Fail(std::string(u.status().message()));
      t = *std::move(u);
    } else if (transport == "tcp") {
      ipfix::TcpOptions o;
      o.mtu = mtu;
      auto c = ipfix::TcpTransport::Create(*address, o, now);
      if (!c.ok()) return Fail(std::string(c.status().message()));
      // Wait for the connection (a one-shot tool may; the daemon never does).
      absl::Time deadline = now + absl::Seconds(5);
      while (!(*c)->connected() && absl::Now() < deadline) {
        (*c)->Flush(absl::Now());
        absl::SleepFor(absl::Milliseconds(5));
      }
      if (!(*c)->connected()) {
        return Fail(absl::StrCat("cannot connect to ", address->ToString()));
      }
      t = *std::move(c);
    } else {
      return Fail(absl::StrCat("--transport must be udp or tcp, not \"", transport, "\""));
    }
  }
  ipfix::ExporterOptions options;
  options.observation_domain_id = static_cast<uint32_t>(domain);
  options.template_refresh = absl::Seconds(refresh_s);
  options.exporting_process_id = static_cast<uint32_t>(getpid());
  if (all_elements) {
    options.ipv4_elements = ipfix::AllFlowElementNames();
    options.ipv6_elements = ipfix::AllFlowElementNames();
  }
  auto exporter = ipfix::Exporter::Create(options, std::move(t));
  if (!exporter.ok()) return Fail(std::string(exporter.status().message()));
  ipfix::Exporter& e = **exporter;

  // Paced in slices of 10 ms.
  size_t per_slice = rate > 0 ? std::max<int64_t>(1, rate / 100) : flows.size();
  absl::Time next = absl::Now();
  for (int64_t r = 0; r < repeat; ++r) {
    for (size_t i = 0; i < flows.size(); i += per_slice) {
      size_t n = std::min(per_slice, flows.size() - i);
      e.Export(absl::MakeConstSpan(flows).subspan(i, n), absl::Now());
      if (rate > 0) {
        next += absl::Milliseconds(10) * (static_cast<double>(n) / per_slice);
        absl::Duration wait = next - absl::Now();
        if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
      }
    }
  }
  // Let a TCP queue drain (bounded).
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  auto* tcp = dynamic_cast<ipfix::TcpTransport*>(&e.transport());
  do {
    e.Tick(absl::Now());
    if (tcp == nullptr || tcp->unacknowledged() == 0) break;
    absl::SleepFor(absl::Milliseconds(5));
  } while (absl::Now() < deadline);
  ipfix::ExporterStats s = e.stats();
  std::printf("sent %llu flow records in %llu messages (%llu bytes) to %s; not sent: %llu "
              "records\n",
              static_cast<unsigned long long>(s.flow_records),
              static_cast<unsigned long long>(s.messages),
              static_cast<unsigned long long>(s.octets), where.c_str(),
              static_cast<unsigned long long>(s.loss.records));
  return s.loss.records == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// collect

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

bool IsNumeric(const DecodedField& f) {
  if (f.ie == nullptr) return false;
  switch (f.ie->type) {
    case ipfix::IeType::kIpv4Address:
    case ipfix::IeType::kIpv6Address:
    case ipfix::IeType::kString:
      return false;
    default:
      return f.value.size() <= 8 && !f.value.empty();
  }
}

class Printer {
 public:
  Printer(bool json, int64_t max_records) : json_(json), max_records_(max_records) {}

  void Print(const std::string& session, const DecodedMessage& m, const absl::Status& status) {
    for (const auto& t : m.templates) {
      std::vector<std::string> fields;
      for (auto [id, len] : t.fields) {
        const ipfix::InformationElement* ie = ipfix::FindInformationElementById(id & 0x7fff);
        fields.push_back(ie && !(id & 0x8000) ? absl::StrCat(ie->name, "/", len)
                                              : absl::StrCat(id, "/", len));
      }
      if (json_) {
        std::printf("{\"exporter\":\"%s\",\"domain\":%u,\"%s\":%u,\"fields\":[\"%s\"]}\n",
                    session.c_str(), t.domain,
                    t.withdrawal ? "withdrawn_template" : (t.options ? "options_template" : "template"),
                    t.id, absl::StrJoin(fields, "\",\"").c_str());
      } else {
        std::printf("%s domain %u %s %u: %s\n", session.c_str(), t.domain,
                    t.withdrawal ? "withdrawn template" : (t.options ? "options template" : "template"),
                    t.id, absl::StrJoin(fields, " ").c_str());
      }
    }
    for (const DecodedRecord& r : m.records) {
      if (json_) {
        std::string line = absl::StrCat("{\"exporter\":\"", session, "\",\"domain\":", r.domain,
                                        ",\"template\":", r.template_id,
                                        ",\"options\":", r.options ? "true" : "false",
                                        ",\"export_time\":", m.export_time, ",\"fields\":{");
        std::map<std::string, int> seen;
        bool first = true;
        for (const DecodedField& f : r.fields) {
          std::string name = f.Name();
          if (int n = ++seen[name]; n > 1) name = absl::StrCat(name, "#", n);
          absl::StrAppend(&line, first ? "" : ",", "\"", name, "\":");
          first = false;
          if (IsNumeric(f)) {
            absl::StrAppend(&line, f.ValueText());
          } else {
            absl::StrAppend(&line, "\"", JsonEscape(f.ValueText()), "\"");
          }
        }
        line += "}}";
        std::printf("%s\n", line.c_str());
      } else {
        std::string line = absl::StrCat(session, " domain ", r.domain, " ",
                                        r.options ? "options" : "data", " ", r.template_id, ":");
        for (const DecodedField& f : r.fields) {
          absl::StrAppend(&line, " ", f.Name(), "=", f.ValueText());
        }
        std::printf("%s\n", line.c_str());
      }
      if (!r.options) ++data_records_;
    }
    for (const std::string& w : m.warnings) {
      std::fprintf(stderr, "%s: warning: %s\n", session.c_str(), w.c_str());
    }
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", session.c_str(), std::string(status.message()).c_str());
    }
    std::fflush(stdout);
  }

  bool done() const { return max_records_ > 0 && data_records_ >= max_records_; }

 private:
  bool json_;
  int64_t max_records_;
  int64_t data_records_ = 0;
};

std::string PeerName(const sockaddr_storage& ss, socklen_t len) {
  SocketAddress a;
  a.storage = ss;
  a.length = len;
  return a.ToString();
}

int CollectUdp(int fd, Printer& printer, absl::Time deadline) {
  std::map<std::string, Decoder> sessions;  // per exporter address
  std::vector<uint8_t> buf(65536);
  while (!g_stop && !printer.done() && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) continue;
    std::string session = PeerName(from, len);
    DecodedMessage m;
    absl::Status s = sessions[session].Decode(absl::MakeConstSpan(buf.data(), n), &m);
    printer.Print(session, m, s);
  }
  return 0;
}

int CollectTcp(int listener, Printer& printer, absl::Time deadline) {
  struct Conn {
    ScopedFd fd;
    std::string name;
    Decoder decoder;
    std::vector<uint8_t> buf;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<uint8_t> chunk(65536);
  while (!g_stop && !printer.done() && absl::Now() < deadline) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    for (auto& c : conns) fds.push_back({c->fd.get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), 100) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      sockaddr_storage from{};
      socklen_t len = sizeof(from);
      int fd = accept4(listener, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
      if (fd >= 0) {
        auto c = std::make_unique<Conn>();
        c->fd.Reset(fd);
        c->name = PeerName(from, len);
        std::fprintf(stderr, "%s: connected\n", c->name.c_str());
        conns.push_back(std::move(c));
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = *conns[i - 1];
      ssize_t n = recv(c.fd.get(), chunk.data(), chunk.size(), 0);
      if (n <= 0) {
        std::fprintf(stderr, "%s: closed\n", c.name.c_str());
        c.fd.Reset();
        continue;
      }
      c.buf.insert(c.buf.end(), chunk.begin(), chunk.begin() + n);
      size_t pos = 0;
      for (;;) {
        size_t len = 0;
        absl::Span<const uint8_t> rest(c.buf.data() + pos, c.buf.size() - pos);
        absl::Status s = Decoder::MessageLength(rest, &len);
        if (!s.ok()) {
          // A stream out of step cannot be resynchronised: drop the session.
          std::fprintf(stderr, "%s: %s; closing\n", c.name.c_str(),
                       std::string(s.message()).c_str());
          c.fd.Reset();
          break;
        }
        if (len == 0 || len > rest.size()) break;
        DecodedMessage m;
        s = c.decoder.Decode(rest.subspan(0, len), &m);
        printer.Print(c.name, m, s);
        pos += len;
      }
      c.buf.erase(c.buf.begin(), c.buf.begin() + std::min(pos, c.buf.size()));
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [](const auto& c) { return !c->fd.valid(); }),
                conns.end());
  }
  return 0;
}

int RunCollectImpl(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl collect",
                        "A small IPFIX collector: decodes and prints what arrives (templates "
                        "are learned per exporter session).");
  std::string listen, output = "table", transport = "udp";
  int64_t count = 0, duration_s = 0;
  flags.AddString("listen", 'l', &listen, "ADDR:PORT", "address to listen on");
  flags.AddString("output", 'o', &output, "table|json", "output format (default table)");
  flags.AddString("transport", 't', &transport, "udp|tcp", "transport (default udp)");
  flags.AddInt("count", 'n', &count, "N", "exit after N flow records");
  flags.AddInt("duration", 0, &duration_s, "SECONDS", "exit after this long");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (listen.empty()) return Fail("--listen ADDR:PORT is required");
  if (output != "table" && output != "json") {
    return Fail(absl::StrCat("-o must be table or json, not \"", output, "\""));
  }
  if (transport != "udp" && transport != "tcp") {
    return Fail(absl::StrCat("--transport must be udp or tcp, not \"", transport, "\""));
  }
  auto address = ipfix::ParseSocketAddress(listen);
  if (!address.ok()) return Fail(absl::StrCat("--listen: ", address.status().message()));
  bool tcp = transport == "tcp";
  ScopedFd fd(socket(address->family(), (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Fail(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rcvbuf = 4 << 20;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (bind(fd.get(), address->get(), address->length) != 0) {
    return Fail(absl::StrCat("bind ", address->ToString(), ": ", strerror(errno)));
  }
  if (tcp && ::listen(fd.get(), 16) != 0) {
    return Fail(absl::StrCat("listen: ", strerror(errno)));
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::fprintf(stderr, "listening on %s %s\n", transport.c_str(), address->ToString().c_str());
  Printer printer(output == "json", count);
  absl::Time deadline =
      duration_s > 0 ? absl::Now() + absl::Seconds(duration_s) : absl::InfiniteFuture();
  return tcp ? CollectTcp(fd.get(), printer, deadline) : CollectUdp(fd.get(), printer, deadline);
}

}  // namespace

int RunIpfixSendDummy(const std::vector<std::string>& args) {
  return RunIpfixSendDummyImpl(args);
}
int RunCollect(const std::vector<std::string>& args) { return RunCollectImpl(args); }

}  // namespace tcflow::flowctl
