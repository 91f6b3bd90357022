// Flow cache throughput: merges per second (new flows and updates), expiry scan time and
// pressure eviction, for 100 k and 1 M flows, side by side with a baseline that does the
// bare minimum (absl::flat_hash_map<key bytes, FlowRecord> with absl::Hash, add counters,
// no expiry bookkeeping) in the same run. Times are the thread's CPU time.
//
//   bazel run -c opt //tools/bench:cache_bench
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <ctime>
#include <vector>

#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "daemon/cache/flow_cache.h"

namespace {

using tcflow::FlowRecord;
using tcflow::cache::FlowCache;
using tcflow::cache::FlowCacheOptions;
// Thread CPU time: the machine is shared, and wall time would count other processes' turns.
struct Clock {
  using time_point = std::chrono::duration<double>;
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return time_point(ts.tv_sec + ts.tv_nsec * 1e-9);
  }
};

constexpr int64_t kT0 = 1'700'000'000'000;

double Seconds(Clock::time_point a, Clock::time_point b) { return (b - a).count(); }

std::vector<FlowRecord> MakeIncrements(size_t n, std::mt19937_64& rng) {
  std::vector<FlowRecord> v(n);
  for (size_t i = 0; i < n; ++i) {
    FlowRecord& r = v[i];
    r.key.ifindex = 2 + rng() % 4;
    r.key.other_ifindex = 7;
    r.key.src_addr[10] = r.key.src_addr[11] = 0xff;
    r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
    const uint64_t a = rng();
    std::memcpy(r.key.src_addr + 12, &a, 4);
    std::memcpy(r.key.dst_addr + 12, reinterpret_cast<const char*>(&a) + 4, 4);
    r.key.src_port = static_cast<uint16_t>(rng());
    r.key.dst_port = 443;
    r.key.ip_version = 4;
    r.key.protocol = 17;
    r.packets = 3;
    r.bytes = 1500;
    r.start_ms = kT0;
    r.end_ms = kT0 + 50;
    r.min_ttl = r.max_ttl = 64;
  }
  return v;
}

// Resident set size in bytes.
int64_t Rss() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long pages = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

struct KeyBytes {
  std::array<char, sizeof(tcflow_flow_key)> b;
  bool operator==(const KeyBytes& o) const { return b == o.b; }
  template <typename H>
  friend H AbslHashValue(H h, const KeyBytes& k) {
    return H::combine_contiguous(std::move(h), k.b.data(), k.b.size());
  }
};

void Run(size_t n) {
  std::mt19937_64 rng(n);
  std::vector<FlowRecord> inc = MakeIncrements(n, rng);
  std::vector<FlowRecord> shuffled = inc;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  constexpr int kRounds = 5;

  FlowCacheOptions o;
  o.max_flows = n;
  o.idle_timeout_ms = 15'000;
  o.active_timeout_ms = 120'000;
  std::vector<FlowRecord> ended;
  ended.reserve(n);
  for (size_t i = 0; i < n; ++i) ended.emplace_back();  // touch it now: not the cache's memory
  ended.clear();
  const int64_t rss_before = Rss();
  FlowCache cache(o);
  auto t0 = Clock::now();
  cache.MergeBatch(inc, &ended);
  auto t1 = Clock::now();
  const int64_t rss_cache = Rss() - rss_before;
  for (int round = 0; round < kRounds; ++round) {
    for (auto& r : shuffled) r.end_ms += 100;  // later drains
    cache.MergeBatch(shuffled, &ended);
  }
  auto t2 = Clock::now();
  const double insert = n / Seconds(t0, t1);
  const double update = n * kRounds / Seconds(t1, t2);

  // A tick where nothing is due: the per-tick cost while the cache holds n flows.
  auto t3 = Clock::now();
  cache.Expire(kT0 + 1'000, &ended);
  auto t4 = Clock::now();
  const size_t before = ended.size();
  // Everything idle: ends all n flows.
  cache.Expire(kT0 + 60'000, &ended);
  auto t5 = Clock::now();
  const size_t expired = ended.size() - before;

  // Pressure: a cache of n/2 fed n new flows evicts n/2.
  FlowCacheOptions half = o;
  half.max_flows = n / 2;
  FlowCache small(half);
  ended.clear();
  auto t6 = Clock::now();
  small.MergeBatch(inc, &ended);
  auto t7 = Clock::now();

  // Baseline (after the cache, so its freed memory cannot flatter the cache's RSS).
  double base_insert, base_update;
  {
    absl::flat_hash_map<KeyBytes, FlowRecord> map;
    auto t0 = Clock::now();
    for (const auto& r : inc) {
      KeyBytes k;
      std::memcpy(k.b.data(), &r.key, sizeof(r.key));
      auto [it, fresh] = map.try_emplace(k, r);
      if (!fresh) it->second.packets += r.packets;
    }
    auto t1 = Clock::now();
    for (int round = 0; round < kRounds; ++round) {
      for (const auto& r : shuffled) {
        KeyBytes k;
        std::memcpy(k.b.data(), &r.key, sizeof(r.key));
        auto [it, fresh] = map.try_emplace(k, r);
        if (!fresh) {
          it->second.packets += r.packets;
          it->second.bytes += r.bytes;
          it->second.end_ms = std::max(it->second.end_ms, r.end_ms);
        }
      }
    }
    auto t2 = Clock::now();
    base_insert = n / Seconds(t0, t1);
    base_update = n * kRounds / Seconds(t1, t2);
  }

  std::printf("%8zu flows | baseline map: insert %6.2f M/s, update %6.2f M/s\n", n,
              base_insert / 1e6, base_update / 1e6);
  std::printf("%8zu flows | flow cache:   insert %6.2f M/s (%4.2fx), update %6.2f M/s (%4.2fx)"
              " = %5.1f ns/merge\n",
              n, insert / 1e6, insert / base_insert, update / 1e6, update / base_update,
              1e9 / update);
  std::printf("%8zu flows | expiry: idle tick %.3f ms; ending all %zu flows %.1f ms (%.1f ns/flow)\n",
              n, Seconds(t3, t4) * 1e3, expired, Seconds(t4, t5) * 1e3,
              Seconds(t4, t5) * 1e9 / std::max<size_t>(expired, 1));
  std::printf("%8zu flows | memory: %.1f MB resident for the cache (%.0f bytes/flow)\n", n,
              rss_cache / 1e6, static_cast<double>(rss_cache) / n);
  std::printf("%8zu flows | pressure: %zu evictions while inserting %zu flows: %.2f M inserts/s\n",
              n, small.stats().records_evicted(), n, n / Seconds(t6, t7) / 1e6);
}

}  // namespace

int main() {
  for (size_t n : {size_t{1'000}, size_t{100'000}, size_t{1'000'000}}) Run(n);
  return 0;
}
