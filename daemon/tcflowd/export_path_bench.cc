// The daemon's export path end to end: a kernel table full of flows (the real tables,
// loaded by daemon/loader, filled through the mmap as the programs would fill them) ->
// generation drain -> flow cache merge -> every flow ended -> IPFIX messages -> UDP
// datagrams to a collector socket on loopback (a thread counts them). Root (BPF).
//
//   bazel build -c opt //daemon/tcflowd:export_path_bench
//   sudo bazel-bin/daemon/tcflowd/export_path_bench --flows 1048576 --rounds 5
//   (--part 1 or 2: only that part; --merge-in-drain 1: the drain merges duplicate keys too,
//   as before tcflowd let the flow cache do it alone)
//
// Part 1, on one thread, side by side in each round, next to a memcpy of the same slots as a
// yardstick: the drained flows end four ways (see kPerKey... below; the per-key end is how
// FlushAll worked before it dropped the cache's structures at once), the last one with the
// cache in a crash-state file (tcflowd's default).
// Part 2, as tcflowd runs it: the drain thread and the send thread (ExportWorker) side by
// side, rounds back to back, with the cache in anonymous memory and in the crash state.
// Also prints the resident memory with the cache holding 100,000 flows.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "daemon/cache/flow_cache.h"
#include "daemon/drain/drainer.h"
#include "daemon/ipfix/collector.h"
#include "daemon/loader/loader.h"
#include "daemon/tcflowd/export_worker.h"
#include "tools/bench/stats.h"
#include "tools/bench/synthetic_slots.h"

