// flowctl top against a real tcflowd on the namespace router: three UDP flows whose wire
// sizes the senders know (a few big packets, many small ones, an IPv6 one), then what an
// operator would read: the order by bytes and by packets, the exact counts, --ipv6, -i, the
// table text, and the rate ranking of a second frame (a flow sent between two refreshes
// leads it, with exactly its packets in the window).

// The kernel's termios through ioctl: glibc's <termios.h> declares a function tcflow().
#include <asm/termbits.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>
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

// One row as the test checks it.
struct Row {
  uint64_t dport, packets, bytes, ifindex, window_packets;
  std::string direction, src;
};

std::vector<Row> Rows(const control::JsonValue& frame) {
  std::vector<Row> rows;
  for (const control::JsonValue& f : frame.Find("flows")->items()) {
    rows.push_back({f.GetUint("dst_port").value_or(0), f.GetUint("packets").value_or(0),
                    f.GetUint("bytes").value_or(0), f.GetUint("ifindex").value_or(0),
                    f.GetUint("window_packets").value_or(0),
                    f.GetString("direction").value_or(""), f.GetString("src").value_or("")});
  }
  return rows;
}

std::string Describe(const std::vector<Row>& rows) {
  std::string s;
  for (const Row& r : rows) {
    absl::StrAppend(&s, r.src, "->", r.dport, " if", r.ifindex, " ", r.direction, " ",
                    r.packets, "p ", r.bytes, "B w", r.window_packets, "\n");
  }
  return s;
}

// `tcflow flowctl ARGS` on a new pseudo-terminal of cols x rows, as an operator's shell
// runs it (its own session, the pty its controlling terminal); `keys` are typed after
// `delay`. What it drew, its exit code, and the terminal's modes once it has exited.
struct PtyRun {
  int code = -1;
  std::string screen;
  bool canonical_after = false, echo_after = false;
};

