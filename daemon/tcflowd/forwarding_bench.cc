// What tcflowd costs a forwarding router: the namespace router h1 - rt - h2 (veth), UDP
// 64-byte datagrams per second received at h2 and TCP throughput h1 -> h2, without and with
// tcflowd metering both of rt's legs in both directions, in interleaved rounds of one run.
// Also the host's busy CPU time per million forwarded UDP packets (the metering runs in
// softirq, so it shows as host time, not as the daemon's). Root; a program, not a test.
//
//   bazel build -c opt //daemon/tcflowd:forwarding_bench
//   sudo bazel-bin/daemon/tcflowd/forwarding_bench --rounds 5 --seconds 2

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/tcflowd_test_support.h"
#include "tools/bench/stats.h"

namespace tcflow::testing {
namespace {

using bench::Median;

// Busy jiffies of the whole host (everything but idle and iowait).
uint64_t BusyJiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[10] = {};
  in >> cpu;
  for (auto& x : v) in >> x;
  return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
}

struct UdpResult {
  double pps = 0;
  double cpu_s_per_mpkt = 0;
};

UdpResult UdpRate(Router& r, absl::Duration d) {
  int rx = -1;
  (void)r.h2->Run([&] {
    rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 64 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9000);
    bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    return absl::OkStatus();
  });
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> got{0};
  std::thread receiver([&] {
    std::vector<mmsghdr> msgs(64);
    std::vector<iovec> iov(64);
    std::vector<char> buf(64 * 2048);
    for (int i = 0; i < 64; ++i) {
      iov[i] = {buf.data() + i * 2048, 2048};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stop) {
      pollfd p{rx, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int n = recvmmsg(rx, msgs.data(), 64, MSG_DONTWAIT, nullptr);
      if (n > 0) got += n;
    }
  });
  const uint64_t j0 = BusyJiffies();
  uint64_t at_start = 0, at_end = 0;
  (void)r.h1->Run([&] {
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9000);
    inet_pton(AF_INET, "10.61.2.1", &dst.sin_addr);
    connect(tx, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    char payload[64] = {};
    std::vector<mmsghdr> msgs(64);
    iovec iov{payload, sizeof(payload)};
    for (auto& m : msgs) {
      m = {};
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    at_start = got.load();
    const absl::Time end = absl::Now() + d;
    while (absl::Now() < end) sendmmsg(tx, msgs.data(), msgs.size(), 0);
    at_end = got.load();
    close(tx);
    return absl::OkStatus();
  });
  const uint64_t j1 = BusyJiffies();
  absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  receiver.join();
  close(rx);
  UdpResult res;
  const double pkts = static_cast<double>(at_end - at_start);
  res.pps = pkts / absl::ToDoubleSeconds(d);
  res.cpu_s_per_mpkt = pkts > 0 ? (j1 - j0) / static_cast<double>(sysconf(_SC_CLK_TCK)) /
                                      (pkts / 1e6)
                                : 0;
  return res;
}

double TcpGbps(Router& r, size_t bytes, uint16_t port) {
  absl::Time t0 = absl::Now();
  auto t = TcpBulk(*r.h1, *r.h2, "10.61.2.1", port, bytes);
  double s = absl::ToDoubleSeconds(absl::Now() - t0);
  return t.ok() ? bytes * 8 / s / 1e9 : 0;
}

int Main(int argc, char** argv) {
  int rounds = 5;
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
  }
  // The multi-call binary next to this one in bazel-bin (or $TCFLOW_BINARY).
  if (std::getenv("TEST_SRCDIR") == nullptr && std::getenv("TCFLOW_BINARY") == nullptr) {
    std::string self(argv[0]);
    std::string bin = self.substr(0, self.rfind("/daemon/tcflowd/")) + "/tools/tcflow";
    setenv("TCFLOW_BINARY", bin.c_str(), 1);
  }
  auto router = Router::Create("fwb");
  if (!router.ok()) {
    std::fprintf(stderr, "forwarding_bench: %s\n", std::string(router.status().message()).c_str());
    return 1;
  }
  Router& r = *router;
  int n = 0;
  (void)Echo(*r.h1, "10.61.2.1", 1, 8, &n);
  auto sink = IpfixSink::Start(*r.rt);
  if (!sink.ok()) return 1;
  char tmpl[] = "/tmp/tcflowd_fwbench_XXXXXX";
  DaemonConfig cfg;
  cfg.dir = mkdtemp(tmpl);
  cfg.pin_path = absl::StrCat("/sys/fs/bpf/tcflowd_fwb_", getpid());
  cfg.udp_collectors = {(*sink)->port()};
  cfg.drain_interval_ms = 1000;
  cfg.idle_timeout_s = 15;
  cfg.slots_per_half = 65536;

  std::printf("forwarding_bench: h1 -> rt -> h2 over veth, %d interleaved rounds, UDP %.1f s of "
              "64-byte datagrams, TCP 128 MiB\n", rounds, seconds);
  std::vector<double> udp_off, udp_on, cpu_off, cpu_on, tcp_off, tcp_on;
  uint16_t port = 9100;
  for (int i = 0; i < rounds; ++i) {
    for (bool on : {false, true}) {
      std::unique_ptr<Daemon> daemon;
      if (on) {
        auto d = Daemon::Start(*r.rt, cfg, 2);
        if (!d.ok()) {
          std::fprintf(stderr, "forwarding_bench: %s\n", std::string(d.status().message()).c_str());
          return 1;
        }
        daemon = std::move(*d);
      }
      UdpResult u = UdpRate(r, absl::Seconds(seconds));
      double g = TcpGbps(r, 128 << 20, port++);
      (on ? udp_on : udp_off).push_back(u.pps);
      (on ? cpu_on : cpu_off).push_back(u.cpu_s_per_mpkt);
      (on ? tcp_on : tcp_off).push_back(g);
      std::printf("  round %d %-14s UDP %9.0f pkt/s (%.3f CPU s per M pkt)  TCP %6.2f Gbit/s\n",
                  i + 1, on ? "with tcflowd" : "without", u.pps, u.cpu_s_per_mpkt, g);
      if (daemon) {
        daemon->process().Signal(SIGTERM);
        daemon->process().Wait(absl::Seconds(15));
      }
    }
  }
  std::printf("UDP 64 B at h2:   without %9.0f pkt/s, with %9.0f pkt/s  (x%.3f)\n", Median(udp_off),
              Median(udp_on), Median(udp_on) / Median(udp_off));
  std::printf("host CPU per M:   without %.3f s, with %.3f s  (+%.3f s per million packets)\n",
              Median(cpu_off), Median(cpu_on), Median(cpu_on) - Median(cpu_off));
  std::printf("TCP h1 -> h2:     without %6.2f Gbit/s, with %6.2f Gbit/s  (x%.3f)\n",
              Median(tcp_off), Median(tcp_on), Median(tcp_on) / Median(tcp_off));
  RemovePins(cfg.pin_path);
  return 0;
}

}  // namespace
}  // namespace tcflow::testing

int main(int argc, char** argv) { return tcflow::testing::Main(argc, argv); }
