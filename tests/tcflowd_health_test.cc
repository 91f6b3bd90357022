// tcflowd's health endpoints on the namespace router: /healthz, /ready after start, a
// filter deleted behind tcflow's back (with the netlink library, as another program would)
// turns /ready to 503 naming the hook within a second, the daemon puts the filter back a
// second later (/ready 200, tcflow_filter_repairs_total counts it), and the traffic after
// the repair is metered exactly again. The same for a deleted clsact qdisc.

#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"


namespace tcflow::testing {
namespace {

// GET `path` on 127.0.0.1:`port` inside `ns`: status code and body (any status; code 0
// when there was no HTTP answer).
HttpReply Get(const Namespace& ns, uint16_t port, const std::string& path) {
  auto reply = HttpRequest(ns, port, path);
  return reply.ok() ? *reply : HttpReply{};
}

// Deletes tcflow's filters on one hook of `ifname` in `ns` (what `tc filter del` does).
absl::Status DeleteTcflowFilter(const Namespace& ns, const std::string& ifname,
                                netlink::Hook hook) {
  return ns.Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    auto link = netlink::GetLink(**sock, ifname);
    if (!link.ok()) return link.status();
    auto filters = netlink::ListFilters(**sock, link->ifindex, hook);
    if (!filters.ok()) return filters.status();
    int deleted = 0;
    for (const netlink::FilterInfo& f : *filters) {
      if (f.priority != netlink::kDefaultPriority || f.handle != netlink::kDefaultHandle) continue;
      if (absl::Status s = netlink::DeleteFilter(**sock, f); !s.ok()) return s;
      ++deleted;
    }
    return deleted == 1 ? absl::OkStatus()
                        : absl::NotFoundError(absl::StrCat(deleted, " tcflow filters deleted"));
  });
}

absl::Status DeleteClsact(const Namespace& ns, const std::string& ifname) {
  return ns.Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    auto link = netlink::GetLink(**sock, ifname);
    if (!link.ok()) return link.status();
    return netlink::DeleteClsact(**sock, link->ifindex);
  });
}

// Polls /ready until it answers `code`; returns when it did (InfiniteFuture on timeout) and
// the body then.
std::pair<absl::Time, std::string> WaitForReady(const Namespace& ns, uint16_t port, int code,
                                                absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    HttpReply r = Get(ns, port, "/ready");
    if (r.code == code) return {absl::Now(), r.body};
    absl::SleepFor(absl::Milliseconds(20));
  }
  return {absl::InfiniteFuture(), ""};
}

