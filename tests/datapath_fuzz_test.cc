// Random and mutated frames through both tc programs on the real kernel (BPF_PROG_TEST_RUN):
// at least a million of them. The programs must return TC_ACT_UNSPEC every time, never
// change a byte, and the counters they leave must account for exactly the wire packets run
// (the exactness invariant of bpf/tcflow_abi.h), phase by phase across generations.

#include <linux/pkt_cls.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/datapath_harness.h"
#include "tests/packet/packet_builder.h"

namespace tcflow::testing {
namespace {

using packet::Ip4;
using packet::Ip6;
using packet::PacketBuilder;

constexpr uint32_t kUnspec = static_cast<uint32_t>(TC_ACT_UNSPEC);
constexpr int kPhases = 4;
constexpr uint64_t kFramesPerPhase = 270000;  // 4 x 270k > 1M

std::vector<std::vector<uint8_t>> Seeds() {
  std::vector<std::vector<uint8_t>> s;
  auto add = [&](PacketBuilder& b) { s.push_back(b.Build().bytes); };
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv4().Tcp({.flags = 0x02, .options = {2, 4, 5, 0xb4}}).Payload(20));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv4({.options = {0x94, 4, 0, 0}}).Udp().Payload(40));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv4({.more_fragments = true}).Udp().Payload(40));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv4({.fragment_offset = 20, .protocol = 6}).Payload(40));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Vlan(10).Vlan(20, 0x8100).Ipv4().Icmp().Payload(8));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Vlan(7, 0x88a8).Ipv6().Sctp().Payload(12));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6().HopByHop().Routing().Fragment(0, true, 9).Ah().DestinationOptions()
            .Tcp().Payload(16));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6().Fragment(50, false, 3, 17).Payload(30));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6().Esp(5, 24));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6().Mobility(16));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6({.hop_limit = 255}).NeighborSolicitation(Ip6("2001:db8::7")));
  }
  {
    PacketBuilder b;
    add(b.Ethernet().Ipv6().Gre(0x86dd).Ipv6().Udp().Payload(8));
  }
  {
    PacketBuilder b;
    b.Ethernet().Ipv6();
    for (int i = 0; i < 10; i++) b.DestinationOptions();
    add(b.Udp());
  }
  {
    PacketBuilder b;
    add(b.Ethernet(0x0806).Payload(28));
  }
  return s;
}

class Fuzzer {
 public:
  explicit Fuzzer(uint64_t seed) : rng_(seed), seeds_(Seeds()) {}

  // Fills `frame` with the next input and `ctx` with its __sk_buff fields.
  void Next(std::vector<uint8_t>& frame, RunContext& ctx, uint8_t& direction) {
    uint32_t mode = Uniform(100);
    if (mode < 25) {
      RandomFrame(frame);
    } else {
      frame = seeds_[Uniform(seeds_.size())];
      Mutate(frame, mode);
    }
    ctx = {};
    if (Uniform(8) == 0) {
      ctx.gso_segs = 1 + Uniform(64);
      ctx.gso_size = 1 + Uniform(1500);
    }
    if (Uniform(4) == 0) ctx.mark = static_cast<uint32_t>(rng_());
    direction = Uniform(2);
    if (direction == 1 && Uniform(2)) ctx.ingress_ifindex = 1;
  }

 private:
  uint32_t Uniform(size_t n) { return static_cast<uint32_t>(rng_() % n); }

  void RandomFrame(std::vector<uint8_t>& f) {
    f.resize(14 + Uniform(300));
    for (auto& b : f) b = static_cast<uint8_t>(rng_());
    static const uint16_t kTypes[] = {0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806};
    uint16_t t = Uniform(6) < 5 ? kTypes[Uniform(5)] : static_cast<uint16_t>(rng_());
    f[12] = t >> 8;
    f[13] = t & 0xff;
    // Make the IP version nibble plausible most of the time, to get past it.
    if (f.size() > 18 && Uniform(4)) {
      size_t l3 = (t == 0x8100 || t == 0x88a8) ? 18 : 14;
      if (t == 0x8100 || t == 0x88a8) {
        f[16] = Uniform(2) ? 0x08 : 0x86;
        f[17] = f[16] == 0x08 ? 0x00 : 0xdd;
      }
      if (l3 < f.size()) f[l3] = (f[l3] & 0x0f) | (Uniform(2) ? 0x40 : 0x60);
    }
  }

