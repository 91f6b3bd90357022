// The cost of a /metrics scrape with 1,000 interfaces x 2 directions (issue #7 budget:
// <= 20 ms), and of the per-record aggregation that feeds it, each beside a yardstick
// measured in the same run:
//   snapshot  copying the traffic counters off the pipeline thread (what the drain thread
//             is blocked for), with name resolution;
//   render    the whole body from the snapshot (on the main loop), vs memcpy of a body of
//             the same size;
//   per record TrafficMetrics::Add over drained records spread over the 2,000 series in
//             random order, vs a loop that only sums packets and bytes;
//   IPv6 flows by scope kept incrementally (the cache observer: once per flow added and
//             removed, in a real FlowCache of 1 M IPv6 flows) vs computing them at scrape
//             time by walking the cache (FlowCache::ForEach).
// Times are the thread's CPU time; median and minimum of the rounds.
//
//   bazel run -c opt //tools/bench:metrics_render_bench [-- INTERFACES ROUNDS]
#include <netinet/in.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "daemon/cache/flow_cache.h"
#include "daemon/metrics/render.h"
#include "daemon/metrics/synthetic_snapshot.h"
#include "daemon/metrics/traffic_metrics.h"
#include "tools/bench/stats.h"

namespace {

using namespace tcflow::metrics;

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int CountLines(const std::string& s, bool samples_only) {
  int n = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (!samples_only || s[pos] != '#') ++n;
    pos = end + 1;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const int interfaces = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 30;

  std::map<uint32_t, std::string> names;
  TrafficMetrics traffic = SyntheticTraffic(interfaces, &names);
  PipelineSnapshot base = SyntheticSnapshot(interfaces);
  const ProcessInfo info = SyntheticProcessInfo();

  std::vector<double> snap_ms, render_ms, copy_ms;
  std::string body, copy;
  size_t body_size = 0;
  for (int r = 0; r < rounds; ++r) {
    double t0 = CpuSeconds();
    base.traffic = traffic.Snapshot(names);
    double t1 = CpuSeconds();
    snap_ms.push_back((t1 - t0) * 1e3);

    body.clear();
    body.shrink_to_fit();  // a scrape starts with an empty string
    t0 = CpuSeconds();
    RenderMetrics(base, info, &body);
    t1 = CpuSeconds();
    render_ms.push_back((t1 - t0) * 1e3);
    body_size = body.size();

    copy.clear();
    copy.shrink_to_fit();
    t0 = CpuSeconds();
    copy.assign(body.data(), body.size());
    t1 = CpuSeconds();
    copy_ms.push_back((t1 - t0) * 1e3);
  }

  // Per-record aggregation over every (interface, direction) in random order, one
  // drain-sized batch (4,096 records, DrainOptions::sink_batch) at a time, as the drain
  // hands them over right after writing them: 256 batches.
  std::mt19937_64 rng(7);
  constexpr int kBatches = 256;
  std::vector<tcflow::FlowRecord> records(4096);
  static const uint8_t kProtos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, 47};
  for (auto& rec : records) {
    rec = {};
    rec.key.ifindex = 100 + rng() % interfaces;
    rec.key.direction = rng() & 1;
    rec.key.ip_version = rng() & 1 ? 6 : 4;
    rec.key.protocol = kProtos[rng() % 5];
    rec.key.dst_port = rec.key.protocol == IPPROTO_ICMPV6 ? (128 + rng() % 10) << 8 : 443;
    rec.packets = 1 + rng() % 10;
    rec.bytes = rec.packets * 800;
  }
  std::vector<double> add_ns, sum_ns;
  uint64_t sink = 0;
  for (int r = 0; r < 5; ++r) {
    double t0 = CpuSeconds();
    for (int b = 0; b < kBatches; ++b) traffic.Add(records);
    double t1 = CpuSeconds();
    add_ns.push_back((t1 - t0) * 1e9 / (records.size() * kBatches));
    uint64_t p = 0, b = 0;
    t0 = CpuSeconds();
    for (int n = 0; n < kBatches; ++n) {
      for (const auto& rec : records) {
        p += rec.packets;
        b += rec.bytes;
        asm volatile("" : "+r"(p), "+r"(b));
      }
    }
    t1 = CpuSeconds();
    sink += p + b;
    sum_ns.push_back((t1 - t0) * 1e9 / (records.size() * kBatches));
  }

