#include "daemon/drain/stats_reader.h"

#include <errno.h>

#include <cstring>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daemon/loader/layout.h"

namespace tcflow {

static_assert(sizeof(tcflow_stats) % sizeof(uint64_t) == 0,
              "tcflow_stats must be all 64-bit counters (summed element-wise)");

absl::StatusOr<StatsReader> StatsReader::Create(int stats_map_fd) {
  int n = libbpf_num_possible_cpus();
  if (n <= 0) return absl::ErrnoToStatus(-n, "count possible CPUs");
  StatsReader r;
  r.fd_ = stats_map_fd;
  r.ncpus_ = n;
  r.buf_.resize(ArrayElemSize(sizeof(tcflow_stats)) / sizeof(uint64_t) * n);
  return r;
}

void StatsReader::Sum(const void* percpu, int ncpus, size_t stride, tcflow_stats* out) {
  constexpr size_t kWords = sizeof(tcflow_stats) / sizeof(uint64_t);
  uint64_t acc[kWords] = {};
  const char* base = static_cast<const char*>(percpu);
  for (int c = 0; c < ncpus; ++c) {
    uint64_t v[kWords];
    std::memcpy(v, base + c * stride, sizeof(v));
    for (size_t i = 0; i < kWords; ++i) acc[i] += v[i];
  }
  std::memcpy(out, acc, sizeof(acc));
}

void StatsReader::Add(const tcflow_stats& from, tcflow_stats* to) {
  constexpr size_t kWords = sizeof(tcflow_stats) / sizeof(uint64_t);
  const auto* f = reinterpret_cast<const uint64_t*>(&from);
  auto* t = reinterpret_cast<uint64_t*>(to);
  for (size_t i = 0; i < kWords; ++i) t[i] += f[i];
}

absl::Status StatsReader::Read(tcflow_stats* out) {
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd_, &key, buf_.data()) != 0) {
    return absl::ErrnoToStatus(errno, "read tcflow_stats");
  }
  Sum(buf_.data(), ncpus_, ArrayElemSize(sizeof(tcflow_stats)), out);
  return absl::OkStatus();
}

}  // namespace tcflow
