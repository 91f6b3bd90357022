// flowctl status / dump / flush / reload against a real tcflowd on the namespace router,
// through the real binary and the control socket: what an operator would type and read.

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/control/json.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"

namespace tcflow::testing {
namespace {

std::vector<control::JsonValue> JsonLines(const std::string& text) {
  std::vector<control::JsonValue> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    auto v = control::ParseJson(line);
    EXPECT_TRUE(v.ok()) << line;
    if (v.ok()) out.push_back(*v);
  }
  return out;
}

TEST(TcflowdControlTest, StatusDumpFlushReload) {
  auto router = Router::Create("tfc");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_control");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_ctl_", getpid()));
  const std::string& pins = pin_dir.path();
  int n = 0;
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", 1, 8, &n).ok());

  auto sink = IpfixSink::Start(*r.rt);
  auto sink2 = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok() && sink2.ok());
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port()};
  cfg.idle_timeout_s = 60;  // flows stay in the cache until flushed
  cfg.active_timeout_s = 120;
  const uint16_t metrics_port = FreeTcpPortIn(*r.rt);
  cfg.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port);
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string sock = cfg.control_socket();

  int received = 0;
  auto udp1 = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40001, 6001, 50, 100, &received);
  auto udp2 = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40002, 6002, 20, 200, &received);
  ASSERT_TRUE(udp1.ok() && udp2.ok());

  // --- events: IPv6 neighbour discovery seen by the programs, streamed ---
  {
    RunResult ev;
    std::thread events([&] { ev = Flowctl({"events", "--socket", sock, "-n", "1", "-t", "10"}); });
    absl::SleepFor(absl::Milliseconds(300));  // subscribed
    int replies = 0;
    ASSERT_TRUE(Echo(*r.h1, "fd61:2::1", 1, 8, &replies).ok());  // first IPv6 contact: NDP
    events.join();
    EXPECT_EQ(ev.code, 0) << ev.err;
    auto e = control::ParseJson(ev.out);
    ASSERT_TRUE(e.ok()) << ev.out;
    EXPECT_EQ(e->GetString("type"), "ndp") << ev.out;
    const uint64_t type = e->GetUint("icmp_type").value_or(0);
    EXPECT_TRUE(type >= 133 && type <= 137) << ev.out;
  }

  // --- status ---
  RunResult st = Flowctl({"status", "--socket", sock});
  EXPECT_EQ(st.code, 0) << st.err;
  EXPECT_TRUE(absl::StrContains(st.out, absl::StrCat("r1(", r.r1, ", both)"))) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, absl::StrCat("r2(", r.r2, ", both)"))) << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, absl::StrCat("127.0.0.1:", (*sink)->port(), "/udp")))
      << st.out;
  EXPECT_TRUE(absl::StrContains(st.out, cfg.config_path())) << st.out;
  st = Flowctl({"status", "--socket", sock, "-o", "json"});
  ASSERT_EQ(st.code, 0) << st.err;
  auto status = control::ParseJson(st.out);
  ASSERT_TRUE(status.ok()) << st.out;
  EXPECT_EQ(status->Find("interfaces")->items().size(), 2u);
  EXPECT_EQ(status->Find("table")->GetUint("slots_per_half"), 4096u);
  EXPECT_GE(*status->Find("table")->GetUint("drains"), 1u);
  EXPECT_EQ(status->Find("losses")->GetUint("overflow_lost"), 0u);

  // --- metrics: the contract's tcflow_* names on rt's loopback; traffic counters from the
  // drained flow records, exact against what the test sent ---
  auto scrape = [&]() -> std::map<std::string, double> {
    auto text = HttpGet(*r.rt, metrics_port, "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    if (!text.ok()) return {};
    auto samples = MetricSamples(*text);
    EXPECT_TRUE(samples.ok()) << samples.status();
    return samples.ok() ? *samples : std::map<std::string, double>();
  };
  auto traffic = [](const std::string& family, const std::string& leg, const char* direction,
                    const char* version, const char* protocol) {
    return absl::StrCat(family, "{interface=\"", leg, "\",direction=\"", direction,
                        "\",ip_version=\"", version, "\",protocol=\"", protocol, "\"}");
  };
  const std::string udp_in = traffic("tcflow_packets_total", "r1", "ingress", "4", "udp");
  // The UDP bursts (the only UDP on r1) are drained within a drain interval or two.
  std::map<std::string, double> m;
  for (int i = 0; i < 50 && (m = scrape())[udp_in] < 70; ++i) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(m[udp_in], 70);
  EXPECT_EQ(m[traffic("tcflow_bytes_total", "r1", "ingress", "4", "udp")],
            udp1->bytes + udp2->bytes);
  EXPECT_EQ(m[traffic("tcflow_packets_total", "r2", "egress", "4", "udp")], 70);
  EXPECT_EQ(m["tcflow_kernel_table_capacity"], 4096);
  EXPECT_EQ(m["tcflow_overflow_packets_lost_total"], 0);
  EXPECT_GE(m["tcflow_kernel_packets_total{direction=\"ingress\"}"], 70);
  const std::string collector = absl::StrCat("{collector=\"127.0.0.1:", (*sink)->port(), "/udp\"}");
  EXPECT_EQ(m.count("tcflow_export_messages_total" + collector), 1u);
  EXPECT_EQ(m["tcflow_export_records_not_sent_total" + collector], 0);
  EXPECT_GE(m["tcflow_drain_duration_seconds_count"], 1);
  EXPECT_EQ(m["tcflow_build_info{version=\"0.1.0\",revision=\"unknown\"}"], 1);
  // The one IPv6 echo request of the events check: an ICMPv6 flow keyed by type 128, to a
  // unique-local address, still in the cache (idle timeout 60 s).
  EXPECT_EQ(m["tcflow_icmpv6_messages_total{interface=\"r1\",direction=\"ingress\",type=\"128\",code=\"0\"}"],
            1);
  EXPECT_GE(m["tcflow_ipv6_flows{interface=\"r1\",direction=\"ingress\",scope=\"unique_local\"}"], 1);
  EXPECT_GE(m["tcflow_ipv6_flows_started_total{interface=\"r1\",direction=\"ingress\",scope=\"unique_local\"}"],
            1);
  // N pings h1 -> h2: requests on r1 ingress and r2 egress, replies on r2 ingress and r1
  // egress; each leg's ICMP counter moves by exactly what was sent.
  {
    constexpr int kPings = 7;
    const std::string req_in = traffic("tcflow_packets_total", "r1", "ingress", "4", "icmp");
    const std::string req_out = traffic("tcflow_packets_total", "r2", "egress", "4", "icmp");
    const std::string rep_in = traffic("tcflow_packets_total", "r2", "ingress", "4", "icmp");
    const std::string rep_out = traffic("tcflow_packets_total", "r1", "egress", "4", "icmp");
    const std::string bytes_in = traffic("tcflow_bytes_total", "r1", "ingress", "4", "icmp");
    const std::map<std::string, double> before = scrape();
    int replies = 0;
    auto wire = Echo(*r.h1, "10.61.2.1", kPings, 56, &replies);
    ASSERT_TRUE(wire.ok()) << wire.status();
    EXPECT_EQ(replies, kPings);
    auto delta = [&](const std::map<std::string, double>& now, const std::string& series) {
      auto a = now.find(series);
      auto b = before.find(series);
      return (a == now.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
    };
    std::map<std::string, double> after;
    for (int i = 0; i < 50; ++i) {
      after = scrape();
      if (delta(after, req_in) >= kPings && delta(after, rep_out) >= replies) break;
      absl::SleepFor(absl::Milliseconds(100));
    }
    absl::SleepFor(absl::Milliseconds(300));  // a few more drains: nothing more may come
    after = scrape();
    EXPECT_EQ(delta(after, req_in), kPings);
    EXPECT_EQ(delta(after, req_out), kPings);
    EXPECT_EQ(delta(after, rep_in), replies);
    EXPECT_EQ(delta(after, rep_out), replies);
    EXPECT_EQ(delta(after, bytes_in), static_cast<double>(wire->bytes));
  }

  // --- dump: both flows, on both legs, exact counts, straight from kernel + cache ---
  RunResult dump = Flowctl({"dump", "--socket", sock, "-o", "json", "-i", "r1"});
  ASSERT_EQ(dump.code, 0) << dump.err;
  uint64_t p6001 = 0, b6001 = 0, p6002 = 0;
  for (const auto& f : JsonLines(dump.out)) {
    EXPECT_EQ(f.GetUint("ifindex"), static_cast<uint64_t>(r.r1)) << f.Serialize();
    if (f.GetUint("dst_port") == 6001u) {
      p6001 += *f.GetUint("packets");
      b6001 += *f.GetUint("bytes");
    }
    if (f.GetUint("dst_port") == 6002u) p6002 += *f.GetUint("packets");
  }
  EXPECT_EQ(p6001, 50u);
  EXPECT_EQ(b6001, 50u * 128);
  EXPECT_EQ(p6002, 20u);
  dump = Flowctl({"dump", "--socket", sock});
  ASSERT_EQ(dump.code, 0) << dump.err;
  EXPECT_TRUE(absl::StrContains(dump.out, "IFINDEX")) << dump.out;
  EXPECT_TRUE(absl::StrContains(dump.out, "10.61.1.1:40001")) << dump.out;
  EXPECT_TRUE(absl::StrContains(dump.out, "10.61.2.1:6002")) << dump.out;
  RunResult bad = Flowctl({"dump", "--socket", sock, "-i", "nosuch0"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(absl::StrContains(bad.err, "nosuch0")) << bad.err;

  // --- flush one flow on one leg: exported now, with forced end; the rest stays ---
  RunResult fl = Flowctl({"flush", "--socket", sock, "-i", "r1", "-p", "udp", "-s", "10.61.1.1",
                          "-S", "40001", "-d", "10.61.2.1", "-D", "6001"});
  EXPECT_EQ(fl.code, 0) << fl.err;
  EXPECT_EQ(fl.out, "ended and exported 1 flow record(s)\n");
  const FlowId f6001_r1{4, 17, "10.61.1.1", "10.61.2.1", 40001, 6001, static_cast<uint32_t>(r.r1), 0};
  const FlowId f6001_r2{4, 17, "10.61.1.1", "10.61.2.1", 40001, 6001, static_cast<uint32_t>(r.r2), 1};
  const FlowId f6002_r1{4, 17, "10.61.1.1", "10.61.2.1", 40002, 6002, static_cast<uint32_t>(r.r1), 0};
  ASSERT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(f6001_r1) > 0; },
                               absl::Seconds(3)));
  absl::SleepFor(absl::Milliseconds(300));
  auto flows = (*sink)->Flows();
  EXPECT_EQ(flows[f6001_r1].packets, 50u);
  EXPECT_EQ(flows[f6001_r1].end_reasons[4], 1u);
  EXPECT_EQ(flows.count(f6001_r2), 0u) << "only the selected leg was flushed";
  EXPECT_EQ(flows.count(f6002_r1), 0u);
  RunResult usage = Flowctl({"flush", "--socket", sock});
  EXPECT_EQ(usage.code, 2);

  // --- reload with a second collector: later flows reach both ---
  cfg.udp_collectors = {(*sink)->port(), (*sink2)->port()};
  ASSERT_TRUE(WriteFile(cfg.config_path(), cfg.Text()).ok());
  RunResult rl = Flowctl({"reload", "--socket", sock});
  EXPECT_EQ(rl.code, 0) << rl.err;
  EXPECT_TRUE(absl::StrContains(rl.out, "reloaded")) << rl.out;

  // --- reload with a broken config: refused with FILE:LINE:COLUMN, the old one stays ---
  ASSERT_TRUE(WriteFile(cfg.config_path(), cfg.Text() + "\ncolector { address: \"x\" }\n").ok());
  rl = Flowctl({"reload", "--socket", sock});
  EXPECT_EQ(rl.code, 1);
  EXPECT_TRUE(absl::StrContains(rl.err, absl::StrCat(cfg.config_path(), ":"))) << rl.err;
  EXPECT_TRUE(absl::StrContains(rl.err, "colector")) << rl.err;
  st = Flowctl({"status", "--socket", sock, "-o", "json"});
  status = control::ParseJson(st.out);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->GetUint("reload_failures"), 1u);
  EXPECT_EQ(status->Find("collectors")->items().size(), 2u);

  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40003, 6003, 30, 10, &received).ok());
  fl = Flowctl({"flush", "--socket", sock, "--all"});
  EXPECT_EQ(fl.code, 0) << fl.err;
  const FlowId f6003_r2{4, 17, "10.61.1.1", "10.61.2.1", 40003, 6003, static_cast<uint32_t>(r.r2), 1};
  for (IpfixSink* s : {sink->get(), sink2->get()}) {
    ASSERT_TRUE(s->WaitFor([&](const auto& f) { return f.count(f6003_r2) > 0; }, absl::Seconds(3)));
    EXPECT_EQ(s->Flows()[f6003_r2].packets, 30u);
  }
  // The first collector got everything, exactly once.
  absl::SleepFor(absl::Milliseconds(300));
  flows = (*sink)->Flows();
  EXPECT_EQ(flows[f6001_r1].packets, 50u);
  EXPECT_EQ(flows[f6001_r2].packets, 50u);
  EXPECT_EQ(flows[f6002_r1].packets, 20u);

  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0) << (*daemon)->process().Log();
  RunResult gone = Flowctl({"status", "--socket", sock});
  EXPECT_EQ(gone.code, 1);
  EXPECT_TRUE(absl::StrContains(gone.err, "tcflowd is not running")) << gone.err;
}

