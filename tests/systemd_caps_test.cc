// The capabilities in deploy/systemd/tcflowd.service are exactly what tcflowd needs.
//
// The list is read from the unit file (CapabilityBoundingSet= must equal
// AmbientCapabilities=). tcflowd (the built binary) is started the way systemd starts the
// unit for root: bounding set cut down to the list, no inheritable or ambient extras,
// no_new_privs; readiness comes over $NOTIFY_SOCKET (READY=1, Type=notify). With the list
// it must become ready and meter a UDP burst on the namespace router exactly; without any
// one of the listed capabilities it must not (so none is superfluous). The netns drop-in
// (deploy/systemd/netns.conf) is checked the same way on a config that selects interfaces
// in another namespace.

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"

extern char** environ;

namespace tcflow::testing {
namespace {

// capability(7) numbers, as the kernel's uapi header orders them.
const char* const kCapNames[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};
constexpr int kCapCount = sizeof(kCapNames) / sizeof(kCapNames[0]);

int CapNumber(const std::string& name) {
  for (int i = 0; i < kCapCount; ++i) {
    if (absl::AsciiStrToUpper(name) == kCapNames[i]) return i;
  }
  return -1;
}

std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/tcflow/" + path;
}

// The capabilities `key`= lists in a unit file (all its lines merged, as systemd does).
std::set<int> UnitCaps(const std::string& file, const std::string& key) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << file;
  std::set<int> caps;
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, key + "=")) continue;
    for (absl::string_view name :
         absl::StrSplit(line.substr(key.size() + 1), ' ', absl::SkipWhitespace())) {
      const int n = CapNumber(std::string(name));
      EXPECT_GE(n, 0) << "unknown capability " << name << " in " << file;
      if (n >= 0) caps.insert(n);
    }
  }
  return caps;
}

std::string Names(const std::set<int>& caps) {
  std::vector<std::string> names;
  for (int c : caps) names.push_back(kCapNames[c]);
  return names.empty() ? "(none)" : absl::StrJoin(names, " ");
}

int LastCap() {
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  f >> last;
  return last;
}

struct Outcome {
  bool ready = false;    // READY=1 on $NOTIFY_SOCKET
  bool metered = false;  // the burst counted exactly on r1's ingress
  int exit_code = -1;
  std::string log;
};

// tcflowd in `ns` (setns before exec) with only `caps`, config `cfg`. When it becomes ready,
// `traffic()` runs and `metered()` judges.
Outcome RunWithCaps(const Namespace& ns, const std::set<int>& caps, const DaemonConfig& cfg,
                    const std::function<bool()>& traffic_metered) {
  Outcome o;
  EXPECT_TRUE(WriteFile(cfg.config_path(), cfg.Text()).ok());
  static int run = 0;
  const std::string notify = absl::StrCat("/tmp/tcflow_caps_", getpid(), "_", ++run, ".sock");
  unlink(notify.c_str());
  int nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", notify.c_str());
  EXPECT_EQ(bind(nfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);

  // Everything the child needs, prepared before fork (the child only makes system calls).
  const std::string bin = TcflowBinary();
  const std::string conf = cfg.config_path();
  const std::string log = cfg.dir + "/tcflowd_caps.log";
  const char* argv[] = {bin.c_str(), "tcflowd", "-c", conf.c_str(), "--journal", "none",
                        nullptr};
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "NOTIFY_SOCKET=")) env_strings.push_back(*e);
  }
  env_strings.push_back("NOTIFY_SOCKET=" + notify);
  std::vector<const char*> envp;
  for (const std::string& s : env_strings) envp.push_back(s.c_str());
  envp.push_back(nullptr);
  const int last_cap = LastCap();
  bool keep[64] = {};
  for (int c : caps) keep[c] = true;
  const int ns_fd = open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(ns_fd, 0);

  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(120);
    // What systemd does for CapabilityBoundingSet= + NoNewPrivileges= on a root service.
    for (int c = 0; c <= last_cap; ++c) {
      if (!keep[c] && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) _exit(121);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (syscall(SYS_capget, &hdr, data) != 0) _exit(122);
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) != 0) _exit(123);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(124);
    execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp.data()));
    _exit(127);
  }
  close(ns_fd);

  int status = 0;
  bool exited = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!o.ready && !exited && absl::Now() < deadline) {
    pollfd p{nfd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      char buf[1024];
      ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
      if (n > 0) {
        for (absl::string_view l : absl::StrSplit(absl::string_view(buf, n), '\n')) {
          if (l == "READY=1") o.ready = true;
        }
      }
    }
    exited = waitpid(pid, &status, WNOHANG) == pid;
  }
  if (o.ready) o.metered = traffic_metered();
  if (!exited) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 300 && !exited; ++i) {
      exited = waitpid(pid, &status, WNOHANG) == pid;
      if (!exited) absl::SleepFor(absl::Milliseconds(50));
    }
    if (!exited) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  close(nfd);
  unlink(notify.c_str());
  std::ifstream l(log);
  std::stringstream ss;
  ss << l.rdbuf();
  o.log = ss.str();
  return o;
}

// The last lines of a log, for failure messages.
std::string Tail(const std::string& log) {
  std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  if (lines.size() > 3) lines.erase(lines.begin(), lines.end() - 3);
  return absl::StrJoin(lines, "\n");
}

class SystemdCapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto router = Router::Create("tcp");
    ASSERT_TRUE(router.ok()) << router.status();
    r_ = std::move(*router);
    int n = 0;
    ASSERT_TRUE(Echo(*r_.h1, "10.61.2.1", 1, 8, &n).ok());  // ARP before metering
  }

  // A UDP burst h1 -> h2 with a fresh source port; true when the collector got exactly
  // its datagrams on r1's ingress.
  bool BurstMetered(IpfixSink& sink) {
    const uint16_t sport = static_cast<uint16_t>(41000 + ++bursts_);
    int received = 0;
    if (!UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", sport, 5090, 25, 100, &received).ok()) return false;
    const FlowId in{4, 17, "10.61.1.1", "10.61.2.1", sport, 5090, static_cast<uint32_t>(r_.r1), 0};
    sink.WaitFor([&](const auto& f) { return f.count(in) && f.at(in).packets >= 25; },
                 absl::Seconds(5));
    auto flows = sink.Flows();
    return flows.count(in) > 0 && flows[in].packets == 25;
  }

  Router r_;
  int bursts_ = 0;
};

TEST_F(SystemdCapsTest, UnitCapabilitiesAreSufficientAndEachIsNeeded) {
  const std::string unit = Runfile("deploy/systemd/tcflowd.service");
  const std::set<int> caps = UnitCaps(unit, "CapabilityBoundingSet");
  EXPECT_EQ(caps, UnitCaps(unit, "AmbientCapabilities"));
  ASSERT_FALSE(caps.empty());
  std::printf("unit capabilities: %s\n", Names(caps).c_str());

  auto sink = IpfixSink::Start(*r_.rt);
  ASSERT_TRUE(sink.ok());
  auto run = [&](const std::set<int>& with, const std::string& tag) {
    testsupport::TempDir dir("tcflow_caps");
    ScopedPinDir pins(absl::StrCat("/sys/fs/bpf/tcflow_caps_", getpid(), "_", tag));
    DaemonConfig cfg;
    cfg.dir = dir.path();
    cfg.pin_path = pins.path();
    cfg.udp_collectors = {(*sink)->port()};
    cfg.interfaces = "interfaces { include: \"r1\" include: \"r2\" }";
    return RunWithCaps(*r_.rt, with, cfg, [&] { return BurstMetered(**sink); });
  };

  Outcome all = run(caps, "all");
  EXPECT_TRUE(all.ready) << all.log;
  EXPECT_TRUE(all.metered) << all.log;
  EXPECT_EQ(all.exit_code, 0) << all.log;

  for (int c : caps) {
    std::set<int> fewer = caps;
    fewer.erase(c);
    Outcome o = run(fewer, kCapNames[c]);
    std::printf("without %s: ready=%d metered=%d exit=%d: %s\n", kCapNames[c], o.ready,
                o.metered, o.exit_code, Tail(o.log).c_str());
    EXPECT_FALSE(o.ready && o.metered) << kCapNames[c] << " is listed but not needed:\n" << o.log;
  }
}

TEST_F(SystemdCapsTest, OtherNamespacesNeedTheNetnsDropIn) {
  const std::set<int> unit = UnitCaps(Runfile("deploy/systemd/tcflowd.service"),
                                      "CapabilityBoundingSet");
  const std::string dropin_file = Runfile("deploy/systemd/netns.conf");
  const std::set<int> dropin = UnitCaps(dropin_file, "CapabilityBoundingSet");
  EXPECT_EQ(dropin, UnitCaps(dropin_file, "AmbientCapabilities"));
  ASSERT_FALSE(dropin.empty());
  std::set<int> both = unit;
  both.insert(dropin.begin(), dropin.end());

  // tcflowd and its collector in h1; the interfaces it meters in rt.
  auto sink = IpfixSink::Start(*r_.h1);
  ASSERT_TRUE(sink.ok());
  auto run = [&](const std::set<int>& with, const std::string& tag) {
    testsupport::TempDir dir("tcflow_caps_ns");
    ScopedPinDir pins(absl::StrCat("/sys/fs/bpf/tcflow_capsns_", getpid(), "_", tag));
    DaemonConfig cfg;
    cfg.dir = dir.path();
    cfg.pin_path = pins.path();
    cfg.udp_collectors = {(*sink)->port()};
    cfg.interfaces = absl::StrCat("interfaces { netns: \"", r_.rt->name(),
                                  "\" include: \"r1\" include: \"r2\" }");
    return RunWithCaps(*r_.h1, with, cfg, [&] { return BurstMetered(**sink); });
  };

  Outcome with = run(both, "both");
  EXPECT_TRUE(with.ready) << with.log;
  EXPECT_TRUE(with.metered) << with.log;
  EXPECT_EQ(with.exit_code, 0) << with.log;
  Outcome without = run(unit, "unit");
  std::printf("netns selection with the unit's capabilities only: ready=%d exit=%d: %s\n",
              without.ready, without.exit_code, Tail(without.log).c_str());
  EXPECT_FALSE(without.ready && without.metered) << without.log;
  for (int c : dropin) {
    std::set<int> fewer = both;
    fewer.erase(c);
    if (fewer == unit) continue;  // just checked
    Outcome o = run(fewer, kCapNames[c]);
    EXPECT_FALSE(o.ready && o.metered) << kCapNames[c] << " is listed but not needed";
  }
}

}  // namespace
}  // namespace tcflow::testing
