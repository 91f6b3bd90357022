// The drain thread: on every drain interval it drains the kernel tables into the flow
// cache, ends what is due, and hands ended flows to the export worker (export_worker.h), a
// second thread that sends them to the exporters (IPFIX to every collector, the JSON-lines
// flow log) and marks them exported in the journal, while the next drain runs. The drain
// thread owns the cache and the drain; other threads reach them only through Call(), which
// queues a task for this thread and waits for it (an explicit hand-off, no shared state
// besides the interface table). The export-side objects are touched by worker jobs, or by
// this thread inside ExportWorker::Locked().

#ifndef TCFLOW_DAEMON_TCFLOWD_PIPELINE_H_
#define TCFLOW_DAEMON_TCFLOWD_PIPELINE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "daemon/cache/flow_cache.h"
#include "daemon/cache/flow_filter.h"
#include "daemon/control/json.h"
#include "daemon/drain/drainer.h"
#include "daemon/drain/event_reader.h"
#include "daemon/drain/stats_reader.h"
#include "daemon/flowlog/flow_log.h"
#include "daemon/ipfix/collector.h"
#include "daemon/loader/loader.h"
#include "daemon/metrics/render.h"
#include "daemon/metrics/traffic_metrics.h"
#include "daemon/tcflowd/export_worker.h"
#include "daemon/tcflowd/interface_table.h"
#include "daemon/tcflowd/journal.h"
#include "daemon/tcflowd/top_ranker.h"

namespace tcflow::tcflowd {

struct DrainTotals {
  uint64_t drains = 0;
  uint64_t drain_errors = 0;
  std::string last_drain_error;
  DrainResult last;
  uint64_t records = 0;     // increments drained
  uint64_t packets = 0;     // packets drained (flows + overflow records)
  uint64_t bytes = 0;
  uint64_t max_slots_wanted = 0;  // the fullest half seen
  absl::Time last_drain_time = absl::InfinitePast();
};

// Where a killed tcflowd leaves what it held.
struct CrashFiles {
  // The flow cache's state file (daemon/cache/cache_state.h); "" keeps the cache in
  // anonymous memory (a SIGKILL then loses what it held).
  std::string state;
  // A crash journal left by an earlier tcflowd version (journal.h): replayed into the
  // cache once, then removed. May not exist.
  std::string legacy_journal;
};

class Pipeline {
 public:
  // `loader` must outlive the pipeline. Creates every component; the thread starts at once
  // and drains every `config.drain_interval`.
  static absl::StatusOr<std::unique_ptr<Pipeline>> Start(const Loader& loader,
                                                         const config::Config& config,
                                                         const InterfaceTable* interfaces,
                                                         const CrashFiles& crash);
  ~Pipeline();  // stops the thread (no final drain: see Finish())

  // Runs `task` on the pipeline thread and waits for it to finish.
  void Call(const std::function<void()>& task);

  // --- Only on the pipeline thread (inside Call()) ---
  // Drains now, merges, expires and exports what ended.
  void DrainNow();
  // Ends the flows `filter` selects (after a drain, so the kernel's counts are included) and
  // exports them; returns how many records were ended.
  size_t Flush(const cache::FlowFilter& filter);
  // The flows in the cache after a drain, as the flow log's JSON objects.
  void DumpFlows(std::optional<uint32_t> ifindex, std::string* json_array);
  // Applies a new config's runtime part (timeouts, collectors, flow log, drain interval).
  absl::Status Apply(const config::Config& config);
  // Shutdown: drains twice (in-flight program runs of the last generation included), ends
  // every flow (forced end) and exports it, flushes the flow log.
  void Finish();
  // Writes the status members of the pipeline (no braces) into `w`.
  void WriteStatus(control::JsonWriter& w);
  // Copies what /metrics shows (daemon/metrics/render.h); the main loop renders it.
  void SnapshotMetrics(metrics::PipelineSnapshot* out);
  // `flowctl top`: drains, ranks (top_ranker.h), writes the reply's members (no braces)
  // and starts the next traffic window.
  void WriteTop(const TopQuery& query, control::JsonWriter& w);