// systemd's readiness protocol: READY=1 only once attached with the first drain done;
// RELOADING=1 then READY=1 around a SIGHUP; STOPPING=1 on SIGTERM.
TEST(TcflowdControlTest, SystemdNotify) {
  auto router = Router::Create("tfs");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_notify");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_ntf_", getpid()));
  const std::string& pins = pin_dir.path();
  const std::string notify = absl::StrCat("/tmp/tcflowd_notify_", getpid(), ".sock");
  unlink(notify.c_str());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", notify.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  auto next = [&]() -> std::string {
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, n) : "";
  };
  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok());
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port()};
  cfg.notify_socket = notify;
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  std::string msg = next();
  EXPECT_TRUE(absl::StrContains(msg, "READY=1")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "metering 2 interface(s)")) << msg;
  auto status = (*daemon)->Call("status");
  ASSERT_TRUE(status.ok());
  EXPECT_GE(*status->Find("table")->GetUint("drains"), 1u);

  (*daemon)->process().Signal(SIGHUP);
  msg = next();
  EXPECT_TRUE(absl::StrContains(msg, "RELOADING=1")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, "MONOTONIC_USEC=")) << msg;
  msg = next();
  EXPECT_TRUE(absl::StrContains(msg, "READY=1")) << msg;
  (*daemon)->process().Signal(SIGTERM);
  msg = next();
  EXPECT_TRUE(absl::StrContains(msg, "STOPPING=1")) << msg;
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0);
  close(fd);
  unlink(notify.c_str());
}

}  // namespace
}  // namespace tcflow::testing
