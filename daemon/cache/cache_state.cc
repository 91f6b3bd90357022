#include "daemon/cache/cache_state.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "daemon/cache/huge_page_array.h"

namespace tcflow::cache {
namespace {

constexpr size_t kPage = 4096;
static_assert(sizeof(CacheStateHeader) <= kPage, "the header fits its page");

size_t RoundUp(size_t n) { return (n + kPage - 1) / kPage * kPage; }

size_t OutboxBytes(size_t records) { return RoundUp(records * sizeof(FlowRecord)); }

size_t FileBytes(size_t entries, size_t outbox_records) {
  return kPage + OutboxBytes(outbox_records) + entries * sizeof(CacheEntry);
}

absl::Status Errno(const std::string& what) {
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", std::strerror(errno)));
}

void InitHeader(CacheStateHeader* h, size_t entries, size_t outbox) {
  std::memset(static_cast<void*>(h), 0, sizeof(*h));
  h->magic = CacheStateHeader::kMagic;
  h->version = CacheStateHeader::kVersion;
  h->entry_size = sizeof(CacheEntry);
  h->record_size = sizeof(FlowRecord);
  h->entry_capacity = entries;
  h->outbox_capacity = outbox;
}

bool Holds(const FlowRecord& r) { return r.packets != 0 || r.bytes != 0; }

}  // namespace

CacheState& CacheState::operator=(CacheState&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    reserved_entries_ = other.reserved_entries_;
    reserved_outbox_ = other.reserved_outbox_;
    reserve_failed_ = other.reserve_failed_;
    reserve_unsupported_ = other.reserve_unsupported_;
    reserve_skipped_ = other.reserve_skipped_;
    base_ = other.base_;
    bytes_ = other.bytes_;
    outbox_bytes_ = other.outbox_bytes_;
    other.fd_ = -1;
    other.base_ = nullptr;
    other.bytes_ = 0;
    Point();
    other.Point();
  }
  return *this;
}

CacheState::~CacheState() { Unmap(); }

void CacheState::Unmap() {
  if (base_ != nullptr) munmap(base_, bytes_);
  if (fd_ >= 0) close(fd_);
  base_ = nullptr;
  fd_ = -1;
  bytes_ = 0;
}

void CacheState::Point() {
  if (base_ == nullptr) {
    header_ = nullptr;
    outbox_ = nullptr;
    entries_ = nullptr;
    return;
  }
  char* b = static_cast<char*>(base_);
  header_ = reinterpret_cast<CacheStateHeader*>(b);
  outbox_ = reinterpret_cast<FlowRecord*>(b + kPage);
  entries_ = reinterpret_cast<CacheEntry*>(b + kPage + outbox_bytes_);
}

