// The tc programs attached for real, on a namespace router h1 -- rt -- h2 (veth, offloads on
// by default, so TCP crosses as GSO super-packets): a TCP transfer from h1 to h2 must come
// out as exactly the wire segments h1's TCP stack sent (its OutSegs + RetransSegs), on the
// ingress leg and again on the egress leg, which also names the ingress interface.

#include <fcntl.h>
#include <linux/if.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <linux/pkt_cls.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/datapath_harness.h"
#include "tests/netns/netns.h"
#include "tests/packet/packet_builder.h"

namespace vlan_push_bpf {
#include "tests/vlan_push.skel.h"
}  // namespace vlan_push_bpf

namespace tcflow::testing {
namespace {

// TCP counters of the calling thread's network namespace (/proc/net/snmp).
std::map<std::string, uint64_t> TcpSnmp() {
  std::ifstream in("/proc/thread-self/net/snmp");
  std::string header, values;
  std::map<std::string, uint64_t> out;
  while (std::getline(in, header) && std::getline(in, values)) {
    if (header.rfind("Tcp:", 0) != 0) continue;
    std::istringstream h(header.substr(4)), v(values.substr(4));
    std::string name;
    long long value;
    while (h >> name && v >> value) out[name] = static_cast<uint64_t>(value);
  }
  return out;
}

absl::Status Attach(const Namespace& ns, const std::string& ifname, int prog_fd,
                    bpf_tc_attach_point point, uint32_t priority = 0) {
  return ns.Run([&]() -> absl::Status {
    absl::StatusOr<int> ifindex = ns.IfIndex(ifname);
    if (!ifindex.ok()) return ifindex.status();
    bpf_tc_hook hook = {};
    hook.sz = sizeof(hook);
    hook.ifindex = *ifindex;
    hook.attach_point = point;
    int err = bpf_tc_hook_create(&hook);  // clsact on a link this test created
    if (err && err != -EEXIST) return absl::InternalError("bpf_tc_hook_create failed");
    bpf_tc_opts opts = {};
    opts.sz = sizeof(opts);
    opts.prog_fd = prog_fd;
    opts.priority = priority;
    if (bpf_tc_attach(&hook, &opts) != 0) return absl::InternalError("bpf_tc_attach failed");
    return absl::OkStatus();
  });
}

// A tagged frame as VLAN TX offload leaves it: the tag in skb metadata, not in the frame.
// This kernel has no 802.1Q devices (CONFIG_VLAN_8021Q), so a fixture program pushes the tag
// (bpf_skb_vlan_push, which keeps it in metadata) ahead of tcflow_egress on the same link;
// the veth peer's ingress then receives it tagged in metadata too (RX side of the offload).
TEST(DatapathNetnsTest, OffloadedVlanTagIsKeyed) {
  auto a = Namespace::Create("dpva");
  auto b = Namespace::Create("dpvb");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(CreateVethPair(**a, "va", **b, "vb").ok());
  ASSERT_TRUE((*a)->AddAddress("va", "10.8.100.1/24").ok());
  ASSERT_TRUE((*b)->AddAddress("vb", "10.8.100.2/24").ok());
  auto va = (*a)->IfIndex("va");
  auto vb = (*b)->IfIndex("vb");
  ASSERT_TRUE(va.ok() && vb.ok());

  std::string error;
  auto dp = Datapath::Load(Knobs{}, &error);
  ASSERT_NE(dp, nullptr) << error;
  std::unique_ptr<vlan_push_bpf::vlan_push, void (*)(vlan_push_bpf::vlan_push*)> pusher(
      vlan_push_bpf::vlan_push__open_and_load(), vlan_push_bpf::vlan_push__destroy);
  ASSERT_NE(pusher, nullptr);
  ASSERT_TRUE(Attach(**a, "va", bpf_program__fd(pusher->progs.vlan_push_100), BPF_TC_EGRESS, 1)
                  .ok());
  ASSERT_TRUE(Attach(**a, "va", dp->egress_fd(), BPF_TC_EGRESS, 2).ok());
  ASSERT_TRUE(Attach(**b, "vb", dp->ingress_fd(), BPF_TC_INGRESS).ok());
  // The tagged echoes are dropped at vb (no VLAN there): no replies, only the counting.
  auto replies = Ping(**a, "10.8.100.2", 3, absl::Milliseconds(100));
  ASSERT_TRUE(replies.ok()) << replies.status();

  const auto src = packet::Ip4("10.8.100.1"), dst = packet::Ip4("10.8.100.2");
  uint64_t egress = 0, ingress = 0;
  for (const tcflow_slot& s : dp->Flows()) {
    const tcflow_flow_key& k = s.key;
    if (k.protocol != 1 || std::memcmp(k.src_addr + 12, src.data(), 4) ||
        std::memcmp(k.dst_addr + 12, dst.data(), 4))
      continue;
    EXPECT_EQ(k.vlan_id, 100) << "direction " << int(k.direction);
    EXPECT_EQ(k.inner_vlan_id, 0);
    EXPECT_EQ(k.dst_port, 8 << 8);  // echo request
    if (k.direction == TCFLOW_DIR_EGRESS && k.ifindex == uint32_t(*va)) {
      EXPECT_EQ(k.other_ifindex, 0u) << "locally generated";
      egress += s.stats.packets;
    }
    if (k.direction == TCFLOW_DIR_INGRESS && k.ifindex == uint32_t(*vb)) ingress += s.stats.packets;
  }
  EXPECT_EQ(egress, 3u);
  EXPECT_EQ(ingress, 3u);
  tcflow_stats stats = dp->Stats();
  EXPECT_EQ(AccountedPackets(*dp, stats), stats.packets[0] + stats.packets[1]);
}

// Headers in paged data, as drivers using napi_gro_frags deliver them: a tap with
// IFF_NAPI_FRAGS puts each iovec after the first into a page fragment, so with the first
// iovec only the Ethernet header, the IP and UDP headers are not in the linear part the
// program can read directly (the test checks that they were not, through the kernel's
// bpf_skb_pull_data having had work to do: see tcflow_parse_again). The program must pull them and key the flow all the same.
TEST(DatapathNetnsTest, HeadersInPagedDataAreParsed) {
  auto ns = Namespace::Create("dptap");
  ASSERT_TRUE(ns.ok());
  int tap = -1;
  ASSERT_TRUE((*ns)->Run([&]() -> absl::Status {
                      tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
                      if (tap < 0) return absl::InternalError("open /dev/net/tun");
                      ifreq ifr = {};
                      std::strncpy(ifr.ifr_name, "dptap0", IFNAMSIZ - 1);
                      ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS;
                      if (ioctl(tap, TUNSETIFF, &ifr) != 0)
                        return absl::InternalError(std::string("TUNSETIFF: ") + strerror(errno));
                      // GRO off: with GRO the kernel pulls the headers it parsed into the
                      // linear part (gro_pull_from_frag0); without, they stay in the page.
                      int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                      ethtool_value ev = {ETHTOOL_SGRO, 0};
                      ifr.ifr_data = reinterpret_cast<char*>(&ev);
                      int rc = ioctl(sock, SIOCETHTOOL, &ifr);
                      close(sock);
                      if (rc != 0)
                        return absl::InternalError(std::string("ETHTOOL_SGRO: ") + strerror(errno));
                      return absl::OkStatus();
                    }).ok());
  struct TapCloser {
    int fd;
    ~TapCloser() { close(fd); }
  } tap_closer{tap};
  ASSERT_TRUE((*ns)->SetUp("dptap0").ok());
  auto ifindex = (*ns)->IfIndex("dptap0");
  ASSERT_TRUE(ifindex.ok());

  std::string error;
  auto dp = Datapath::Load(Knobs{}, &error);
  ASSERT_NE(dp, nullptr) << error;
  ASSERT_TRUE(Attach(**ns, "dptap0", dp->ingress_fd(), BPF_TC_INGRESS).ok());

  packet::Frame f = packet::PacketBuilder()
                        .Ethernet()
                        .Ipv4({.src = packet::Ip4("192.0.2.7"), .dst = packet::Ip4("192.0.2.8")})
                        .Udp(4242, 4343)
                        .Payload(200)
                        .Build();
  const int kFrames = 4;
  for (int i = 0; i < kFrames; i++) {
    // Ethernet | IPv4 + UDP + payload: the second iovec becomes a page fragment.
    iovec iov[2] = {{f.bytes.data(), 14}, {f.bytes.data() + 14, f.bytes.size() - 14}};
    ASSERT_EQ(writev(tap, iov, 2), static_cast<ssize_t>(f.bytes.size())) << strerror(errno);
  }

  tcflow_stats stats = dp->Stats();
  uint64_t errors = 0;
  for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; r++) errors += stats.parse_error[r];
  EXPECT_EQ(errors, 0u) << "headers in fragments were taken for a cut-short packet";
  uint64_t packets = 0;
  for (const tcflow_slot& s : dp->Flows()) {
    if (s.key.ifindex != uint32_t(*ifindex) || s.key.protocol != 17) continue;
    EXPECT_EQ(s.key.src_port, 4242);
    EXPECT_EQ(s.key.dst_port, 4343);
    EXPECT_EQ(s.key.key_flags, 0);
    EXPECT_EQ(s.stats.bytes, s.stats.packets * (f.bytes.size() - 14));
    packets += s.stats.packets;
  }
  EXPECT_EQ(packets, uint64_t(kFrames));
  EXPECT_EQ(AccountedPackets(*dp, stats), stats.packets[0] + stats.packets[1]);
}

TEST(DatapathNetnsTest, ForwardedTcpCountsWireSegmentsOnBothLegs) {
  auto h1 = Namespace::Create("dph1");
  auto rt = Namespace::Create("dprt");
  auto h2 = Namespace::Create("dph2");
  ASSERT_TRUE(h1.ok() && rt.ok() && h2.ok());
  ASSERT_TRUE(CreateVethPair(**h1, "h1r", **rt, "rt1").ok());
  ASSERT_TRUE(CreateVethPair(**rt, "rt2", **h2, "h2r").ok());
  ASSERT_TRUE((*h1)->AddAddress("h1r", "10.9.1.1/24").ok());
  ASSERT_TRUE((*rt)->AddAddress("rt1", "10.9.1.254/24").ok());
  ASSERT_TRUE((*rt)->AddAddress("rt2", "10.9.2.254/24").ok());
  ASSERT_TRUE((*h2)->AddAddress("h2r", "10.9.2.1/24").ok());
  ASSERT_TRUE((*h1)->AddRoute("default", "10.9.1.254").ok());
  ASSERT_TRUE((*h2)->AddRoute("default", "10.9.2.254").ok());
  ASSERT_TRUE((*rt)->Run([] {
                      std::ofstream f("/proc/sys/net/ipv4/ip_forward");
                      f << "1\n";
                      return f.good() ? absl::OkStatus()
                                      : absl::InternalError("cannot enable forwarding");
                    }).ok());
  auto rt1 = (*rt)->IfIndex("rt1");
  auto rt2 = (*rt)->IfIndex("rt2");
  ASSERT_TRUE(rt1.ok() && rt2.ok());

  std::string error;
  auto dp = Datapath::Load(Knobs{}, &error);
  ASSERT_NE(dp, nullptr) << error;
  ASSERT_TRUE(Attach(**rt, "rt1", dp->ingress_fd(), BPF_TC_INGRESS).ok());
  ASSERT_TRUE(Attach(**rt, "rt2", dp->egress_fd(), BPF_TC_EGRESS).ok());

  std::map<std::string, uint64_t> before, after;
  ASSERT_TRUE((*h1)->Run([&] { before = TcpSnmp(); return absl::OkStatus(); }).ok());
  const size_t kBytes = 8 << 20;
  absl::Status st = TcpTransfer(**h1, **h2, "10.9.2.1", 5201, kBytes);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE((*h1)->Run([&] { after = TcpSnmp(); return absl::OkStatus(); }).ok());
  const uint64_t sent = (after["OutSegs"] - before["OutSegs"]) +
                        (after["RetransSegs"] - before["RetransSegs"]);

  // Records of the transfer's data direction, per leg, summed over CPUs' slots.
  const auto src = packet::Ip4("10.9.1.1"), dst = packet::Ip4("10.9.2.1");
  uint64_t in_pkts = 0, in_bytes = 0, out_pkts = 0, out_bytes = 0;
  int out_other = -1;
  for (const tcflow_slot& s : dp->Flows()) {
    const tcflow_flow_key& k = s.key;
    if (k.ip_version != 4 || k.protocol != 6 || std::memcmp(k.src_addr + 12, src.data(), 4) ||
        std::memcmp(k.dst_addr + 12, dst.data(), 4) || k.dst_port != 5201)
      continue;
    if (k.direction == TCFLOW_DIR_INGRESS && k.ifindex == uint32_t(*rt1)) {
      in_pkts += s.stats.packets;
      in_bytes += s.stats.bytes;
    } else if (k.direction == TCFLOW_DIR_EGRESS && k.ifindex == uint32_t(*rt2)) {
      out_pkts += s.stats.packets;
      out_bytes += s.stats.bytes;
      out_other = static_cast<int>(k.other_ifindex);
    }
  }
  tcflow_stats stats = dp->Stats();
  std::printf("h1 sent %llu TCP segments; rt1 ingress counted %llu packets / %llu bytes, rt2 "
              "egress %llu / %llu; %llu GSO super-packets seen\n",
              (unsigned long long)sent, (unsigned long long)in_pkts,
              (unsigned long long)in_bytes, (unsigned long long)out_pkts,
              (unsigned long long)out_bytes, (unsigned long long)stats.gso_packets);
  EXPECT_GT(stats.gso_packets, 0u) << "no super-packets: the test did not exercise offloads";
  EXPECT_EQ(in_pkts, sent);
  EXPECT_EQ(out_pkts, sent);
  EXPECT_EQ(out_bytes, in_bytes);
  EXPECT_EQ(out_other, *rt1) << "the egress leg names the ingress interface";
  // Every segment repeats 20 bytes of IPv4 and 20-60 bytes of TCP header.
  EXPECT_GE(in_bytes, kBytes + sent * 40);
  EXPECT_LE(in_bytes, kBytes + sent * 80);

  // And everything the programs saw is accounted exactly once.
  uint64_t seen = stats.packets[0] + stats.packets[1];
  EXPECT_EQ(AccountedPackets(*dp, stats), seen);
}

}  // namespace
}  // namespace tcflow::testing
