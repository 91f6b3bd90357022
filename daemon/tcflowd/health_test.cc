#include "daemon/tcflowd/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "daemon/tcflowd/metrics.h"
#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);

HookHealth Hook(const std::string& name, const std::string& dir, bool attached,
                const std::string& problem = "") {
  return HookHealth{name, dir, attached, problem};
}

TEST(HealthTest, ReadinessRules) {
  struct Case {
    const char* what;
    std::vector<HookHealth> hooks;
    absl::Time last_drain;
    absl::Duration interval;
    bool ready;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"all attached, drained just now",
       {Hook("eth0", "ingress", true), Hook("eth0", "egress", true)},
       kNow - absl::Milliseconds(50), absl::Milliseconds(100), true, "ready\n"},
      {"nothing selected yet is ready", {}, kNow, absl::Seconds(1), true, "ready\n"},
      {"no drain yet", {Hook("eth0", "ingress", true)}, absl::InfinitePast(), absl::Seconds(1),
       false, "starting\n"},
      {"a missing filter names interface and hook",
       {Hook("eth0", "ingress", true), Hook("eth1", "ingress", false, "tcflow filter missing"),
        Hook("eth1", "egress", true)},
       kNow, absl::Seconds(1), false, "eth1 ingress: tcflow filter missing\n"},
      {"another namespace's interface",
       {Hook("rtr/eth1", "egress", false, "File exists")}, kNow, absl::Seconds(1), false,
       "rtr/eth1 egress: File exists\n"},
      // 100 ms interval: the floor of 2 s applies.
      {"1.9 s old with a 100 ms interval is recent", {}, kNow - absl::Milliseconds(1900),
       absl::Milliseconds(100), true, "ready\n"},
      {"5.2 s old with a 100 ms interval is stale", {}, kNow - absl::Milliseconds(5200),
       absl::Milliseconds(100), false, "last drain 5.2 s ago (interval 100 ms)\n"},
      // 10 s interval: 3 x 10 s applies.
      {"25 s old with a 10 s interval is recent", {}, kNow - absl::Seconds(25), absl::Seconds(10),
       true, "ready\n"},
      {"31 s old with a 10 s interval is stale", {}, kNow - absl::Seconds(31), absl::Seconds(10),
       false, "last drain 31.0 s ago (interval 10 s)\n"},
      {"every reason, one line each",
       {Hook("eth1", "ingress", false, "tcflow filter missing"),
        Hook("eth1", "egress", false, "tcflow filter missing")},
       kNow - absl::Milliseconds(3500), absl::Seconds(1), false,
       "eth1 ingress: tcflow filter missing\neth1 egress: tcflow filter missing\n"
       "last drain 3.5 s ago (interval 1 s)\n"},
  };
  for (const Case& c : cases) {
    HealthInputs in;
    in.hooks = c.hooks;
    in.last_drain = c.last_drain;
    in.drain_interval = c.interval;
    in.now = kNow;
    Readiness r = EvaluateReadiness(in);
    EXPECT_EQ(r.ready, c.ready) << c.what;
    EXPECT_EQ(r.text, c.text) << c.what;
  }
}

TEST(HealthTest, MetricsAgreeWithReadiness) {
  HealthInputs in;
  in.hooks = {Hook("eth0", "ingress", true), Hook("we\"ird", "egress", false, "x")};
  in.last_drain = kNow;
  in.now = kNow;
  in.filter_repairs = 3;
  std::string out;
  AppendHealthMetrics(in, &out);
  EXPECT_NE(out.find("\ntcflow_ready 0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\ntcflow_interface_attached{interface=\"eth0\",direction=\"ingress\"} 1\n"),
            std::string::npos)
      << out;
  EXPECT_NE(
      out.find("\ntcflow_interface_attached{interface=\"we\\\"ird\",direction=\"egress\"} 0\n"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("# TYPE tcflow_filter_repairs_total counter\ntcflow_filter_repairs_total 3\n"),
            std::string::npos)
      << out;
  in.hooks.pop_back();
  out.clear();
  AppendHealthMetrics(in, &out);
  EXPECT_NE(out.find("\ntcflow_ready 1\n"), std::string::npos) << out;
}

// A raw HTTP/1.0 exchange with the server on 127.0.0.1, the server driven by this thread
// the way tcflowd's main loop drives it (poll its fd, Run()).
std::string Exchange(MetricsServer& server, const std::string& request) {
  std::string response;
  std::atomic<bool> done{false};
  std::thread client([&] {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      (void)!write(fd, request.data(), request.size());
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) response.append(buf, n);
    }
    close(fd);
    done = true;
  });
  for (int i = 0; i < 500 && !done; ++i) {
    pollfd p{server.fd(), POLLIN, 0};
    poll(&p, 1, 10);
    server.Run();
  }
  client.join();
  return response;
}

TEST(HealthTest, Routes) {
  config::ListenAddress address;
  address.ip.family = 4;
  const uint8_t loopback[4] = {127, 0, 0, 1};
  std::copy(loopback, loopback + 4, address.ip.bytes);
  address.port = 0;  // any free port
  bool ready = true;
  auto server = MetricsServer::Listen(
      address, [] { return std::string("tcflow_ready 1\n"); },
      [&] {
        return ready ? HttpAnswer{200, "ready\n"}
                     : HttpAnswer{503, "eth1 ingress: tcflow filter missing\n"};
      });
  ASSERT_TRUE(server.ok()) << server.status();
  auto get = [&](const std::string& path, const std::string& method = "GET") {
    return Exchange(**server, method + " " + path + " HTTP/1.0\r\n\r\n");
  };
  auto starts = [](const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
  };
  auto body = [](const std::string& s) { return s.substr(s.find("\r\n\r\n") + 4); };

  std::string r = get("/healthz");
  EXPECT_TRUE(starts(r, "HTTP/1.0 200") || starts(r, "HTTP/1.1 200")) << r;
  EXPECT_EQ(body(r), "ok\n");
  r = get("/ready");
  EXPECT_NE(r.find(" 200 "), std::string::npos) << r;
  EXPECT_EQ(body(r), "ready\n");
  ready = false;
  r = get("/ready");
  EXPECT_NE(r.find(" 503 "), std::string::npos) << r;
  EXPECT_EQ(body(r), "eth1 ingress: tcflow filter missing\n");
  r = get("/metrics");
  EXPECT_NE(r.find(" 200 "), std::string::npos) << r;
  EXPECT_NE(r.find("version=0.0.4"), std::string::npos) << r;
  EXPECT_EQ(body(r), "tcflow_ready 1\n");
  r = get("/nope");
  EXPECT_NE(r.find(" 404 "), std::string::npos) << r;
  r = get("/");
  EXPECT_NE(r.find(" 404 "), std::string::npos) << r;
  r = get("/healthz", "POST");
  EXPECT_NE(r.find(" 405 "), std::string::npos) << r;
  EXPECT_NE(r.find("Allow: GET"), std::string::npos) << r;
  r = get("/ready", "DELETE");
  EXPECT_NE(r.find(" 405 "), std::string::npos) << r;
}

}  // namespace
}  // namespace tcflow::tcflowd
