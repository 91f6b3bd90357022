#include "daemon/tcflowd/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace tcflow::tcflowd {
namespace {

struct KeyBytes {
  tcflow_flow_key key;
  bool operator==(const KeyBytes& o) const { return std::memcmp(&key, &o.key, sizeof(key)) == 0; }
  template <typename H>
  friend H AbslHashValue(H h, const KeyBytes& k) {
    return H::combine(std::move(h), absl::string_view(reinterpret_cast<const char*>(&k.key),
                                                      sizeof(k.key)));
  }
};

constexpr uint64_t kMinCompactBytes = 64ull << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<FlowJournal>> FlowJournal::Open(const std::string& path,
                                                               std::vector<FlowRecord>* recovered) {
  recovered->clear();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the flow journal ", path, ": ", std::strerror(errno)));
  }
  struct stat st {};
  fstat(fd, &st);
  const size_t count = static_cast<size_t>(st.st_size) / sizeof(Entry);  // a torn tail is ignored
  std::vector<Entry> entries(count);
  size_t got = 0;
  while (got < count * sizeof(Entry)) {
    ssize_t n = pread(fd, reinterpret_cast<char*>(entries.data()) + got,
                      count * sizeof(Entry) - got, got);
    if (n <= 0) break;
    got += n;
  }
  entries.resize(got / sizeof(Entry));
  *recovered = Replay(entries);
  // Appends continue after the last whole entry (a torn tail is cut off). The caller
  // compacts once the recovered records are back in its cache.
  const off_t whole = static_cast<off_t>(entries.size() * sizeof(Entry));
  if (ftruncate(fd, whole) != 0 || lseek(fd, whole, SEEK_SET) != whole) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use the flow journal ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<FlowJournal>(new FlowJournal(path, fd, static_cast<uint64_t>(whole)));
}

FlowJournal::~FlowJournal() {
  if (fd_ >= 0) close(fd_);
}

std::vector<FlowRecord> FlowJournal::Replay(absl::Span<const Entry> entries) {
  struct Pending {
    FlowRecord rec;  // counters: added minus exported
    bool open = false;
  };
  absl::flat_hash_map<KeyBytes, Pending> pending;
  std::vector<KeyBytes> order;
  for (const Entry& e : entries) {
    if (e.kind != kMerged && e.kind != kExported) continue;
    const FlowRecord& r = e.record;
    auto [it, inserted] = pending.try_emplace(KeyBytes{r.key});
    if (inserted) order.push_back(KeyBytes{r.key});
    Pending& p = it->second;
    if (e.kind == kMerged) {
      if (!p.open) {
        p.rec = r;
        p.rec.end_reason = FlowEndReason::kNone;
        p.open = true;
        continue;
      }
      p.rec.packets += r.packets;
      p.rec.bytes += r.bytes;
      p.rec.start_ms = std::min(p.rec.start_ms, r.start_ms);
      p.rec.end_ms = std::max(p.rec.end_ms, r.end_ms);
      p.rec.tcp_flags |= r.tcp_flags;
      p.rec.ext_hdr_bitmap |= r.ext_hdr_bitmap;
      p.rec.ext_hdr_depth = std::max(p.rec.ext_hdr_depth, r.ext_hdr_depth);
      p.rec.min_ttl = std::min(p.rec.min_ttl, r.min_ttl);
      p.rec.max_ttl = std::max(p.rec.max_ttl, r.max_ttl);
    } else if (p.open) {
      p.rec.packets -= std::min(p.rec.packets, r.packets);
      p.rec.bytes -= std::min(p.rec.bytes, r.bytes);
      // What is left started no earlier than the exported record's end.
      p.rec.start_ms = std::max(p.rec.start_ms, r.end_ms);
      if (p.rec.packets == 0 && p.rec.bytes == 0) p.open = false;
    }
  }
  std::vector<FlowRecord> out;
  for (const KeyBytes& k : order) {
    const Pending& p = pending[k];
    if (!p.open || (p.rec.packets == 0 && p.rec.bytes == 0)) continue;
    FlowRecord r = p.rec;
    r.start_ms = std::min(r.start_ms, r.end_ms);
    out.push_back(r);
  }
  return out;
}

void FlowJournal::WriteAll(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = write(fd_, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++write_errors_;
      return;
    }
    p += n;
    len -= n;
    bytes_ += n;
  }
}

void FlowJournal::Append(uint32_t kind, absl::Span<const FlowRecord> records) {
  if (records.empty()) return;
  buffer_.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    buffer_[i].kind = kind;
    buffer_[i].reserved = 0;
    buffer_[i].record = records[i];
  }
  WriteAll(buffer_.data(), buffer_.size() * sizeof(Entry));
}

bool FlowJournal::NeedsCompaction(size_t cached_flows) const {
  return bytes_ > kMinCompactBytes + 4 * cached_flows * sizeof(Entry);
}

absl::Status FlowJournal::Compact(
    absl::FunctionRef<void(absl::FunctionRef<void(const FlowRecord&)>)> for_each) {
  const std::string tmp = path_ + ".new";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("journal compaction: ", std::strerror(errno)));
  std::swap(fd, fd_);
  const uint64_t old_bytes = bytes_;
  bytes_ = 0;
  std::vector<FlowRecord> chunk;
  for_each([&](const FlowRecord& r) {
    chunk.push_back(r);
    if (chunk.size() == 4096) {
      Append(kMerged, chunk);
      chunk.clear();
    }
  });
  Append(kMerged, chunk);
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    // Keep the old journal (still complete); drop the new one.
    std::swap(fd, fd_);
    close(fd);
    unlink(tmp.c_str());
    bytes_ = old_bytes;
    return absl::InternalError(absl::StrCat("journal compaction: ", std::strerror(errno)));
  }
  close(fd);
  ++compactions_;
  return absl::OkStatus();
}

absl::Status FlowJournal::Clear() {
  if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) != 0) {
    return absl::InternalError(absl::StrCat("journal: ", std::strerror(errno)));
  }
  bytes_ = 0;
  return absl::OkStatus();
}

}  // namespace tcflow::tcflowd
