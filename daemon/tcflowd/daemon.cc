#include "daemon/tcflowd/daemon.h"

#include <sys/epoll.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "daemon/control/requests.h"
#include "daemon/metrics/render.h"
#include "daemon/tcflowd/bpffs.h"
#include "netlink/netns.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tools/version.h"

namespace tcflow::tcflowd {
namespace {

void Log(const std::string& line) { std::fprintf(stderr, "tcflowd: %s\n", line.c_str()); }

absl::StatusOr<config::Config> LoadConfig(const std::string& file) {
  config::LoadResult r = file.empty()
                             ? config::LoadConfigText(config::BuiltinDefaultConfigText(),
                                                      "<built-in default>")
                             : config::LoadConfigFile(file);
  if (!r.ok()) return absl::InvalidArgumentError(config::FormatErrors(r.errors));
  return std::move(*r.config);
}

bool SameSelections(const std::vector<Selection>& a, const std::vector<Selection>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].netns != b[i].netns || a[i].direction != b[i].direction ||
        a[i].selector.include != b[i].selector.include ||
        a[i].selector.exclude != b[i].selector.exclude ||
        a[i].selector.all_but_loopback != b[i].selector.all_but_loopback) {
      return false;
    }
  }
  return true;
}

std::string IsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

Daemon::~Daemon() {
  for (Watcher& w : watchers_) w.watcher.reset();
  pipeline_.reset();
}

int Daemon::Run() {
  started_at_ = absl::Now();
  if (absl::Status s = Start(); !s.ok()) {
    Log(std::string(s.message()));
    // Leave nothing half-attached behind when the start failed after attaching.
    if (config_.has_value() && !config_->stay_attached_on_exit && !watchers_.empty()) {
      std::vector<Watcher> none;
      for (Watcher& w : watchers_) w.watcher->Stop();
      DetachUncovered(watchers_, none);
    }
    return 1;
  }

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {signals_->fd(), control_->fd(), metrics_ ? metrics_->fd() : -1,
                 pipeline_->events_fd()}) {
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  while (running_) {
    epoll_event events[8];
    int n = epoll_wait(ep, events, 8, -1);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == control_->fd()) {
        control_->HandleReady();
      } else if (metrics_ != nullptr && events[i].data.fd == metrics_->fd()) {
        metrics_->Run();
      } else if (events[i].data.fd == pipeline_->events_fd()) {
        uint64_t dropped = 0;
        for (const std::string& e : pipeline_->TakeEvents(&dropped)) control_->Publish("events", e);
      } else if (events[i].data.fd == signals_->fd()) {
        while (std::optional<int> sig = signals_->Read()) {
          if (*sig == SIGHUP) {
            absl::Status s = Reload();
            if (!s.ok()) Log(absl::StrCat("reload refused, the running config stays:\n", s.message()));
          } else {
            running_ = false;
          }
        }
      }
    }
  }
  close(ep);
  Shutdown();
  return 0;
}

