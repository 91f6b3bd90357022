#include "daemon/drain/grace_period.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include <bpf/bpf.h>

namespace tcflow {
namespace {

long Membarrier(int cmd) { return ::syscall(__NR_membarrier, cmd, 0, 0); }

bool MembarrierGlobalUsable() {
  long mask = Membarrier(MEMBARRIER_CMD_QUERY);
  if (mask < 0 || (mask & MEMBARRIER_CMD_GLOBAL) == 0) return false;
  // With one CPU online the kernel returns without a grace period.
  return ::sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

}  // namespace

const char* GraceModeName(GraceMode mode) {
  switch (mode) {
    case GraceMode::kAuto: return "auto";
    case GraceMode::kMembarrier: return "membarrier";
    case GraceMode::kMapUpdate: return "map-update";
  }
  return "?";
}

absl::StatusOr<GracePeriod> GracePeriod::Create(GraceMode mode) {
  GracePeriod g;
  if (mode == GraceMode::kMembarrier && !MembarrierGlobalUsable()) {
    return absl::FailedPreconditionError(
        "membarrier(MEMBARRIER_CMD_GLOBAL) is not usable here (nohz_full, or one CPU)");
  }
  // The map-update mechanism is always prepared: it is the run-time fallback too.
  absl::Status s = g.CreateMapUpdate();
  if (!s.ok()) return s;
  if (mode == GraceMode::kMembarrier ||
      (mode == GraceMode::kAuto && MembarrierGlobalUsable())) {
    g.mode_ = GraceMode::kMembarrier;
  } else {
    g.mode_ = GraceMode::kMapUpdate;
  }
  return g;
}

absl::Status GracePeriod::CreateMapUpdate() {
  int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tcflow_gp_in", 4, 4, 1, nullptr);
  if (inner < 0) return absl::ErrnoToStatus(errno, "create grace-period inner map");
  inner_.reset(inner);
  bpf_map_create_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.inner_map_fd = inner;
  int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "tcflow_gp", 4, 4, 1, &opts);
  if (outer < 0) return absl::ErrnoToStatus(errno, "create grace-period map of maps");
  outer_.reset(outer);
  return absl::OkStatus();
}

absl::Status GracePeriod::WaitMapUpdate() {
  uint32_t key = 0;
  uint32_t value = static_cast<uint32_t>(inner_.get());
  if (bpf_map_update_elem(outer_.get(), &key, &value, BPF_ANY) != 0) {
    return absl::ErrnoToStatus(errno, "grace period (map-of-maps update)");
  }
  return absl::OkStatus();
}

absl::Status GracePeriod::Wait() {
  if (mode_ == GraceMode::kMembarrier) {
    if (Membarrier(MEMBARRIER_CMD_GLOBAL) == 0) return absl::OkStatus();
    mode_ = GraceMode::kMapUpdate;  // refused (e.g. nohz_full turned on): fall back for good
  }
  return WaitMapUpdate();
}

}  // namespace tcflow
