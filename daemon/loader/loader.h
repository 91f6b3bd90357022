// Loads the tcflow tc programs (the object embedded by `bpftool gen skeleton`), sizes their
// tables from one options struct, and pins the tables so that a restarted daemon (or
// flowctl) takes them over without losing a packet.
//
//   LoaderOptions opts;
//   opts.slots_per_half = 1 << 20;
//   opts.pin_mode = PinMode::kReuse;
//   absl::StatusOr<std::unique_ptr<Loader>> loader = Loader::Load(opts);
//   ... attach (*loader)->ingress_prog_fd() / egress_prog_fd() with netlink ...
//
// The Loader owns the bpf_object (skeleton) and with it the map and program fds. Pins
// outlive it on purpose; Unpin() removes them.

#ifndef TCFLOW_DAEMON_LOADER_LOADER_H_
#define TCFLOW_DAEMON_LOADER_LOADER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/loader/layout.h"
#include "daemon/loader/tables.h"
#include "daemon/loader/skel_shim.h"

namespace tcflow_skel {
struct Handle;
}  // namespace tcflow_skel

namespace tcflow {

enum class PinMode {
  kNone,    // private tables, gone with the process
  kCreate,  // create and pin; refuse if tables are already pinned in pin_dir
  kReuse,   // take over the tables pinned in pin_dir (sizes must match); create+pin if none
};

struct LoaderOptions {
  // Flow slots per half; every table size follows from it (see layout.h).
  uint32_t slots_per_half = 64 * 1024;
  // LRU index entries per flow slot of one half (>= 2: both live generations must fit).
  uint32_t index_factor = 3;
  uint32_t ringbuf_bytes = kDefaultRingbufBytes;
  // .rodata knobs (bpf/tcflow_abi.h).
  bool key_vlan = true;
  bool key_mark = false;
  uint32_t ext_alert_depth = 0;  // 0 = no EXT_CHAIN_DEEP events
  bool ndp_events = true;

  PinMode pin_mode = PinMode::kNone;
  std::string pin_dir = "/sys/fs/bpf/tcflow";
};

class Loader {
 public:
  static absl::StatusOr<std::unique_ptr<Loader>> Load(const LoaderOptions& options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const TableLayout& layout() const { return layout_; }
  // Borrowed fds of the tables, valid while the Loader lives.
  const TableFds& tables() const { return tables_; }
  int ingress_prog_fd() const { return ingress_fd_; }
  int egress_prog_fd() const { return egress_fd_; }
  // True when the tables were taken over from pins rather than created.
  bool reused_pins() const { return reused_; }
  const LoaderOptions& options() const { return options_; }
  // The .rodata knobs as loaded (read back from the object).
  tcflow_skel::Knobs knobs() const { return tcflow_skel::GetKnobs(skel_); }

  // Removes the pin files this loader's options name (and the directory when it is empty).
  // The tables live on while any fd or attached program holds them.
  absl::Status Unpin() const;

 private:
  Loader() = default;

  LoaderOptions options_;
  TableLayout layout_;
  TableFds tables_;
  tcflow_skel::Handle* skel_ = nullptr;  // owned: destroyed (skeleton destroy) in ~Loader
  int ingress_fd_ = -1;
  int egress_fd_ = -1;
  bool reused_ = false;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_LOADER_LOADER_H_
