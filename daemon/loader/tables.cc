#include "daemon/loader/tables.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <algorithm>
#include <cstring>

#include <bpf/bpf.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bpf/tcflow_abi.h"

namespace tcflow {

const char* TableName(TableId id) {
  switch (id) {
    case kTableControl: return TCFLOW_MAP_CONTROL;
    case kTableSlots: return TCFLOW_MAP_SLOTS;
    case kTableIndexV4: return TCFLOW_MAP_INDEX_V4;
    case kTableIndexV6: return TCFLOW_MAP_INDEX_V6;
    case kTableOverflow: return TCFLOW_MAP_OVERFLOW;
    case kTableStats: return TCFLOW_MAP_STATS;
    case kTableEvents: return TCFLOW_MAP_EVENTS;
    case kTableCount: break;
  }
  return "?";
}

std::string PinPath(const std::string& pin_dir, TableId id) {
  return absl::StrCat(pin_dir, "/", TableName(id));
}

absl::StatusOr<TableSpec> GetTableSpec(int map_fd) {
  bpf_map_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0) {
    return absl::ErrnoToStatus(errno, "bpf_obj_get_info_by_fd");
  }
  TableSpec s;
  s.type = info.type;
  s.key_size = info.key_size;
  s.value_size = info.value_size;
  s.max_entries = info.max_entries;
  s.map_flags = info.map_flags;
  return s;
}

absl::Status CheckTableSpec(int map_fd, TableId id, const TableSpec& want) {
  absl::StatusOr<TableSpec> got = GetTableSpec(map_fd);
  if (!got.ok()) return got.status();
  auto differs = [&](const char* field, uint32_t have, uint32_t need) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "table %s: %s is %u, this configuration needs %u (the pinned tables were made by "
        "another configuration or version; drain and remove them, or use the same sizes)",
        TableName(id), field, have, need));
  };
  if (got->type != want.type) return differs("map type", got->type, want.type);
  if (got->key_size != want.key_size) return differs("key size", got->key_size, want.key_size);
  if (got->value_size != want.value_size) {
    return differs("value size", got->value_size, want.value_size);
  }
  if (got->max_entries != want.max_entries) {
    return differs("max entries", got->max_entries, want.max_entries);
  }
  if (got->map_flags != want.map_flags) return differs("map flags", got->map_flags, want.map_flags);
  return absl::OkStatus();
}

absl::Status CheckBpffs(const std::string& dir) {
  struct statfs st;
  std::string probe = dir;
  while (::statfs(probe.c_str(), &st) != 0) {
    if (errno != ENOENT) return absl::ErrnoToStatus(errno, absl::StrCat("statfs ", probe));
    size_t slash = probe.find_last_of('/');
    if (slash == std::string::npos || slash == 0) {
      return absl::NotFoundError(absl::StrCat("no filesystem found for ", dir));
    }
    probe.resize(slash);
  }
  if (static_cast<uint64_t>(st.f_type) != BPF_FS_MAGIC) {
    return absl::FailedPreconditionError(absl::StrCat(
        probe, " is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PinnedTables> PinnedTables::Open(const std::string& pin_dir) {
  PinnedTables t;
  for (int i = 0; i < kTableCount; ++i) {
    std::string path = PinPath(pin_dir, static_cast<TableId>(i));
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("open pinned table ", path));
    }
    t.fds_[i].reset(fd);
  }
  absl::StatusOr<TableSpec> slots = GetTableSpec(t.fds_[kTableSlots].get());
  if (!slots.ok()) return slots.status();
  if (slots->type != BPF_MAP_TYPE_ARRAY || slots->value_size != sizeof(tcflow_slot) ||
      slots->max_entries % 2 != 0 || slots->max_entries / 2 <= TCFLOW_OVERFLOW_SLOTS) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "pinned %s is not a tcflow slot array of this version (type %u, value size %u, "
        "%u entries)", TCFLOW_MAP_SLOTS, slots->type, slots->value_size, slots->max_entries));
  }
  uint32_t sph = slots->max_entries / 2 - TCFLOW_OVERFLOW_SLOTS;
  absl::StatusOr<TableSpec> idx = GetTableSpec(t.fds_[kTableIndexV4].get());
  if (!idx.ok()) return idx.status();
  absl::StatusOr<TableSpec> ev = GetTableSpec(t.fds_[kTableEvents].get());
  if (!ev.ok()) return ev.status();
  // The index factor only documents how the index was sized; any size is readable.
  uint32_t factor = std::min<uint32_t>(std::max<uint32_t>(idx->max_entries / sph, 2), 16);
  absl::Status s = ComputeLayout(sph, factor, ev->max_entries, &t.layout_);
  if (!s.ok()) return s;
  t.layout_.index_entries = idx->max_entries;

  // Every table must have the type and record sizes this binary was built with.
  struct Want {
    TableId id;
    uint32_t type, key, value;
  };
  const Want wants[] = {
      {kTableControl, BPF_MAP_TYPE_ARRAY, 4, sizeof(tcflow_control)},
      {kTableIndexV4, BPF_MAP_TYPE_LRU_HASH, sizeof(tcflow_index_key_v4), 4},
      {kTableIndexV6, BPF_MAP_TYPE_LRU_HASH, sizeof(tcflow_index_key_v6), 4},
      {kTableOverflow, BPF_MAP_TYPE_LRU_HASH, sizeof(tcflow_overflow_key), 4},
      {kTableStats, BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(tcflow_stats)},
  };
  for (const Want& w : wants) {
    absl::StatusOr<TableSpec> got = GetTableSpec(t.fds_[w.id].get());
    if (!got.ok()) return got.status();
    if (got->type != w.type || got->key_size != w.key || got->value_size != w.value) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "pinned %s has type %u, key %u, value %u bytes; this version needs %u, %u, %u",
          TableName(w.id), got->type, got->key_size, got->value_size, w.type, w.key,
          w.value));
    }
  }
  return t;
}

TableFds PinnedTables::tables() const {
  TableFds f;
  for (int i = 0; i < kTableCount; ++i) f.fd[i] = fds_[i].get();
  return f;
}

}  // namespace tcflow