TEST(TcflowdHealthTest, ReadyFlipsWhenAFilterIsRemovedAndRepaired) {
  auto router = Router::Create("thl");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_health");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_health_", getpid()));
  int n = 0;
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", 1, 8, &n).ok());  // ARP done before metering

  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok()) << sink.status();
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pin_dir.path();
  cfg.udp_collectors = {(*sink)->port()};
  const uint16_t port = FreeTcpPortIn(*r.rt);
  cfg.metrics_listen = absl::StrCat("127.0.0.1:", port);
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  HttpReply h = Get(*r.rt, port, "/healthz");
  EXPECT_EQ(h.code, 200);
  EXPECT_EQ(h.body, "ok\n");
  HttpReply ready = Get(*r.rt, port, "/ready");
  EXPECT_EQ(ready.code, 200) << ready.body;
  EXPECT_EQ(ready.body, "ready\n");
  EXPECT_EQ(Get(*r.rt, port, "/nope").code, 404);
  auto metrics = HttpGet(*r.rt, port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_ready 1\n")) << *metrics;
  EXPECT_TRUE(absl::StrContains(
      *metrics, "\ntcflow_interface_attached{interface=\"r1\",direction=\"ingress\"} 1\n"))
      << *metrics;
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_filter_repairs_total 0\n")) << *metrics;

  // --- somebody deletes tcflow's ingress filter on r1 ---
  const absl::Time deleted = absl::Now();
  ASSERT_TRUE(DeleteTcflowFilter(*r.rt, "r1", netlink::Hook::kIngress).ok());
  auto [down_at, reasons] = WaitForReady(*r.rt, port, 503, absl::Seconds(2));
  ASSERT_NE(down_at, absl::InfiniteFuture()) << "/ready never said 503";
  EXPECT_LT(down_at - deleted, absl::Seconds(1)) << "noticed too late";
  EXPECT_EQ(reasons, "r1 ingress: tcflow filter missing\n");
  std::printf("filter deleted: /ready 503 after %s\n",
              absl::FormatDuration(down_at - deleted).c_str());
  metrics = HttpGet(*r.rt, port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_ready 0\n")) << *metrics;
  EXPECT_TRUE(absl::StrContains(
      *metrics, "\ntcflow_interface_attached{interface=\"r1\",direction=\"ingress\"} 0\n"))
      << *metrics;
  EXPECT_TRUE(absl::StrContains(
      *metrics, "\ntcflow_interface_attached{interface=\"r1\",direction=\"egress\"} 1\n"))
      << *metrics;

  auto [up_at, body] = WaitForReady(*r.rt, port, 200, absl::Seconds(3));
  ASSERT_NE(up_at, absl::InfiniteFuture()) << "never repaired";
  EXPECT_EQ(body, "ready\n");
  std::printf("filter deleted: /ready 200 again after %s\n",
              absl::FormatDuration(up_at - deleted).c_str());
  // Repaired at the check a second after the removal was noticed, not in the same pass.
  EXPECT_GE(up_at - deleted, absl::Milliseconds(900));
  EXPECT_LT(up_at - deleted, absl::Seconds(2));
  auto filters = TcflowFilters(*r.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_EQ(filters->size(), 4u) << "r1 and r2, both hooks";
  metrics = HttpGet(*r.rt, port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_filter_repairs_total 1\n")) << *metrics;
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_ready 1\n")) << *metrics;

  // Metered again: every datagram counted on r1's ingress.
  int received = 0;
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40071, 5071, 40, 200, &received).ok());
  EXPECT_EQ(received, 40);
  const FlowId in{4, 17, "10.61.1.1", "10.61.2.1", 40071, 5071, static_cast<uint32_t>(r.r1), 0};
  const FlowId out{4, 17, "10.61.1.1", "10.61.2.1", 40071, 5071, static_cast<uint32_t>(r.r2), 1};
  EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(in) && f.count(out); },
                               absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(300));
  auto flows = (*sink)->Flows();
  EXPECT_EQ(flows[in].packets, 40u);
  EXPECT_EQ(flows[out].packets, 40u);

  // --- somebody deletes the clsact qdisc on r2: both hooks gone ---
  const absl::Time qdisc_deleted = absl::Now();
  ASSERT_TRUE(DeleteClsact(*r.rt, "r2").ok());
  std::tie(down_at, reasons) = WaitForReady(*r.rt, port, 503, absl::Seconds(2));
  ASSERT_NE(down_at, absl::InfiniteFuture());
  EXPECT_LT(down_at - qdisc_deleted, absl::Seconds(1));
  EXPECT_EQ(reasons, "r2 egress: tcflow filter missing\nr2 ingress: tcflow filter missing\n");
  std::tie(up_at, body) = WaitForReady(*r.rt, port, 200, absl::Seconds(3));
  ASSERT_NE(up_at, absl::InfiniteFuture());
  metrics = HttpGet(*r.rt, port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_TRUE(absl::StrContains(*metrics, "\ntcflow_filter_repairs_total 2\n")) << *metrics;
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40072, 5072, 30, 200, &received).ok());
  const FlowId out2{4, 17, "10.61.1.1", "10.61.2.1", 40072, 5072, static_cast<uint32_t>(r.r2), 1};
  EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(out2) > 0; },
                               absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ((*sink)->Flows()[out2].packets, 30u);

  const std::string log = (*daemon)->process().Log();
  EXPECT_TRUE(absl::StrContains(log, "filter-removed r1")) << log;
  EXPECT_TRUE(absl::StrContains(log, "reattached r1")) << log;
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0);
}

}  // namespace
}  // namespace tcflow::testing
