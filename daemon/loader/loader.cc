#include "daemon/loader/loader.h"

#include <errno.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bpf/tcflow_abi.h"
#include "daemon/loader/scoped_fd.h"

namespace tcflow {
namespace {

// Destroys a half-built skeleton on every early return.
struct SkelGuard {
  tcflow_skel::Handle* h;
  ~SkelGuard() { tcflow_skel::Destroy(h); }
};

absl::Status Errno(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err, what);
}

TableSpec SpecOf(const bpf_map* m) {
  TableSpec s;
  s.type = bpf_map__type(m);
  s.key_size = bpf_map__key_size(m);
  s.value_size = bpf_map__value_size(m);
  s.max_entries = bpf_map__max_entries(m);
  s.map_flags = bpf_map__map_flags(m);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Loader>> Loader::Load(const LoaderOptions& options) {
  TableLayout layout;
  absl::Status st = ComputeLayout(options.slots_per_half, options.index_factor,
                                  options.ringbuf_bytes, &layout);
  if (!st.ok()) return st;
  if (options.pin_mode != PinMode::kNone) {
    if (options.pin_dir.empty() || options.pin_dir[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("pin directory must be an absolute path, got '", options.pin_dir, "'"));
    }
    st = CheckBpffs(options.pin_dir);
    if (!st.ok()) return st;
  }

  tcflow_skel::Handle* h = tcflow_skel::Open();
  if (h == nullptr) return Errno(errno, "open the embedded tcflow BPF object");
  SkelGuard guard{h};
  bpf_object* obj = tcflow_skel::Object(h);

  tcflow_skel::Knobs knobs;
  knobs.slots_per_half = layout.slots_per_half;
  knobs.key_vlan = options.key_vlan;
  knobs.key_mark = options.key_mark;
  knobs.ext_alert_depth = options.ext_alert_depth;
  knobs.ndp_events = options.ndp_events;
  tcflow_skel::SetKnobs(h, knobs);

  std::array<bpf_map*, kTableCount> maps;
  for (int i = 0; i < kTableCount; ++i) {
    maps[i] = bpf_object__find_map_by_name(obj, TableName(static_cast<TableId>(i)));
    if (maps[i] == nullptr) {
      return absl::InternalError(absl::StrCat("the embedded object has no map ",
                                              TableName(static_cast<TableId>(i))));
    }
  }
  struct Size {
    TableId id;
    uint32_t entries;
  };
  const Size sizes[] = {
      {kTableSlots, layout.slot_entries},
      {kTableIndexV4, layout.index_entries},
      {kTableIndexV6, layout.index_entries},
      {kTableOverflow, layout.overflow_entries},
      {kTableEvents, layout.ringbuf_bytes},
  };
  for (const Size& s : sizes) {
    int err = bpf_map__set_max_entries(maps[s.id], s.entries);
    if (err != 0) {
      return Errno(-err, absl::StrCat("size table ", TableName(s.id)));
    }
  }
  // The flow cache's second level: a region per possible CPU (bpf/maps.h).
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return Errno(-ncpus, "count the possible CPUs");
  const std::pair<const char*, int> l2[] = {{TCFLOW_MAP_L2_V4, TCFLOW_L2_V4_BITS},
                                            {TCFLOW_MAP_L2_V6, TCFLOW_L2_V6_BITS}};
  for (const auto& [name, bits] : l2) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name);
    if (m == nullptr) {
      return absl::InternalError(absl::StrCat("the embedded object has no map ", name));
    }
    if (int err = bpf_map__set_max_entries(m, static_cast<uint32_t>(ncpus) << bits); err != 0) {
      return Errno(-err, absl::StrCat("size ", name));
    }
  }
  // The drain reads these straight from memory.
  for (TableId id : {kTableControl, kTableSlots}) {
    if ((bpf_map__map_flags(maps[id]) & BPF_F_MMAPABLE) == 0) {
      return absl::InternalError(absl::StrCat(TableName(id), " is not BPF_F_MMAPABLE"));
    }
  }

