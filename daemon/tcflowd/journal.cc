#include "daemon/tcflowd/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
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

// The first format's entry is a block of one record with count 0.
static_assert(sizeof(FlowJournal::Entry) ==
              sizeof(FlowJournal::BlockHeader) + sizeof(FlowRecord));
static_assert(offsetof(FlowJournal::Entry, record) == sizeof(FlowJournal::BlockHeader));

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
  std::vector<char> raw(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = pread(fd, raw.data() + got, raw.size() - got, got);
    if (n <= 0) break;
    got += n;
  }
  // Blocks in order; a block cut short (a process killed inside its write) keeps the whole
  // records it got, and anything after the last whole record is cut off.
  std::vector<Entry> entries;
  size_t whole_bytes = 0;
  for (size_t off = 0; off + sizeof(BlockHeader) <= got;) {
    BlockHeader h;
    std::memcpy(&h, raw.data() + off, sizeof(h));
    if (h.kind != kMerged && h.kind != kExported) break;  // not a block: garbage from here
    const size_t want = h.count == 0 ? 1 : h.count;
    const size_t have = std::min(want, (got - off - sizeof(h)) / sizeof(FlowRecord));
    for (size_t i = 0; i < have; ++i) {
      Entry e;
      e.kind = h.kind;
      std::memcpy(&e.record, raw.data() + off + sizeof(h) + i * sizeof(FlowRecord),
                  sizeof(FlowRecord));
      entries.push_back(e);
    }
    if (have < want) {
      // Keep the whole records: rewrite this block's count when the file is cut below.
      if (have > 0) {
        h.count = static_cast<uint32_t>(have);
        if (pwrite(fd, &h, sizeof(h), off) == static_cast<ssize_t>(sizeof(h))) {
          whole_bytes = off + sizeof(h) + have * sizeof(FlowRecord);
        } else {
          entries.resize(entries.size() - have);  // cut the block off instead
        }
      }
      break;
    }
    off += sizeof(h) + want * sizeof(FlowRecord);
    whole_bytes = off;
  }
  raw = std::vector<char>();
  *recovered = Replay(entries);
  // Appends continue after the last whole entry (a torn tail is cut off). The caller
  // compacts once the recovered records are back in its cache.
  const off_t whole = static_cast<off_t>(whole_bytes);
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

void FlowJournal::Append(uint32_t kind, absl::Span<const FlowRecord> records) {
  // Blocks of at most 2^16 records: a block is one writev, and a huge one would be torn
  // more often by a kill in the middle (its whole records are still kept, see Open()).
  constexpr size_t kMaxBlock = 1 << 16;
  while (!records.empty()) {
    const size_t n = std::min(records.size(), kMaxBlock);
    BlockHeader h;
    h.kind = kind;
    h.count = static_cast<uint32_t>(n);
    iovec iov[2] = {{&h, sizeof(h)},
                    {const_cast<FlowRecord*>(records.data()), n * sizeof(FlowRecord)}};
    size_t left = sizeof(h) + n * sizeof(FlowRecord);
    int first = 0;
    while (left > 0) {
      ssize_t w = writev(fd_, iov + first, 2 - first);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ++write_errors_;
        return;
      }
      bytes_ += w;
      left -= w;
      // Skip what was written (a short write: rare on tmpfs, e.g. a full file system).
      size_t done = static_cast<size_t>(w);
      while (first < 2 && done >= iov[first].iov_len) done -= iov[first++].iov_len;
      if (first < 2) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + done;
        iov[first].iov_len -= done;
      }
    }
    records.remove_prefix(n);
  }
}

}  // namespace tcflow::tcflowd
