#include "daemon/tcflowd/health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "daemon/metrics/text_writer.h"

namespace tcflow::tcflowd {
namespace {

std::string FormatInterval(absl::Duration d) {
  if (d < absl::Seconds(1)) return absl::StrCat(absl::ToInt64Milliseconds(d), " ms");
  return absl::StrFormat("%.3g s", absl::ToDoubleSeconds(d));
}

}  // namespace

absl::Duration MaxDrainAge(absl::Duration drain_interval) {
  return std::max(3 * drain_interval, absl::Seconds(2));
}

Readiness EvaluateReadiness(const HealthInputs& in) {
  std::string reasons;
  for (const HookHealth& h : in.hooks) {
    if (h.attached) continue;
    absl::StrAppend(&reasons, h.interface, " ", h.direction, ": ",
                    h.problem.empty() ? "not attached" : h.problem, "\n");
  }
  if (in.last_drain == absl::InfinitePast()) {
    absl::StrAppend(&reasons, "starting\n");
  } else if (in.now - in.last_drain > MaxDrainAge(in.drain_interval)) {
    absl::StrAppend(&reasons,
                    absl::StrFormat("last drain %.1f s ago (interval %s)",
                                    absl::ToDoubleSeconds(in.now - in.last_drain),
                                    FormatInterval(in.drain_interval)),
                    "\n");
  }
  if (reasons.empty()) return Readiness{true, "ready\n"};
  return Readiness{false, std::move(reasons)};
}

void AppendHealthMetrics(const HealthInputs& in, std::string* out) {
  metrics::TextWriter w(out);
  w.Family("tcflow_ready", metrics::MetricType::kGauge,
           "1 when /ready answers 200: every selected interface attached and the last drain "
           "recent.");
  w.Sample("tcflow_ready", {}, EvaluateReadiness(in).ready ? 1 : 0);
  w.Family("tcflow_interface_attached", metrics::MetricType::kGauge,
           "1 when tcflow's filter is on the hook of a selected interface.");
  std::string labels;
  for (const HookHealth& h : in.hooks) {
    labels.clear();
    metrics::AppendLabel("interface", h.interface, &labels);
    metrics::AppendLabel("direction", h.direction, &labels);
    w.Sample("tcflow_interface_attached", labels, h.attached ? 1 : 0);
  }
  w.Family("tcflow_filter_repairs_total", metrics::MetricType::kCounter,
           "Filters found missing (removed behind tcflow's back) and re-attached.");
  w.Sample("tcflow_filter_repairs_total", {}, in.filter_repairs);
}

}  // namespace tcflow::tcflowd
