// Shared by the tcflowd end-to-end tests: the namespace router h1 - rt - h2 (veth, dual
// stack, rt forwarding), tcflowd run as a real process inside rt, an IPFIX collector inside
// rt on loopback (decoded with daemon/ipfix's decoder), and traffic whose wire packets and
// bytes the test knows independently (ICMP echo, UDP bursts, a TCP transfer counted by the
// hosts' own TCP stacks).

#ifndef TCFLOW_TESTS_TCFLOWD_TEST_SUPPORT_H_
#define TCFLOW_TESTS_TCFLOWD_TEST_SUPPORT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/control/json.h"
#include "daemon/ipfix/decoder.h"
#include "tests/netns/netns.h"

namespace tcflow::testing {

// $TCFLOW_BINARY, else the test binary's runfile `tools/tcflow`.
std::string TcflowBinary();

struct RouterOptions {
  // No IPv6 neighbour discovery of the kernel's own on the legs, for tests that count NDP
  // exactly: accept_dad=0, router_solicitations=0 and fast unsolicited MLD reports in every
  // namespace before any link exists, and permanent neighbour entries for every IPv6 next
  // hop (no address resolution, no unreachability probe).
  bool quiet_ipv6 = false;
};

struct Router {
  std::unique_ptr<Namespace> h1, rt, h2;
  int r1 = 0, r2 = 0;  // rt's legs: r1 faces h1, r2 faces h2
  // h1 10.61.1.1 / fd61:1::1, rt 10.61.1.254 / fd61:1::fe and 10.61.2.254 / fd61:2::fe,
  // h2 10.61.2.1 / fd61:2::1.
  static absl::StatusOr<Router> Create(const std::string& tag, RouterOptions options = {});
};

// /proc/sys/PATH = VALUE inside `ns`.
absl::Status WriteSysctl(const Namespace& ns, const std::string& path, const std::string& value);
// The link-layer address of `ifname` in `ns`.
absl::StatusOr<std::vector<uint8_t>> MacOf(const Namespace& ns, const std::string& ifname);

// A child process, optionally inside a network namespace (setns before exec), with stdout
// and stderr in `log`. Killed (SIGKILL) and reaped by the destructor if still running.
class Process {
 public:
  // `env`: "NAME=value" entries added to this process's environment.
  Process(const std::vector<std::string>& argv, const std::string& log,
          const std::string& netns_path = "", const std::vector<std::string>& env = {});
  ~Process();
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for exit; the exit code, 128+signal, or -1 on timeout.
  int Wait(absl::Duration timeout);
  bool running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string log_;
};

// Flow identity as a collector sees it, per observation point.
struct FlowId {
  int ip_version = 4;
  int protocol = 0;
  std::string src, dst;
  int sport = 0, dport = 0;  // ICMP: dport = type << 8 | code
  uint32_t ifindex = 0;      // observation interface
  int direction = 0;         // 0 ingress, 1 egress
  auto tie() const { return std::tie(ip_version, protocol, src, dst, sport, dport, ifindex, direction); }
  bool operator<(const FlowId& o) const { return tie() < o.tie(); }
  std::string ToString() const;
};
struct FlowSum {
  uint64_t packets = 0, bytes = 0, records = 0;
  uint32_t other_ifindex = 0;  // egress records: ingressInterface; ingress: egressInterface
  std::map<int, uint64_t> end_reasons;
  uint32_t ipv6_ext_headers = 0;  // IE 64, OR of the records
  uint32_t vlan = 0;              // IE 58 of the last record
};

// An IPFIX collector on 127.0.0.1 inside a namespace: a UDP socket opened there, read and
// decoded on a thread of this process.
class IpfixSink {
 public:
  static absl::StatusOr<std::unique_ptr<IpfixSink>> Start(const Namespace& ns);
  // A TCP collector on 127.0.0.1:`port` (0: any) inside `ns`. Its destructor reads what
  // the connections hold before closing them, so nothing acknowledged is left unread.
  static absl::StatusOr<std::unique_ptr<IpfixSink>> StartTcp(const Namespace& ns, uint16_t port);
  ~IpfixSink();
  uint16_t port() const { return port_; }
  std::map<FlowId, FlowSum> Flows() const;
  uint64_t flow_records() const;
  uint64_t decode_errors() const;
  // The last metering statistics options record (template 259) by element name.
  std::map<std::string, uint64_t> MeteringStats() const;
  std::map<uint32_t, std::string> InterfaceNames() const;
  // Waits until `pred` holds for the flows (polling), up to `timeout`.
  bool WaitFor(const std::function<bool(const std::map<FlowId, FlowSum>&)>& pred,
               absl::Duration timeout) const;