absl::StatusOr<CacheState> CacheState::Anonymous(size_t entry_capacity) {
  CacheState s;
  s.bytes_ = FileBytes(entry_capacity, 0);
  // Address space only: pages are touched as flows arrive.
  void* p = mmap(nullptr, s.bytes_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return Errno("flow cache memory");
  // Entries are written and read at random (one per flow): huge pages, where the kernel
  // has them, spare a page walk on most of those accesses.
  AdviseHugePages(p, s.bytes_);
  s.reserved_entries_ = SIZE_MAX;  // nothing to reserve: the inline checks always pass
  s.reserved_outbox_ = SIZE_MAX;
  s.base_ = p;
  s.Point();
  InitHeader(s.header_, entry_capacity, 0);
  return s;
}

absl::StatusOr<CacheState> CacheState::Create(const std::string& path, size_t entry_capacity,
                                              size_t outbox_capacity) {
  CacheState s;
  s.path_ = path;
  s.fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (s.fd_ < 0) return Errno(absl::StrCat("cannot create the flow cache state ", path));
  s.outbox_bytes_ = OutboxBytes(outbox_capacity);
  s.bytes_ = FileBytes(entry_capacity, outbox_capacity);
  // A sparse file: tmpfs allocates pages as they are first written.
  if (ftruncate(s.fd_, static_cast<off_t>(s.bytes_)) != 0) {
    return Errno(absl::StrCat("cannot size the flow cache state ", path));
  }
  // The header page is written on every merge: it must have its page before the first.
  if (!s.Reserve(0, kPage)) {
    return Errno(absl::StrCat("no room for the flow cache state ", path));
  }
  void* p = mmap(nullptr, s.bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, s.fd_, 0);
  if (p == MAP_FAILED) return Errno(absl::StrCat("cannot map the flow cache state ", path));
  s.base_ = p;
  s.Point();
  InitHeader(s.header_, entry_capacity, outbox_capacity);
  return s;
}

absl::Status CacheState::GrowEntries(size_t entry_capacity) {
  if (entry_capacity <= this->entry_capacity()) return absl::OkStatus();
  const size_t bytes = kPage + outbox_bytes_ + entry_capacity * sizeof(CacheEntry);
  if (fd_ >= 0 && ftruncate(fd_, static_cast<off_t>(bytes)) != 0) {
    return Errno("cannot grow the flow cache state");
  }
  void* p = mremap(base_, bytes_, bytes, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return Errno("cannot grow the flow cache");
  base_ = p;
  bytes_ = bytes;
  Point();
  header_->entry_capacity = entry_capacity;
  return absl::OkStatus();
}

bool CacheState::Reserve(size_t offset, size_t bytes) {
  // A file system that cannot reserve (no fallocate) is written as it is: refusing every
  // flow there would be worse than the fault a full one could cause.
  if (reserve_unsupported_) return true;
  // After a failure (a full file system), try again only every 4096th time: a failing
  // fallocate costs far more than the merge it would serve.
  if (reserve_failed_ && ++reserve_skipped_ % 4096 != 0) return false;
  for (;;) {
    if (fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) == 0) {
      reserve_failed_ = false;
      return true;
    }
    if (errno == EOPNOTSUPP) {
      reserve_unsupported_ = true;
      return true;
    }
    if (errno != EINTR) {
      reserve_failed_ = true;
      return false;
    }
  }
}

bool CacheState::ReserveRun(size_t* reserved, size_t n, size_t capacity, size_t item_size,
                            size_t offset) {
  if (fd_ < 0 || n <= *reserved) return true;
  const size_t step = (1 << 20) / item_size;
  const size_t want = std::min(capacity, (n + step - 1) / step * step);
  if (want < n) return false;
  if (!Reserve(offset + *reserved * item_size, (want - *reserved) * item_size)) return false;
  *reserved = want;
  return true;
}

bool CacheState::ReserveMoreEntries(size_t n) {
  return ReserveRun(&reserved_entries_, n, entry_capacity(), sizeof(CacheEntry),
                    kPage + outbox_bytes_);
}

bool CacheState::ReserveMoreOutbox(size_t n) {
  return ReserveRun(&reserved_outbox_, n, outbox_capacity(), sizeof(FlowRecord), kPage);
}

absl::Status CacheState::Rename(const std::string& path) {
  if (fd_ < 0) return absl::FailedPreconditionError("the flow cache has no state file");
  if (rename(path_.c_str(), path.c_str()) != 0) {
    return Errno(absl::StrCat("cannot rename ", path_, " to ", path));
  }
  path_ = path;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FlowRecord>> CacheState::Recover(const std::string& path) {
  std::vector<FlowRecord> out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return Errno(absl::StrCat("cannot open the flow cache state ", path));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Errno(absl::StrCat("cannot stat the flow cache state ", path));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const auto foreign = [&](const char* why) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is not a tcflow flow cache state of this version (", why,
        "); move it away to start without it"));
  };
  if (size < kPage) {
    close(fd);
    return foreign("too short");
  }
  // Private: the intent is undone in this copy, never in the file.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return Errno(absl::StrCat("cannot map the flow cache state ", path));
  struct Unmapper {
    void* p;
    size_t n;
    ~Unmapper() { munmap(p, n); }
  } unmap{p, size};
  auto* h = static_cast<CacheStateHeader*>(p);
  if (h->magic != CacheStateHeader::kMagic) return foreign("bad magic");
  if (h->version < CacheStateHeader::kOldestReadable ||
      h->version > CacheStateHeader::kVersion || h->entry_size != sizeof(CacheEntry) ||
      h->record_size != sizeof(FlowRecord)) {
    return foreign("other layout");
  }
  if (FileBytes(h->entry_capacity, h->outbox_capacity) > size) return foreign("cut short");
  const size_t outbox_bytes = OutboxBytes(h->outbox_capacity);
  auto* outbox = reinterpret_cast<FlowRecord*>(static_cast<char*>(p) + kPage);
  auto* entries = reinterpret_cast<CacheEntry*>(static_cast<char*>(p) + kPage + outbox_bytes);
  const uint64_t used = std::min<uint64_t>(h->entries_used, h->entry_capacity);

  const uint64_t op_index = h->op >> 32;
  const bool merging = (h->op & CacheStateHeader::kMerging) != 0 && op_index < used;
  const bool exporting = (h->op & CacheStateHeader::kExporting) != 0 && op_index < used;
  if (merging && (h->op & CacheStateHeader::kFresh) != 0) {
    // A merge into a new entry: the increment is the entry's record. A free entry is not
    // counted below, so it is counted here; a live one is counted below.
    CacheEntry& e = entries[op_index];
    if (e.state == EntryState::kFree && Holds(e.rec)) {
      out.push_back(e.rec);
      out.back().end_reason = FlowEndReason::kNone;
    }
  } else if (merging) {
    // The merge may have stopped anywhere: put the entry back as it was, count the
    // increment once.
    entries[op_index].rec = h->intent_old;
    entries[op_index].state = static_cast<EntryState>(h->intent_state);
    if (Holds(h->intent_increment)) out.push_back(h->intent_increment);
  }
  // The export's record reached the outbox: the outbox has these counts, not the entry.
  const bool skip = exporting && h->outbox_committed > h->export_position;
  // A FlushAll that made its commit: the outbox has every entry's counts.
  const bool flushed =
      (h->op & CacheStateHeader::kFlushing) != 0 && h->outbox_committed >= h->export_position;
  for (uint64_t i = 0; i < (flushed ? 0 : used); ++i) {
    if (skip && i == op_index) continue;
    const CacheEntry& e = entries[i];
    if ((e.state == EntryState::kOpen || e.state == EntryState::kClosing) && Holds(e.rec)) {
      out.push_back(e.rec);
      out.back().end_reason = FlowEndReason::kNone;
    }
  }
  const uint64_t cap = h->outbox_capacity;
  if (cap > 0 && h->outbox_committed >= h->outbox_consumed &&
      h->outbox_committed - h->outbox_consumed <= cap && h->outbox_consumed >= h->outbox_base) {
    for (uint64_t pos = h->outbox_consumed; pos < h->outbox_committed; ++pos) {
      const FlowRecord& r = outbox[(pos - h->outbox_base) % cap];
      if (!Holds(r)) continue;
      out.push_back(r);
      out.back().end_reason = FlowEndReason::kNone;  // merged again, ended again
    }
  } else if (h->outbox_committed != h->outbox_consumed) {
    return foreign("outbox positions out of range");
  }
  return out;
}

}  // namespace tcflow::cache
