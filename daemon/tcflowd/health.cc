#include "daemon/tcflowd/health.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::tcflowd {
namespace {

void AppendEscaped(const std::string& v, std::string* out) {
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

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
  absl::StrAppend(out,
                  "# HELP tcflow_ready 1 when /ready answers 200: every selected interface "
                  "attached and the last drain recent.\n"
                  "# TYPE tcflow_ready gauge\n"
                  "tcflow_ready ",
                  EvaluateReadiness(in).ready ? 1 : 0, "\n");
  absl::StrAppend(out,
                  "# HELP tcflow_interface_attached 1 when tcflow's filter is on the hook of a "
                  "selected interface.\n"
                  "# TYPE tcflow_interface_attached gauge\n");
  for (const HookHealth& h : in.hooks) {
    out->append("tcflow_interface_attached{interface=\"");
    AppendEscaped(h.interface, out);
    absl::StrAppend(out, "\",direction=\"", h.direction, "\"} ", h.attached ? 1 : 0, "\n");
  }
  absl::StrAppend(out,
                  "# HELP tcflow_filter_repairs_total Filters found missing (removed behind "
                  "tcflow's back) and re-attached.\n"
                  "# TYPE tcflow_filter_repairs_total counter\n"
                  "tcflow_filter_repairs_total ",
                  in.filter_repairs, "\n");
}

}  // namespace tcflow::tcflowd