  // IPv6 flows by scope: 1 M flows into a cache with and without the observer.
  struct Observer : tcflow::cache::FlowCacheObserver {
    TrafficMetrics* t;
    void FlowAdded(const tcflow_flow_key& k) override { t->FlowCreated(k); }
    void FlowRemoved(const tcflow_flow_key& k) override { t->FlowRemoved(k); }
  };
  constexpr size_t kFlows = 1'000'000;
  std::vector<tcflow::FlowRecord> flows(kFlows);
  for (size_t i = 0; i < kFlows; ++i) {
    auto& f = flows[i];
    f = {};
    f.key.ifindex = 100 + i % interfaces;
    f.key.direction = i & 1;
    f.key.ip_version = 6;
    f.key.protocol = IPPROTO_UDP;
    static const uint8_t kFirst[] = {0x20, 0xfd, 0xfe, 0xff};
    f.key.dst_addr[0] = kFirst[i % 4];
    f.key.dst_addr[1] = f.key.dst_addr[0] == 0xfe ? 0x80 : 0;
    std::memcpy(f.key.src_addr + 8, &i, sizeof(i));
    f.key.src_port = static_cast<uint16_t>(i);
    f.packets = 1;
    f.bytes = 100;
    f.start_ms = f.end_ms = 1'700'000'000'000;
  }
  double merge_plain = 0, merge_observed = 0, flush_plain = 0, flush_observed = 0;
  std::vector<double> scan_ms;
  for (bool observed : {false, true}) {
    tcflow::cache::FlowCacheOptions o;
    o.max_flows = kFlows;
    tcflow::cache::FlowCache cache(o);
    TrafficMetrics t;
    Observer obs;
    obs.t = &t;
    if (observed) cache.set_observer(&obs);
    std::vector<tcflow::FlowRecord> ended;
    double t0 = CpuSeconds();
    cache.MergeBatch(flows, &ended);
    double t1 = CpuSeconds();
    (observed ? merge_observed : merge_plain) = (t1 - t0) * 1e9 / kFlows;
    if (!observed) {
      for (int r = 0; r < 5; ++r) {
        uint64_t by_scope[kScopeCount] = {};
        t0 = CpuSeconds();
        cache.ForEach([&](const tcflow::FlowRecord& f) {
          if (f.key.ip_version == 6) ++by_scope[Ipv6ScopeOf(f.key.dst_addr)];
        });
        t1 = CpuSeconds();
        scan_ms.push_back((t1 - t0) * 1e3);
        sink += by_scope[0];
      }
    }
    t0 = CpuSeconds();
    cache.FlushAll(&ended);
    t1 = CpuSeconds();
    (observed ? flush_observed : flush_plain) = (t1 - t0) * 1e9 / kFlows;
  }

  using tcflow::bench::Median;
  using tcflow::bench::Min;
  std::printf("metrics_render_bench: %d interfaces x 2 directions, %d rounds (thread CPU time)\n",
              interfaces, rounds);
  std::printf("  body: %zu bytes, %d lines, %d samples, %zu traffic series blocks\n", body_size,
              CountLines(body, false), CountLines(body, true), base.traffic.series.size());
  std::printf("  snapshot (pipeline thread):  median %7.3f ms  min %7.3f ms\n", Median(snap_ms),
              Min(snap_ms));
  std::printf("  render (main loop):          median %7.3f ms  min %7.3f ms   budget 20 ms\n",
              Median(render_ms), Min(render_ms));
  std::printf("  yardstick memcpy of body:    median %7.3f ms  min %7.3f ms   render/memcpy x%.1f\n",
              Median(copy_ms), Min(copy_ms), Median(render_ms) / Median(copy_ms));
  std::printf("  per record Add:              median %7.2f ns  min %7.2f ns\n", Median(add_ns),
              Min(add_ns));
  std::printf("  yardstick sum loop:          median %7.2f ns  min %7.2f ns   (checksum %llu)\n",
              Median(sum_ns), Min(sum_ns), static_cast<unsigned long long>(sink % 10));
  std::printf("  IPv6 flows by scope, 1 M flows in the cache:\n");
  std::printf("    incremental (observer): new flow %6.1f ns vs %6.1f ns without, end %6.1f vs %6.1f ns\n",
              merge_observed, merge_plain, flush_observed, flush_plain);
  std::printf("    at scrape time (ForEach): median %7.3f ms  min %7.3f ms per scrape\n",
              Median(scan_ms), Min(scan_ms));
  return 0;
}
