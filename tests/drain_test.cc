// The generation drain on the real kernel, racing the programs: one thread per direction
// runs BPF_PROG_TEST_RUN over many flows while the main thread drains in a loop. Every
// packet run must come out of the drains exactly once, per flow, with each grace-period
// mechanism; with a tiny table the excess must land in the overflow records, exactly.
#include "daemon/drain/drainer.h"

#include <arpa/inet.h>
#include <linux/pkt_cls.h>

#include <atomic>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include <bpf/bpf.h>

#include "absl/time/clock.h"
#include "daemon/drain/grace_period.h"
#include "daemon/drain/stats_reader.h"
#include "daemon/loader/loader.h"
#include "gtest/gtest.h"
#include "tests/drain_test_util.h"

namespace tcflow {
namespace {

using testing::TestRun;

// direction, IP version, flow id, source port
using FlowId = std::tuple<uint8_t, uint8_t, uint32_t, uint16_t>;

struct Totals {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  int drains = 0;  // how many drains carried part of this flow
  bool operator==(const Totals& o) const { return packets == o.packets && bytes == o.bytes; }
};

struct Flow {
  FlowId id;
  std::vector<uint8_t> frame;
  uint64_t ip_bytes;
};

FlowId IdOf(const FlowRecord& r) {
  uint32_t id = static_cast<uint32_t>(r.key.src_addr[12]) << 24 |
                static_cast<uint32_t>(r.key.src_addr[13]) << 16 |
                static_cast<uint32_t>(r.key.src_addr[14]) << 8 | r.key.src_addr[15];
  if (r.key.ip_version == 4) id &= 0xffff;  // 10.0.hi.lo
  return {r.key.direction, r.key.ip_version, id, r.key.src_port};
}

std::vector<Flow> MakeFlows(uint8_t direction, int count) {
  std::vector<Flow> flows;
  for (int i = 0; i < count; ++i) {
    bool v6 = i % 3 == 2;
    uint32_t id = 1 + i;
    uint16_t sport = static_cast<uint16_t>(20000 + direction * 1000 + i % 7);
    size_t payload = 10 + i % 50;
    Flow f;
    f.id = {direction, v6 ? 6 : 4, id, sport};
    f.frame = v6 ? testing::Udp6Frame(id, sport, payload) : testing::Udp4Frame(id, sport, payload);
    f.ip_bytes = (v6 ? 40 : 20) + 8 + payload;
    flows.push_back(std::move(f));
  }
  return flows;
}

// Runs frames until `stop`; returns what it ran, per flow. Any verdict but UNSPEC or a
// changed frame fails the test.
std::map<FlowId, Totals> Produce(int prog_fd, const std::vector<Flow>& flows,
                                 const std::atomic<bool>& stop, int* failures) {
  std::map<FlowId, Totals> ran;
  std::vector<uint8_t> out;
  for (uint64_t iter = 0; !stop.load(std::memory_order_relaxed); ++iter) {
    const Flow& f = flows[iter % flows.size()];
    uint32_t repeat = 1 + iter % 7;
    int v = TestRun(prog_fd, f.frame, repeat, (iter % 64 == 0) ? &out : nullptr);
    if (v != TC_ACT_UNSPEC || (iter % 64 == 0 && out != f.frame)) {
      ++*failures;
      continue;
    }
    Totals& t = ran[f.id];
    t.packets += repeat;
    t.bytes += repeat * f.ip_bytes;
  }
  return ran;
}

struct RaceResult {
  std::map<FlowId, Totals> ran, drained;
  uint64_t overflow_packets = 0;
  uint64_t unexpected_records = 0;
  uint64_t duplicates = 0;
  int drains = 0;
  int failures = 0;
  tcflow_stats stats_before, stats_after;
};

RaceResult Race(const Loader& loader, GraceMode grace, int flows_per_direction,
                absl::Duration run_for, bool merge_duplicates = true) {
  RaceResult res;
  DrainOptions opts;
  opts.grace = grace;
  opts.merge_duplicates = merge_duplicates;
  opts.sink_batch = 97;  // odd size: exercises batch boundaries
  auto drainer = Drainer::Create(loader.tables(), loader.layout(), opts);
  EXPECT_TRUE(drainer.ok()) << drainer.status();
  if (!drainer.ok()) return res;
  if (grace != GraceMode::kAuto) {
    EXPECT_EQ((*drainer)->grace_mode(), grace);
  }
  auto stats = StatsReader::Create(loader.tables().stats());
  EXPECT_TRUE(stats.ok());
  EXPECT_TRUE(stats->Read(&res.stats_before).ok());

  auto sink = [&](absl::Span<const FlowRecord> batch) {
    for (const FlowRecord& r : batch) {
      if (r.key.key_flags & TCFLOW_KEY_OVERFLOW) {
        res.overflow_packets += r.packets;
        continue;
      }
      if (r.key.protocol != 17 || r.key.dst_port != 53) ++res.unexpected_records;
      Totals& t = res.drained[IdOf(r)];
      t.packets += r.packets;
      t.bytes += r.bytes;
      ++t.drains;
    }
  };
  auto drain_once = [&] {
    auto r = (*drainer)->Drain(sink);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) res.duplicates += r->duplicates;
    ++res.drains;
  };

