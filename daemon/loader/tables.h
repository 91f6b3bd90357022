// The kernel tables by name, as fds: from a Loader (just loaded) or from pins (flowctl, a
// restarted daemon's readers). Checks a pinned set against the layout it must have.

#ifndef TCFLOW_DAEMON_LOADER_TABLES_H_
#define TCFLOW_DAEMON_LOADER_TABLES_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/loader/layout.h"
#include "daemon/loader/scoped_fd.h"

namespace tcflow {

enum TableId : int {
  kTableControl = 0,
  kTableSlots,
  kTableIndexV4,
  kTableIndexV6,
  kTableOverflow,
  kTableStats,
  kTableEvents,
  kTableCount,
};

// The map (and pin file) name of a table: TCFLOW_MAP_* of bpf/tcflow_abi.h.
const char* TableName(TableId id);

// What a table must look like (bpf_map_info fields).
struct TableSpec {
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t map_flags = 0;
};

// Compares an existing map (e.g. a pin) with the spec; the error names the first field
// that differs and both values.
absl::Status CheckTableSpec(int map_fd, TableId id, const TableSpec& want);
absl::StatusOr<TableSpec> GetTableSpec(int map_fd);

// Borrowed fds: no ownership.
struct TableFds {
  std::array<int, kTableCount> fd = {-1, -1, -1, -1, -1, -1, -1};
  int control() const { return fd[kTableControl]; }
  int slots() const { return fd[kTableSlots]; }
  int index_v4() const { return fd[kTableIndexV4]; }
  int index_v6() const { return fd[kTableIndexV6]; }
  int overflow() const { return fd[kTableOverflow]; }
  int stats() const { return fd[kTableStats]; }
  int events() const { return fd[kTableEvents]; }
};

// Tables opened from pins without loading anything (flowctl, readers).
class PinnedTables {
 public:
  // Opens every table pinned under `pin_dir`; derives the layout from the slot array and
  // checks every other table against it.
  static absl::StatusOr<PinnedTables> Open(const std::string& pin_dir);

  const TableLayout& layout() const { return layout_; }
  TableFds tables() const;

 private:
  std::array<ScopedFd, kTableCount> fds_;
  TableLayout layout_;
};

// Path of a table's pin file.
std::string PinPath(const std::string& pin_dir, TableId id);

// True when `dir` (or, if it does not exist yet, its parent) is on a bpf filesystem.
absl::Status CheckBpffs(const std::string& dir);

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_LOADER_TABLES_H_