absl::Status Daemon::Start() {
  auto c = LoadConfig(options_.config_file);
  if (!c.ok()) return c.status();
  config_ = std::move(*c);
  config_loaded_at_ = absl::Now();

  // Signals before any thread: threads inherit the blocked mask.
  auto signals = runtime::SignalFd::Create();
  if (!signals.ok()) return signals.status();
  signals_.emplace(std::move(*signals));
  runtime::IgnoreSigpipe();
  notifier_ = runtime::Notifier::FromEnvironment();

  // The control socket first: a second tcflowd is refused here, before it touches anything.
  control::ControlServerOptions control_options;
  control_options.path = config_->control_socket;
  auto server = control::ControlServer::Listen(control_options);
  if (!server.ok()) return server.status();
  control_ = std::move(*server);

  bool mounted = false;
  if (absl::Status s = EnsureBpffs(config_->bpffs_pin_path, &mounted); !s.ok()) return s;
  if (mounted) Log(absl::StrCat("mounted bpffs on ", config_->bpffs_pin_path));

  auto loader = Loader::Load(LoaderOptionsFrom(*config_));
  if (!loader.ok()) return loader.status();
  loader_ = std::move(*loader);
  if (loader_->reused_pins()) {
    Log(absl::StrCat("took over the tables pinned in ", config_->bpffs_pin_path));
  }

  // The crash state (the flow cache in a file, see daemon/cache/cache_state.h), and the
  // journal an earlier tcflowd kept in its place, replayed once.
  CrashFiles crash;
  const std::filesystem::path run_dir =
      std::filesystem::path(config_->control_socket).parent_path();
  crash.state = options_.journal;
  if (crash.state.empty()) crash.state = run_dir / "flows.state";
  if (crash.state == "none") crash.state.clear();
  crash.legacy_journal = run_dir / "flows.journal";
  if (!crash.state.empty()) {
    // The state file is the cache, mapped shared: on a disk file system every drain's
    // writes become page faults and write-back (measured: ~3.5 ms of CPU per drain on ext4
    // against ~0.3 ms on tmpfs), and I/O. /run is tmpfs on a normal system.
    struct statfs fs {};
    const std::string dir = std::filesystem::path(crash.state).parent_path();
    constexpr long kTmpfs = 0x01021994, kRamfs = static_cast<long>(0x858458f6);
    if (statfs(dir.empty() ? "." : dir.c_str(), &fs) == 0 &&
        static_cast<long>(fs.f_type) != kTmpfs && static_cast<long>(fs.f_type) != kRamfs) {
      Log(absl::StrCat("warning: the crash state ", crash.state,
                       " is not on tmpfs: the flow cache is written back to disk (CPU and "
                       "I/O on every drain); give --journal a path on tmpfs"));
    }
  }
  auto pipeline = Pipeline::Start(*loader_, *config_, &interfaces_, crash);
  if (!pipeline.ok()) return pipeline.status();
  pipeline_ = std::move(*pipeline);

  if (absl::Status s = StartWatchers(*config_, &watchers_); !s.ok()) return s;
  RegisterControl();
  if (config_->metrics_enabled) {
    auto metrics = MetricsServer::Listen(
        config_->metrics_listen, [this] { return MetricsText(); },
        [this] { return ReadyAnswer(); });
    if (!metrics.ok()) return metrics.status();
    metrics_ = std::move(*metrics);
  }

  // Ready once attached and the first drain is done (a previous instance's counts included).
  pipeline_->Call([&] { pipeline_->DrainNow(); });
  size_t attached = 0;
  for (const Watcher& w : watchers_) attached += w.watcher->Attached().size();
  std::string ready = absl::StrCat("metering ", attached, " interface(s)");
  Log(absl::StrCat("ready: ", ready, ", control socket ", config_->control_socket));
  (void)notifier_.Ready(ready);
  return absl::OkStatus();
}

void Daemon::OnWatchEvent(const std::string& netns, const netlink::WatchEvent& event) {
  using Kind = netlink::WatchEvent::Kind;
  switch (event.kind) {
    case Kind::kReattached:
      filter_repairs_.fetch_add(1, std::memory_order_relaxed);
      [[fallthrough]];
    case Kind::kAttached:
      interfaces_.Set(event.link.ifindex, event.link.name, netns);
      break;
    case Kind::kDetached:
    case Kind::kForgotten:
      interfaces_.Remove(event.link.ifindex);
      break;
    default:
      break;
  }
  if (event.kind != Kind::kAttached) {
    Log(absl::StrCat(netns.empty() ? "" : absl::StrCat("[", netns, "] "),
                     netlink::ToString(event)));
  }
}

absl::Status Daemon::StartWatchers(const config::Config& c, std::vector<Watcher>* out) {
  for (const Selection& selection : SelectionsFrom(c, options_.netns)) {
    netlink::WatcherOptions w;
    w.netns = selection.netns;
    w.selector = selection.selector;
    w.direction = selection.direction;
    w.attach = AttachOptionsFrom(c);
    w.programs.ingress = {loader_->ingress_prog_fd(), TCFLOW_PROG_INGRESS};
    w.programs.egress = {loader_->egress_prog_fd(), TCFLOW_PROG_EGRESS};
    w.reattach_removed = c.reattach;
    // A removed filter stays missing until the next check a second later, so /ready (503)
    // and tcflow_interface_attached (0) show the gap before the repair closes it.
    w.repair_delay = absl::Seconds(1);
    const std::string netns = selection.netns;
    w.on_event = [this, netns](const netlink::WatchEvent& e) { OnWatchEvent(netns, e); };
    auto watcher = netlink::LinkWatcher::Start(std::move(w));
    if (!watcher.ok()) {
      return absl::Status(watcher.status().code(),
                          absl::StrCat("watching interfaces", netns.empty() ? "" : " in ", netns,
                                       ": ", watcher.status().message()));
    }
    out->push_back(Watcher{selection, AttachOptionsFrom(c), std::move(*watcher)});
  }
  return absl::OkStatus();
}

