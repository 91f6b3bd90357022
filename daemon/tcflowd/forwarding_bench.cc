// What tcflowd costs a forwarding router: the namespace router h1 - rt - h2 (veth), UDP
// 64-byte datagrams per second received at h2 and TCP throughput h1 -> h2, without and with
// tcflowd (its built-in default config: every leg of rt, both directions, 1 s drains, crash
// recovery state and metrics on) in one run. Root; a program, not a test.
//
//   bazel build -c opt //daemon/tcflowd:forwarding_bench //tools:tcflow
//   flock /tmp/tcflow_bench.lock sudo bazel-bin/daemon/tcflowd/forwarding_bench --pairs 80
//
// Method. The machine is noisy (2 shared vCPUs), so single rounds swing by tens of percent;
// what is compared is pairs of short rounds run back to back, in the order ABBA ABBA... (pair
// 1 without-with, pair 2 with-without, ...), so a slow drift of the load cancels. Each pair
// gives a ratio with/without; the verdict uses the median of those ratios and its
// distribution-free 95 % confidence interval from order statistics (the sign-test interval:
// no RNG, no assumption about the shape of the noise). Budget: within 3 % of the baseline,
// i.e. "met" when the interval's lower bound is >= 0.97, "not met" when its upper bound is
// < 0.97, "undecided" otherwise.
//
// Both arms run the same traffic code: one UDP sender thread pinned to CPU 0 (rt's forwarding
// runs in softirq on that core) and one receiver pinned to CPU 1, then a TCP transfer. The
// settle time before the window steps through four phases of the 1 s drain interval, so
// the windows meet tcflowd's drains as often as chance would have it. A check line shows
// that h2's socket got what h2's interface got (the rate is rt's, not the receiver's).
//
// Host CPU per packet, in the same rounds: the host's busy time from /proc/stat (user, nice,
// system, irq, softirq; all CPUs) per million packets, without and with, since forwarding and
// the programs run in softirq wherever the kernel runs them.
//
// Where the cost goes, in the same run: tcflowd's own CPU time in the "with" rounds (sum of
// its threads' run time from /proc/PID/task/*/schedstat, cross-checked with utime+stime of
// /proc/PID/stat), and, in a few extra "with" rounds after the pairs (kept out of the ratios,
// because the kernel's run-time statistics cost time themselves), the BPF programs' run time
// (BPF_ENABLE_STATS while the rounds run, run_time_ns / run_cnt of the attached programs).
//
// --arm empty replaces tcflowd in the "with" arm by the empty tc program (bpf/empty.bpf.c),
// attached where tcflowd attaches (rt's two legs, both directions): what the tc hook costs
// before any metering, the floor under every tc-based meter. --arm empty-tcx attaches it
// through tcx links instead (Linux 6.6+), to compare the two hooks. --baseline empty puts
// the empty program on clsact in the "without" arm, so that the pairs measure tcflowd
// against a hook that does nothing: tcflow's own share.
//
// A "with" round starts tcflowd, lets it settle, measures, stops it (SIGTERM) and then removes
// the clsact qdisc tcflowd created, so every "without" round sees a router that carries no
// trace of tcflow. Namespaces, links, pinned tables, the config and the daemon's run
// directory are removed at the end, also on failure or Ctrl-C.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/control/client.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/tcflowd_test_support.h"

namespace empty_bpf {
#include "bpf/empty.skel.h"
}  // namespace empty_bpf