  std::vector<Flow> in = MakeFlows(TCFLOW_DIR_INGRESS, flows_per_direction);
  std::vector<Flow> eg = MakeFlows(TCFLOW_DIR_EGRESS, flows_per_direction);
  std::atomic<bool> stop{false};
  std::map<FlowId, Totals> ran_in, ran_eg;
  int fail_in = 0, fail_eg = 0;
  std::thread t_in([&] { ran_in = Produce(loader.ingress_prog_fd(), in, stop, &fail_in); });
  std::thread t_eg([&] { ran_eg = Produce(loader.egress_prog_fd(), eg, stop, &fail_eg); });
  absl::Time deadline = absl::Now() + run_for;
  while (absl::Now() < deadline) drain_once();
  stop = true;
  t_in.join();
  t_eg.join();
  drain_once();  // what the programs counted after the last racing drain

  res.ran = ran_in;
  res.ran.insert(ran_eg.begin(), ran_eg.end());
  res.failures = fail_in + fail_eg;
  EXPECT_TRUE(stats->Read(&res.stats_after).ok());
  // Plus what the drained flow slots add: the counters the programs keep per flow.
  StatsReader::Add((*drainer)->slot_stats(), &res.stats_after);
  return res;
}

uint64_t Sum(const std::map<FlowId, Totals>& m) {
  uint64_t s = 0;
  for (const auto& [id, t] : m) s += t.packets;
  return s;
}

// Grace mechanism, and whether the drain merges duplicate keys itself (off: tcflowd's
// pipeline, where the flow cache merges; the sums per flow must be exact either way).
struct RaceParam {
  GraceMode grace;
  bool merge;
};

class DrainRaceTest : public ::testing::TestWithParam<RaceParam> {};

TEST_P(DrainRaceTest, EveryPacketDrainedExactlyOncePerFlow) {
  const GraceMode grace = GetParam().grace;
  if (grace == GraceMode::kMembarrier && !GracePeriod::Create(grace).ok()) {
    GTEST_SKIP() << "membarrier(MEMBARRIER_CMD_GLOBAL) not usable on this kernel/CPU set";
  }
  LoaderOptions o;
  o.slots_per_half = 4096;
  o.index_factor = 2;
  auto loader = Loader::Load(o);
  ASSERT_TRUE(loader.ok()) << loader.status();

  RaceResult r = Race(**loader, grace, 600, absl::Seconds(3), GetParam().merge);
  EXPECT_EQ(r.failures, 0);
  ASSERT_FALSE(r.ran.empty());
  EXPECT_EQ(r.overflow_packets, 0u) << "the table was large enough";
  EXPECT_EQ(r.unexpected_records, 0u);
  // Exact, flow by flow.
  EXPECT_EQ(r.drained.size(), r.ran.size());
  int split = 0;
  for (const auto& [id, want] : r.ran) {
    auto it = r.drained.find(id);
    ASSERT_NE(it, r.drained.end()) << "flow never drained";
    EXPECT_EQ(it->second.packets, want.packets);
    EXPECT_EQ(it->second.bytes, want.bytes);
    if (it->second.drains > 1) ++split;
  }
  EXPECT_EQ(Sum(r.drained), Sum(r.ran));
  // The stats (per-CPU counters + the drained flow slots) agree with the frames run.
  uint64_t seen = (r.stats_after.packets[0] + r.stats_after.packets[1]) -
                  (r.stats_before.packets[0] + r.stats_before.packets[1]);
  EXPECT_EQ(seen, Sum(r.ran));
  EXPECT_EQ(r.stats_after.flows_not_created, r.stats_before.flows_not_created);
  // The race was real: many drains, most flows spread over several of them.
  EXPECT_GE(r.drains, 20);
  EXPECT_GT(split, static_cast<int>(r.ran.size()) / 2);
  std::printf("grace %s: %d drains, %zu flows, %llu packets, %llu duplicate slots merged\n",
              GraceModeName(grace), r.drains, r.ran.size(),
              static_cast<unsigned long long>(Sum(r.ran)),
              static_cast<unsigned long long>(r.duplicates));
}

INSTANTIATE_TEST_SUITE_P(Grace, DrainRaceTest,
                         ::testing::Values(RaceParam{GraceMode::kMembarrier, true},
                                           RaceParam{GraceMode::kMapUpdate, true},
                                           RaceParam{GraceMode::kMembarrier, false}),
                         [](const auto& info) {
                           return std::string(info.param.grace == GraceMode::kMembarrier
                                                  ? "Membarrier"
                                                  : "MapUpdate") +
                                  (info.param.merge ? "" : "ConsumerMerges");
                         });

TEST(DrainOverflowTest, TinyTableFoldsTheRestIntoOverflowRecordsExactly) {
  LoaderOptions o;
  o.slots_per_half = 16;
  auto loader = Loader::Load(o);
  ASSERT_TRUE(loader.ok()) << loader.status();

  RaceResult r = Race(**loader, GraceMode::kAuto, 200, absl::Seconds(2));
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.unexpected_records, 0u);
  for (const auto& [id, got] : r.drained) {
    auto it = r.ran.find(id);
    ASSERT_NE(it, r.ran.end());
    EXPECT_LE(got.packets, it->second.packets);
  }
  EXPECT_GT(r.overflow_packets, 0u);
  // Every packet is in a flow record or an overflow record, exactly.
  EXPECT_EQ(Sum(r.drained) + r.overflow_packets, Sum(r.ran));
  EXPECT_EQ(r.stats_after.flows_not_created - r.stats_before.flows_not_created,
            r.overflow_packets);
  EXPECT_EQ(r.stats_after.overflow_lost, r.stats_before.overflow_lost);
  // The drain deleted the overflow index entries of the generations it drained.
  uint64_t current = 0;
  {
    auto d = Drainer::Create((*loader)->tables(), (*loader)->layout());
    ASSERT_TRUE(d.ok());
    current = (*d)->generation();
  }
  tcflow_overflow_key k, next;
  const void* prev = nullptr;
  int left = 0;
  while (bpf_map_get_next_key((*loader)->tables().overflow(), prev, &next) == 0) {
    EXPECT_GE(next.generation, current) << "stale overflow index entry";
    ++left;
    k = next;
    prev = &k;
  }
  EXPECT_EQ(left, 0) << "nothing ran after the last drain";
  std::printf("tiny table: %d drains, %llu packets, %llu in overflow records\n", r.drains,
              static_cast<unsigned long long>(Sum(r.ran)),
              static_cast<unsigned long long>(r.overflow_packets));
}