namespace tcflow::tcflowd {
namespace {

using bench::Median;

}  // namespace

int Main(int argc, char** argv) {
  uint32_t flows = 1 << 20;
  int rounds = 5;
  bool merge_in_drain = false;  // tcflowd's pipeline: the flow cache merges
  int part = 0;                  // --part 1 or 2: only that part (0: both)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--flows") == 0) flows = std::strtoul(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--part") == 0) part = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--merge-in-drain") == 0) {
      merge_in_drain = std::strcmp(argv[i + 1], "1") == 0;
    }
  }
  LoaderOptions lo;
  lo.slots_per_half = flows;
  lo.pin_mode = PinMode::kNone;
  auto loader = Loader::Load(lo);
  if (!loader.ok()) {
    std::fprintf(stderr, "export_path_bench: %s\n", std::string(loader.status().message()).c_str());
    return 1;
  }
  DrainOptions drain_options;
  drain_options.merge_duplicates = merge_in_drain;
  auto drainer = Drainer::Create((*loader)->tables(), (*loader)->layout(), drain_options);
  if (!drainer.ok()) {
    std::fprintf(stderr, "export_path_bench: %s\n", std::string(drainer.status().message()).c_str());
    return 1;
  }
  Drainer* d = drainer->get();

  // The collector: a socket on loopback, drained by a thread.
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int big = 64 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t alen = sizeof(a);
  getsockname(rx, reinterpret_cast<sockaddr*>(&a), &alen);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> datagrams{0};
  // The stand-in collector only counts datagrams. A real collector runs on another machine,
  // so this thread should take as little as it can of the two cores the measured threads
  // run on: it fetches 64 datagrams per call and copies none of their bytes (MSG_TRUNC with
  // empty buffers still dequeues whole datagrams and reports their real length).
  std::thread receiver([&] {
    constexpr int kBatch = 64;
    mmsghdr msgs[kBatch];
    while (!stop) {
      pollfd p{rx, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      for (;;) {
        std::memset(msgs, 0, sizeof(msgs));
        const int n = recvmmsg(rx, msgs, kBatch, MSG_DONTWAIT | MSG_TRUNC, nullptr);
        if (n <= 0) break;
        datagrams += n;
      }
    }
  });
  ipfix::CollectorOptions co;
  co.address = absl::StrCat("127.0.0.1:", ntohs(a.sin_port));
  auto exporters = ipfix::ExporterSet::Create({co}, absl::Now());
  if (!exporters.ok()) {
    std::fprintf(stderr, "export_path_bench: %s\n", std::string(exporters.status().message()).c_str());
    return 1;
  }
  cache::FlowCacheOptions cache_options;
  cache_options.max_flows = std::max<size_t>(2 * flows, 1 << 20);
  cache::FlowCache anonymous_cache(cache_options);
  // tcflowd's default: the cache in a crash-state file on tmpfs (daemon/cache/cache_state.h).
  const std::string state_path = "/dev/shm/tcflowd_export_path_bench.state";
  std::vector<FlowRecord> recovered;
  unlink(state_path.c_str());
  auto durable_cache = cache::FlowCache::CreateDurable(cache_options, state_path, &recovered);
  if (durable_cache.ok()) (*durable_cache)->set_outbox_handoff(true);  // as tcflowd does
  if (!durable_cache.ok() || !(*durable_cache)->PublishState().ok()) {
    std::fprintf(stderr, "export_path_bench: cannot create %s\n", state_path.c_str());
    return 1;
  }
  std::vector<FlowRecord> ended;
  ended.reserve(flows);

  std::printf("export_path_bench: %u IPv4 flows per round, %d rounds, default template "
              "(66-byte records), 1472-byte datagrams, medians\n", flows, rounds);
  // How the drained flows end before they are exported, side by side in every round:
  // - kPerKey: every flow ended and erased from the cache's index one by one (how
  //   FlushAll worked before: shutdown and `flowctl flush --all`);
  // - kAll: FlushAll as it is now (the index, entries and wheels dropped at once);
  // - kIdle: by idle timeout through Expire(), as flows end while tcflowd runs;
  // - kAllState: kAll with the cache in the crash-state file (tcflowd's default), the
  //   records marked sent after the export.
  enum Variant { kPerKey, kAll, kIdle, kAllState, kVariants };
  const char* names[kVariants] = {"end per key (before)", "FlushAll (now)",
                                  "idle timeout", "FlushAll + crash state"};
  std::vector<double> rate[kVariants], end_ms[kVariants], export_ms[kVariants];
  std::vector<double> memcpy_rate, drain_ms;
  std::vector<tcflow_slot> copy(flows);
  int64_t expire_ms = 0;  // the idle variant's clock only moves forward
  uint64_t handed = (*durable_cache)->outbox_position();  // the crash-state cache's hand-off
  cache::FlowFilter every_bench_flow;
  every_bench_flow.ifindex = 2;  // all synthetic slots: the per-key path, same flows
  for (int r = 0; r < (part == 2 ? 0 : rounds); ++r) {
    for (int v = 0; v < kVariants; ++v) {
      cache::FlowCache& cache = v == kAllState ? **durable_cache : anonymous_cache;
      bench::FillCurrentHalf(d, flows);
      // Yardstick: copying the filled slots once.
      const tcflow_slot* base = d->slots() + d->layout().SlotIndex(d->generation() & 1, 0);
      absl::Time y0 = absl::Now();
      std::memcpy(copy.data(), base, sizeof(tcflow_slot) * flows);
      const double memcpy_s = absl::ToDoubleSeconds(absl::Now() - y0);
      if (v == kAll) memcpy_rate.push_back(flows / memcpy_s / 1e6);

      const uint64_t before = datagrams.load();
      size_t outbox_records = 0;
      int64_t last_end_ms = 0;
      absl::Time t0 = absl::Now();
      auto res = d->Drain([&](absl::Span<const FlowRecord> batch) {
        if (v == kIdle) {
          for (const FlowRecord& f : batch) last_end_ms = std::max(last_end_ms, f.end_ms);
        }
        cache.MergeBatch(batch, &ended);
      });
      absl::Time t1 = absl::Now();
      if (v == kPerKey) {
        cache.Flush(every_bench_flow, &ended);
      } else if (v == kIdle) {
        expire_ms = std::max(expire_ms + cache_options.idle_timeout_ms + 1000,
                             last_end_ms + cache_options.idle_timeout_ms + 1000);
        cache.Expire(expire_ms, &ended);
      } else {
        cache.FlushAll(&ended);
      }
      absl::Time tf = absl::Now();
      // The crash-state variant hands ended records over in the outbox (no copy).
      if (cache.outbox_handoff()) {
        const uint64_t to = cache.outbox_position();
        for (absl::Span<const FlowRecord> run : cache.OutboxRuns(handed, to)) {
          (*exporters).Export(run, absl::Now());
          outbox_records += run.size();
        }
        cache.MarkSent(to);
        handed = to;
      }
      (*exporters).Export(ended, absl::Now());
      absl::Time t2 = absl::Now();
      if (!res.ok() || ended.size() + outbox_records != flows || cache.size() != 0) {
        std::fprintf(stderr, "export_path_bench: %s: ended %zu of %u, %zu left\n", names[v],
                     ended.size(), flows, cache.size());
        return 1;
      }
      ended.clear();
      const double total = absl::ToDoubleSeconds(t2 - t0) - absl::ToDoubleSeconds(res->grace_wait);
      rate[v].push_back(flows / total / 1e6);
      end_ms[v].push_back(absl::ToDoubleMilliseconds(tf - t1));
      export_ms[v].push_back(absl::ToDoubleMilliseconds(t2 - tf));
      if (v == kAll) drain_ms.push_back(absl::ToDoubleMilliseconds(t1 - t0));
      absl::SleepFor(absl::Milliseconds(200));
      std::printf("  round %d %-22s %6.2f M records/s (end %.0f ms, export %.0f ms; grace %.1f ms "
                  "excluded), %llu datagrams\n",
                  r + 1, names[v], flows / total / 1e6, absl::ToDoubleMilliseconds(tf - t1),
                  absl::ToDoubleMilliseconds(t2 - tf), absl::ToDoubleMilliseconds(res->grace_wait),
                  static_cast<unsigned long long>(datagrams.load() - before));
    }
  }
  if (part != 2) {
    std::printf("memcpy of the slots (yardstick): %8.2f M slots/s; drain+merge %.0f ms\n",
                Median(memcpy_rate), Median(drain_ms));
  }
  for (int v = 0; v < (part == 2 ? 0 : kVariants); ++v) {
    std::printf("end to end, %-22s %6.2f M records/s (x%.2f of FlushAll; end %.0f ms, "
                "encode+send %.0f ms)\n",
                names[v], Median(rate[v]), Median(rate[v]) / Median(rate[kAll]),
                Median(end_ms[v]), Median(export_ms[v]));
  }

  // tcflowd's pipeline: the drain thread drains, merges and ends flows, and hands them to
  // the export worker (export_worker.h), which sends them while the next drain runs. Rounds
  // back to back; the filling of the table (the bench's stand-in for traffic) is not timed.
  // Per round: the drain thread's time (drain + merge + FlushAll + the hand-over, which
  // waits when the worker is behind) and the worker's time for the previous round's batch.
  // A two-stage pipeline's throughput is set by its slower stage: flows / max(medians).
  // The two variants (cache in anonymous memory, cache in the crash state) alternate round
  // by round, each with its own send thread, so that the host's noise, which moves by tens
  // of percent from one minute to the next here, hits both alike. Either way one drain
  // thread runs beside one sending thread, as in tcflowd.
  struct PipelineArm {
    bool with_state;
    cache::FlowCache* cache;
    std::vector<double> main_ms;
    std::vector<double> worker_ms;
    std::unique_ptr<ExportWorker> worker;
  };
  PipelineArm variants[2] = {{false, &anonymous_cache, {}, {}, nullptr},
                             {true, durable_cache->get(), {}, {}, nullptr}};
  absl::Mutex worker_mu;
  for (PipelineArm& v : variants) {
    v.worker = std::make_unique<ExportWorker>([&](std::vector<FlowRecord>& batch) {
      const absl::Time w0 = absl::Now();
      (*exporters).Export(batch, w0);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - w0);
      absl::MutexLock lock(&worker_mu);
      v.worker_ms.push_back(ms);
    });
  }
  const int prounds = part == 1 ? 0 : 2 * rounds + 1;
  for (int r = 0; r < 2 * prounds; ++r) {
    PipelineArm& v = variants[r % 2];
    cache::FlowCache& cache = *v.cache;
    bench::FillCurrentHalf(d, flows);
    const absl::Time t0 = absl::Now();
    auto res = d->Drain([&](absl::Span<const FlowRecord> batch) {
      cache.MergeBatch(batch, &ended);
    });
    cache.FlushAll(&ended);
    const uint64_t to = cache.outbox_position();
    const uint64_t in_outbox = cache.outbox_handoff() ? to - handed : 0;
    if (!res.ok() || ended.size() + in_outbox != flows) {
      std::fprintf(stderr, "export_path_bench: pipelined: ended %zu of %u\n", ended.size(), flows);
      return 1;
    }
    if (cache.outbox_handoff()) {
      // As tcflowd's drain thread: the send thread exports the outbox's records.
      v.worker->SubmitJob([&, from = handed, to] {
        const absl::Time w0 = absl::Now();
        for (absl::Span<const FlowRecord> run : cache.OutboxRuns(from, to)) {
          (*exporters).Export(run, w0);
        }
        cache.MarkSent(to);
        const double ms = absl::ToDoubleMilliseconds(absl::Now() - w0);
        absl::MutexLock lock(&worker_mu);
        v.worker_ms.push_back(ms);
      });
      handed = to;
    } else {
      v.worker->Submit(&ended);
    }
    v.main_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0 - res->grace_wait));
  }
  for (PipelineArm& v : variants) v.worker->WaitIdle();
  absl::SleepFor(absl::Milliseconds(200));
  if (prounds > 0) {
    for (PipelineArm& v : variants) {
      const double m = Median(v.main_ms);
      double w;
      {
        absl::MutexLock lock(&worker_mu);
        w = Median(v.worker_ms);
      }
      std::printf("pipelined, 2 threads%-16s %6.2f M records/s (drain thread %.0f ms: drain+merge+"
                  "FlushAll+hand-over; export worker %.0f ms: encode+send; %d rounds)%s\n",
                  v.with_state ? " + crash state" : "", flows / std::max(m, w) / 1e3, m, w,
                  prounds,
                  v.with_state ? absl::StrCat(", ", v.cache->stats().records_unprotected,
                                              " records unprotected").c_str()
                               : "");
    }
    // Both variants' ratio to the other, round pair by round pair (the noise they share
    // cancels): what the crash state costs the drain thread.
    std::vector<double> ratio;
    for (size_t i = 0; i < variants[0].main_ms.size() && i < variants[1].main_ms.size(); ++i) {
      ratio.push_back(variants[1].main_ms[i] / variants[0].main_ms[i]);
    }
    std::printf("crash state / anonymous, drain thread time, median of %zu round pairs: x%.3f\n",
                ratio.size(), Median(ratio));
  }

  // The two arms' datagrams interleave at the collector, so the check is on the totals.
  const auto& st = (*exporters).at(0).stats();
  std::printf("sent %llu records in %llu messages, lost %llu; the collector received %llu "
              "datagrams\n",
              static_cast<unsigned long long>(st.flow_records),
              static_cast<unsigned long long>(st.messages),
              static_cast<unsigned long long>(st.loss.records),
              static_cast<unsigned long long>(datagrams.load()));

  // Resident memory with 100,000 flows in the cache (a fresh cache of the default size).
  {
    const long rss0 = bench::ResidentKb();
    cache::FlowCache fresh(cache::FlowCacheOptions{});
    bench::FillCurrentHalf(d, std::min<uint32_t>(flows, 100000));
    auto res = d->Drain([&](absl::Span<const FlowRecord> b) { fresh.MergeBatch(b, &ended); });
    const long rss1 = bench::ResidentKb();
    std::printf("flow cache (default max_flows %zu) holding %zu flows: +%ld kB resident "
                "(process %ld kB)\n", cache::FlowCacheOptions{}.max_flows, fresh.size(),
                rss1 - rss0, rss1);
    (void)res;
  }
  stop = true;
  receiver.join();
  close(rx);
  durable_cache->reset();
  unlink(state_path.c_str());
  return 0;
}

}  // namespace tcflow::tcflowd

int main(int argc, char** argv) { return tcflow::tcflowd::Main(argc, argv); }
