// What one `flowctl top` refresh costs tcflowd with a big flow cache, side by side with the
// alternative of sending every flow (`dump`) and with the drain's own merge:
//   - dump:      every flow as JSON (what a client-side top would fetch each refresh)
//   - top/total: RankTop over the cache without a window (a client's first frame)
//   - top/rate:  RankTop with a window in which every flow was active (worst case)
//   - top/rate10k: the same with 10,000 active flows (a busy but ordinary second)
//   - merge with/without the window: the flow cache merging one drain's increments (one per
//     flow) while someone watches top (the window array updated too) and while nobody does.
// No kernel, no root. Also prints the window's memory (RSS growth) at that many flows.
//
//   bazel run -c opt //daemon/tcflowd:top_bench -- --flows 1000000 --rounds 5

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "daemon/cache/flow_cache.h"
#include "daemon/flowlog/flow_json.h"
#include "daemon/tcflowd/top_ranker.h"
#include "tools/bench/stats.h"

namespace tcflow::tcflowd {
namespace {

double Ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Distinct IPv4 and IPv6 UDP flows (one in four IPv6), like a drain would produce them.
std::vector<FlowRecord> Flows(size_t n, int64_t now_ms) {
  std::mt19937_64 rng(42);
  std::vector<FlowRecord> out(n);
  for (size_t i = 0; i < n; ++i) {
    FlowRecord& r = out[i];
    std::memset(&r.key, 0, sizeof(r.key));
    r.key.ifindex = 2 + i % 4;
    r.key.ip_version = i % 4 == 0 ? 6 : 4;
    r.key.protocol = 17;
    if (r.key.ip_version == 4) {
      r.key.src_addr[10] = r.key.src_addr[11] = r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
    } else {
      r.key.src_addr[0] = r.key.dst_addr[0] = 0xfd;
    }
    const uint32_t v = static_cast<uint32_t>(i);
    std::memcpy(r.key.src_addr + 12, &v, 4);
    r.key.dst_addr[15] = 1;
    r.key.src_port = static_cast<uint16_t>(1024 + i % 60000);
    r.key.dst_port = 443;
    r.packets = 1 + rng() % 1000;
    r.bytes = r.packets * (64 + rng() % 1400);
    r.start_ms = now_ms - 1000;
    r.end_ms = now_ms;
  }
  return out;
}

}  // namespace

int Main(int argc, char** argv) {
  size_t flows = 1'000'000;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--flows") == 0) flows = std::strtoul(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  const int64_t now_ms = 1'795'000'000'000;
  const std::vector<FlowRecord> records = Flows(flows, now_ms);
  cache::FlowCacheOptions options;
  options.max_flows = flows + flows / 8;
  options.idle_timeout_ms = 3'600'000;
  options.active_timeout_ms = 3'600'000;
  cache::FlowCache cache(options);
  std::vector<FlowRecord> ended;
  cache.MergeBatch(records, &ended);
  std::printf("top_bench: %zu flows in the cache (%zu ended while filling)\n", cache.size(),
              ended.size());

  auto visit = [&](absl::FunctionRef<void(const FlowRecord&, const cache::FlowWindowCounts&)> f) {
    cache.ForEachWithWindow(f);
  };
  TopQuery query;
  query.n = 20;
  const long rss_before = bench::ResidentKb();
  cache.EnableWindow(true);
  const long rss_after = bench::ResidentKb();
  const auto some = absl::MakeConstSpan(records).subspan(0, std::min<size_t>(10'000, flows));

  std::vector<double> dump_ms, total_ms, rate_ms, rate10k_ms, clear_ms, on_ms, off_ms;
  size_t dump_bytes = 0, reply_bytes = 0;
  uint64_t sink = 0;
  for (int round = 0; round < rounds; ++round) {
    {
      auto t = std::chrono::steady_clock::now();
      std::string json;
      json.push_back('[');
      cache.ForEach([&](const FlowRecord& r) {
        if (json.size() > 1) json.push_back(',');
        flowlog::AppendFlowObject(r, nullptr, &json);
      });
      json.push_back(']');
      dump_ms.push_back(Ms(t));
      dump_bytes = json.size();
    }
    {
      TopQuery q = query;
      q.by_rate = false;
      auto t = std::chrono::steady_clock::now();
      TopResult r = RankTop(visit, false, q);
      total_ms.push_back(Ms(t));
      sink += r.rows.size();
      std::string reply;
      for (const TopRow& row : r.rows) flowlog::AppendFlowObject(row.record, nullptr, &reply);
      reply_bytes = reply.size() + r.rows.size() * 40;  // + the window members
    }
    {
      // One drain's increments with the window on (every flow active), then ranked.
      cache.ClearWindow();
      auto t = std::chrono::steady_clock::now();
      cache.MergeBatch(records, &ended);
      on_ms.push_back(Ms(t));
      t = std::chrono::steady_clock::now();
      TopResult r = RankTop(visit, true, query);
      rate_ms.push_back(Ms(t));
      sink += r.active_flows;
      t = std::chrono::steady_clock::now();
      cache.ClearWindow();
      clear_ms.push_back(Ms(t));
      cache.MergeBatch(some, &ended);
      t = std::chrono::steady_clock::now();
      r = RankTop(visit, true, query);
      rate10k_ms.push_back(Ms(t));
      sink += r.active_flows;
    }
    {
      // The same merge with nobody watching.
      cache.EnableWindow(false);
      auto t = std::chrono::steady_clock::now();
      cache.MergeBatch(records, &ended);
      off_ms.push_back(Ms(t));
      cache.EnableWindow(true);
    }
  }
  using bench::Median;
  using bench::Min;
  std::printf("per refresh with %zu flows (median / min of %d rounds, ms):\n", flows, rounds);
  std::printf("  dump (all flows as JSON, %.0f MB)      %8.1f / %8.1f   (x%.0f of top/rate)\n",
              dump_bytes / 1e6, Median(dump_ms), Min(dump_ms),
              Median(dump_ms) / Median(rate_ms));
  std::printf("  top/total (first frame, n=20)          %8.1f / %8.1f\n", Median(total_ms),
              Min(total_ms));
  std::printf("  top/rate, every flow active            %8.1f / %8.1f\n", Median(rate_ms),
              Min(rate_ms));
  std::printf("  top/rate, 10,000 flows active          %8.1f / %8.1f\n", Median(rate10k_ms),
              Min(rate10k_ms));
  std::printf("  clearing the window                    %8.1f / %8.1f\n", Median(clear_ms),
              Min(clear_ms));
  std::printf("  reply of n=20                           %6zu bytes\n", reply_bytes);
  std::printf("per drain while top is watched:\n");
  std::printf("  cache merge of %zu increments, window on  %8.1f / %8.1f   (x%.2f of off)\n",
              flows, Median(on_ms), Min(on_ms), Median(on_ms) / Median(off_ms));
  std::printf("  the same, window off (nobody watches)        %8.1f / %8.1f\n", Median(off_ms),
              Min(off_ms));
  std::printf("window memory with %zu active flows: %.0f MB (RSS growth)\n", flows,
              (rss_after - rss_before) / 1024.0);
  return sink == 0 ? 1 : 0;
}

}  // namespace tcflow::tcflowd

int main(int argc, char** argv) { return tcflow::tcflowd::Main(argc, argv); }