TEST(DrainEvictionTest, SmallIndexUnderPressureStillExact) {
  // Index entries = 2 x slots per half, and two generations of 1200 flows nearly fill it:
  // the LRU evicts, and an evicted live flow gets a second slot that the drain must merge.
  LoaderOptions o;
  o.slots_per_half = 1400;
  o.index_factor = 2;
  auto loader = Loader::Load(o);
  ASSERT_TRUE(loader.ok()) << loader.status();
  RaceResult r = Race(**loader, GraceMode::kAuto, 600, absl::Seconds(2));
  EXPECT_EQ(r.failures, 0);
  EXPECT_EQ(r.unexpected_records, 0u);
  EXPECT_EQ(Sum(r.drained) + r.overflow_packets, Sum(r.ran));
  for (const auto& [id, want] : r.ran) {
    auto it = r.drained.find(id);
    ASSERT_NE(it, r.drained.end());
    if (r.overflow_packets == 0) {
      EXPECT_EQ(it->second, want);  // exact per flow
    } else {
      // Duplicates used up the table: some packets went to the overflow records.
      EXPECT_LE(it->second.packets, want.packets);
    }
  }
  std::printf("eviction pressure: %d drains, %llu packets, %llu duplicate slots merged, "
              "%llu in overflow records\n", r.drains,
              static_cast<unsigned long long>(Sum(r.ran)),
              static_cast<unsigned long long>(r.duplicates),
              static_cast<unsigned long long>(r.overflow_packets));
}

