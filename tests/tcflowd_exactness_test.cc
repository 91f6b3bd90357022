// tcflowd end to end on a namespace router h1 - rt - h2: the real binary runs inside rt on
// both legs, both directions, and exports IPFIX to two collectors on rt's loopback: this
// test's own (decoded with daemon/ipfix's decoder) and nfdump's nfcapd. Per flow, per
// interface and direction, the exported packets and bytes must equal what the senders put on
// the wire: ICMP echo (IPv4, IPv6), UDP bursts of known size and count (both directions,
// both families), and TCP transfers (8 MiB over IPv4 h1 -> h2, 4 MiB over IPv6 h2 -> h1)
// with the veth offloads on (GSO/GRO super-packets; the expected counts come from the
// hosts' own TCP stacks). A lone short flow
// is exported by its idle timeout with no later traffic; SIGTERM detaches and exits 0; every
// packet the kernel programs counted appears in an exported record.

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include <bpf/libbpf.h>
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"

namespace vlan_push_bpf {
#include "tests/vlan_push.skel.h"
}  // namespace vlan_push_bpf

namespace tcflow::testing {
namespace {

struct Expected {
  FlowId id;  // ifindex/direction filled per leg
  Wire wire;
  bool forward = true;  // h1 -> h2 (else h2 -> h1)
};

// A free UDP port on the loopback of `ns`.
uint16_t FreeUdpPortIn(const Namespace& ns) {
  uint16_t port = 0;
  (void)ns.Run([&] {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    close(fd);
    return absl::OkStatus();
  });
  return port;
}

bool UdpPortBoundIn(const Namespace& ns, uint16_t port) {
  bool bound = false;
  (void)ns.Run([&] {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno == EADDRINUSE;
    close(fd);
    return absl::OkStatus();
  });
  return bound;
}

TEST(TcflowdExactnessTest, RouterLegsBothDirectionsExactAgainstTwoCollectors) {
  auto router = Router::Create("tfx");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_exact");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_exact_", getpid()));
  const std::string& pins = pin_dir.path();

  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok()) << sink.status();
  const uint16_t nf_port = FreeUdpPortIn(*r.rt);
  const std::string nf_dir = dir.path() + "/nfcapd";
  std::filesystem::create_directories(nf_dir);
  Process nfcapd({"nfcapd", "-w", nf_dir, "-b", "127.0.0.1", "-p", absl::StrCat(nf_port)},
                 dir.path() + "/nfcapd.log", r.rt->path());
  for (int i = 0; i < 200 && !UdpPortBoundIn(*r.rt, nf_port); ++i) absl::SleepFor(absl::Milliseconds(25));
  ASSERT_TRUE(UdpPortBoundIn(*r.rt, nf_port)) << nfcapd.Log();

  // Resolve neighbours first (before metering): a packet held during neighbour discovery can
  // be dropped, and the test must know what crossed.
  {
    int replies = 0;
    for (const char* dst : {"10.61.2.1", "fd61:2::1"}) {
      ASSERT_TRUE(Echo(*r.h1, dst, 2, 8, &replies).ok());
    }
    ASSERT_TRUE(Echo(*r.h2, "fd61:1::1", 2, 8, &replies).ok());
  }

  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port(), nf_port};
  cfg.idle_timeout_s = 1;
  cfg.active_timeout_s = 60;
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  // --- Traffic the test counts itself ---
  std::vector<Expected> expected;
  int replies = 0, received = 0;
  {
    auto w = Echo(*r.h1, "10.61.2.1", 10, 56, &replies);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(replies, 10);
    expected.push_back({{4, 1, "10.61.1.1", "10.61.2.1", 0, 8 << 8}, *w, true});
    expected.push_back({{4, 1, "10.61.2.1", "10.61.1.1", 0, 0}, *w, false});
  }
  {
    auto w = Echo(*r.h1, "fd61:2::1", 10, 100, &replies);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(replies, 10);
    expected.push_back({{6, 58, "fd61:1::1", "fd61:2::1", 0, 128 << 8}, *w, true});
    expected.push_back({{6, 58, "fd61:2::1", "fd61:1::1", 0, 129 << 8}, *w, false});
  }
  {
    auto w = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40001, 5001, 300, 512, &received);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(received, 300);
    expected.push_back({{4, 17, "10.61.1.1", "10.61.2.1", 40001, 5001}, *w, true});
  }
  {
    auto w = UdpBurst(*r.h2, *r.h1, "fd61:1::1", 40002, 5002, 200, 1200, &received);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(received, 200);
    expected.push_back({{6, 17, "fd61:2::1", "fd61:1::1", 40002, 5002}, *w, false});
  }
  {
    auto t = TcpBulk(*r.h1, *r.h2, "10.61.2.1", 5003, 8 << 20);
    ASSERT_TRUE(t.ok()) << t.status();
    // The transfer really went as super-packets: far fewer than one segment per MSS would
    // be impossible, so only check it moved the data in thousands of wire segments.
    EXPECT_GT(t->forward.packets, 5000u);
    expected.push_back({{4, 6, "10.61.1.1", "10.61.2.1", t->sport, 5003}, t->forward, true});
    expected.push_back({{4, 6, "10.61.2.1", "10.61.1.1", 5003, t->sport}, t->reverse, false});
  }
  {
    auto t = TcpBulk(*r.h2, *r.h1, "fd61:1::1", 5004, 4 << 20);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_GT(t->forward.packets, 2500u);
    expected.push_back({{6, 6, "fd61:2::1", "fd61:1::1", t->sport, 5004}, t->forward, false});
    expected.push_back({{6, 6, "fd61:1::1", "fd61:2::1", 5004, t->sport}, t->reverse, true});
  }

  // Each flow at both of its observation points: in on the leg it enters, out on the other.
  auto at = [&](const Expected& e, bool ingress) {
    FlowId id = e.id;
    const bool first_leg = ingress == e.forward;  // forward enters on r1
    id.ifindex = first_leg ? r.r1 : r.r2;
    id.direction = ingress ? 0 : 1;
    return id;
  };
  auto all_exported = [&](const std::map<FlowId, FlowSum>& flows) {
    for (const Expected& e : expected) {
      for (bool ingress : {true, false}) {
        auto it = flows.find(at(e, ingress));
        if (it == flows.end() || it->second.packets < e.wire.packets) return false;
      }
    }
    return true;
  };
  // Idle timeout 1 s, TCP end-of-flow linger: everything is out within a few seconds,
  // without any later traffic and without stopping the daemon.
  EXPECT_TRUE((*sink)->WaitFor(all_exported, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(500));  // anything counted twice would show up now
  std::map<FlowId, FlowSum> flows = (*sink)->Flows();
  for (const Expected& e : expected) {
    for (bool ingress : {true, false}) {
      FlowId id = at(e, ingress);
      auto it = flows.find(id);
      ASSERT_NE(it, flows.end()) << id.ToString();
      EXPECT_EQ(it->second.packets, e.wire.packets) << id.ToString();
      EXPECT_EQ(it->second.bytes, e.wire.bytes) << id.ToString();
      if (!ingress) {
        // The forwarded flow's egress record names both legs.
        EXPECT_EQ(it->second.other_ifindex, static_cast<uint32_t>(e.forward ? r.r1 : r.r2))
            << id.ToString();
      }
      if (e.id.protocol != 6) {
        EXPECT_EQ(it->second.end_reasons[1], it->second.records)
            << id.ToString() << ": ended by idle timeout";
      }
    }
  }
  EXPECT_EQ((*sink)->decode_errors(), 0u);
  auto names = (*sink)->InterfaceNames();
  EXPECT_EQ(names[r.r1], "r1");
  EXPECT_EQ(names[r.r2], "r2");

  // --- A lone short flow, nothing after it: exported by idle timeout ---
  {
    auto w = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40009, 5009, 1, 100, &received);
    ASSERT_TRUE(w.ok());
    const absl::Time sent = absl::Now();
    FlowId lone{4, 17, "10.61.1.1", "10.61.2.1", 40009, 5009, static_cast<uint32_t>(r.r1), 0};
    EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(lone) > 0; },
                                 absl::Seconds(5)));
    const absl::Duration took = absl::Now() - sent;
    EXPECT_GE(took, absl::Milliseconds(900)) << "exported before its idle timeout";
    EXPECT_LE(took, absl::Milliseconds(2500)) << "idle timeout 1 s + drain 100 ms";
    auto f = (*sink)->Flows();
    EXPECT_EQ(f[lone].packets, 1u);
    EXPECT_EQ(f[lone].bytes, 128u);
    EXPECT_EQ(f[lone].end_reasons[1], 1u);
  }

  // --- SIGTERM: exit 0, filters gone ---
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0) << (*daemon)->process().Log();
  auto filters = TcflowFilters(*r.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_TRUE(filters->empty());

  // Conservation: every packet the programs counted (minus the ones no flow can hold:
  // non-IP, unparseable, no slot at all) is in an exported record.
  absl::SleepFor(absl::Milliseconds(300));
  auto totals = ReadKernelTotals(pins);
  ASSERT_TRUE(totals.ok()) << totals.status();
  uint64_t exported = 0;
  for (const auto& [id, sum] : (*sink)->Flows()) exported += sum.packets;
  EXPECT_EQ(exported, totals->packets - totals->not_ip - totals->parse_errors -
                          totals->overflow_lost);
  EXPECT_EQ(totals->overflow_lost, 0u);
  auto metering = (*sink)->MeteringStats();
  EXPECT_GT(metering["packetTotalCount"], 0u);

  // --- nfcapd, an independent collector, saw the same counts ---
  nfcapd.Signal(SIGTERM);
  EXPECT_EQ(nfcapd.Wait(absl::Seconds(10)), 0) << nfcapd.Log();
  std::string csv = testsupport::RunCommand(absl::StrCat("TZ=UTC nfdump -R ", nf_dir, " -o csv -q"));
  // ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,...
  std::map<std::string, std::pair<uint64_t, uint64_t>> rows;
  for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
    std::vector<std::string> c = absl::StrSplit(line, ',');
    if (c.size() < 17 || c[0] == "ts") continue;
    uint64_t pkts = 0, bytes = 0;
    if (!absl::SimpleAtoi(c[11], &pkts) || !absl::SimpleAtoi(c[12], &bytes)) continue;
    auto& row = rows[absl::StrCat(c[3], " ", c[4], " ", c[5], " ", c[6], " ", c[7], " ", c[15],
                                  " ", c[16])];
    row.first += pkts;
    row.second += bytes;
  }
  const std::map<int, std::string> proto_names = {{1, "ICMP"}, {6, "TCP"}, {17, "UDP"},
                                                  {58, "ICMP6"}};
  for (const Expected& e : expected) {
    const uint32_t first = e.forward ? r.r1 : r.r2, second = e.forward ? r.r2 : r.r1;
    const std::string proto = proto_names.at(e.id.protocol);
    for (const std::string& key :
         {absl::StrCat(e.id.src, " ", e.id.dst, " ", e.id.sport, " ", e.id.dport, " ",
                       proto, " ", first, " ", 0),
          absl::StrCat(e.id.src, " ", e.id.dst, " ", e.id.sport, " ", e.id.dport, " ",
                       proto, " ", first, " ", second)}) {
      auto it = rows.find(key);
      ASSERT_NE(it, rows.end()) << key << "\n" << csv.substr(0, 3000);
      EXPECT_EQ(it->second.first, e.wire.packets) << key;
      EXPECT_EQ(it->second.second, e.wire.bytes) << key;
    }
  }
}