  void Mutate(std::vector<uint8_t>& f, uint32_t mode) {
    if (mode < 60) {  // flip a few bytes, weighted toward the headers
      int flips = 1 + Uniform(6);
      for (int i = 0; i < flips; i++) {
        size_t at = Uniform(std::min<size_t>(f.size(), Uniform(3) ? 96 : f.size()));
        f[at] = static_cast<uint8_t>(rng_());
      }
    } else if (mode < 80) {  // cut
      f.resize(14 + Uniform(f.size() - 13));
    } else if (mode < 90) {  // rewrite a next-header/protocol-ish byte with an ext header
      static const uint8_t kNh[] = {0, 43, 44, 50, 51, 60, 135, 6, 17, 58, 132, 59};
      size_t at = 14 + Uniform(std::min<size_t>(f.size() - 14, 80));
      f[at] = kNh[Uniform(sizeof(kNh))];
    } else {  // grow with random tail
      size_t extra = Uniform(200);
      for (size_t i = 0; i < extra; i++) f.push_back(static_cast<uint8_t>(rng_()));
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::vector<uint8_t>> seeds_;
};

TEST(DatapathFuzzTest, MillionFramesNeverChangeFateOrBytesAndCountExactly) {
  Knobs knobs;
  knobs.slots_per_half = 4096;  // small: random keys overflow it, exercising that path too
  std::string error;
  auto dp = Datapath::Load(knobs, &error);
  ASSERT_NE(dp, nullptr) << error;

  Fuzzer fuzz(0x7cf10e5eedull);
  std::vector<uint8_t> frame, out(4096);
  uint64_t total_run = 0, total_refused = 0, total_wire = 0;
  auto start = std::chrono::steady_clock::now();

  for (int phase = 0; phase < kPhases; phase++) {
    dp->FreshGeneration();
    tcflow_stats before = dp->Stats();
    tcflow_stats kbefore = dp->KernelStats();
    uint64_t wire = 0, run = 0;
    for (uint64_t i = 0; i < kFramesPerPhase; i++) {
      RunContext ctx;
      uint8_t dir;
      fuzz.Next(frame, ctx, dir);
      __sk_buff skb = {};
      skb.gso_segs = ctx.gso_segs;
      skb.gso_size = ctx.gso_size;
      skb.mark = ctx.mark;
      skb.ingress_ifindex = ctx.ingress_ifindex;
      bpf_test_run_opts opts = {};
      opts.sz = sizeof(opts);
      opts.data_in = frame.data();
      opts.data_size_in = static_cast<uint32_t>(frame.size());
      opts.data_out = out.data();
      opts.data_size_out = static_cast<uint32_t>(out.size());
      opts.ctx_in = &skb;
      opts.ctx_size_in = sizeof(skb);
      opts.repeat = 1;
      if (bpf_prog_test_run_opts(dp->fd(dir), &opts) != 0) {
        // BPF_PROG_TEST_RUN refuses some frames before any program runs (an IP ethertype
        // without a full base header): nothing to check, nothing counted.
        ASSERT_EQ(errno, EINVAL) << strerror(errno);
        total_refused++;
        continue;
      }
      run++;
      wire += ctx.gso_segs ? ctx.gso_segs : 1;
      if (opts.retval != kUnspec) {
        FAIL() << "verdict " << int(opts.retval) << " for frame " << i << " of phase " << phase;
      }
      if (opts.data_size_out != frame.size() ||
          std::memcmp(out.data(), frame.data(), frame.size()) != 0) {
        FAIL() << "bytes changed for frame " << i << " of phase " << phase;
      }
    }
    tcflow_stats after = dp->Stats();
    uint64_t seen = (after.packets[0] - before.packets[0]) + (after.packets[1] - before.packets[1]);
    EXPECT_EQ(seen, wire) << "phase " << phase;
    // The kernel's own per-packet witness: every keyed packet is in the size histogram once.
    tcflow_stats kafter = dp->KernelStats();
    uint64_t sized = 0;
    for (int b = 0; b < TCFLOW_SIZE_BUCKETS; b++) sized += kafter.size_hist[b] - kbefore.size_hist[b];
    uint64_t unkeyed = kafter.not_ip - kbefore.not_ip;
    for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; r++)
      unkeyed += kafter.parse_error[r] - kbefore.parse_error[r];
    EXPECT_EQ(sized + unkeyed, wire) << "phase " << phase;
    uint64_t counted = (after.overflow_lost - before.overflow_lost) + (after.not_ip - before.not_ip);
    uint64_t errors = 0;
    for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; r++)
      errors += after.parse_error[r] - before.parse_error[r];
    uint64_t in_flows = 0, in_overflow = 0;
    for (const auto& f : dp->Flows()) in_flows += f.stats.packets;
    for (const auto& f : dp->Overflows()) in_overflow += f.stats.packets;
    counted += errors + in_flows + in_overflow;
    EXPECT_EQ(counted, wire) << "phase " << phase << ": exactness invariant broken";
    EXPECT_EQ(after.flows_not_created - before.flows_not_created, in_overflow);
    std::printf("phase %d: %llu frames run (%llu wire packets): flows %llu, overflow %llu, "
                "lost %llu, not IP %llu, parse errors %llu\n",
                phase, (unsigned long long)run, (unsigned long long)wire,
                (unsigned long long)in_flows, (unsigned long long)in_overflow,
                (unsigned long long)(after.overflow_lost - before.overflow_lost),
                (unsigned long long)(after.not_ip - before.not_ip),
                (unsigned long long)errors);
    total_run += run;
    total_wire += wire;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu frames run, %llu refused by BPF_PROG_TEST_RUN, %llu wire packets, %.1f s\n",
              (unsigned long long)total_run, (unsigned long long)total_refused,
              (unsigned long long)total_wire, secs);
  EXPECT_GE(total_run, 1000000u);
}

}  // namespace
}  // namespace tcflow::testing
