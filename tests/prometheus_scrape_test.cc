// A real Prometheus (Debian's /usr/bin/prometheus) scrapes tcflowd on the namespace router
// h1 - rt - h2 and its HTTP API returns exactly the traffic the test sent: N neighbour
// solicitations crafted by the test (with their targets, and the NAs they triggered, also in
// `flowctl events`), M UDP datagrams with a hop-by-hop header, and a known number of pings
// on both legs. Then `promtool check metrics` has nothing to say about a scrape of tcflowd,
// the alert rules load into Prometheus with every rule healthy, every metric name the
// Grafana dashboard uses is in that scrape, and an alert (export losses) really fires.
//
// Exact NDP counts need a quiet link: the kernel's own neighbour discovery would add NS
// (duplicate address detection, address resolution, unreachability probes) and RS. So this
// router is built with, in every namespace before any link exists: accept_dad=0,
// router_solicitations=0 and fast unsolicited MLD reports (they carry a hop-by-hop header,
// and are over long before tcflowd starts); and permanent neighbour entries for every IPv6
// next hop, so no address resolution or NUD probe ever happens. The test also checks the
// counters are 0 before it sends anything, so stray NDP or MLD would fail it, not hide.

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netlink/netlink.h>
#include <netlink/route/neighbour.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/control/json.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"

namespace tcflow::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kPython[] = "/usr/bin/python3";

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".", "/tcflow/", path);
}

// `targets.size()` neighbour solicitations from h1's e0 (source fd61:1::1, with a source
// link-layer address option), each to its target's solicited-node multicast group. The
// owner of a target answers with an NA; an unowned target gets no answer.
absl::Status SendNeighbourSolicitations(const Namespace& h1, const std::vector<std::string>& targets,
                                        const std::vector<uint8_t>& mac) {
  auto ifindex = h1.IfIndex("e0");
  if (!ifindex.ok()) return ifindex.status();
  return h1.Run([&]() -> absl::Status {
    int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0) return absl::InternalError("raw ICMPv6 socket");
    int hops = 255;  // RFC 4861: NDP is only valid with hop limit 255
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &*ifindex, sizeof(*ifindex));
    sockaddr_in6 src{};
    src.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "fd61:1::1", &src.sin6_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
      close(fd);
      return absl::InternalError("bind fd61:1::1");
    }
    for (const std::string& target : targets) {
      uint8_t pkt[32] = {};
      pkt[0] = ND_NEIGHBOR_SOLICIT;  // code 0; the kernel fills in the checksum
      in6_addr t{};
      inet_pton(AF_INET6, target.c_str(), &t);
      std::memcpy(pkt + 8, &t, 16);
      pkt[24] = ND_OPT_SOURCE_LINKADDR;
      pkt[25] = 1;  // 8 octets
      std::memcpy(pkt + 26, mac.data(), 6);
      sockaddr_in6 dst{};
      dst.sin6_family = AF_INET6;
      dst.sin6_scope_id = *ifindex;
      inet_pton(AF_INET6, "ff02::1:ff00:0", &dst.sin6_addr);
      std::memcpy(&dst.sin6_addr.s6_addr[13], &t.s6_addr[13], 3);
      if (sendto(fd, pkt, sizeof(pkt), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) !=
          static_cast<ssize_t>(sizeof(pkt))) {
        close(fd);
        return absl::InternalError(absl::StrCat("sendto NS ", target, ": ", std::strerror(errno)));
      }
    }
    close(fd);
    return absl::OkStatus();
  });
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// Prometheus' HTTP API (`/api/v1/query`): the value of a one-element instant vector;
// nullopt when the vector is empty.
absl::StatusOr<std::optional<double>> Query(const Namespace& ns, uint16_t port,
                                            const std::string& expr) {
  auto body = HttpGet(ns, port, "/api/v1/query?query=" + UrlEncode(expr));
  if (!body.ok()) return body.status();
  auto json = control::ParseJson(*body);
  if (!json.ok()) return json.status();
  if (json->GetString("status") != "success") {
    return absl::InternalError(absl::StrCat("query ", expr, ": ", *body));
  }
  const control::JsonValue* data = json->Find("data");
  const control::JsonValue* result = data != nullptr ? data->Find("result") : nullptr;
  if (result == nullptr || !result->is_array()) return absl::InternalError(*body);
  if (result->items().empty()) return std::optional<double>();
  if (result->items().size() != 1) {
    return absl::InternalError(absl::StrCat("query ", expr, ": more than one series: ", *body));
  }
  const control::JsonValue* value = result->items()[0].Find("value");
  double v = 0;
  if (value == nullptr || value->items().size() != 2 ||
      !absl::SimpleAtod(value->items()[1].text(), &v)) {
    return absl::InternalError(*body);
  }
  return std::optional<double>(v);
}

