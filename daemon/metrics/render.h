// The whole /metrics body (the names of /work/helpers/metrics_contract.md, issue #7),
// rendered from typed snapshots: what the pipeline thread copies (PipelineSnapshot) and
// what the main loop knows (ProcessInfo). Rendering runs on the main loop, off the pipeline.

#ifndef TCFLOW_DAEMON_METRICS_RENDER_H_
#define TCFLOW_DAEMON_METRICS_RENDER_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "bpf/tcflow_abi.h"
#include "daemon/metrics/traffic_metrics.h"

namespace tcflow::metrics {

// A fixed-bucket histogram (one owner thread).
class Histogram {
 public:
  explicit Histogram(absl::Span<const double> bounds)
      : bounds_(bounds.begin(), bounds.end()), counts_(bounds.size() + 1) {}
  void Observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
  }
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket, last: > all
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

// tcflow_drain_duration_seconds buckets: 0.5 ms .. 1 s.
absl::Span<const double> DrainDurationBounds();

struct CollectorMetrics {
  std::string name;  // the configured collector name
  uint64_t records = 0, messages = 0, bytes = 0;
  uint64_t records_not_sent = 0, messages_not_sent = 0;
  uint64_t template_refreshes = 0;
  bool up = false;
};

// Copied on the pipeline thread (Pipeline::MetricsSnapshot).
struct PipelineSnapshot {
  TrafficSnapshot traffic;
  bool kernel_valid = false;  // the kernel counters could be read
  tcflow_stats kernel = {};
  uint64_t table_flows = 0, table_capacity = 0;
  uint64_t cache_flows = 0, cache_capacity = 0;
  std::array<uint64_t, 6> flows_ended = {};  // by FlowEndReason value; [0] unused
  // The crash state (daemon/cache/cache_state.h): records ended while it could not hold
  // them, and new flows its file system had no room for.
  uint64_t crash_state_unprotected = 0, crash_state_storage_full = 0;
  Histogram drain_duration{DrainDurationBounds()};
  uint64_t drain_errors = 0;
  double last_drain_timestamp = 0;  // unix seconds; 0: no drain yet
  std::vector<CollectorMetrics> collectors;
};

// Known on the main loop. tcflow_ready, tcflow_interface_attached and
// tcflow_filter_repairs_total are not here: the health code (daemon/tcflowd/health.h)
// appends them after this body.
struct ProcessInfo {
  std::string version;
  std::string revision;
  double start_time_seconds = 0;
  uint64_t reloads_ok = 0, reloads_error = 0;
  bool last_reload_success = true;
};

// Appends the exposition text to `out`.
void RenderMetrics(const PipelineSnapshot& pipeline, const ProcessInfo& process,
                   std::string* out);

}  // namespace tcflow::metrics

#endif  // TCFLOW_DAEMON_METRICS_RENDER_H_
