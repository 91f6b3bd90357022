// Nanoseconds per packet of tcflow's tc programs against an empty tc program, measured the
// same way (BPF_PROG_TEST_RUN on the same frames) side by side in one run, for the
// existing-flow path and the new-flow path. Needs root (bpf()).
//
//   bazel run -c opt //tools/bench:datapath_bench [-- --rounds=15 --repeat=500000]
//
// Existing flow: the frame's flow exists; the kernel runs the program `repeat` times on one
// skb; the figure is this thread's CPU time across the call over `repeat` (see RunRepeat).
// Every program runs once per round, round after round, so the machine's noise hits all
// alike; the ratio to the empty program is taken within each round. Beside the real
// programs, bench-only builds of the program cut short at each stage
// (tools/bench/BUILD.bazel), to show where the time goes. New flow: `flows` distinct frames, each run once (one new slot,
// one LRU insertion each); BPF_PROG_TEST_RUN's own per-call timing overhead is in both the
// program's and the empty program's figure, so the difference is the new-flow cost.

#include <linux/bpf.h>
#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
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
// Bench-only builds of the program cut short at each stage (tools/bench/BUILD.bazel), to see
// where the time goes.
#include "tools/bench/tcflow_fast_cut1.skel.h"
#include "tools/bench/tcflow_fast_cut2.skel.h"
#include "tools/bench/tcflow_fast_cut3.skel.h"

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

// Payload bytes after the transport header (--payload).
size_t g_payload = 64;

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
             .dport = 443, .flags = 0x10}).Payload(g_payload).Build();
       }},
      {"IPv4/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv4({.src = Src4(i)}).Udp(Port(i), 53).Payload(g_payload)
             .Build();
       }},
      {"IPv6/TCP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Tcp({.sport = Port(i),
             .dport = 443, .flags = 0x10}).Payload(g_payload).Build();
       }},
      {"IPv6/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Udp(Port(i), 53).Payload(g_payload)
             .Build();
       }},
      {"IPv6 HBH+frag/UDP",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).HopByHop().Fragment(0, true, i)
             .Udp(Port(i), 53).Payload(g_payload).Build();
       }},
      {"ICMPv6 echo",
       [](uint32_t i) {
         return PacketBuilder().Ethernet().Ipv6({.src = Src6(i)}).Icmpv6(128, 0, {0x12, 0x34, 0,
             1}).Payload(g_payload - 8).Build();
       }},
  };
  return kinds;
}

double ThreadCpuNs() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

// Mean ns per run of `repeat` runs of one frame; -1 on error. The kernel's own figure
// (opts.duration) is rounded down to whole nanoseconds, too coarse for 10 ns programs; the
// CPU time of this thread across the call (the runs happen in it) is as immune to other
// processes and has sub-ns resolution over a million runs (the call's fixed cost, ~1 us, is
// spread over them). For one run (new flows) the kernel's figure is used.
double RunRepeat(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat) {
  bpf_test_run_opts opts = {};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.repeat = repeat;
  double t0 = repeat > 1 ? ThreadCpuNs() : 0;
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return -1;
  if (repeat > 1) return (ThreadCpuNs() - t0) / repeat;
  return opts.duration;
}

// A bench-only object loaded from its embedded ELF bytes with its default knobs (slots for
// 16384 flows per half, flow cache on), programs looked up by name.
class BenchObject {
 public:
  BenchObject(const char* name, const void* elf, size_t size) : name_(name) {
    bpf_object_open_opts o = {};
    o.sz = sizeof(o);
    o.object_name = name;
    obj_ = bpf_object__open_mem(elf, size, &o);
    if (!obj_ || bpf_object__load(obj_) != 0) {
      std::fprintf(stderr, "datapath_bench: cannot load %s: %s\n", name, std::strerror(errno));
      if (obj_) bpf_object__close(obj_);
      obj_ = nullptr;
    }
  }
  ~BenchObject() {
    if (obj_) bpf_object__close(obj_);
  }
  BenchObject(const BenchObject&) = delete;
  BenchObject& operator=(const BenchObject&) = delete;
  bool ok() const { return obj_ != nullptr; }
  const char* name() const { return name_; }
  int fd(const char* prog) const {
    bpf_program* p = bpf_object__find_program_by_name(obj_, prog);
    return p ? bpf_program__fd(p) : -1;
  }

 private:
  const char* name_;
  bpf_object* obj_ = nullptr;
};

