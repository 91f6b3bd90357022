// Nanoseconds per packet of tcflow's tc programs against an empty tc program, measured the
// same way (BPF_PROG_TEST_RUN on the same frames) side by side in one run, for the
// existing-flow path and the new-flow path. Needs root (bpf()).
//
//   bazel run -c opt //tools/bench:datapath_bench [-- --rounds=7 --repeat=2000000]
//
// Existing flow: the frame's flow exists; the kernel runs the program `repeat` times on one
// skb and reports the mean. New flow: `flows` distinct frames, each run once (one new slot,
// one LRU insertion each); BPF_PROG_TEST_RUN's own per-call timing overhead is in both the
// program's and the empty program's figure, so the difference is the new-flow cost.

#include <linux/bpf.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tests/datapath_harness.h"
#include "tests/packet/packet_builder.h"
#include "tools/bench/stats.h"

namespace empty_bpf {
#include "bpf/empty.skel.h"
}  // namespace empty_bpf
namespace clock_bpf {
#include "tools/bench/clock_probe.skel.h"
}  // namespace clock_bpf

namespace {

using tcflow::bench::Median;
using tcflow::bench::Min;

using tcflow::packet::Frame;
using tcflow::packet::Ip6;
using tcflow::packet::PacketBuilder;
using tcflow::testing::Datapath;
using tcflow::testing::Knobs;

struct Kind {
  std::string name;
  // Frame of flow number `i` (distinct keys for distinct i).
  Frame (*make)(uint32_t i);
};

uint16_t Port(uint32_t i) { return static_cast<uint16_t>(1024 + (i % 60000)); }
tcflow::packet::Ipv4Address Src4(uint32_t i) {
  return {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
}
tcflow::packet::Ipv6Address Src6(uint32_t i) {
  auto a = Ip6("2001:db8::");
  a[12] = i >> 24;
  a[13] = i >> 16;
  a[14] = i >> 8;
  a[15] = i;
  return a;
}

const std::vector<Kind>& Kinds() {
  static const std::vector<Kind> kinds = {
      {"IPv4/TCP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv4({.src = Src4(i)}).Tcp({.sport = Port(i),
             .dport = 443, .flags = 0x10}).Payload(64).Build();
       }},
      {"IPv4/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv4({.src = Src4(i)}).Udp(Port(i), 53).Payload(64)
             .Build();
       }},
      {"IPv6/TCP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Tcp({.sport = Port(i),
             .dport = 443, .flags = 0x10}).Payload(64).Build();
       }},
      {"IPv6/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Udp(Port(i), 53).Payload(64)
             .Build();
       }},
      {"IPv6 HBH+frag/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).HopByHop().Fragment(0, true, i)
             .Udp(Port(i), 53).Payload(64).Build();
       }},
      {"ICMPv6 echo",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Icmpv6(128, 0, {0x12, 0x34, 0,
             1}).Payload(56).Build();
       }},
  };
  return kinds;
}

// Mean ns per run of `repeat` runs of one frame, as the kernel measured it; -1 on error.
double RunRepeat(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat) {
  bpf_test_run_opts opts = {};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.repeat = repeat;
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return -1;
  return opts.duration;
}

// Sum of the kernel-measured durations of one run each of `frames`.
double RunEach(int prog_fd, const std::vector<Frame>& frames) {
  double sum = 0;
  for (const Frame& f : frames) {
    double d = RunRepeat(prog_fd, f.bytes, 1);
    if (d < 0) return -1;
    sum += d;
  }
  return sum / frames.size();
}


