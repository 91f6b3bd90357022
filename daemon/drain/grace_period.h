// Waits until every BPF program run that started before the call has finished: after the
// drain flips the generation, no program can still be writing the old half once this
// returns (tc programs run inside an RCU read-side section; both ways below wait for an
// RCU grace period, which also orders the programs' writes before our reads).
//
//   kMembarrier: membarrier(MEMBARRIER_CMD_GLOBAL) -> synchronize_rcu(). Refused on
//                nohz_full kernels (EINVAL), and it skips the wait when a single CPU is
//                online, where a preempted test-run could still be inside a program.
//   kMapUpdate:  updating an element of a BPF_MAP_TYPE_ARRAY_OF_MAPS from user space: the
//                kernel waits for running programs before returning (syscall.c
//                maybe_wait_bpf_programs -> synchronize_rcu), on every kernel we support
//                and without the nohz_full restriction.
//   kAuto:       membarrier when the kernel offers it and more than one CPU is online,
//                else the map update; falls back at run time if membarrier is refused.

#ifndef TCFLOW_DAEMON_DRAIN_GRACE_PERIOD_H_
#define TCFLOW_DAEMON_DRAIN_GRACE_PERIOD_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/loader/scoped_fd.h"

namespace tcflow {

enum class GraceMode { kAuto, kMembarrier, kMapUpdate };

const char* GraceModeName(GraceMode mode);

class GracePeriod {
 public:
  static absl::StatusOr<GracePeriod> Create(GraceMode mode = GraceMode::kAuto);

  absl::Status Wait();
  // The mechanism in use (never kAuto).
  GraceMode mode() const { return mode_; }

 private:
  absl::Status CreateMapUpdate();
  absl::Status WaitMapUpdate();

  GraceMode mode_ = GraceMode::kMapUpdate;
  ScopedFd inner_;  // ARRAY[1], the value written into outer_
  ScopedFd outer_;  // ARRAY_OF_MAPS[1]
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_GRACE_PERIOD_H_
