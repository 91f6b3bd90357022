// tcflowd as one object: the config, the loaded programs and tables, the link watchers
// (one thread each, per namespace), the drain/export pipeline (one thread), and the main
// loop on the calling thread (signals, control socket).
//
// Start-up: config -> signals -> control socket -> bpffs -> load (taking over pinned
// tables) -> pipeline -> watchers attach (replacing a previous instance's filters in place)
// -> first drain -> READY=1. SIGTERM/SIGINT: detach (unless configured to stay), drain,
// end every flow, export, exit 0. SIGHUP / `flowctl reload`: re-read the config.

#ifndef TCFLOW_DAEMON_TCFLOWD_DAEMON_H_
#define TCFLOW_DAEMON_TCFLOWD_DAEMON_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "daemon/control/server.h"
#include "daemon/loader/loader.h"
#include "daemon/runtime/notify.h"
#include "daemon/runtime/signals.h"
#include "daemon/tcflowd/component_options.h"
#include "daemon/tcflowd/health.h"
#include "daemon/tcflowd/interface_table.h"
#include "daemon/tcflowd/metrics.h"
#include "daemon/tcflowd/pipeline.h"
#include "netlink/link_watcher.h"

namespace tcflow::tcflowd {

struct DaemonOptions {
  std::string config_file;  // "" = the built-in default
  std::string netns;        // default namespace for selections that name none
  // The crash journal; "" = next to the control socket (flows.journal), "none" = off.
  std::string journal;
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options) : options_(std::move(options)) {}
  ~Daemon();
  // Runs until SIGTERM/SIGINT; returns the exit code. Errors are printed on stderr.
  int Run();

 private:
  struct Watcher {
    Selection selection;
    netlink::AttachOptions attach;
    std::unique_ptr<netlink::LinkWatcher> watcher;
  };

  absl::Status Start();
  absl::Status StartWatchers(const config::Config& c, std::vector<Watcher>* out);
  // Detaches, on each (namespace, ifindex) of `from`, the directions no watcher of `keep`
  // covers.
  void DetachUncovered(const std::vector<Watcher>& from, const std::vector<Watcher>& keep);
  absl::Status Reload();
  void Shutdown();
  void RegisterControl();
  void WriteStatus(control::JsonWriter& w);
  std::string MetricsText();
  // /ready and the health metrics (health.h), from the watchers and the last drain.
  HealthInputs Health() const;
  HttpAnswer ReadyAnswer() const;
  void OnWatchEvent(const std::string& netns, const netlink::WatchEvent& event);

  DaemonOptions options_;
  std::optional<config::Config> config_;
  absl::Time config_loaded_at_;
  absl::Time started_at_;
  std::string last_reload_error_;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
  std::optional<runtime::SignalFd> signals_;
  runtime::Notifier notifier_{""};
  std::unique_ptr<control::ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<Loader> loader_;
  InterfaceTable interfaces_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<Watcher> watchers_;
  bool running_ = true;
  // Filters put back after being removed behind tcflow's back (watcher threads count).
  std::atomic<uint64_t> filter_repairs_{0};
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_DAEMON_H_