namespace tcflow::testing {
namespace {

// Set by SIGINT/SIGTERM; the rounds stop and everything is cleaned up on the way out. A
// signal handler can reach nothing else.
volatile std::sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }

struct Options {
  int pairs = 80;
  double seconds = 0.5;  // UDP measuring window per round (after a 0.1 s warm-up)
  int tcp_mib = 128;
  int stats_rounds = 4;
  int settle_ms = 300;
  // CPUs for the UDP sender (whose core also runs rt's forwarding in softirq) and receiver:
  // pinned, the two do not land on one core in some rounds and on two in others. -1: float.
  int sender_cpu = 0, receiver_cpu = 1;
  // --arm empty: the "with" arm attaches the empty tc program (bpf/empty.bpf.c) where
  // tcflowd would attach (both legs of rt, both directions) instead of running tcflowd:
  // the cost of the tc hook itself, the floor under any tc-based meter. --arm empty-tcx:
  // the same through tcx links (kernel 6.6+) instead of clsact, for comparison only
  // (tcflow attaches through netlink, i.e. clsact).
  bool arm_empty = false;
  bool arm_tcx = false;
  // --baseline empty: the "without" arm has the empty program on clsact where tcflowd
  // attaches, so the pairs measure tcflowd against a tc hook that does nothing: tcflow's
  // own share, above the hook's.
  bool baseline_empty = false;
};

// Pins the calling thread to `cpu` (-1: leaves it as it is).
void PinTo(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

std::string ReadText(const std::string& path) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// A directory tree removed when this goes out of scope.
class ScopedDir {
 public:
  explicit ScopedDir(std::string path) : path_(std::move(path)) {}
  ~ScopedDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// CPU time of every thread of `pid` in ns (schedstat's first field: time on a CPU), by
// thread name into `by_thread`; returns the sum.
uint64_t ProcessCpuNs(pid_t pid, std::map<std::string, uint64_t>* by_thread) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  uint64_t sum = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = dir + "/" + e->d_name;
    const uint64_t ns = std::strtoull(ReadText(task + "/schedstat").c_str(), nullptr, 10);
    std::string comm = ReadText(task + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    (*by_thread)[comm] += ns;
    sum += ns;
  }
  closedir(d);
  return sum;
}

// utime + stime of `pid` (all threads) in clock ticks, from /proc/PID/stat.
uint64_t ProcessCpuTicks(pid_t pid) {
  const std::string stat = ReadText(absl::StrCat("/proc/", pid, "/stat"));
  size_t pos = stat.rfind(')');
  if (pos == std::string::npos) return 0;
  // After "pid (comm)": field 3 (state) ... field 14 utime, field 15 stime.
  const char* p = stat.c_str() + pos + 1;
  char* end = nullptr;
  uint64_t fields[13] = {};
  while (*p == ' ') ++p;
  ++p;  // state
  for (int i = 4; i <= 15; ++i) {
    fields[i - 4] = std::strtoull(p, &end, 10);
    p = end;
  }
  return fields[10] + fields[11];
}

// The SCHED_CLS programs `pid` holds open (tcflowd keeps its ingress and egress programs),
// opened again by id so their run-time counters can be read.
class ProgSet {
 public:
  struct Counter {
    uint64_t run_ns = 0, run_cnt = 0;
  };
  ProgSet() = default;
  ProgSet(ProgSet&& o) noexcept : fds_(std::move(o.fds_)), names_(std::move(o.names_)) {
    o.fds_.clear();
  }
  ProgSet& operator=(ProgSet&& o) noexcept {
    std::swap(fds_, o.fds_);
    std::swap(names_, o.names_);
    return *this;
  }
  ~ProgSet() {
    for (int fd : fds_) close(fd);
  }

  static absl::StatusOr<ProgSet> Of(pid_t pid) {
    ProgSet set;
    const std::string dir = absl::StrCat("/proc/", pid, "/fd");
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return absl::NotFoundError(absl::StrCat("cannot list ", dir));
    std::vector<uint32_t> ids;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[64] = {};
      if (readlink((dir + "/" + e->d_name).c_str(), target, sizeof(target) - 1) < 0) continue;
      if (std::strcmp(target, "anon_inode:bpf-prog") != 0) continue;
      const std::string info = ReadText(absl::StrCat("/proc/", pid, "/fdinfo/", e->d_name));
      size_t at = info.find("prog_id:");
      if (at == std::string::npos) continue;
      uint32_t id = std::strtoul(info.c_str() + at + 8, nullptr, 10);
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    closedir(d);
    for (uint32_t id : ids) {
      int fd = bpf_prog_get_fd_by_id(id);
      if (fd < 0) continue;
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0 ||
          info.type != BPF_PROG_TYPE_SCHED_CLS) {
        close(fd);
        continue;
      }
      set.fds_.push_back(fd);
      set.names_.push_back(info.name);
    }
    if (set.fds_.empty()) {
      return absl::NotFoundError(absl::StrCat("tcflowd (pid ", pid, ") holds no tc program"));
    }
    return set;
  }

  size_t size() const { return fds_.size(); }
  const std::string& name(size_t i) const { return names_[i]; }
  std::vector<Counter> Read() const {
    std::vector<Counter> out(fds_.size());
    for (size_t i = 0; i < fds_.size(); ++i) {
      bpf_prog_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(fds_[i], &info, &len) == 0) {
        out[i] = {info.run_time_ns, info.run_cnt};
      }
    }
    return out;
  }

 private:
  std::vector<int> fds_;
  std::vector<std::string> names_;
};