void Daemon::DetachUncovered(const std::vector<Watcher>& from, const std::vector<Watcher>& keep) {
  // (netns, ifindex) -> directions the kept watchers hold.
  std::map<std::pair<std::string, int>, int> covered;
  for (const Watcher& w : keep) {
    for (const auto& link : w.watcher->Attached()) {
      covered[{w.selection.netns, link.ifindex}] |= static_cast<int>(w.selection.direction);
    }
  }
  for (const Watcher& w : from) {
    std::vector<netlink::LinkInfo> links = w.watcher->Attached();
    if (links.empty()) continue;
    absl::StatusOr<netlink::Netns> ns = netlink::Netns::Open(w.selection.netns);
    if (!ns.ok()) {
      Log(absl::StrCat("detach: ", ns.status().message()));
      continue;
    }
    absl::Status status = netlink::RunInNetns(*ns, [&]() -> absl::Status {
          auto sock = netlink::RtnlSocket::Open();
          if (!sock.ok()) return sock.status();
          auto attacher = netlink::Attacher::Create(sock->get(), w.attach);
          if (!attacher.ok()) return attacher.status();
          for (const auto& link : links) {
            int remaining = static_cast<int>(w.selection.direction) &
                            ~covered[{w.selection.netns, link.ifindex}];
            if (remaining == 0) continue;
            // Only the filters: deleting (like creating) a clsact qdisc makes the kernel
            // deactivate the device's transmit queues for a grace period (qdisc_graft ->
            // dev_deactivate), dropping packets sent meanwhile. An empty clsact is inert;
            // `flowctl meter detach` removes it when tcflow created it.
            for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
              if (!netlink::Includes(static_cast<netlink::Direction>(remaining), hook)) continue;
              auto filters = attacher->ListOn(link.ifindex, hook);
              if (!filters.ok()) {
                Log(absl::StrCat("detach ", link.name, ": ", filters.status().message()));
                continue;
              }
              for (const netlink::FilterInfo& f : *filters) {
                absl::Status s = netlink::DeleteFilter(**sock, f);
                if (!s.ok()) Log(absl::StrCat("detach ", link.name, ": ", s.message()));
              }
            }
            if (covered[{w.selection.netns, link.ifindex}] == 0) {
              interfaces_.Remove(link.ifindex);
            }
          }
          return absl::OkStatus();
        });
    if (!status.ok()) Log(absl::StrCat("detach: ", status.message()));
  }
}

absl::Status Daemon::Reload() {
  ++reloads_;
  (void)notifier_.Reloading();
  auto next = LoadConfig(options_.config_file);
  absl::Status result;
  if (!next.ok()) {
    result = next.status();
  } else if (std::string d = RestartOnlyDifference(*config_, *next); !d.empty()) {
    result = absl::FailedPreconditionError(
        absl::StrCat("these settings only change with a restart: ", d));
  } else {
    pipeline_->Call([&] { result = pipeline_->Apply(*next); });
    if (result.ok() &&
        (!SameSelections(SelectionsFrom(*config_, options_.netns),
                         SelectionsFrom(*next, options_.netns)) ||
         config_->reattach != next->reattach)) {
      // Attach the new selection first (replacing filters in place where both select an
      // interface), then detach what only the old one held: no packet goes unmetered on an
      // interface that stays selected, and none is metered twice.
      std::vector<Watcher> fresh;
      result = StartWatchers(*next, &fresh);
      if (result.ok()) {
        for (Watcher& w : watchers_) w.watcher->Stop();
        DetachUncovered(watchers_, fresh);
        watchers_ = std::move(fresh);
        for (const Watcher& w : watchers_) {
          for (const auto& link : w.watcher->Attached()) {
            interfaces_.Set(link.ifindex, link.name, w.selection.netns);
          }
        }
      } else {
        for (Watcher& w : fresh) w.watcher->Stop();
      }
    }
    if (result.ok()) {
      config_ = std::move(*next);
      config_loaded_at_ = absl::Now();
    }
  }
  if (!result.ok()) {
    ++reload_failures_;
    last_reload_error_ = std::string(result.message());
  } else {
    last_reload_error_.clear();
    Log(absl::StrCat("reloaded ", options_.config_file.empty() ? "the built-in default"
                                                               : options_.config_file));
  }
  (void)notifier_.Ready();
  return result;
}