  // Pins: all or none may exist; an existing set must match what this configuration makes.
  bool reused = false;
  std::array<ScopedFd, kTableCount> pinned;
  if (options.pin_mode != PinMode::kNone) {
    int present = 0;
    for (int i = 0; i < kTableCount; ++i) {
      std::string path = PinPath(options.pin_dir, static_cast<TableId>(i));
      int fd = bpf_obj_get(path.c_str());
      if (fd >= 0) {
        pinned[i].reset(fd);
        ++present;
      } else if (errno != ENOENT) {
        return Errno(errno, absl::StrCat("open pinned ", path));
      }
    }
    if (present > 0 && options.pin_mode == PinMode::kCreate) {
      return absl::AlreadyExistsError(absl::StrCat(
          "tcflow tables are already pinned under ", options.pin_dir,
          " (another tcflowd, or a previous run): take them over (reuse) or remove them"));
    }
    if (present > 0 && present < kTableCount) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "only %d of %d tcflow tables are pinned under %s: an incomplete set cannot be "
          "taken over; remove the directory's pins", present, int{kTableCount},
          options.pin_dir));
    }
    if (present == kTableCount) {
      for (int i = 0; i < kTableCount; ++i) {
        st = CheckTableSpec(pinned[i].get(), static_cast<TableId>(i), SpecOf(maps[i]));
        if (!st.ok()) return st;
      }
      for (int i = 0; i < kTableCount; ++i) {
        int err = bpf_map__reuse_fd(maps[i], pinned[i].get());
        if (err != 0) {
          return Errno(-err, absl::StrCat("reuse pinned ", TableName(static_cast<TableId>(i))));
        }
      }
      reused = true;
    }
  }

  int err = tcflow_skel::Load(h);
  if (err != 0) {
    return Errno(-err, "load the tcflow BPF programs (verifier log above, if any)");
  }

  if (options.pin_mode != PinMode::kNone && !reused) {
    if (::mkdir(options.pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Errno(errno, absl::StrCat("mkdir ", options.pin_dir));
    }
    for (int i = 0; i < kTableCount; ++i) {
      std::string path = PinPath(options.pin_dir, static_cast<TableId>(i));
      int perr = bpf_map__pin(maps[i], path.c_str());
      if (perr != 0) {
        // Leave no partial set behind: it could not be taken over.
        for (int j = 0; j < i; ++j) ::unlink(PinPath(options.pin_dir, static_cast<TableId>(j)).c_str());
        return Errno(-perr, absl::StrCat("pin ", path));
      }
    }
  }

  bpf_program* in = bpf_object__find_program_by_name(obj, TCFLOW_PROG_INGRESS);
  bpf_program* eg = bpf_object__find_program_by_name(obj, TCFLOW_PROG_EGRESS);
  if (in == nullptr || eg == nullptr) {
    return absl::InternalError("the embedded object lacks tcflow_ingress/tcflow_egress");
  }

  std::unique_ptr<Loader> l(new Loader());
  l->options_ = options;
  l->layout_ = layout;
  for (int i = 0; i < kTableCount; ++i) l->tables_.fd[i] = bpf_map__fd(maps[i]);
  l->ingress_fd_ = bpf_program__fd(in);
  l->egress_fd_ = bpf_program__fd(eg);
  l->reused_ = reused;
  l->skel_ = guard.h;
  guard.h = nullptr;
  return l;
}

Loader::~Loader() { tcflow_skel::Destroy(skel_); }

absl::Status Loader::Unpin() const {
  if (options_.pin_mode == PinMode::kNone) return absl::OkStatus();
  absl::Status result = absl::OkStatus();
  for (int i = 0; i < kTableCount; ++i) {
    std::string path = PinPath(options_.pin_dir, static_cast<TableId>(i));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT && result.ok()) {
      result = Errno(errno, absl::StrCat("unlink ", path));
    }
  }
  if (::rmdir(options_.pin_dir.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY &&
      result.ok()) {
    result = Errno(errno, absl::StrCat("rmdir ", options_.pin_dir));
  }
  return result;
}

}  // namespace tcflow