// Packets `ifname` received, from a /proc/net/dev opened inside its namespace (the file keeps
// the namespace it was opened in); 0 when the line is missing.
uint64_t RxPackets(int netdev_fd, const char* ifname) {
  char buf[8192];
  ssize_t n = pread(netdev_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  const std::string key = absl::StrCat(" ", ifname, ":");
  const char* at = std::strstr(buf, key.c_str());
  if (at == nullptr) return 0;
  char* end = nullptr;
  std::strtoull(at + key.size(), &end, 10);  // bytes
  return std::strtoull(end, nullptr, 10);
}

// What is read at both ends of a measuring window.
// The host's busy time, all CPUs, in clock ticks, from /proc/stat: user + nice + system +
// irq + softirq. Forwarding runs in softirq, on whichever CPU, so this is where a meter's
// cost shows up, whoever pays it. (Steal, time the hypervisor gave to other guests, is left
// out.)
uint64_t HostBusyTicks() {
  const std::string stat = ReadText("/proc/stat");
  if (stat.compare(0, 4, "cpu ") != 0) return 0;
  const char* p = stat.c_str() + 4;
  char* end = nullptr;
  uint64_t f[7] = {};  // user nice system idle iowait irq softirq
  for (uint64_t& v : f) {
    v = std::strtoull(p, &end, 10);
    p = end;
  }
  return f[0] + f[1] + f[2] + f[5] + f[6];
}

struct Sample {
  absl::Time t;
  uint64_t host_busy_ticks = 0;
  uint64_t cpu_ns = 0, ticks = 0;
  std::map<std::string, uint64_t> threads;  // cpu_ns by thread name
  std::vector<ProgSet::Counter> progs;
};
struct Sampler {
  pid_t pid = -1;                 // tcflowd, or -1
  const ProgSet* progs = nullptr;  // only in the run-time-statistics rounds
  Sample Take() const {
    Sample s;
    if (pid > 0) {
      s.cpu_ns = ProcessCpuNs(pid, &s.threads);
      s.ticks = ProcessCpuTicks(pid);
    }
    if (progs != nullptr) s.progs = progs->Read();
    s.host_busy_ticks = HostBusyTicks();
    s.t = absl::Now();
    return s;
  }
};

struct Window {
  double seconds = 0;
  uint64_t packets = 0;  // UDP: received by h2's socket; TCP: segments both ways
  uint64_t delivered = 0;  // UDP: received by h2's interface (what rt forwarded)
  uint64_t bytes = 0;    // TCP payload
  Sample start, end;
  double cpu_ms() const { return (end.cpu_ns - start.cpu_ns) / 1e6; }
  // Host busy CPU-seconds per million packets of the window.
  double host_s_per_mpkt() const {
    if (packets == 0) return 0;
    return static_cast<double>(end.host_busy_ticks - start.host_busy_ticks) /
           sysconf(_SC_CLK_TCK) / (packets / 1e6);
  }
};

// 64-byte UDP datagrams h1 -> h2 as fast as one sender thread goes (sendmmsg, 64 at a time);
// the rate is what h2's receiver got during the window after a warm-up.
absl::StatusOr<Window> UdpWindow(Router& r, absl::Duration warm, absl::Duration d,
                                 const Sampler& sampler, const Options& opt) {
  int rx = -1, netdev = -1;
  absl::Status s = r.h2->Run([&]() -> absl::Status {
    netdev = open("/proc/thread-self/net/dev", O_RDONLY | O_CLOEXEC);
    if (netdev < 0) return absl::ErrnoToStatus(errno, "/proc/thread-self/net/dev in h2");
    rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (rx < 0) return absl::ErrnoToStatus(errno, "socket");
    int big = 64 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9000);
    if (bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      return absl::ErrnoToStatus(errno, "bind 9000 in h2");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (rx >= 0) close(rx);
    if (netdev >= 0) close(netdev);
    return s;
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> got{0};
  std::thread receiver([&] {
    PinTo(opt.receiver_cpu);
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
  Window w;
  uint64_t at_start = 0, at_end = 0, if_start = 0, if_end = 0;
  s = r.h1->Run([&]() -> absl::Status {
    PinTo(opt.sender_cpu);
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (tx < 0) return absl::ErrnoToStatus(errno, "socket");
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9000);
    inet_pton(AF_INET, "10.61.2.1", &dst.sin_addr);
    if (connect(tx, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
      close(tx);
      return absl::ErrnoToStatus(errno, "connect");
    }
    char payload[64] = {};
    std::vector<mmsghdr> msgs(64);
    iovec iov{payload, sizeof(payload)};
    for (auto& m : msgs) {
      m = {};
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    const absl::Time warm_end = absl::Now() + warm;
    while (absl::Now() < warm_end) sendmmsg(tx, msgs.data(), msgs.size(), 0);
    w.start = sampler.Take();  // its time stamp is taken last: the window starts there
    if_start = RxPackets(netdev, "e0");
    at_start = got.load();
    const absl::Time end = w.start.t + d;
    absl::Time now;
    while ((now = absl::Now()) < end && !g_interrupted) {
      sendmmsg(tx, msgs.data(), msgs.size(), 0);
    }
    at_end = got.load();
    if_end = RxPackets(netdev, "e0");
    w.end = sampler.Take();
    w.end.t = now;  // the window ends before the sampling
    close(tx);
    return absl::OkStatus();
  });
  absl::SleepFor(absl::Milliseconds(50));
  stop = true;
  receiver.join();
  close(rx);
  close(netdev);
  if (!s.ok()) return s;
  w.seconds = absl::ToDoubleSeconds(w.end.t - w.start.t);
  w.packets = at_end - at_start;
  w.delivered = if_end - if_start;
  return w;
}

absl::StatusOr<Window> TcpWindow(Router& r, size_t bytes, uint16_t port,
                                 const Sampler& sampler) {
  Window w;
  w.start = sampler.Take();
  auto t = TcpBulk(*r.h1, *r.h2, "10.61.2.1", port, bytes);
  w.end = sampler.Take();
  if (!t.ok()) return t.status();
  w.seconds = absl::ToDoubleSeconds(w.end.t - w.start.t);
  w.packets = t->forward.packets + t->reverse.packets;
  w.bytes = bytes;
  return w;
}

// tcflowd in rt with `config`; SIGKILLed by the Process destructor if Stop() was not reached.
class RunningDaemon {
 public:
  static absl::StatusOr<std::unique_ptr<RunningDaemon>> Start(const Router& r,
                                                              const std::string& config,
                                                              const std::string& socket,
                                                              const std::string& log) {
    auto d = std::make_unique<RunningDaemon>();
    d->process_ = std::make_unique<Process>(
        std::vector<std::string>{TcflowBinary(), "tcflowd", "-c", config}, log, r.rt->path());
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline && !g_interrupted) {
      if (!d->process_->running()) {
        return absl::InternalError(absl::StrCat("tcflowd (", TcflowBinary(),
                                                "tcflowd) exited: ", d->process_->Log()));
      }
      auto client = control::ControlClient::Connect(socket, absl::Seconds(2));
      if (client.ok()) {
        auto status = client->Call("status");
        const control::JsonValue* list = status.ok() ? status->Find("interfaces") : nullptr;
        if (list != nullptr && list->items().size() >= 2) return d;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("tcflowd did not attach rt's 2 legs: ", d->process_->Log()));
  }
  pid_t pid() const { return process_->pid(); }
  absl::Status Stop() {
    process_->Signal(SIGTERM);
    int code = process_->Wait(absl::Seconds(15));
    if (code != 0) {
      return absl::InternalError(
          absl::StrCat("tcflowd exited with ", code, " on SIGTERM: ", process_->Log()));
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<Process> process_;
};

// Removes the clsact qdisc tcflowd created on rt's legs (the bench's own namespace), so the
// next "without" round runs on a router without any tc hook.
absl::Status RemoveClsact(const Router& r) {
  return r.rt->Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    for (int ifindex : {r.r1, r.r2}) {
      auto q = netlink::IngressSlotQdisc(**sock, ifindex);
      if (!q.ok()) return q.status();
      if (!q->has_value()) continue;
      if (absl::Status s = netlink::DeleteClsact(**sock, ifindex); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

// Attaches `prog_fd` (the empty program) where tcflowd attaches: rt's two legs, ingress and
// egress, on a clsact qdisc this bench creates (RemoveClsact takes it away again).
absl::Status AttachEmpty(const Router& r, int prog_fd) {
  return r.rt->Run([&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    for (int ifindex : {r.r1, r.r2}) {
      if (auto made = netlink::EnsureClsact(**sock, ifindex); !made.ok()) return made.status();
      for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
        netlink::BpfFilterSpec spec;
        spec.priority = 1;
        spec.handle = 1;
        spec.prog_fd = prog_fd;
        spec.name = "tcflow_empty";
        if (absl::Status s = netlink::ReplaceBpfFilter(**sock, ifindex, hook, spec); !s.ok()) {
          return s;
        }
      }
    }
    return absl::OkStatus();
  });
}

// This machine's uapi headers (Debian 12: Linux 6.1) predate tcx; the kernel's values.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

// The empty program through tcx links on rt's two legs, both directions; the links detach
// when their fds are closed.
absl::StatusOr<std::vector<int>> AttachEmptyTcx(const Router& r, int prog_fd) {
  std::vector<int> links;
  absl::Status s = r.rt->Run([&]() -> absl::Status {
    for (int ifindex : {r.r1, r.r2}) {
      for (int type : {kBpfTcxIngress, kBpfTcxEgress}) {
        const int fd =
            bpf_link_create(prog_fd, ifindex, static_cast<enum bpf_attach_type>(type), nullptr);
        if (fd < 0) {
          return absl::UnavailableError(absl::StrCat(
              "tcx link on ifindex ", ifindex, ": ", std::strerror(-fd),
              " (the kernel needs tcx, Linux 6.6+)"));
        }
        links.push_back(fd);
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    for (int fd : links) close(fd);
    return s;
  }
  return links;
}

struct Round {
  bool with = false;
  Window udp, tcp;
  uint64_t kernel_packets = 0;  // what the programs counted during the round ("with")
  std::vector<std::string> prog_names;  // of the samples' program counters
  double udp_pps() const { return udp.seconds > 0 ? udp.packets / udp.seconds : 0; }
  double udp_host_s() const { return udp.host_s_per_mpkt(); }
  double tcp_host_s() const { return tcp.host_s_per_mpkt(); }
  double tcp_gbps() const { return tcp.seconds > 0 ? tcp.bytes * 8 / tcp.seconds / 1e9 : 0; }
};

struct Bench {
  Router& r;
  const Options& opt;
  std::string config, socket, log, pin_path;
  uint16_t next_port = 9100;
  int empty_fd = -1;  // --arm empty: the empty program

  // `phase`: 0-3, a quarter of tcflowd's 1 s drain interval each added to the settle time,
  // so the measuring windows meet the daemon's drains in every phase, not always the same.
  absl::StatusOr<Round> Run(bool with, bool prog_stats, int phase) {
    Round round;
    round.with = with;
    std::unique_ptr<RunningDaemon> daemon;
    ProgSet progs;
    Sampler sampler;
    uint64_t kernel_before = 0;
    std::vector<int> tcx_links;
    if (!with && opt.baseline_empty) {
      if (absl::Status s = AttachEmpty(r, empty_fd); !s.ok()) return s;
    } else if (with && opt.arm_empty && opt.arm_tcx) {
      auto links = AttachEmptyTcx(r, empty_fd);
      if (!links.ok()) return links.status();
      tcx_links = std::move(*links);
    } else if (with && opt.arm_empty) {
      if (absl::Status s = AttachEmpty(r, empty_fd); !s.ok()) return s;
    } else if (with) {
      auto d = RunningDaemon::Start(r, config, socket, log);
      if (!d.ok()) return d.status();
      daemon = std::move(*d);
      sampler.pid = daemon->pid();
      if (prog_stats) {
        auto p = ProgSet::Of(daemon->pid());
        if (!p.ok()) return p.status();
        progs = std::move(*p);
        sampler.progs = &progs;
        for (size_t i = 0; i < progs.size(); ++i) round.prog_names.push_back(progs.name(i));
      }
      auto k = ReadKernelTotals(pin_path);
      if (!k.ok()) return k.status();
      kernel_before = k->packets;
    }
    absl::SleepFor(absl::Milliseconds(opt.settle_ms + 250 * (phase % 4)));
    auto u = UdpWindow(r, absl::Milliseconds(100), absl::Seconds(opt.seconds), sampler, opt);
    if (!u.ok()) return u.status();
    round.udp = *u;
    auto t = TcpWindow(r, static_cast<size_t>(opt.tcp_mib) << 20, next_port++, sampler);
    if (!t.ok()) return t.status();
    round.tcp = *t;
    if (!with && opt.baseline_empty) {
      if (absl::Status s = RemoveClsact(r); !s.ok()) return s;
    } else if (with && opt.arm_empty && opt.arm_tcx) {
      for (int fd : tcx_links) close(fd);
    } else if (with && opt.arm_empty) {
      if (absl::Status s = RemoveClsact(r); !s.ok()) return s;
    } else if (with) {
      auto k = ReadKernelTotals(pin_path);
      if (!k.ok()) return k.status();
      round.kernel_packets = k->packets - kernel_before;
      if (absl::Status s = daemon->Stop(); !s.ok()) return s;
      if (absl::Status s = RemoveClsact(r); !s.ok()) return s;
    }
    return round;
  }
};

// What the "with" arm runs, for the printed labels ("tcflowd" or "empty" prog).
const char* g_arm = "tcflowd";
// What the "without" arm has (--baseline): no hook at all, or the empty program on clsact.
const char* g_base = "tcflowd";  // "without tcflowd"; --baseline empty and --arm change it

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The median of `v` and its distribution-free confidence interval of at least 95 %: the
// k-th smallest and k-th largest sample, with k the largest rank for which
// P(Binomial(n, 1/2) <= k - 1) <= 2.5 %. `k` is 0 (no interval) below 6 samples.
struct MedianCi {
  double median = 0, lo = 0, hi = 0, coverage = 0;
  int k = 0, n = 0;
};
MedianCi MedianWithCi(std::vector<double> v) {
  MedianCi ci;
  ci.n = static_cast<int>(v.size());
  ci.median = MedianOf(v);
  if (ci.n < 6) return ci;
  std::sort(v.begin(), v.end());
  std::vector<double> cdf(ci.n + 1);
  double pmf = std::pow(0.5, ci.n), sum = 0;
  for (int i = 0; i <= ci.n; ++i) {
    sum += pmf;
    cdf[i] = sum;
    pmf = pmf * (ci.n - i) / (i + 1);
  }
  for (int k = 1; k <= ci.n / 2; ++k) {
    if (cdf[k - 1] <= 0.025) ci.k = k;
  }
  if (ci.k == 0) return ci;
  ci.lo = v[ci.k - 1];
  ci.hi = v[ci.n - ci.k];
  ci.coverage = 1 - 2 * cdf[ci.k - 1];
  return ci;
}

const char* Verdict(const MedianCi& ci, double budget) {
  if (ci.k == 0) return "undecided (too few pairs for an interval)";
  if (ci.lo >= budget) return "met";
  if (ci.hi < budget) return "NOT met";
  return "undecided (the interval contains the budget)";
}

void PrintComparison(const char* what, const char* unit, double scale,
                     const std::vector<Round>& off, const std::vector<Round>& on,
                     const std::vector<double>& ratios, const std::vector<bool>& with_first,
                     double (Round::*value)() const) {
  std::vector<double> a, b, ab, ba;
  for (const Round& x : off) a.push_back((x.*value)() * scale);
  for (const Round& x : on) b.push_back((x.*value)() * scale);
  for (size_t i = 0; i < ratios.size(); ++i) (with_first[i] ? ba : ab).push_back(ratios[i]);
  const MedianCi ci = MedianWithCi(ratios);
  std::printf("%s\n", what);
  std::printf("  without %-8s median %10.3f %s  (rounds %.3f .. %.3f)\n", g_base, MedianOf(a), unit,
              *std::min_element(a.begin(), a.end()), *std::max_element(a.begin(), a.end()));
  std::printf("  with %-11s median %10.3f %s  (rounds %.3f .. %.3f)\n", g_arm, MedianOf(b), unit,
              *std::min_element(b.begin(), b.end()), *std::max_element(b.begin(), b.end()));
  std::printf("  with/without, %d pairs: median x%.3f", ci.n, ci.median);
  if (ci.k > 0) {
    std::printf(", 95%% CI [x%.3f, x%.3f] (ranks %d and %d of %d, coverage %.1f %%)", ci.lo,
                ci.hi, ci.k, ci.n - ci.k + 1, ci.n, ci.coverage * 100);
  }
  std::printf("\n  pair ratios %.3f .. %.3f; median of without-first pairs x%.3f, of with-first "
              "pairs x%.3f\n",
              *std::min_element(ratios.begin(), ratios.end()),
              *std::max_element(ratios.begin(), ratios.end()), MedianOf(ab), MedianOf(ba));
  std::printf("  budget: within 3 %% of the baseline (ratio >= x0.970): %s\n\n",
              Verdict(ci, 0.97));
}

std::string LoadAverage() {
  std::string s = ReadText("/proc/loadavg");
  size_t cut = 0;
  for (int spaces = 0; cut < s.size() && spaces < 3; ++cut) spaces += s[cut] == ' ';
  return s.substr(0, cut > 0 ? cut - 1 : 0);
}

std::string StatsSysctl() {
  std::string s = ReadText("/proc/sys/kernel/bpf_stats_enabled");
  return s.empty() ? "?" : s.substr(0, 1);
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "forwarding_bench: %s\n", std::string(s.message()).c_str());
  return 1;
}

int Main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const char* flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "forwarding_bench: %s wants a value\n", flag);
      return 2;
    }
    const char* v = argv[++i];
    if (std::strcmp(flag, "--pairs") == 0) {
      opt.pairs = std::atoi(v);
    } else if (std::strcmp(flag, "--seconds") == 0) {
      opt.seconds = std::atof(v);
    } else if (std::strcmp(flag, "--tcp_mib") == 0) {
      opt.tcp_mib = std::atoi(v);
    } else if (std::strcmp(flag, "--stats_rounds") == 0) {
      opt.stats_rounds = std::atoi(v);
    } else if (std::strcmp(flag, "--settle_ms") == 0) {
      opt.settle_ms = std::atoi(v);
    } else if (std::strcmp(flag, "--arm") == 0 &&
               (std::strcmp(v, "tcflowd") == 0 || std::strcmp(v, "empty") == 0 ||
                std::strcmp(v, "empty-tcx") == 0)) {
      opt.arm_empty = std::strcmp(v, "tcflowd") != 0;
      opt.arm_tcx = std::strcmp(v, "empty-tcx") == 0;
    } else if (std::strcmp(flag, "--baseline") == 0 &&
               (std::strcmp(v, "none") == 0 || std::strcmp(v, "empty") == 0)) {
      opt.baseline_empty = std::strcmp(v, "empty") == 0;
    } else if (std::strcmp(flag, "--cpus") == 0) {
      if (std::sscanf(v, "%d,%d", &opt.sender_cpu, &opt.receiver_cpu) != 2) {
        std::fprintf(stderr, "forwarding_bench: --cpus SENDER,RECEIVER (-1,-1: not pinned)\n");
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: forwarding_bench [--pairs N(80)] [--seconds UDP_S(0.5)] "
                   "[--tcp_mib MIB(128)] [--stats_rounds N(4)] [--settle_ms MS(300)] "
                   "[--cpus SENDER,RECEIVER(0,1)] [--arm tcflowd|empty|empty-tcx] "
                   "[--baseline none|empty]\n");
      return 2;
    }
  }
  if (opt.pairs < 1 || opt.pairs > 500 || opt.seconds <= 0 || opt.tcp_mib < 1 ||
      opt.stats_rounds < 0 || opt.settle_ms < 0) {
    std::fprintf(stderr, "forwarding_bench: --pairs 1-500, --seconds > 0, --tcp_mib >= 1\n");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "forwarding_bench: needs root (namespaces, BPF)\n");
    return 1;
  }
  // The multi-call binary next to this one in bazel-bin (or $TCFLOW_BINARY).
  if (std::getenv("TEST_SRCDIR") == nullptr && std::getenv("TCFLOW_BINARY") == nullptr) {
    std::string self(argv[0]);
    std::string bin = self.substr(0, self.rfind("/daemon/tcflowd/")) + "/tools/tcflow";
    setenv("TCFLOW_BINARY", bin.c_str(), 1);
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // Owners in the order they must go: the daemon (inside Bench::Run) before the namespaces,
  // the namespaces before the pins and directories.
  char tmpl[] = "/tmp/tcflowd_fwbench_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Fail(absl::ErrnoToStatus(errno, "mkdtemp"));
  ScopedDir work(tmpl);
  // The daemon's run directory (control socket, crash recovery state) on tmpfs like
  // /run/tcflow.
  // tcflowd's run directory (control socket, crash state) on tmpfs, as /run is on a router
  // (on this VM /run is on the root disk: the crash state there costs write-back).
  ScopedDir run_dir(absl::StrCat("/dev/shm/tcflowd_fwb_", getpid()));
  if (mkdir(run_dir.path().c_str(), 0700) != 0) {
    return Fail(absl::ErrnoToStatus(errno, run_dir.path()));
  }
  ScopedPinDir pins(absl::StrCat("/sys/fs/bpf/tcflowd_fwb_", getpid()));

  auto router = Router::Create("fwb");
  if (!router.ok()) return Fail(router.status());
  Router& r = *router;
  int replies = 0;
  (void)Echo(*r.h1, "10.61.2.1", 1, 8, &replies);  // resolves the neighbours
  if (replies != 1) return Fail(absl::UnavailableError("h1 cannot reach h2 through rt"));
  // The collector: a real one on rt's loopback (as the default's 127.0.0.1), decoding.
  auto sink = IpfixSink::Start(*r.rt);
  if (!sink.ok()) return Fail(sink.status());

  Bench bench{r, opt};
  std::unique_ptr<empty_bpf::empty, void (*)(empty_bpf::empty*)> empty(nullptr,
                                                                       empty_bpf::empty__destroy);
  if (opt.arm_empty && opt.baseline_empty) {
    std::fprintf(stderr, "forwarding_bench: --baseline empty measures tcflowd; not with --arm empty\n");
    return 2;
  }
  if (opt.arm_empty || opt.baseline_empty) {
    empty.reset(empty_bpf::empty__open_and_load());
    if (!empty) return Fail(absl::InternalError("cannot load the empty tc program"));
    bench.empty_fd = bpf_program__fd(empty->progs.tcflow_empty);
    if (opt.arm_empty) {
      g_arm = opt.arm_tcx ? "empty-tcx" : "empty";
      g_base = g_arm;
    } else {
      g_base = "tcflowd, empty prog on clsact";
    }
  }
  bench.socket = run_dir.path() + "/control.sock";
  bench.pin_path = pins.path();
  bench.config = work.path() + "/tcflow.conf";
  bench.log = work.path() + "/tcflowd.log";
  // The built-in default (`flowctl config default`) but for the collector's port, the
  // control socket and the pin path (this run's own). Metrics on, crash state on, 1 s drains,
  // 65,536 slots per half, idle 15 s / active 60 s.
  const std::string config = absl::StrCat(
      "interfaces { all_but_loopback: true direction: BOTH }\n",
      "collector { address: \"127.0.0.1\" port: ", (*sink)->port(), " }\n",
      "daemon { control_socket: \"", bench.socket, "\" bpffs_pin_path: \"", pins.path(),
      "\" }\n");
  if (absl::Status s = WriteFile(bench.config, config); !s.ok()) return Fail(s);

  utsname u{};
  uname(&u);
  std::printf("forwarding_bench: h1 -> rt -> h2 over veth (offloads on), kernel %s, %ld CPUs, "
              "load %s, kernel.bpf_stats_enabled=%s\n",
              u.release, sysconf(_SC_NPROCESSORS_ONLN), LoadAverage().c_str(),
              StatsSysctl().c_str());
  std::printf("  %d pairs ABBA, each round: UDP 64-byte datagrams for %.1f s (after 0.1 s "
              "warm-up; sender on CPU %d, receiver on CPU %d), then TCP %d MiB; settle %d ms + 0, "
              "250, 500 or 750 ms; tcflowd: built-in default config\n",
              opt.pairs, opt.seconds, opt.sender_cpu, opt.receiver_cpu, opt.tcp_mib,
              opt.settle_ms);

  // Warm-up (not counted): the first attach, page cache, the TCP stacks.
  for (bool with : {true, false}) {
    auto w = bench.Run(with, false, 0);
    if (!w.ok()) return Fail(w.status());
  }

  std::vector<Round> off, on;
  std::vector<double> udp_ratio, tcp_ratio;
  uint64_t at_interface = 0, at_socket = 0;
  std::vector<bool> with_first;
  uint64_t kernel_packets = 0, forwarded = 0;
  for (int p = 0; p < opt.pairs && !g_interrupted; ++p) {
    const bool first_with = p % 2 == 1;
    Round pair[2];
    for (int k = 0; k < 2; ++k) {
      const bool with = (k == 0) == first_with;
      auto round = bench.Run(with, false, p);
      if (!round.ok()) return Fail(round.status());
      pair[with ? 1 : 0] = *round;
    }
    if (g_interrupted) break;
    off.push_back(pair[0]);
    on.push_back(pair[1]);
    with_first.push_back(first_with);
    udp_ratio.push_back(pair[1].udp_pps() / pair[0].udp_pps());
    for (const Round& x : pair) {
      at_interface += x.udp.delivered;
      at_socket += x.udp.packets;
    }
    tcp_ratio.push_back(pair[1].tcp_gbps() / pair[0].tcp_gbps());
    kernel_packets += pair[1].kernel_packets;
    forwarded += pair[1].udp.packets + pair[1].tcp.packets;
    std::printf("  pair %2d %s  UDP %6.1f / %6.1f k pkt/s x%.3f   TCP"
                "  %5.2f / %5.2f Gbit/s x%.3f   tcflowd %.1f ms\n",
                p + 1, first_with ? "with-first   " : "without-first",
                pair[0].udp_pps() / 1e3, pair[1].udp_pps() / 1e3, udp_ratio.back(),
                pair[0].tcp_gbps(), pair[1].tcp_gbps(), tcp_ratio.back(),
                pair[1].udp.cpu_ms() + pair[1].tcp.cpu_ms());
    std::fflush(stdout);
  }
  if (g_interrupted) {
    std::fprintf(stderr, "forwarding_bench: interrupted; cleaned up\n");
    return 130;
  }
  std::printf("\nload at the end %s, kernel.bpf_stats_enabled=%s\n\n", LoadAverage().c_str(),
              StatsSysctl().c_str());
  PrintComparison("UDP 64-byte datagrams received at h2", "k pkt/s", 1e-3, off, on, udp_ratio,
                  with_first, &Round::udp_pps);
  PrintComparison("TCP h1 -> h2", "Gbit/s", 1, off, on, tcp_ratio, with_first,
                  &Round::tcp_gbps);

  // Host CPU per packet: with the sender saturating its core, what the meter costs shows up
  // here as well as in the rate.
  {
    std::vector<double> host_ratio_udp, host_ratio_tcp;
    for (size_t i = 0; i < off.size() && i < on.size(); ++i) {
      if (off[i].udp_host_s() > 0) host_ratio_udp.push_back(on[i].udp_host_s() / off[i].udp_host_s());
      if (off[i].tcp_host_s() > 0) host_ratio_tcp.push_back(on[i].tcp_host_s() / off[i].tcp_host_s());
    }
    std::vector<double> a, b, c, d;
    for (const Round& x : off) {
      a.push_back(x.udp_host_s());
      c.push_back(x.tcp_host_s());
    }
    for (const Round& x : on) {
      b.push_back(x.udp_host_s());
      d.push_back(x.tcp_host_s());
    }
    std::printf("host busy time (/proc/stat: user+nice+system+irq+softirq, all CPUs) per million "
                "packets, medians of the rounds:\n");
    std::printf("  UDP: without %s %.3f s, with %.3f s, with/without x%.3f (median of pairs); per "
                "million datagrams forwarded\n",
                g_base, MedianOf(a), MedianOf(b), MedianOf(host_ratio_udp));
    std::printf("  TCP: without %s %.3f s, with %.3f s, with/without x%.3f (median of pairs); per "
                "million segments, both ways\n\n",
                g_base, MedianOf(c), MedianOf(d), MedianOf(host_ratio_tcp));
  }
  // The rate is rt's forwarding rate only if h2's receiver kept up.
  std::printf("receiver check: h2's socket got %.3f %% of the datagrams h2's interface "
              "received in the windows (without and with)\n",
              at_interface ? 100.0 * at_socket / at_interface : 0.0);
  if (opt.arm_empty) {
    std::printf("(--arm %s: the \"with\" arm was the empty tc program on rt's two legs, "
                "both directions, %s; no tcflowd)\n",
                g_arm, opt.arm_tcx ? "through tcx links" : "on clsact");
    return 0;
  }
  // Every packet forwarded in a "with" round passed rt's two legs, once each.
  std::printf("metering check: the programs counted %llu packets in the with rounds, >= 2 x "
              "%llu forwarded: %s\n",
              static_cast<unsigned long long>(kernel_packets),
              static_cast<unsigned long long>(forwarded),
              kernel_packets >= 2 * forwarded ? "yes" : "NO (tcflowd did not meter)");

  // tcflowd's own CPU in the measuring windows of the paired "with" rounds.
  double udp_ms = 0, udp_s = 0, tcp_ms = 0, tcp_s = 0;
  uint64_t udp_pkts = 0, tcp_pkts = 0, ticks = 0;
  for (const Round& x : on) {
    udp_ms += x.udp.cpu_ms();
    udp_s += x.udp.seconds;
    udp_pkts += x.udp.packets;
    tcp_ms += x.tcp.cpu_ms();
    tcp_s += x.tcp.seconds;
    tcp_pkts += x.tcp.packets;
    ticks += (x.udp.end.ticks - x.udp.start.ticks) + (x.tcp.end.ticks - x.tcp.start.ticks);
  }
  std::printf("tcflowd process (all threads) in the with rounds' windows:\n");
  std::printf("  UDP: %.1f ms CPU in %.1f s = %.2f %% of one core, %.2f ms per million forwarded "
              "packets\n",
              udp_ms, udp_s, udp_ms / 10 / udp_s, udp_ms / (udp_pkts / 1e6));
  std::printf("  TCP: %.1f ms CPU in %.1f s = %.2f %% of one core, %.2f ms per million segments\n",
              tcp_ms, tcp_s, tcp_ms / 10 / tcp_s, tcp_ms / (tcp_pkts / 1e6));
  std::map<std::string, double> thread_ms;
  for (const Round& x : on) {
    for (const Window* w : {&x.udp, &x.tcp}) {
      for (const auto& [name, ns] : w->end.threads) {
        auto at = w->start.threads.find(name);
        thread_ms[name] += (ns - (at == w->start.threads.end() ? 0 : at->second)) / 1e6;
      }
    }
  }
  std::printf("  by thread (UDP + TCP windows):");
  for (const auto& [name, ms] : thread_ms) std::printf(" %s %.1f ms", name.c_str(), ms);
  std::printf("\n  (utime+stime from /proc/PID/stat over the same windows: %.0f ms)\n",
              ticks * 1000.0 / sysconf(_SC_CLK_TCK));
  std::vector<double> lifetime;
  for (const Round& x : on) lifetime.push_back(x.tcp.end.cpu_ns / 1e6);
  std::printf("  from its start (load, attach, first drain) to the end of a round: %.1f ms CPU "
              "(median of the rounds)\n\n",
              MedianOf(lifetime));

  // The programs' own run time, in extra "with" rounds with the kernel's statistics on.
  if (opt.stats_rounds > 0) {
    int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0) {
      std::printf("BPF run time: not available (BPF_ENABLE_STATS: %s)\n", std::strerror(-stats_fd));
      return 0;
    }
    std::vector<Round> rounds;
    for (int i = 0; i < opt.stats_rounds && !g_interrupted; ++i) {
      auto x = bench.Run(true, true, i);
      if (!x.ok()) {
        close(stats_fd);
        return Fail(x.status());
      }
      rounds.push_back(*x);
    }
    close(stats_fd);
    if (rounds.empty()) return 130;
    // By program name: every round's tcflowd loads the same object, fds in any order.
    std::map<std::string, std::pair<ProgSet::Counter, ProgSet::Counter>> by_name;  // UDP, TCP
    uint64_t up = 0, tp = 0;
    double pps = 0;
    for (const Round& x : rounds) {
      for (size_t i = 0; i < x.prog_names.size(); ++i) {
        auto& [udp, tcp] = by_name[x.prog_names[i]];
        udp.run_ns += x.udp.end.progs[i].run_ns - x.udp.start.progs[i].run_ns;
        udp.run_cnt += x.udp.end.progs[i].run_cnt - x.udp.start.progs[i].run_cnt;
        tcp.run_ns += x.tcp.end.progs[i].run_ns - x.tcp.start.progs[i].run_ns;
        tcp.run_cnt += x.tcp.end.progs[i].run_cnt - x.tcp.start.progs[i].run_cnt;
      }
      up += x.udp.packets;
      tp += x.tcp.packets;
      pps += x.udp_pps() / rounds.size();
    }
    std::printf("BPF programs (%zu extra with rounds, BPF_ENABLE_STATS on; %.0f pkt/s UDP mean "
                "in them; not in the ratios above):\n",
                rounds.size(), pps);
    double udp_ns_per_pkt = 0;
    auto ns_per = [](const ProgSet::Counter& c) {
      return c.run_cnt > 0 ? static_cast<double>(c.run_ns) / c.run_cnt : 0.0;
    };
    for (const auto& [name, c] : by_name) {
      const auto& [udp, tcp] = c;
      std::printf("  %-16s UDP: %.2f runs per forwarded packet, %.0f ns per run; TCP: %.2f runs "
                  "per segment, %.0f ns per run\n",
                  name.c_str(), up ? static_cast<double>(udp.run_cnt) / up : 0.0, ns_per(udp),
                  tp ? static_cast<double>(tcp.run_cnt) / tp : 0.0, ns_per(tcp));
      udp_ns_per_pkt += up ? static_cast<double>(udp.run_ns) / up : 0.0;
    }
    const double base_pps = [&] {
      std::vector<double> v;
      for (const Round& x : off) v.push_back(x.udp_pps());
      return MedianOf(v);
    }();
    const double per_pkt_ns = 1e9 / base_pps;
    std::printf("  per forwarded UDP packet: %.0f ns in the programs = %.1f %% of the %.0f ns per "
                "packet at the paired baseline's median rate (x%.3f from the programs alone)\n",
                udp_ns_per_pkt, 100 * udp_ns_per_pkt / per_pkt_ns, per_pkt_ns,
                per_pkt_ns / (per_pkt_ns + udp_ns_per_pkt));
  }
  return 0;
}

}  // namespace
}  // namespace tcflow::testing

int main(int argc, char** argv) { return tcflow::testing::Main(argc, argv); }