// Fragments (IPv4 and IPv6: the first fragment carries the ports, later ones are a flow of
// their own with ports unknown) and an IPv6 destination-options header, forwarded by rt:
// exact on both legs, and the extension header reported in ipv6ExtensionHeaders.
TEST(TcflowdExactnessTest, FragmentsAndIpv6ExtensionHeaders) {
  auto router = Router::Create("tfg");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_frag");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_frag_", getpid()));
  const std::string& pins = pin_dir.path();
  int n = 0;
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", 1, 8, &n).ok());
  ASSERT_TRUE(Echo(*r.h1, "fd61:2::1", 1, 8, &n).ok());
  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok());
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port()};
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  int received = 0;
  // 3000 bytes of UDP payload: IPv4 fragments of 1480 + 1480 + 48 bytes of the datagram.
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40031, 5031, 20, 3000, &received).ok());
  ASSERT_EQ(received, 20);
  // IPv6: 1448 + 1448 + 112 bytes, each fragment with its 8-byte fragment header.
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "fd61:2::1", 40032, 5032, 20, 3000, &received).ok());
  ASSERT_EQ(received, 20);
  // A destination-options header (8 bytes: PadN) on every IPv6 datagram.
  auto dstopts = [](int fd) {
    const uint8_t opts[8] = {0, 0, 1, 4, 0, 0, 0, 0};
    setsockopt(fd, IPPROTO_IPV6, IPV6_DSTOPTS, opts, sizeof(opts));
  };
  ASSERT_TRUE(UdpBurst(*r.h1, *r.h2, "fd61:2::1", 40033, 5033, 30, 100, &received,
                       absl::ZeroDuration(), dstopts).ok());
  ASSERT_EQ(received, 30);

  struct Want {
    FlowId id;
    uint64_t packets, bytes;
  };
  const std::vector<Want> wants = {
      {{4, 17, "10.61.1.1", "10.61.2.1", 40031, 5031}, 20, 20 * 1500},
      {{4, 17, "10.61.1.1", "10.61.2.1", 0, 0}, 40, 20 * ((20 + 1480) + (20 + 48))},
      {{6, 17, "fd61:1::1", "fd61:2::1", 40032, 5032}, 20, 20 * (48 + 1448)},
      {{6, 17, "fd61:1::1", "fd61:2::1", 0, 0}, 40, 20 * ((48 + 1448) + (48 + 112))},
      {{6, 17, "fd61:1::1", "fd61:2::1", 40033, 5033}, 30, 30 * (40 + 8 + 8 + 100)},
  };
  auto at = [&](FlowId id, bool first_leg) {
    id.ifindex = first_leg ? r.r1 : r.r2;
    id.direction = first_leg ? 0 : 1;
    return id;
  };
  EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) {
    for (const Want& w : wants) {
      for (bool leg : {true, false}) {
        auto it = f.find(at(w.id, leg));
        if (it == f.end() || it->second.packets < w.packets) return false;
      }
    }
    return true;
  }, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(400));
  auto flows = (*sink)->Flows();
  for (const Want& w : wants) {
    for (bool leg : {true, false}) {
      const FlowId id = at(w.id, leg);
      EXPECT_EQ(flows[id].packets, w.packets) << id.ToString();
      EXPECT_EQ(flows[id].bytes, w.bytes) << id.ToString();
    }
  }
  // IE 64: bit 7 (destination options) for the options flow, the fragment bits for IPv6
  // fragments (bit 3 first fragment, bit 1 later ones).
  EXPECT_EQ(flows[at(wants[4].id, true)].ipv6_ext_headers, 1u << (31 - 7));
  EXPECT_EQ(flows[at(wants[2].id, true)].ipv6_ext_headers, 1u << (31 - 3));
  EXPECT_EQ(flows[at(wants[3].id, true)].ipv6_ext_headers, 1u << (31 - 1));
}

