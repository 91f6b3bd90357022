// tcflowd's health: what /ready answers, and the same facts as metrics (tcflow_ready,
// tcflow_interface_attached, tcflow_filter_repairs_total). Pure: the daemon gathers the
// inputs (link watchers, the pipeline's last drain) and these functions judge them, so the
// rules are unit-tested without a kernel.
//
// Ready when every hook of every selected interface carries tcflow's filter and the last
// drain is recent: at most max(3 x drain interval, 2 s) ago. Before the first drain the
// answer is "starting". An empty selection (nothing matches yet) is ready: interfaces may
// appear later and are attached when they do.

#ifndef TCFLOW_DAEMON_TCFLOWD_HEALTH_H_
#define TCFLOW_DAEMON_TCFLOWD_HEALTH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace tcflow::tcflowd {

// One hook of one selected interface.
struct HookHealth {
  std::string interface;  // the name; "<netns>/<name>" in another namespace than tcflowd's
  std::string direction;  // "ingress" | "egress"
  bool attached = false;
  std::string problem;    // why not, e.g. "tcflow filter missing"
};

struct HealthInputs {
  std::vector<HookHealth> hooks;
  absl::Time last_drain = absl::InfinitePast();  // InfinitePast: none yet
  absl::Duration drain_interval = absl::Seconds(1);
  absl::Time now;
  uint64_t filter_repairs = 0;
};

struct Readiness {
  bool ready = false;
  // "ready\n", or one line per reason: "eth1 ingress: tcflow filter missing",
  // "last drain 5.2 s ago (interval 100 ms)", "starting".
  std::string text;
};

// The oldest the last drain may be for /ready: max(3 x interval, 2 s).
absl::Duration MaxDrainAge(absl::Duration drain_interval);

Readiness EvaluateReadiness(const HealthInputs& in);

// Appends tcflow_ready, tcflow_interface_attached{interface,direction} and
// tcflow_filter_repairs_total (with # HELP / # TYPE) in the Prometheus text format.
void AppendHealthMetrics(const HealthInputs& in, std::string* out);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_HEALTH_H_