template <typename Skel>
std::unique_ptr<BenchObject> LoadBench(const char* name) {
  size_t size = 0;
  const void* elf = Skel::elf_bytes(&size);
  auto o = std::make_unique<BenchObject>(name, elf, size);
  return o->ok() ? std::move(o) : nullptr;
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
  long rounds = 15, repeat = 500000, flows = 20000, payload = 64;
  std::vector<std::string> compare;  // other builds of the object, measured alongside
  for (int i = 1; i < argc; i++) {
    if (std::strncmp(argv[i], "--compare=", 10) == 0) {
      compare.push_back(argv[i] + 10);
      continue;
    }
    if (!Flag(argv[i], "--rounds", &rounds) && !Flag(argv[i], "--repeat", &repeat) &&
        !Flag(argv[i], "--flows", &flows) && !Flag(argv[i], "--payload", &payload)) {
      std::fprintf(stderr, "usage: datapath_bench [--rounds=N] [--repeat=N] [--flows=N] "
                           "[--payload=N] [--compare=OBJECT.o]...\n");
      return 2;
    }
  }

  g_payload = payload < 8 ? 8 : static_cast<size_t>(payload);
  empty_bpf::empty* empty = empty_bpf::empty__open_and_load();
  if (!empty) {
    std::fprintf(stderr, "datapath_bench: cannot load the empty program: %s (root needed)\n",
                 std::strerror(errno));
    return 1;
  }
  int empty_fd = bpf_program__fd(empty->progs.tcflow_empty);
  // One CPU throughout: the programs keep a flow's slot and cache entry per CPU.
  tcflow::testing::PinToCpu(0);

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

  // Programs measured on the existing-flow path, interleaved round by round so the machine's
  // noise hits all alike. Columns 1-4 are the main table; the rest say where the time goes.
  struct Column {
    std::string name;
    int fd;
  };
  std::vector<std::unique_ptr<BenchObject>> bench_objects;
  auto bench = [&](std::unique_ptr<BenchObject> o) -> int {
    if (!o) return -1;
    int fd = o->fd("tcflow_ingress");
    bench_objects.push_back(std::move(o));
    return fd;
  };
  std::vector<Column> cols = {
      {"empty", empty_fd},
      {"tcflow_ingress", dp->ingress_fd()},
      {"tcflow_egress", dp->egress_fd()},
      {"ingress, cache off", dp_nc->ingress_fd()},
  };
  const size_t kMain = cols.size();
  std::vector<Column> cuts = {
      {"fast: parse", bench(LoadBench<tcflow_fast_cut1>("tcflow_fast_cut1"))},
      {"fast: +probe", bench(LoadBench<tcflow_fast_cut2>("tcflow_fast_cut2"))},
      {"fast: +meter", bench(LoadBench<tcflow_fast_cut3>("tcflow_fast_cut3"))},
  };
  for (const Column& c : cuts) cols.push_back(c);
  // --compare: another build of tcflow.bpf.o (e.g. the previous commit's), default knobs,
  // measured in the same rounds so a change is judged side by side, not across runs.
  std::vector<std::vector<char>> compare_elf;
  for (const std::string& path : compare) {
    std::ifstream in(path, std::ios::binary);
    compare_elf.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (compare_elf.back().empty()) {
      std::fprintf(stderr, "datapath_bench: cannot read %s\n", path.c_str());
      return 1;
    }
    const std::vector<char>& elf = compare_elf.back();
    cols.push_back({path, bench(std::make_unique<BenchObject>(path.c_str(), elf.data(),
                                                              elf.size()))});
  }
  for (const Column& c : cols) {
    if (c.fd < 0) {
      std::fprintf(stderr, "datapath_bench: program for %s missing\n", c.name.c_str());
      return 1;
    }
  }

  std::vector<std::vector<std::vector<double>>> res(Kinds().size());  // [kind][col][round]
  for (size_t ki = 0; ki < Kinds().size(); ki++) {
    // A flow of its own per kind (IPv6/UDP and IPv6 HBH+frag/UDP would otherwise share a
    // 5-tuple, and the second would measure a flow whose chain changes).
    Frame frame = Kinds()[ki].make(1 + static_cast<uint32_t>(ki));
    // Create the flow first so every timed run takes the existing-flow path.
    dp->Run(frame.bytes, TCFLOW_DIR_INGRESS);
    dp->Run(frame.bytes, TCFLOW_DIR_EGRESS);
    dp_nc->Run(frame.bytes, TCFLOW_DIR_INGRESS);
    for (const Column& c : cols) RunRepeat(c.fd, frame.bytes, 1);
    res[ki].assign(cols.size(), {});
    for (long r = 0; r < rounds; r++)
      for (size_t ci = 0; ci < cols.size(); ci++)
        res[ki][ci].push_back(RunRepeat(cols[ci].fd, frame.bytes, repeat));
  }

  // Ratio to the empty program within each round (the two ran back to back), median over
  // the rounds: steadier than a ratio of medians when the machine's load moves.
  auto ratio = [&](size_t ki, size_t ci) {
    std::vector<double> r;
    for (size_t i = 0; i < res[ki][ci].size(); i++) r.push_back(res[ki][ci][i] / res[ki][0][i]);
    return Median(r);
  };
  std::printf("EXISTING FLOW (ns/packet, median of rounds [min]; x = median over rounds of the "
              "ratio to the empty program run just before)\n");
  std::printf("%-18s %13s", "frame", "empty");
  for (size_t ci = 1; ci < kMain; ci++) std::printf(" %25s", cols[ci].name.c_str());
  std::printf("\n");
  double worst = 0, worst_min = 0;
  for (size_t ki = 0; ki < Kinds().size(); ki++) {
    const auto& v = res[ki];
    double me = Median(v[0]);
    std::printf("%-18s %5.1f [%5.1f]", Kinds()[ki].name.c_str(), me, Min(v[0]));
    for (size_t ci = 1; ci < kMain; ci++)
      std::printf(" %6.1f [%5.1f] (x%5.2f)", Median(v[ci]), Min(v[ci]), ratio(ki, ci));
    std::printf("\n");
    worst = std::max({worst, ratio(ki, 1), ratio(ki, 2)});
    worst_min = std::max({worst_min, Min(v[1]) / Min(v[0]), Min(v[2]) / Min(v[0])});
  }
  std::printf("worst existing-flow ratio (with cache): median x%.2f, of minima x%.2f (budget "
              "x2.50, aim x2.00)\n\n",
              worst, worst_min);

  // Static proxies, steadier than the clock: program size and the verifier's work.
  std::printf("PROGRAM SIZE (xlated BPF insns, jited bytes, insns the verifier processed)\n");
  for (size_t ci = 1; ci < cols.size(); ci++) {
    bpf_prog_info info = {};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(cols[ci].fd, &info, &len) != 0) continue;
    std::printf("%-22s %6u insns %7u B jited %8u verified\n", cols[ci].name.c_str(),
                info.xlated_prog_len / 8, info.jited_prog_len, info.verified_insns);
  }
  std::printf("\n");

  std::printf("WHERE THE TIME GOES (ns/packet over the empty program, medians [minima], ingress, "
              "bench-only builds)\n");
  std::printf("%-18s", "frame");
  for (size_t ci = 1; ci < cols.size(); ci++) std::printf(" %19s", cols[ci].name.c_str());
  std::printf("\n");
  for (size_t ki = 0; ki < Kinds().size(); ki++) {
    const auto& v = res[ki];
    std::printf("%-18s", Kinds()[ki].name.c_str());
    for (size_t ci = 1; ci < cols.size(); ci++)
      std::printf("      %+6.1f [%+5.1f]", Median(v[ci]) - Median(v[0]), Min(v[ci]) - Min(v[0]));
    std::printf("\n");
  }
  std::printf("\n");
  if (!compare.empty()) {
    // Each --compare object against this build, paired within each round: the ratio of their
    // costs over the empty program run in the same round.
    std::printf("COMPARE (cost over empty of this build's tcflow_ingress / the other build's, median "
                "of per-round ratios; < 1: this build is cheaper)\n");
    for (size_t ki = 0; ki < Kinds().size(); ki++) {
      const auto& v = res[ki];
      std::printf("%-18s", Kinds()[ki].name.c_str());
      for (size_t ci = cols.size() - compare.size(); ci < cols.size(); ci++) {
        std::vector<double> r;
        for (size_t i = 0; i < v[0].size(); i++) r.push_back((v[1][i] - v[0][i]) / (v[ci][i] - v[0][i]));
        std::printf("   %s x%.3f", cols[ci].name.c_str(), Median(r));
      }
      std::printf("\n");
    }
    std::printf("\n");
  }

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

  // Existing flows, many at once: each of N flows once per round, round-robin, which is what
  // a router with N active flows on one CPU shows the per-CPU flow cache (256 IPv4 / 128
  // IPv6 entries, direct-mapped) and the CPU's caches. One BPF_PROG_TEST_RUN per packet, so
  // the kernel's per-call figure is used, as for new flows.
  uint32_t next_id = 100;
  {
    std::printf("EXISTING FLOWS, MANY AT ONCE (ns/packet incl. per-call timing; each flow once "
                "per round, round-robin; median of %ld rounds; +ns over empty)\n",
                std::min(rounds, 9L));
    std::printf("%-18s %7s %7s %18s\n", "frame", "flows", "empty", "tcflow_ingress");
    for (size_t ki : {size_t{1}, size_t{3}}) {  // IPv4/UDP, IPv6/UDP
      for (long n : {64L, 256L, 1024L, 4096L, 16384L}) {
        if (n > flows) continue;
        std::vector<Frame> frames;
        for (long i = 0; i < n; i++) frames.push_back(Kinds()[ki].make(next_id++));
        dp->FreshGeneration();
        RunEach(dp->ingress_fd(), frames);  // every flow exists from here on
        std::vector<double> e, in;
        for (long r = 0; r < std::min(rounds, 9L); r++) {
          e.push_back(RunEach(empty_fd, frames));
          in.push_back(RunEach(dp->ingress_fd(), frames));
        }
        std::printf("%-18s %7ld %7.1f %8.1f (+%5.1f)\n", Kinds()[ki].name.c_str(), n,
                    Median(e), Median(in), Median(in) - Median(e));
      }
    }
    std::printf("\n");
  }

  std::printf("NEW FLOW (ns/packet incl. BPF_PROG_TEST_RUN per-call timing; +ns over empty)\n");
  std::printf("%-18s %7s %18s %18s\n", "frame", "empty", "tcflow_ingress", "tcflow_egress");
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
