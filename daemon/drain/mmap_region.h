// Owns a shared mapping of a BPF_F_MMAPABLE map: unmapped exactly once.

#ifndef TCFLOW_DAEMON_DRAIN_MMAP_REGION_H_
#define TCFLOW_DAEMON_DRAIN_MMAP_REGION_H_

#include <errno.h>
#include <sys/mman.h>

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"

namespace tcflow {

class MmapRegion {
 public:
  MmapRegion() = default;
  static absl::StatusOr<MmapRegion> Map(int fd, size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return absl::ErrnoToStatus(errno, "mmap BPF map");
    MmapRegion r;
    r.addr_ = p;
    r.bytes_ = bytes;
    return r;
  }
  MmapRegion(MmapRegion&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  MmapRegion& operator=(MmapRegion&& o) noexcept {
    if (this != &o) {
      Reset();
      addr_ = std::exchange(o.addr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  MmapRegion(const MmapRegion&) = delete;
  MmapRegion& operator=(const MmapRegion&) = delete;
  ~MmapRegion() { Reset(); }

  void* addr() const { return addr_; }
  size_t bytes() const { return bytes_; }

 private:
  void Reset() {
    if (addr_ != nullptr) ::munmap(addr_, bytes_);
    addr_ = nullptr;
    bytes_ = 0;
  }
  void* addr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_MMAP_REGION_H_