void Daemon::Shutdown() {
  (void)notifier_.Stopping();
  for (Watcher& w : watchers_) w.watcher->Stop();
  if (!config_->stay_attached_on_exit) {
    std::vector<Watcher> none;
    DetachUncovered(watchers_, none);
  }
  // After the detach, two drains collect everything the programs counted (the second one
  // covers runs that were in flight across the first flip); then every flow ends.
  pipeline_->Call([&] { pipeline_->Finish(); });
  Log(config_->stay_attached_on_exit ? "stopped (filters stay attached)" : "stopped");
}

void Daemon::RegisterControl() {
  // {"cmd":"events"} subscribes to kernel events (NDP 133-137, deep IPv6 extension chains).
  control_->RegisterStream("events");
  control_->Register("status", [this](const control::JsonValue&, control::JsonWriter& w) {
    WriteStatus(w);
    return absl::OkStatus();
  });
  control_->Register("dump", [this](const control::JsonValue& req, control::JsonWriter& w) {
    std::optional<uint32_t> ifindex;
    if (std::optional<std::string> name = req.GetString("interface"); name && !name->empty()) {
      ifindex = interfaces_.IndexOf(*name);
      if (!ifindex) return absl::NotFoundError(absl::StrCat(*name, ": not a metered interface"));
    }
    std::string flows;
    pipeline_->Call([&] { pipeline_->DumpFlows(ifindex, &flows); });
    w.BeginObject().Key("flows").Raw(flows).EndObject();
    return absl::OkStatus();
  });
  // `flowctl top`: the largest flows ranked here (top_ranker.h), N rows per refresh.
  control_->Register("top", [this](const control::JsonValue& req, control::JsonWriter& w) {
    absl::StatusOr<TopQuery> query = TopQueryFromJson(req);
    if (!query.ok()) return query.status();
    if (std::optional<std::string> name = req.GetString("interface"); name && !name->empty()) {
      query->ifindex = interfaces_.IndexOf(*name);
      if (!query->ifindex) {
        return absl::NotFoundError(absl::StrCat(*name, ": not a metered interface"));
      }
    }
    w.BeginObject().Key("uptime_s").Double(absl::ToDoubleSeconds(absl::Now() - started_at_));
    pipeline_->Call([&] { pipeline_->WriteTop(*query, w); });
    w.EndObject();
    return absl::OkStatus();
  });
  control_->Register("flush", [this](const control::JsonValue& req, control::JsonWriter& w) {
    absl::StatusOr<control::FlushRequest> flush = control::DecodeFlushRequest(req);
    if (!flush.ok()) return flush.status();
    if (!flush->interface.empty()) {
      std::optional<uint32_t> ifindex = interfaces_.IndexOf(flush->interface);
      if (!ifindex) {
        return absl::NotFoundError(absl::StrCat(flush->interface, ": not a metered interface"));
      }
      flush->filter.ifindex = *ifindex;
    }
    size_t ended = 0;
    pipeline_->Call([&] { ended = pipeline_->Flush(flush->filter); });
    w.BeginObject().Key("ended").Uint(ended).EndObject();
    return absl::OkStatus();
  });
  control_->Register("reload", [this](const control::JsonValue&, control::JsonWriter& w) {
    absl::Status s = Reload();
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("reload refused, the running config stays:\n",
                                                 s.message()));
    }
    w.BeginObject().Key("reloaded").Bool(true).Key("config_file").String(options_.config_file)
        .EndObject();
    return absl::OkStatus();
  });
}