  // Kernel events (NDP, deep extension chains) as JSON objects, handed to the main loop:
  // readable when some are waiting; TakeEvents() empties the queue (any thread).
  int events_fd() const { return events_fd_; }
  // When the last successful drain ended (any thread; InfinitePast before the first), so
  // /ready can tell a stuck pipeline without waiting on it.
  absl::Time last_drain_time() const {
    const int64_t ns = last_drain_unix_ns_.load(std::memory_order_relaxed);
    return ns == INT64_MIN ? absl::InfinitePast() : absl::FromUnixNanos(ns);
  }
  std::vector<std::string> TakeEvents(uint64_t* dropped);

 private:
  Pipeline() = default;
  void Run();
  void Tick();
  void ExportEnded();
  // Parts of Finish(), SnapshotMetrics() and WriteStatus() that read or drive the
  // export-side objects: run inside worker_->Locked().
  void FinishExport();
  void SnapshotCollectors(metrics::PipelineSnapshot* out);
  void WriteStatusLocked(control::JsonWriter& w);
  // On the worker thread: one batch of ended records to every exporter.
  // On the send thread: records to every exporter and the flow log.
  void ExportBatch(absl::Span<const FlowRecord> batch);
  // Runs `job` on the export side: queued behind the batches, or at once before the worker
  // exists (start-up).
  void OnExportSide(std::function<void()> job);
  void RefreshInterfaces();
  // The kernel's tcflow_stats plus what the drained flow slots add to them; false if the
  // kernel's could not be read.
  bool ReadKernelStats(tcflow_stats* out);
  void RefreshMeteringStats();
  absl::Status ArmTimer(absl::Duration interval);

  // Immutable after Start().
  const Loader* loader_ = nullptr;
  const InterfaceTable* interfaces_ = nullptr;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  int events_fd_ = -1;
  std::thread thread_;
  std::atomic<int64_t> last_drain_unix_ns_{INT64_MIN};

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex events_mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(events_mu_);
  uint64_t events_dropped_ ABSL_GUARDED_BY(events_mu_) = 0;

  // Owned by the pipeline thread.
  std::unique_ptr<Drainer> drainer_;
  std::unique_ptr<EventReader> event_reader_;
  uint64_t events_read_ = 0;
  void OnEvent(const tcflow_event& event);
  std::optional<StatsReader> stats_reader_;
  std::unique_ptr<cache::FlowCache> cache_;
  std::unique_ptr<ipfix::ExporterSet> exporters_;
  std::vector<std::string> collector_names_;
  std::vector<ipfix::CollectorOptions> collector_options_;
  uint64_t recovered_records_ = 0;  // from the crash state (and a legacy journal)
  uint64_t recovered_packets_ = 0;
  std::unique_ptr<flowlog::FlowLog> flow_log_;
  std::string flow_log_path_;
  std::map<uint32_t, std::string> names_;
  // The worker's copy of names_ (the flow log names interfaces on the worker thread).
  std::map<uint32_t, std::string> export_names_;
  uint64_t names_version_ = 0;
  std::vector<FlowRecord> ended_;
  uint64_t handed_position_ = 0;  // the cache's outbox position handed to the send thread
  DrainTotals totals_;
  tcflow_stats kernel_stats_ = {};
  // /metrics: traffic from every drained record, IPv6 flows in the cache by scope (the
  // cache tells the observer of keys added and removed), and each drain's duration.
  struct TrafficObserver : cache::FlowCacheObserver {
    metrics::TrafficMetrics* traffic = nullptr;
    void FlowAdded(const tcflow_flow_key& k) override { traffic->FlowCreated(k); }
    void FlowRemoved(const tcflow_flow_key& k) override { traffic->FlowRemoved(k); }
  };
  metrics::TrafficMetrics traffic_metrics_;
  TrafficObserver traffic_observer_;
  metrics::Histogram drain_duration_{metrics::DrainDurationBounds()};
  int64_t last_prune_ns_ = 0;
  absl::Duration drain_interval_;
  uint64_t records_exported_ = 0;
  uint64_t packets_exported_ = 0;
  uint64_t bytes_exported_ = 0;
  // `flowctl top`: when its traffic window (kept by the cache while someone watches; off
  // after top_window_keep_ without a request) started.
  absl::Time top_window_start_;
  absl::Duration top_window_keep_ = absl::Seconds(30);
  // Last member: destroyed first, after it ran what was queued (the objects its jobs use
  // are still there).
  std::unique_ptr<ExportWorker> worker_;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_PIPELINE_H_