// Runs a host tool with `stdin_path` as its input; exit code and stdout+stderr.
RunResult RunTool(const std::vector<std::string>& argv, const std::string& stdin_path,
                  const std::string& out_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int in = stdin_path.empty() ? open("/dev/null", O_RDONLY | O_CLOEXEC)
                              : open(stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in);
  close(out);
  int st = 0;
  waitpid(pid, &st, 0);
  RunResult r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream f(out_path);
  std::stringstream ss;
  ss << f.rdbuf();
  r.out = ss.str();
  return r;
}

struct Expectation {
  std::string expr;
  double want;
};

TEST(PrometheusScrapeTest, RealPrometheusSeesExactTraffic) {
  for (const char* tool : {kPrometheus, kPromtool, kPython}) {
    ASSERT_EQ(access(tool, X_OK), 0)
        << tool << " missing (Debian packages prometheus, python3; tools/bootstrap.sh)";
  }
  auto router = Router::Create("tps", {.quiet_ipv6 = true});
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("prometheus_scrape");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_prom_", getpid()));

  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok()) << sink.status();
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pin_dir.path();
  cfg.udp_collectors = {(*sink)->port()};
  const uint16_t metrics_port = FreeTcpPortIn(*r.rt);
  cfg.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port);
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  // Prometheus inside rt (setns before exec), on rt's loopback, its own storage, the
  // tcflow alert rules loaded; scraping tcflowd every second.
  const uint16_t prom_port = FreeTcpPortIn(*r.rt);
  const std::string prom_config = dir.path() + "/prometheus.yml";
  ASSERT_TRUE(WriteFile(prom_config,
                        absl::StrCat("global:\n"
                                     "  scrape_interval: 1s\n"
                                     "  scrape_timeout: 1s\n"
                                     "  evaluation_interval: 1s\n"
                                     "rule_files:\n"
                                     "  - ", Runfile("deploy/prometheus/tcflow-alerts.yml"), "\n"
                                     "scrape_configs:\n"
                                     "  - job_name: tcflow\n"
                                     "    static_configs:\n"
                                     "      - targets: ['127.0.0.1:", metrics_port, "']\n"))
                  .ok());
  Process prometheus({kPrometheus, "--config.file=" + prom_config,
                      "--storage.tsdb.path=" + dir.path() + "/tsdb",
                      absl::StrCat("--web.listen-address=127.0.0.1:", prom_port),
                      "--log.level=warn"},
                     dir.path() + "/prometheus.log", r.rt->path());
  auto query = [&](const std::string& expr) { return Query(*r.rt, prom_port, expr); };
  // Polls until every expectation holds; on timeout, fails listing what Prometheus said.
  auto wait_for = [&](const std::vector<Expectation>& want, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    std::string last;
    for (;;) {
      last.clear();
      for (const Expectation& e : want) {
        auto v = query(e.expr);
        std::string got = !v.ok() ? v.status().ToString()
                          : !v->has_value() ? "no data"
                                            : absl::StrCat(**v);
        if (!v.ok() || !v->has_value() || **v != e.want) {
          absl::StrAppend(&last, "\n  ", e.expr, " = ", got, ", want ", e.want);
        }
      }
      if (last.empty()) return true;
      if (absl::Now() > deadline || !prometheus.running()) break;
      absl::SleepFor(absl::Milliseconds(500));
    }
    ADD_FAILURE() << "Prometheus (" << (prometheus.running() ? "running" : "exited")
                  << ") did not report:" << last << "\nprometheus log:\n"
                  << prometheus.Log();
    return false;
  };
  ASSERT_TRUE(wait_for({{"up{job=\"tcflow\"}", 1}}, absl::Seconds(30)));

  // Quiet before the test's traffic: no NS anywhere, no hop-by-hop header (MLD is over).
  ASSERT_TRUE(wait_for(
      {{"sum(tcflow_kernel_icmpv6_messages_total{type=\"135\"}) or vector(0)", 0},
       {"sum(tcflow_icmpv6_messages_total{type=\"135\"}) or vector(0)", 0},
       {"sum(tcflow_kernel_icmpv6_messages_total{type=\"136\"}) or vector(0)", 0},
       {"sum(tcflow_ipv6_extension_headers_total{type=\"hop_by_hop\"}) or vector(0)", 0}},
      absl::Seconds(5)));

  // flowctl events streams the NDP events while the NS go out.
  // kOwned of the NS ask for rt's own fd61:1::fe: rt answers each with an NA (to h1, whose
  // entry is permanent, so rt solicits nothing itself). Nobody owns the other targets.
  constexpr int kSolicitations = 25, kOwned = 3, kHopByHop = 40, kPings6 = 7, kPings4 = 5;
  std::vector<std::string> targets(kOwned, "fd61:1::fe");
  for (int i = 1; i <= kSolicitations - kOwned; ++i) {
    targets.push_back(absl::StrFormat("fd61:1::ac:%x", i));
  }
  RunResult events, exthdr_events;
  std::thread events_thread([&] {
    events = Flowctl({"events", "--socket", cfg.control_socket(), "--type", "ndp", "-o", "json",
                      "-n", absl::StrCat(kSolicitations + kOwned), "-t", "20"});
  });
  // The same stream filtered to extension-chain alerts: none of the NS may show up there.
  std::thread exthdr_thread([&] {
    exthdr_events = Flowctl({"events", "--socket", cfg.control_socket(), "--type", "exthdr",
                             "-t", "3"});
  });
  absl::SleepFor(absl::Milliseconds(500));  // subscribed
  auto h1_mac = MacOf(*r.h1, "e0");
  ASSERT_TRUE(h1_mac.ok());
  absl::Status ns_sent = SendNeighbourSolicitations(*r.h1, targets, *h1_mac);
  events_thread.join();
  exthdr_thread.join();
  ASSERT_TRUE(ns_sent.ok()) << ns_sent;
  EXPECT_EQ(exthdr_events.code, 0) << exthdr_events.err;
  EXPECT_EQ(exthdr_events.out, "");
  RunResult bad = Flowctl({"events", "--socket", cfg.control_socket(), "--type", "arp"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "--type must be ndp or exthdr")) << bad.err;

  // The events stream had every NS the test sent and every NA they triggered, with their
  // targets, and nothing else.
  EXPECT_EQ(events.code, 0) << events.err;
  std::multiset<std::string> ns_targets, na_targets;
  for (absl::string_view line : absl::StrSplit(events.out, '\n', absl::SkipEmpty())) {
    auto e = control::ParseJson(line);
    ASSERT_TRUE(e.ok()) << line;
    EXPECT_EQ(e->GetString("type"), "ndp") << line;
    EXPECT_EQ(e->GetString("ifname"), "r1") << line;
    const std::string target = e->GetString("target").value_or("(none)");
    if (e->GetUint("icmp_type") == 135u) {
      EXPECT_EQ(e->GetString("direction"), "ingress") << line;
      EXPECT_EQ(e->GetString("src"), "fd61:1::1") << line;
      ns_targets.insert(target);
    } else {
      EXPECT_EQ(e->GetUint("icmp_type"), 136u) << line;
      EXPECT_EQ(e->GetString("direction"), "egress") << line;
      EXPECT_EQ(e->GetString("src"), "fd61:1::fe") << line;
      EXPECT_EQ(e->GetString("dst"), "fd61:1::1") << line;
      na_targets.insert(target);
    }
  }
  EXPECT_EQ(ns_targets, std::multiset<std::string>(targets.begin(), targets.end()))
      << events.out << events.err;
  EXPECT_EQ(na_targets, std::multiset<std::string>(targets.begin(), targets.begin() + kOwned))
      << events.out << events.err;

  int received = 0;
  auto hbh = UdpBurst(*r.h1, *r.h2, "fd61:2::1", 41000, 7000, kHopByHop, 64, &received,
                      absl::ZeroDuration(), [](int fd) {
                        // Hop-by-hop options header: one PadN option filling its 8 octets.
                        uint8_t opts[8] = {0, 0, 1, 4, 0, 0, 0, 0};
                        setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, opts, sizeof(opts));
                      });
  ASSERT_TRUE(hbh.ok()) << hbh.status();
  ASSERT_EQ(received, kHopByHop);
  int replies6 = 0, replies4 = 0;
  ASSERT_TRUE(Echo(*r.h1, "fd61:2::1", kPings6, 56, &replies6).ok());
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", kPings4, 56, &replies4).ok());
  ASSERT_EQ(replies6, kPings6);
  ASSERT_EQ(replies4, kPings4);

  auto sel = [](const std::string& ifname, const std::string& dir, const std::string& more) {
    return absl::StrCat("{interface=\"", ifname, "\",direction=\"", dir, "\",", more, "}");
  };
  const std::vector<Expectation> want = {
      // Neighbour solicitations: per interface (from flow records) and per packet (kernel).
      {"sum(tcflow_icmpv6_messages_total" + sel("r1", "ingress", "type=\"135\",code=\"0\"") + ")",
       kSolicitations},
      {"sum(tcflow_icmpv6_messages_total{type=\"135\"})", kSolicitations},
      {"sum(tcflow_kernel_icmpv6_messages_total{type=\"135\"})", kSolicitations},
      // The neighbour advertisements rt sent back.
      {"sum(tcflow_icmpv6_messages_total" + sel("r1", "egress", "type=\"136\",code=\"0\"") + ")",
       kOwned},
      {"sum(tcflow_kernel_icmpv6_messages_total{type=\"136\"})", kOwned},
      // Hop-by-hop: every datagram crosses rt twice (r1 ingress, r2 egress).
      {"sum(tcflow_ipv6_extension_headers_total{type=\"hop_by_hop\"})", 2 * kHopByHop},
      {"sum(tcflow_ipv6_extension_chain_depth_total{depth=\"1\"})", 2 * kHopByHop},
      {"sum(tcflow_packets_total" + sel("r1", "ingress", "ip_version=\"6\",protocol=\"udp\"") + ")",
       kHopByHop},
      {"sum(tcflow_packets_total" + sel("r2", "egress", "ip_version=\"6\",protocol=\"udp\"") + ")",
       kHopByHop},
      // Pings, on both legs, both ways.
      {"sum(tcflow_icmpv6_messages_total" + sel("r1", "ingress", "type=\"128\",code=\"0\"") + ")",
       kPings6},
      {"sum(tcflow_icmpv6_messages_total" + sel("r2", "egress", "type=\"128\",code=\"0\"") + ")",
       kPings6},
      {"sum(tcflow_icmpv6_messages_total" + sel("r2", "ingress", "type=\"129\",code=\"0\"") + ")",
       kPings6},
      {"sum(tcflow_icmpv6_messages_total" + sel("r1", "egress", "type=\"129\",code=\"0\"") + ")",
       kPings6},
      {"sum(tcflow_packets_total" + sel("r1", "ingress", "ip_version=\"4\",protocol=\"icmp\"") + ")",
       kPings4},
      {"sum(tcflow_packets_total" + sel("r2", "egress", "ip_version=\"4\",protocol=\"icmp\"") + ")",
       kPings4},
      {"sum(tcflow_packets_total" + sel("r2", "ingress", "ip_version=\"4\",protocol=\"icmp\"") + ")",
       kPings4},
      {"sum(tcflow_packets_total" + sel("r1", "egress", "ip_version=\"4\",protocol=\"icmp\"") + ")",
       kPings4},
      // Every IPv6 packet on r1 ingress: the NS, the datagrams, the echo requests.
      {"sum(tcflow_packets_total" + sel("r1", "ingress", "ip_version=\"6\"") + ")",
       kSolicitations + kHopByHop + kPings6},
      {"tcflow_interface_attached" + sel("r1", "ingress", "job=\"tcflow\""), 1},
      {"tcflow_interface_attached" + sel("r2", "egress", "job=\"tcflow\""), 1},
      {"up{job=\"tcflow\"}", 1},
  };
  ASSERT_TRUE(wait_for(want, absl::Seconds(30)));
  // Counted once: still the same a few scrapes later.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_TRUE(wait_for(want, absl::ZeroDuration()));

  // The alert rules are loaded (as many as the file has) and every rule evaluates without
  // error.
  {
    int want_rules = 0;
    {
      std::ifstream in(Runfile("deploy/prometheus/tcflow-alerts.yml"));
      std::string line;
      while (std::getline(in, line)) want_rules += absl::StrContains(line, "- alert: ");
    }
    ASSERT_GT(want_rules, 0);
    std::string last;
    bool healthy = false;
    for (absl::Time deadline = absl::Now() + absl::Seconds(10); absl::Now() < deadline;) {
      auto body = HttpGet(*r.rt, prom_port, "/api/v1/rules");
      ASSERT_TRUE(body.ok()) << body.status();
      last = *body;
      auto json = control::ParseJson(*body);
      ASSERT_TRUE(json.ok()) << *body;
      int rules = 0, ok = 0;
      for (const auto& g : json->Find("data")->Find("groups")->items()) {
        for (const auto& rule : g.Find("rules")->items()) {
          ++rules;
          ok += rule.GetString("health") == "ok";
        }
      }
      if (rules == want_rules && ok == rules) {
        healthy = true;
        break;
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
    EXPECT_TRUE(healthy) << last;
  }

  // A scrape of tcflowd: promtool has nothing to say, and it has every metric the
  // dashboard uses.
  auto scrape = HttpGet(*r.rt, metrics_port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  const std::string scrape_file = dir.path() + "/scrape.txt";
  ASSERT_TRUE(WriteFile(scrape_file, *scrape).ok());
  RunResult lint = RunTool({kPromtool, "check", "metrics"}, scrape_file, dir.path() + "/lint.txt");
  EXPECT_EQ(lint.code, 0) << lint.out;
  EXPECT_EQ(lint.out, "") << "promtool check metrics";
  RunResult dash = RunTool({kPython, Runfile("deploy/grafana/dashboard_check.py"),
                            Runfile("deploy/grafana/tcflow-dashboard.json"), "--scrape",
                            scrape_file},
                           "", dir.path() + "/dashboard.txt");
  EXPECT_EQ(dash.code, 0) << dash.out;
  std::printf("dashboard check: %s", dash.out.c_str());

  // An alert firing for real: the collector goes away, the next flow's records are refused
  // (ICMP port unreachable on loopback) and counted as not sent; TcflowExportLosses has no
  // `for:`, so Prometheus' rule evaluation turns it firing within seconds.
  EXPECT_TRUE(wait_for({{"sum(ALERTS{alertname=\"TcflowExportLosses\"}) or vector(0)", 0}},
                       absl::ZeroDuration()));
  sink->reset();
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "10.61.2.1", 42000, 7100, 3, 32, &received).ok());
  EXPECT_TRUE(wait_for(
      {{"sum(ALERTS{alertname=\"TcflowExportLosses\",alertstate=\"firing\",severity=\"critical\"})", 1},
       {"sum(tcflow_export_records_not_sent_total) > bool 0", 1},
       {"min(tcflow_collector_up)", 0}},
      absl::Seconds(30)));

  prometheus.Signal(SIGTERM);
  EXPECT_EQ(prometheus.Wait(absl::Seconds(15)), 0) << prometheus.Log();
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0) << (*daemon)->process().Log();
}

}  // namespace
}  // namespace tcflow::testing