bool Flag(const char* arg, const char* name, long* out) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *out = std::strtol(arg + n + 1, nullptr, 10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long rounds = 7, repeat = 2000000, flows = 20000;
  for (int i = 1; i < argc; i++) {
    if (!Flag(argv[i], "--rounds", &rounds) && !Flag(argv[i], "--repeat", &repeat) &&
        !Flag(argv[i], "--flows", &flows)) {
      std::fprintf(stderr, "usage: datapath_bench [--rounds=N] [--repeat=N] [--flows=N]\n");
      return 2;
    }
  }

  empty_bpf::empty* empty = empty_bpf::empty__open_and_load();
  if (!empty) {
    std::fprintf(stderr, "datapath_bench: cannot load the empty program: %s (root needed)\n",
                 std::strerror(errno));
    return 1;
  }
  int empty_fd = bpf_program__fd(empty->progs.tcflow_empty);

  Knobs with_cache;
  with_cache.slots_per_half = static_cast<uint32_t>(flows) * 2;
  Knobs no_cache = with_cache;
  no_cache.flow_cache = false;
  std::string error;
  std::unique_ptr<Datapath> dp = Datapath::Load(with_cache, &error);
  std::unique_ptr<Datapath> dp_nc = dp ? Datapath::Load(no_cache, &error) : nullptr;
  if (!dp || !dp_nc) {
    std::fprintf(stderr, "datapath_bench: %s\n", error.c_str());
    return 1;
  }

  utsname u;
  uname(&u);
  FILE* f = std::fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
  int stats_enabled = -1;
  if (f) {
    if (std::fscanf(f, "%d", &stats_enabled) != 1) stats_enabled = -1;
    std::fclose(f);
  }
  std::printf("tcflow datapath benchmark: kernel %s, %d CPUs, bpf_stats_enabled=%d\n", u.release,
              libbpf_num_possible_cpus(), stats_enabled);
  std::printf("existing flow: median of %ld rounds of %ld runs; new flow: mean over %ld fresh "
              "flows, median of %ld rounds\n\n",
              rounds, repeat, flows, rounds);

  std::printf("EXISTING FLOW (ns/packet, median of rounds [min]; x = ratio to the empty "
              "program)\n");
  std::printf("%-18s %12s %24s %24s %24s\n", "frame", "empty", "tcflow_ingress", "tcflow_egress",
              "ingress, no cpu cache");
  double worst = 0;
  for (const Kind& k : Kinds()) {
    Frame frame = k.make(1);
    // Create the flow first so every timed run takes the existing-flow path.
    dp->Run(frame.bytes, TCFLOW_DIR_INGRESS);
    dp->Run(frame.bytes, TCFLOW_DIR_EGRESS);
    dp_nc->Run(frame.bytes, TCFLOW_DIR_INGRESS);
    std::vector<double> e, in, eg, nc;
    for (long r = 0; r < rounds; r++) {  // interleaved: the machine's noise hits all alike
      e.push_back(RunRepeat(empty_fd, frame.bytes, repeat));
      in.push_back(RunRepeat(dp->ingress_fd(), frame.bytes, repeat));
      eg.push_back(RunRepeat(dp->egress_fd(), frame.bytes, repeat));
      nc.push_back(RunRepeat(dp_nc->ingress_fd(), frame.bytes, repeat));
    }
    double me = Median(e), mi = Median(in), mg = Median(eg), mn = Median(nc);
    worst = std::max({worst, mi / me, mg / me});
    std::printf("%-18s %5.1f [%4.1f] %6.1f [%5.1f] (x%.2f) %6.1f [%5.1f] (x%.2f) %6.1f [%5.1f] "
                "(x%.2f)\n",
                k.name.c_str(), me, Min(e), mi, Min(in), mi / me, mg, Min(eg), mg / me, mn,
                Min(nc), mn / me);
  }
  std::printf("worst existing-flow ratio (with cache, medians): x%.2f (budget x2.50, aim x2.00)"
              "\n\n",
              worst);

  // What a clock read costs per packet, each source alone in an empty program.
  clock_bpf::clock_probe* clk = clock_bpf::clock_probe__open_and_load();
  if (clk) {
    struct {
      const char* name;
      bpf_program* prog;
    } clocks[] = {
        {"no clock (map store only)", clk->progs.clock_none},
        {"bpf_ktime_get_ns", clk->progs.clock_ktime_ns},
        {"bpf_ktime_get_coarse_ns", clk->progs.clock_coarse_ns},
        {"bpf_jiffies64 (inlined)", clk->progs.clock_jiffies64},
        {"jiffies-keyed coarse (tcflow)", clk->progs.clock_cached_coarse},
    };
    Frame frame = Kinds()[1].make(1);
    std::printf("CLOCK SOURCES (ns/packet, median of rounds [min], each alone in a tc program)\n");
    std::vector<double> e;
    std::vector<std::vector<double>> c(sizeof(clocks) / sizeof(clocks[0]));
    for (long r = 0; r < rounds; r++) {
      e.push_back(RunRepeat(empty_fd, frame.bytes, repeat));
      for (size_t i = 0; i < c.size(); i++)
        c[i].push_back(RunRepeat(bpf_program__fd(clocks[i].prog), frame.bytes, repeat));
    }
    std::printf("%-30s %6.1f [%4.1f]\n", "empty", Median(e), Min(e));
    for (size_t i = 0; i < c.size(); i++)
      std::printf("%-30s %6.1f [%4.1f]  +%.1f\n", clocks[i].name, Median(c[i]), Min(c[i]),
                  Median(c[i]) - Median(e));
    std::printf("\n");
    clock_bpf::clock_probe__destroy(clk);
  }

  std::printf("NEW FLOW (ns/packet incl. BPF_PROG_TEST_RUN per-call timing; +ns over empty)\n");
  std::printf("%-18s %7s %18s %18s\n", "frame", "empty", "tcflow_ingress", "tcflow_egress");
  uint32_t next_id = 100;
  for (const Kind& k : Kinds()) {
    std::vector<double> e, in, eg;
    for (long r = 0; r < rounds; r++) {
      std::vector<Frame> frames;
      frames.reserve(flows);
      for (long i = 0; i < flows; i++) frames.push_back(k.make(next_id++));
      dp->FreshGeneration();  // room for every new flow of this round
      e.push_back(RunEach(empty_fd, frames));
      in.push_back(RunEach(dp->ingress_fd(), frames));
      eg.push_back(RunEach(dp->egress_fd(), frames));
      if (dp->Stats().flows_not_created != 0) {
        std::fprintf(stderr, "datapath_bench: table too small, flows folded into overflow\n");
        return 1;
      }
    }
    double me = Median(e), mi = Median(in), mg = Median(eg);
    std::printf("%-18s %7.1f %8.1f (+%5.1f) %8.1f (+%5.1f)\n", k.name.c_str(), me, mi, mi - me,
                mg, mg - me);
  }
  empty_bpf::empty__destroy(empty);
  return 0;
}