PtyRun RunOnPty(const std::vector<std::string>& args, int cols, int rows,
                const std::string& keys, absl::Duration delay) {
  PtyRun run;
  const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) return run;
  const std::string name = ptsname(master);
  const int slave = open(name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);  // to read the modes
  winsize ws{};
  ws.ws_col = static_cast<unsigned short>(cols);
  ws.ws_row = static_cast<unsigned short>(rows);
  ioctl(slave, TIOCSWINSZ, &ws);
  std::vector<std::string> argv = {TcflowBinary(), "flowctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (std::string& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    const int tty = open(name.c_str(), O_RDWR);  // a session leader's first tty: its terminal
    dup2(tty, 0);
    dup2(tty, 1);
    dup2(tty, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  const absl::Time start = absl::Now(), give_up = start + absl::Seconds(20);
  bool typed = false;
  int status = 0;
  bool exited = false;
  while (absl::Now() < give_up) {
    if (!typed && absl::Now() - start >= delay) {
      (void)!write(master, keys.data(), keys.size());
      typed = true;
    }
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 50) > 0 && (p.revents & POLLIN)) {
      char buf[4096];
      const ssize_t n = read(master, buf, sizeof(buf));
      if (n > 0) run.screen.append(buf, n);
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (exited && !(p.revents & POLLIN)) break;
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else {
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  termios t{};
  if (ioctl(slave, TCGETS, &t) == 0) {
    run.canonical_after = (t.c_lflag & ICANON) != 0;
    run.echo_after = (t.c_lflag & ECHO) != 0;
  }
  close(slave);
  close(master);
  return run;
}

// The last frame drawn (after the last clear-screen), escape sequences removed, as lines.
std::vector<std::string> LastFrame(const std::string& screen) {
  const size_t at = screen.rfind("\x1b[2J");
  std::string text = at == std::string::npos ? screen : screen.substr(at + 4);
  std::string clean;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      while (i < text.size() && !std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
      continue;
    }
    if (text[i] != '\r') clean.push_back(text[i]);
  }
  return absl::StrSplit(clean, '\n', absl::SkipEmpty());
}

TEST(TcflowdTopTest, OrderCountsFiltersAndRates) {
  auto router = Router::Create("ttp");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_top");
  // Neighbours resolved before metering: a datagram held during neighbour discovery can be
  // dropped, and the test must know what crossed.
  {
    int replies = 0;
    for (const char* dst : {"10.61.2.1", "fd61:2::1"}) {
      ASSERT_TRUE(Echo(*r.h1, dst, 2, 8, &replies).ok());
    }
  }
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_top_", getpid()));
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pin_dir.path();
  cfg.idle_timeout_s = 60;  // the flows stay in the cache for the whole test
  cfg.active_timeout_s = 120;
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const std::string sock = cfg.control_socket();

  // A: few big packets (most bytes). B: many tiny ones (most packets). C: IPv6, between.
  int received = 0;
  auto a = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 41001, 7001, 100, 1400, &received);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(received, 100);
  auto b = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 41002, 7002, 300, 10, &received);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(received, 300);
  auto c = UdpBurst(*r.h1, *r.h2, "fd61:2::1", 41003, 7003, 150, 300, &received);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(received, 150);
  ASSERT_GT(a->bytes, c->bytes);
  ASSERT_GT(c->bytes, b->bytes);
  ASSERT_GT(b->packets, c->packets);
  ASSERT_GT(c->packets, a->packets);

  // Each flow is metered twice on the router: entering on r1, leaving on r2.
  auto expect_pairs = [&](const std::vector<Row>& rows, const std::vector<uint64_t>& dports) {
    ASSERT_EQ(rows.size(), 2 * dports.size()) << Describe(rows);
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t port = dports[i / 2];
      const Wire& wire = port == 7001 ? *a : port == 7002 ? *b : *c;
      EXPECT_EQ(rows[i].dport, port) << i << "\n" << Describe(rows);
      EXPECT_EQ(rows[i].packets, wire.packets) << i << "\n" << Describe(rows);
      EXPECT_EQ(rows[i].bytes, wire.bytes) << i << "\n" << Describe(rows);
    }
    for (size_t i = 0; i + 1 < rows.size(); i += 2) {
      // One row per leg: r1 ingress and r2 egress.
      const bool r1_first = rows[i].ifindex == static_cast<uint64_t>(r.r1);
      const Row& in = r1_first ? rows[i] : rows[i + 1];
      const Row& out = r1_first ? rows[i + 1] : rows[i];
      EXPECT_EQ(in.ifindex, static_cast<uint64_t>(r.r1)) << Describe(rows);
      EXPECT_EQ(in.direction, "ingress") << Describe(rows);
      EXPECT_EQ(out.ifindex, static_cast<uint64_t>(r.r2)) << Describe(rows);
      EXPECT_EQ(out.direction, "egress") << Describe(rows);
    }
  };

  // --- by bytes: A, C, B; -n 2 keeps A's two records ---
  RunResult top = Flowctl({"top", "--socket", sock, "--once", "-n", "2", "--sort", "bytes",
                           "-o", "json"});
  ASSERT_EQ(top.code, 0) << top.err;
  std::vector<control::JsonValue> frames = JsonLines(top.out);
  ASSERT_EQ(frames.size(), 1u) << top.out;
  EXPECT_EQ(frames[0].GetString("ranked_by"), "total");
  EXPECT_TRUE(frames[0].Find("flows")->items()[0].Find("pps")->is_null()) << top.out;
  expect_pairs(Rows(frames[0]), {7001});
  EXPECT_GE(*frames[0].GetUint("matched_flows"), 6u);
  EXPECT_GE(*frames[0].GetUint("cache_flows"), 6u);
  EXPECT_GE(*frames[0].GetUint("packets"), 2 * (a->packets + b->packets + c->packets));

  top = Flowctl({"top", "--socket", sock, "--once", "-n", "6", "--sort", "bytes", "-o", "json"});
  ASSERT_EQ(top.code, 0) << top.err;
  expect_pairs(Rows(JsonLines(top.out).at(0)), {7001, 7003, 7002});

  // --- by packets: B, C, A ---
  top = Flowctl({"top", "--socket", sock, "--once", "-n", "6", "--sort", "packets", "-o",
                 "json"});
  ASSERT_EQ(top.code, 0) << top.err;
  expect_pairs(Rows(JsonLines(top.out).at(0)), {7002, 7003, 7001});

  // --- --ipv6: only C (NDP's ICMPv6 flows are smaller) ---
  top = Flowctl({"top", "--socket", sock, "--once", "-n", "2", "--ipv6", "-o", "json"});
  ASSERT_EQ(top.code, 0) << top.err;
  std::vector<Row> rows = Rows(JsonLines(top.out).at(0));
  expect_pairs(rows, {7003});
  EXPECT_EQ(rows[0].src, "fd61:1::1");

  // --- -i r2: one leg only ---
  top = Flowctl({"top", "--socket", sock, "--once", "-n", "3", "-i", "r2", "-o", "json"});
  ASSERT_EQ(top.code, 0) << top.err;
  rows = Rows(JsonLines(top.out).at(0));
  ASSERT_EQ(rows.size(), 3u) << Describe(rows);
  for (const Row& row : rows) EXPECT_EQ(row.ifindex, static_cast<uint64_t>(r.r2));
  EXPECT_EQ(rows[0].dport, 7001u);
  EXPECT_EQ(rows[1].dport, 7003u);
  EXPECT_EQ(rows[2].dport, 7002u);

  // --- the table an operator reads (not a terminal: one plain frame) ---
  top = Flowctl({"top", "--socket", sock, "--once", "-n", "4", "--sort", "bytes"});
  ASSERT_EQ(top.code, 0) << top.err;
  std::vector<std::string> lines = absl::StrSplit(top.out, '\n');
  ASSERT_GE(lines.size(), 9u) << top.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "tcflowd up ")) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[0], "flows cached | table")) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[0], "of 4096 slots")) << top.out;
  EXPECT_TRUE(absl::StartsWith(lines[2], "top 4 by total bytes")) << top.out;
  EXPECT_TRUE(absl::StartsWith(lines[4], "IFACE")) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[5], " 10.61.1.1:41001 ")) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[5], " 10.61.2.1:7001 ")) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[5], absl::StrCat(" ", a->packets, " "))) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[5], absl::StrCat(" ", a->bytes, " "))) << top.out;
  EXPECT_TRUE(absl::StrContains(lines[7], " [fd61:1::1]:41003 [fd61:2::1]:7003 ")) << top.out;
  EXPECT_TRUE(absl::StrContains(top.out, "r1    in  udp")) << top.out;
  EXPECT_TRUE(absl::StrContains(top.out, "r2    out udp")) << top.out;
  EXPECT_EQ(top.out.find("\x1b["), std::string::npos) << "no escape codes into a file";

  // --- errors: one clear line ---
  RunResult bad = Flowctl({"top", "--socket", sock, "--once", "-i", "nosuch0"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_TRUE(absl::StrContains(bad.err, "nosuch0: not a metered interface")) << bad.err;
  bad = Flowctl({"top", "--socket", sock, "-n", "0"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  bad = Flowctl({"top", "--socket", dir.path() + "/none.sock", "--once"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_FALSE(bad.err.empty());

  // --- rates: flow D, sent between two refreshes, leads the second frame ---
  RunResult live;
  std::thread watcher([&] {
    live = Flowctl({"top", "--socket", sock, "--iterations", "2", "--interval", "4s", "-n",
                    "12", "--sort", "bytes", "-o", "json"});
  });
  // The first frame was taken (the window started) well before D, the second comes well
  // after it (a loaded machine delays both a little).
  absl::SleepFor(absl::Milliseconds(1500));
  auto d = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 41004, 7004, 40, 100, &received);
  watcher.join();
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(live.code, 0) << live.err;
  frames = JsonLines(live.out);
  ASSERT_EQ(frames.size(), 2u) << live.out;
  EXPECT_EQ(frames[0].GetString("ranked_by"), "total");
  std::vector<Row> first_rows = Rows(frames[0]);
  first_rows.resize(std::min<size_t>(first_rows.size(), 2));
  expect_pairs(first_rows, {7001});
  EXPECT_EQ(frames[1].GetString("ranked_by"), "rate") << live.out;
  const int64_t window_ms = frames[1].GetInt("window_ms").value_or(0);
  EXPECT_GE(window_ms, 2000) << live.out;
  EXPECT_LE(window_ms, 6000) << live.out;
  rows = Rows(frames[1]);
  ASSERT_GE(rows.size(), 4u) << live.out;
  // D's two records first, exactly its packets in the window; flows active meanwhile (D,
  // and the hosts' own ICMPv6: MLD, NDP) before the idle ones, which follow by total: A.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(rows[i].dport, 7004u) << Describe(rows);
    EXPECT_EQ(rows[i].packets, d->packets) << Describe(rows);
    EXPECT_EQ(rows[i].bytes, d->bytes) << Describe(rows);
    EXPECT_EQ(rows[i].window_packets, d->packets) << Describe(rows);
  }
  size_t idle = 2;
  while (idle < rows.size() && rows[idle].window_packets > 0) ++idle;
  for (size_t i = idle; i < rows.size(); ++i) EXPECT_EQ(rows[i].window_packets, 0u) << i;
  ASSERT_LE(idle + 2, rows.size()) << Describe(rows);
  EXPECT_EQ(rows[idle].dport, 7001u) << Describe(rows);
  EXPECT_EQ(rows[idle + 1].dport, 7001u) << Describe(rows);
  const control::JsonValue& first = frames[1].Find("flows")->items()[0];
  ASSERT_TRUE(first.Find("pps")->AsDouble().has_value()) << live.out;
  EXPECT_NEAR(*first.Find("pps")->AsDouble(), d->packets * 1000.0 / window_ms, 1e-6);
  EXPECT_NEAR(*first.Find("bps")->AsDouble(), d->bytes * 8000.0 / window_ms, 1e-3);
  EXPECT_GE(*frames[1].GetUint("active_flows"), 2u);
  // The header's totals grew by at least D's packets on both legs, and it has a rate now.
  EXPECT_GE(*frames[1].GetUint("packets") - *frames[0].GetUint("packets"), 2 * d->packets);
  EXPECT_TRUE(frames[0].Find("pps")->is_null()) << live.out;
  ASSERT_TRUE(frames[1].Find("pps")->AsDouble().has_value()) << live.out;
  EXPECT_GT(*frames[1].Find("pps")->AsDouble(), 0.0);

  // --- on a terminal: frames redrawn in place, the width and height kept, q quits ---
  PtyRun tty = RunOnPty({"top", "--socket", sock, "-n", "20", "--interval", "300ms"}, 60, 10,
                        "q", absl::Milliseconds(1500));
  EXPECT_EQ(tty.code, 0) << tty.screen;
  size_t clears = 0;
  for (size_t at = tty.screen.find("\x1b[H\x1b[2J"); at != std::string::npos;
       at = tty.screen.find("\x1b[H\x1b[2J", at + 1)) {
    ++clears;
  }
  EXPECT_GE(clears, 3u) << tty.screen;
  EXPECT_NE(tty.screen.find("\x1b[?25l"), std::string::npos) << "cursor hidden";
  EXPECT_TRUE(absl::EndsWith(tty.screen, "\x1b[?25h")) << "cursor back at the end";
  std::vector<std::string> screen = LastFrame(tty.screen);
  ASSERT_GE(screen.size(), 5u) << tty.screen;
  EXPECT_TRUE(absl::StartsWith(screen[0], "tcflowd up ")) << tty.screen;
  EXPECT_TRUE(absl::StartsWith(screen[2], "top 20 by byte rate")) << tty.screen;
  EXPECT_TRUE(absl::StartsWith(screen[3], "IFACE")) << tty.screen;
  // 10 rows: four header lines (the blank one is dropped here) and 4 flows, not 20.
  EXPECT_EQ(screen.size(), 4u + 4u) << tty.screen;
  for (const std::string& line : screen) EXPECT_LE(line.size(), 60u) << line;
  EXPECT_TRUE(tty.canonical_after && tty.echo_after) << "terminal modes restored";

  // --- Ctrl-C quits as cleanly ---
  tty = RunOnPty({"top", "--socket", sock, "--interval", "300ms"}, 100, 30, "\x03",
                 absl::Milliseconds(800));
  EXPECT_EQ(tty.code, 0) << tty.screen;
  EXPECT_TRUE(absl::EndsWith(tty.screen, "\x1b[?25h")) << tty.screen;
  EXPECT_TRUE(tty.canonical_after && tty.echo_after) << "terminal modes restored";
}

}  // namespace
}  // namespace tcflow::testing