TEST(DrainRecoveryTest, HalfLeftByACrashedDrainIsCollectedByTheNext) {
  LoaderOptions o;
  o.slots_per_half = 1000;
  auto loader = Loader::Load(o);
  ASSERT_TRUE(loader.ok()) << loader.status();
  const Loader& l = **loader;
  std::vector<Flow> flows = MakeFlows(TCFLOW_DIR_INGRESS, 10);
  for (const Flow& f : flows) ASSERT_EQ(TestRun(l.ingress_prog_fd(), f.frame, 3), TC_ACT_UNSPEC);
  {
    // A drainer that flips and dies before reading anything.
    auto crashed = Drainer::Create(l.tables(), l.layout());
    ASSERT_TRUE(crashed.ok());
    tcflow_control* ctl = (*crashed)->control();
    __atomic_store_n(&ctl->generation, ctl->generation + 1, __ATOMIC_SEQ_CST);
  }
  // The programs now write the other half; both must come out, exactly once.
  for (const Flow& f : flows) ASSERT_EQ(TestRun(l.ingress_prog_fd(), f.frame, 2), TC_ACT_UNSPEC);
  auto d = Drainer::Create(l.tables(), l.layout());
  ASSERT_TRUE(d.ok());
  std::map<FlowId, uint64_t> got;
  auto sink = [&](absl::Span<const FlowRecord> b) {
    for (const FlowRecord& r : b) got[IdOf(r)] += r.packets;
  };
  auto r = (*d)->Drain(sink);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->records, 20u) << "one record per flow and generation";
  ASSERT_EQ(got.size(), flows.size());
  for (const Flow& f : flows) EXPECT_EQ(got[f.id], 5u);
  // Nothing left behind: a second drain finds both halves empty.
  got.clear();
  r = (*d)->Drain(sink);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records, 0u);
  EXPECT_TRUE(got.empty());
}

TEST(GracePeriodTest, MapOfMapsUpdateWaitsForAGracePeriodOnThisKernel) {
  // The fallback relies on the kernel waiting for running programs (synchronize_rcu) when
  // user space updates a map-of-maps. An ordinary array update does not wait; if this
  // kernel stopped waiting, the update would cost about the same.
  auto g = GracePeriod::Create(GraceMode::kMapUpdate);
  ASSERT_TRUE(g.ok()) << g.status();
  int arr = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tcflow_gp_t", 4, 4, 1, nullptr);
  ASSERT_GE(arr, 0);
  ScopedFd arr_fd(arr);
  absl::Duration wait = absl::InfiniteDuration(), plain = absl::InfiniteDuration();
  for (int i = 0; i < 5; ++i) {
    absl::Time t0 = absl::Now();
    ASSERT_TRUE(g->Wait().ok());
    absl::Time t1 = absl::Now();
    uint32_t k = 0, v = i;
    ASSERT_EQ(bpf_map_update_elem(arr, &k, &v, BPF_ANY), 0);
    absl::Time t2 = absl::Now();
    wait = std::min(wait, t1 - t0);
    plain = std::min(plain, t2 - t1);
  }
  std::printf("map-of-maps update %s, plain array update %s\n",
              absl::FormatDuration(wait).c_str(), absl::FormatDuration(plain).c_str());
  EXPECT_GT(wait, 10 * plain);
}

}  // namespace
}  // namespace tcflow