std::string Daemon::MetricsText() {
  // The pipeline thread only copies its counters; the text is made here, on the main loop.
  metrics::PipelineSnapshot snapshot;
  pipeline_->Call([&] { pipeline_->SnapshotMetrics(&snapshot); });
  metrics::ProcessInfo info;
  info.version = kVersion;
  info.revision = "unknown";  // builds are not stamped
  info.start_time_seconds = absl::ToDoubleSeconds(started_at_ - absl::UnixEpoch());
  info.reloads_ok = reloads_ - reload_failures_;
  info.reloads_error = reload_failures_;
  info.last_reload_success = last_reload_error_.empty();
  std::string text;
  metrics::RenderMetrics(snapshot, info, &text);
  AppendHealthMetrics(Health(), &text);
  return text;
}

HealthInputs Daemon::Health() const {
  HealthInputs in;
  in.now = absl::Now();
  in.last_drain = pipeline_->last_drain_time();
  in.drain_interval = config_->drain_interval;
  in.filter_repairs = filter_repairs_.load(std::memory_order_relaxed);
  // Sorted by interface then direction, so the metrics come out in a stable order.
  std::map<std::pair<std::string, std::string>, HookHealth> hooks;
  for (const Watcher& watcher : watchers_) {
    const std::string prefix =
        watcher.selection.netns.empty() ? "" : absl::StrCat(watcher.selection.netns, "/");
    auto add = [&](const netlink::LinkInfo& link, netlink::Hook hook, bool attached,
                   const std::string& problem) {
      HookHealth h{prefix + link.name, netlink::HookName(hook), attached, problem};
      hooks[{h.interface, h.direction}] = std::move(h);
    };
    for (const netlink::LinkInfo& link : watcher.watcher->Attached()) {
      for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
        if (netlink::Includes(watcher.selection.direction, hook)) add(link, hook, true, "");
      }
    }
    for (const netlink::LinkProblem& p : watcher.watcher->Problems()) {
      for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
        if (!netlink::Includes(watcher.selection.direction, hook)) continue;
        const bool affected = hook == netlink::Hook::kIngress ? p.ingress : p.egress;
        add(p.link, hook, !affected, affected ? p.reason : "");
      }
    }
  }
  for (auto& [key, h] : hooks) in.hooks.push_back(std::move(h));
  return in;
}

HttpAnswer Daemon::ReadyAnswer() const {
  Readiness r = EvaluateReadiness(Health());
  return HttpAnswer{r.ready ? 200u : 503u, std::move(r.text)};
}

void Daemon::WriteStatus(control::JsonWriter& w) {
  w.BeginObject();
  w.Key("pid").Int(getpid());
  w.Key("uptime_s").Double(absl::ToDoubleSeconds(absl::Now() - started_at_));
  w.Key("config_file").String(options_.config_file.empty() ? "<built-in default>"
                                                            : options_.config_file);
  w.Key("config_loaded_at").String(IsoTime(config_loaded_at_));
  w.Key("reloads").Uint(reloads_);
  w.Key("reload_failures").Uint(reload_failures_);
  w.Key("last_reload_error").String(last_reload_error_);
  w.Key("pin_path").String(config_->bpffs_pin_path);
  w.Key("tables_taken_over").Bool(loader_->reused_pins());
  w.Key("interfaces").BeginArray();
  for (const Watcher& watcher : watchers_) {
    for (const auto& link : watcher.watcher->Attached()) {
      w.BeginObject()
          .Key("name").String(link.name)
          .Key("ifindex").Int(link.ifindex)
          .Key("netns").String(watcher.selection.netns)
          .Key("direction").String(watcher.selection.direction == netlink::Direction::kBoth
                                       ? "both"
                                   : watcher.selection.direction == netlink::Direction::kIngress
                                       ? "ingress"
                                       : "egress")
          .EndObject();
    }
  }
  w.EndArray();
  pipeline_->Call([&] { pipeline_->WriteStatus(w); });
  w.EndObject();
}

}  // namespace tcflow::tcflowd