// VLAN-tagged traffic. This kernel has no 802.1Q devices, so a fixture program on h1's e0
// egress tags IPv4 frames with VLAN 100 the way VLAN TX offload leaves them (in skb
// metadata); rt's r1 receives them tagged, tcflowd counts them with vlanId 100, and rt's
// stack then drops them (no VLAN device there): exact counts at r1 ingress.
TEST(TcflowdExactnessTest, VlanTaggedTraffic) {
  auto router = Router::Create("tfv");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_vlan");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_vlan_", getpid()));
  const std::string& pins = pin_dir.path();
  int n = 0;
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", 1, 8, &n).ok());  // ARP first (it stays untagged)
  auto sink = IpfixSink::Start(*r.rt);
  ASSERT_TRUE(sink.ok());
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port()};
  auto daemon = Daemon::Start(*r.rt, cfg, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  std::unique_ptr<vlan_push_bpf::vlan_push, void (*)(vlan_push_bpf::vlan_push*)> pusher(
      vlan_push_bpf::vlan_push__open_and_load(), vlan_push_bpf::vlan_push__destroy);
  ASSERT_NE(pusher, nullptr);
  absl::Status attached = r.h1->Run([&]() -> absl::Status {
    absl::StatusOr<int> e0 = r.h1->IfIndex("e0");
    if (!e0.ok()) return e0.status();
    bpf_tc_hook hook = {};
    hook.sz = sizeof(hook);
    hook.ifindex = *e0;
    hook.attach_point = BPF_TC_EGRESS;
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) return absl::InternalError("bpf_tc_hook_create");
    bpf_tc_opts opts = {};
    opts.sz = sizeof(opts);
    opts.prog_fd = bpf_program__fd(pusher->progs.vlan_push_100);
    opts.priority = 1;
    return bpf_tc_attach(&hook, &opts) == 0 ? absl::OkStatus()
                                             : absl::InternalError("bpf_tc_attach");
  });
  ASSERT_TRUE(attached.ok()) << attached;

  int received = 0;
  auto w = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40041, 5041, 25, 400, &received);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(received, 0) << "rt has no VLAN 100: the tagged datagrams end there";
  const FlowId in{4, 17, "10.61.1.1", "10.61.2.1", 40041, 5041, static_cast<uint32_t>(r.r1), 0};
  EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(in) > 0; }, absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(300));
  auto flows = (*sink)->Flows();
  EXPECT_EQ(flows[in].packets, 25u);
  EXPECT_EQ(flows[in].bytes, 25u * (20 + 8 + 400));
  EXPECT_EQ(flows[in].vlan, 100u);
}

