// A fixed-size array in anonymous memory that asks for transparent huge pages before its
// first touch. Tables read at random, like the flow cache's key index (32 MiB for a
// million flows), otherwise pay a TLB miss and a page walk on nearly every access: with
// 4 KiB pages 32 MiB is 8,192 pages, several times what the TLB holds, and with 2 MiB
// pages it is 16. Where the kernel gives no huge pages (THP off), it is plain memory.

#ifndef TCFLOW_DAEMON_CACHE_HUGE_PAGE_ARRAY_H_
#define TCFLOW_DAEMON_CACHE_HUGE_PAGE_ARRAY_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace tcflow::cache {

// Asks for transparent huge pages on [p, p + bytes) (a hint: errors are ignored). Must come
// before the first touch; a range the kernel already backed with small pages stays so.
inline void AdviseHugePages(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

template <typename T>
class HugePageArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  HugePageArray() = default;
  // `n` elements, each `fill`. Aborts when even the address space cannot be had, as
  // std::vector would.
  HugePageArray(size_t n, const T& fill) : size_(n) {
    if (n == 0) return;
    bytes_ = n * sizeof(T);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "tcflow: cannot map %zu bytes\n", bytes_);
      std::abort();
    }
    AdviseHugePages(p, bytes_);
    data_ = static_cast<T*>(p);
    for (size_t i = 0; i < n; ++i) data_[i] = fill;
  }
  HugePageArray(HugePageArray&& other) noexcept { *this = std::move(other); }
  HugePageArray& operator=(HugePageArray&& other) noexcept {
    if (this != &other) {
      Unmap();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  HugePageArray(const HugePageArray&) = delete;
  HugePageArray& operator=(const HugePageArray&) = delete;
  ~HugePageArray() { Unmap(); }

  size_t size() const { return size_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  void Unmap() {
    if (data_ != nullptr) munmap(data_, bytes_);
    data_ = nullptr;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t bytes_ = 0;
};

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_HUGE_PAGE_ARRAY_H_