 private:
  void Run();
  void RunTcp();
  void Decode(ipfix::Decoder& decoder, const uint8_t* data, size_t len);
  bool tcp_ = false;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::map<FlowId, FlowSum> flows_ ABSL_GUARDED_BY(mu_);
  uint64_t records_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint64_t> metering_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::string> names_ ABSL_GUARDED_BY(mu_);
};

// Traffic. Each returns what the sender put on the wire, in IP packets and IP bytes.
struct Wire {
  uint64_t packets = 0, bytes = 0;
};
// `count` ICMP echo requests (payload `payload` bytes) from `from` to `dst` (IPv4 or IPv6),
// one at a time; `replies` gets how many came back.
absl::StatusOr<Wire> Echo(const Namespace& from, const std::string& dst, int count,
                          int payload, int* replies);
// `count` UDP datagrams of `payload` bytes from `from` (source port `sport`) to
// `dst`:`dport` inside `to`; `received` gets how many the receiver got.
absl::StatusOr<Wire> UdpBurst(const Namespace& from, const Namespace& to, const std::string& dst,
                              uint16_t sport, uint16_t dport, int count, int payload,
                              int* received, absl::Duration gap = absl::ZeroDuration(),
                              const std::function<void(int fd)>& sender_setup = nullptr);
// One datagram of `payload` bytes from each of `flows` source ports (first_sport, +1, ...)
// to `dst`:`dport` inside `to`, as fast as possible: many flows in little time.
absl::StatusOr<Wire> UdpFlows(const Namespace& from, const Namespace& to, const std::string& dst,
                              uint16_t first_sport, int flows, uint16_t dport, int payload,
                              int* received);
// A TCP transfer of `bytes` from `from` to `dst`:`port` inside `to` (offloads as they are).
// `forward` is what `from`'s TCP sent (segments from its namespace's SNMP counters, bytes
// from tcp_info and header sizes), `reverse` what `to`'s TCP sent.
struct TcpResult {
  Wire forward, reverse;
  uint16_t sport = 0;
};
absl::StatusOr<TcpResult> TcpBulk(const Namespace& from, const Namespace& to,
                                  const std::string& dst, uint16_t port, size_t bytes);

// tcflowd inside rt with a config written by the test.
struct DaemonConfig {
  std::string dir;           // for the config, control socket, logs
  std::string pin_path;      // under /sys/fs/bpf
  std::vector<uint16_t> udp_collectors;
  std::string interfaces = "interfaces { all_but_loopback: true }";
  std::string extra;         // appended as is
  int drain_interval_ms = 100;
  int slots_per_half = 4096;
  std::string metrics_listen;  // "ADDR:PORT"; empty: metrics off
  std::string notify_socket;   // $NOTIFY_SOCKET for the daemon; empty: unset
  int idle_timeout_s = 1;
  int active_timeout_s = 60;
  std::string Text() const;
  // Short (a Unix socket path is at most 107 bytes): /tmp/<pin directory name>/control.sock.
  std::string control_socket() const;
  std::string config_path() const { return dir + "/tcflow.conf"; }
};
absl::Status WriteFile(const std::string& path, const std::string& text);

struct HttpReply {
  int code = 0;
  std::string body;
};
// An HTTP GET of `path` on 127.0.0.1:`port` inside `ns`: status code and body, any status.
absl::StatusOr<HttpReply> HttpRequest(const Namespace& ns, uint16_t port, const std::string& path);
// The same, for a body that must come with status 200.
absl::StatusOr<std::string> HttpGet(const Namespace& ns, uint16_t port, const std::string& path);
// A Prometheus text body as series ("name{labels}") -> value. A line without a value, or a
// series that appears twice, is an error.
absl::StatusOr<std::map<std::string, double>> MetricSamples(const std::string& text);
// A TCP port nobody listens on in `ns`'s loopback.
uint16_t FreeTcpPortIn(const Namespace& ns);

class Daemon {
 public:
  // Writes the config and starts tcflowd in `ns`; waits until it answers on its control
  // socket with `interfaces` attached interfaces.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Namespace& ns,
                                                       const DaemonConfig& config,
                                                       size_t interfaces,
                                                       const std::string& log_name = "tcflowd.log",
                                                       const std::vector<std::string>& extra_args = {});
  Process& process() { return *process_; }
  absl::StatusOr<control::JsonValue> Call(const std::string& cmd,
                                          const control::JsonValue& args = control::JsonValue::Object());
  size_t AttachedInterfaces();

 private:
  DaemonConfig config_;
  std::unique_ptr<Process> process_;
};

// Runs `tcflow flowctl ARGS...` and returns its exit code, stdout and stderr.
struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult Flowctl(const std::vector<std::string>& args);

// tcflow's filters in a namespace (interface names), read from the kernel.
absl::StatusOr<std::vector<std::string>> TcflowFilters(const Namespace& ns);

// The kernel's monotonic counters of a pinned table set (tcflow_stats summed over CPUs):
// everything the programs saw, for end-to-end conservation checks. The programs count a
// packet's per-flow counters in its slot (tcflowd adds them when it drains), but every
// packet once in the kernel's own counters too: a keyed packet in the size histogram, the
// others as non-IP or a parse error. Their sum is the witness, independent of tcflowd.
struct KernelTotals {
  uint64_t packets = 0;        // both directions: size histogram + not_ip + parse_errors
  uint64_t not_ip = 0, parse_errors = 0, overflow_lost = 0;
  uint64_t flows_not_created = 0;
};
absl::StatusOr<KernelTotals> ReadKernelTotals(const std::string& pin_path);
// The run directory (control socket, crash state) of a daemon pinning to `pin_path`:
// /tmp/<the pin directory's name> (DaemonConfig::control_socket()).
std::string RunDirOf(const std::string& pin_path);
// Removes a daemon's pins and its run directory.
void RemovePins(const std::string& pin_path);

// A test's own bpffs pin directory (and the daemon's run directory that goes with it):
// what an earlier, failed run left there is removed first, and both go again when this
// goes out of scope, also on failure.
class ScopedPinDir {
 public:
  explicit ScopedPinDir(std::string path) : path_(std::move(path)) { RemovePins(path_); }
  ~ScopedPinDir() { RemovePins(path_); }
  ScopedPinDir(const ScopedPinDir&) = delete;
  ScopedPinDir& operator=(const ScopedPinDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tcflow::testing

#endif  // TCFLOW_TESTS_TCFLOWD_TEST_SUPPORT_H_