// `tcflowd --netns NS`: the daemon (and its collector) live in h1, the interfaces it meters
// in rt.
TEST(TcflowdExactnessTest, NetnsFlagMetersAnotherNamespace) {
  auto router = Router::Create("tfn");
  ASSERT_TRUE(router.ok()) << router.status();
  Router& r = *router;
  testsupport::TempDir dir("tcflowd_netns");
  ScopedPinDir pin_dir(absl::StrCat("/sys/fs/bpf/tcflowd_netns_", getpid()));
  const std::string& pins = pin_dir.path();
  int n = 0;
  ASSERT_TRUE(Echo(*r.h1, "10.61.2.1", 1, 8, &n).ok());
  auto sink = IpfixSink::Start(*r.h1);
  ASSERT_TRUE(sink.ok());
  DaemonConfig cfg;
  cfg.dir = dir.path();
  cfg.pin_path = pins;
  cfg.udp_collectors = {(*sink)->port()};
  const uint16_t metrics_port = FreeTcpPortIn(*r.h1);
  cfg.metrics_listen = absl::StrCat("127.0.0.1:", metrics_port);
  auto daemon = Daemon::Start(*r.h1, cfg, 2, "tcflowd.log", {"--netns", r.rt->name()});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto status = (*daemon)->Call("status");
  ASSERT_TRUE(status.ok());
  for (const auto& i : status->Find("interfaces")->items()) {
    EXPECT_EQ(i.GetString("netns"), r.rt->name());
    EXPECT_TRUE(i.GetString("name") == "r1" || i.GetString("name") == "r2") << i.Serialize();
  }
  int received = 0;
  auto w = UdpBurst(*r.h1, *r.h2, "10.61.2.1", 40021, 5021, 64, 300, &received);
  ASSERT_TRUE(w.ok());
  const FlowId in{4, 17, "10.61.1.1", "10.61.2.1", 40021, 5021, static_cast<uint32_t>(r.r1), 0};
  const FlowId out{4, 17, "10.61.1.1", "10.61.2.1", 40021, 5021, static_cast<uint32_t>(r.r2), 1};
  EXPECT_TRUE((*sink)->WaitFor([&](const auto& f) { return f.count(in) && f.count(out); },
                               absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(300));
  auto flows = (*sink)->Flows();
  EXPECT_EQ(flows[in].packets, 64u);
  EXPECT_EQ(flows[in].bytes, 64u * 328);
  EXPECT_EQ(flows[out].packets, 64u);
  // /metrics labels links of another namespace "<netns>/<name>"; the drained records give
  // the same exact counts.
  auto text = HttpGet(*r.h1, metrics_port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  auto samples = MetricSamples(*text);
  ASSERT_TRUE(samples.ok()) << samples.status();
  auto series = [&](const std::string& leg, const char* direction, const char* family) {
    return absl::StrCat(family, "{interface=\"", r.rt->name(), "/", leg, "\",direction=\"",
                        direction, "\",ip_version=\"4\",protocol=\"udp\"}");
  };
  const std::string r1_packets = series("r1", "ingress", "tcflow_packets_total");
  const std::string r1_bytes = series("r1", "ingress", "tcflow_bytes_total");
  const std::string r2_packets = series("r2", "egress", "tcflow_packets_total");
  for (const std::string* s : {&r1_packets, &r1_bytes, &r2_packets}) {
    ASSERT_EQ(samples->count(*s), 1u) << *s << " absent in\n" << *text;
  }
  EXPECT_EQ(samples->at(r1_packets), 64);
  EXPECT_EQ(samples->at(r1_bytes), static_cast<double>(w->bytes));
  EXPECT_EQ(samples->at(r2_packets), 64);
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0);
  auto filters = TcflowFilters(*r.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_TRUE(filters->empty());
}

}  // namespace
}  // namespace tcflow::testing
