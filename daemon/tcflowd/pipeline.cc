#include "daemon/tcflowd/pipeline.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "absl/strings/str_cat.h"
#include "daemon/flowlog/flow_json.h"
#include "daemon/ipfix/tcp_transport.h"
#include "daemon/runtime/address.h"
#include "daemon/runtime/timer.h"
#include "daemon/tcflowd/component_options.h"

namespace tcflow::tcflowd {
namespace {

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Start(const Loader& loader,
                                                          const config::Config& config,
                                                          const InterfaceTable* interfaces,
                                                          const CrashFiles& crash) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  p->loader_ = &loader;
  p->interfaces_ = interfaces;

  // The flow cache merges by key anyway, so the drain streams slots unmerged (one merge,
  // not two, per record on the export path).
  DrainOptions drain_options;
  drain_options.merge_duplicates = false;
  auto drainer = Drainer::Create(loader.tables(), loader.layout(), drain_options);
  if (!drainer.ok()) return drainer.status();
  p->drainer_ = std::move(*drainer);
  auto stats = StatsReader::Create(loader.tables().stats());
  if (!stats.ok()) return stats.status();
  p->stats_reader_.emplace(std::move(*stats));

  cache::FlowCacheOptions cache_options = CacheOptionsFrom(config);
  if (absl::Status s = cache_options.Validate(); !s.ok()) return s;
  std::vector<FlowRecord> recovered;
  if (crash.state.empty()) {
    p->cache_ = std::make_unique<cache::FlowCache>(cache_options);
  } else {
    auto cache = cache::FlowCache::CreateDurable(cache_options, crash.state, &recovered);
    if (!cache.ok()) return cache.status();
    p->cache_ = std::move(*cache);
  }
  bool legacy = false;
  if (!crash.legacy_journal.empty() && access(crash.legacy_journal.c_str(), F_OK) == 0) {
    std::vector<FlowRecord> from_journal;
    auto journal = FlowJournal::Open(crash.legacy_journal, &from_journal);
    if (!journal.ok()) return journal.status();
    recovered.insert(recovered.end(), from_journal.begin(), from_journal.end());
    legacy = true;
  }
  p->traffic_observer_.traffic = &p->traffic_metrics_;
  p->cache_->set_observer(&p->traffic_observer_);

  p->collector_options_ = CollectorOptionsFrom(config);
  auto set = ipfix::ExporterSet::Create(p->collector_options_, absl::Now());
  if (!set.ok()) return set.status();
  p->exporters_ = std::make_unique<ipfix::ExporterSet>(std::move(*set));
  for (const auto& c : config.collectors) p->collector_names_.push_back(c.name);

  if (!config.json_log_path.empty()) {
    flowlog::FlowLogOptions log_options;
    log_options.path = config.json_log_path;
    Pipeline* self = p.get();
    log_options.interface_name = [self](uint32_t ifindex) -> absl::string_view {
      auto it = self->export_names_.find(ifindex);
      return it == self->export_names_.end() ? absl::string_view()
                                              : absl::string_view(it->second);
    };
    auto log = flowlog::FlowLog::Open(log_options);
    if (!log.ok()) return log.status();
    p->flow_log_ = std::move(*log);
    p->flow_log_path_ = config.json_log_path;
  }

  // What a killed predecessor held goes back into the cache (exported when it ends); only
  // then does the new state file replace the old one, so a crash in between recovers the
  // same again. Records ended on the way (cache pressure) are exported at the first drain.
  p->cache_->MergeBatch(recovered, &p->ended_);
  p->recovered_records_ = recovered.size();
  for (const FlowRecord& r : recovered) p->recovered_packets_ += r.packets;
  if (p->cache_->durable()) {
    if (absl::Status s = p->cache_->PublishState(); !s.ok()) return s;
    p->cache_->set_outbox_handoff(true);
    p->handed_position_ = p->cache_->outbox_position();
  }
  if (legacy) unlink(crash.legacy_journal.c_str());

  p->events_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  {
    Pipeline* self = p.get();
    auto events = EventReader::Create(loader.tables().events(),
                                      [self](const tcflow_event& e) { self->OnEvent(e); });
    if (!events.ok()) return events.status();
    p->event_reader_ = std::move(*events);
  }

  p->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  p->timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  p->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->epoll_fd_ < 0 || p->timer_fd_ < 0 || p->wake_fd_ < 0) return Errno("pipeline fds");
  for (int fd : {p->timer_fd_, p->wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(p->epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return Errno("epoll_ctl");
  }
  if (absl::Status s = p->ArmTimer(config.drain_interval); !s.ok()) return s;
  p->RefreshInterfaces();
  p->worker_ = std::make_unique<ExportWorker>(
      [raw = p.get()](std::vector<FlowRecord>& batch) { raw->ExportBatch(batch); });
  p->thread_ = std::thread([raw = p.get()] { raw->Run(); });
  return p;
}

Pipeline::~Pipeline() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  event_reader_.reset();
  for (int fd : {epoll_fd_, timer_fd_, wake_fd_, events_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::Status Pipeline::ArmTimer(absl::Duration interval) {
  drain_interval_ = interval;
  itimerspec spec{};
  spec.it_interval = absl::ToTimespec(interval);
  spec.it_value = spec.it_interval;
  if (timerfd_settime(timer_fd_, 0, &spec, nullptr) != 0) return Errno("timerfd_settime");
  return absl::OkStatus();
}

void Pipeline::Call(const std::function<void()>& task) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  {
    absl::MutexLock lock(&mu_);
    tasks_.push_back([&] {
      task();
      done.set_value();
    });
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  finished.wait();
}

void Pipeline::Run() {
  pthread_setname_np(pthread_self(), "tcflowd-drain");
  for (;;) {
    epoll_event events[4];
    int n = epoll_wait(epoll_fd_, events, 4, -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      uint64_t count = 0;
      if (fd == timer_fd_) {
        if (read(timer_fd_, &count, sizeof(count)) == sizeof(count)) Tick();
      } else if (fd == wake_fd_) {
        (void)!read(wake_fd_, &count, sizeof(count));
      }
    }
    std::deque<std::function<void()>> tasks;
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      tasks.swap(tasks_);
      stop = stop_;
    }
    for (auto& t : tasks) t();
    if (stop) break;
  }
}

void Pipeline::Tick() {
  if (event_reader_ != nullptr) (void)event_reader_->Consume();
  DrainNow();
  OnExportSide([this] { exporters_->Tick(absl::Now()); });
  if (cache_->window_enabled() && absl::Now() - top_window_start_ > top_window_keep_) {
    cache_->EnableWindow(false);  // nobody watches `flowctl top` any more
  }
}

void Pipeline::DrainNow() {
  RefreshInterfaces();
  const int64_t drain_start_ns = runtime::MonotonicNowNs();
  absl::StatusOr<DrainResult> r = drainer_->Drain(
      [this](absl::Span<const FlowRecord> batch) {
        traffic_metrics_.Add(batch);
        cache_->MergeBatch(batch, &ended_);
      });
  drain_duration_.Observe((runtime::MonotonicNowNs() - drain_start_ns) * 1e-9);
  if (r.ok()) {
    ++totals_.drains;
    totals_.last = *r;
    totals_.records += r->records;
    totals_.packets += r->packets;
    totals_.bytes += r->bytes;
    totals_.max_slots_wanted = std::max(totals_.max_slots_wanted, r->slots_wanted);
    totals_.last_drain_time = absl::Now();
    last_drain_unix_ns_.store(absl::ToUnixNanos(totals_.last_drain_time),
                              std::memory_order_relaxed);
  } else {
    ++totals_.drain_errors;
    totals_.last_drain_error = std::string(r.status().message());
  }
  // The cache's clock is the drain's: wall-clock ms through the same offset.
  const int64_t now_ms = drainer_->clock().ToWallMs(runtime::MonotonicNowNs());
  cache_->Expire(now_ms, &ended_);
  RefreshMeteringStats();
  ExportEnded();
  // Traffic counters of links gone for good are forgotten, a pass a minute (Prune()).
  if (interfaces_ != nullptr && drain_start_ns - last_prune_ns_ >= 60'000'000'000) {
    traffic_metrics_.Prune(interfaces_->MetricLabels());
    last_prune_ns_ = drain_start_ns;
  }
}

void Pipeline::OnEvent(const tcflow_event& e) {
  ++events_read_;
  std::string json;
  control::JsonWriter w(&json);
  const uint8_t v = 6;  // both kinds are IPv6 events
  w.BeginObject()
      .Key("type").String(e.type == TCFLOW_EVENT_NDP ? "ndp"
                          : e.type == TCFLOW_EVENT_EXT_CHAIN_DEEP ? "ext_chain_deep" : "unknown")
      .Key("time_ms").Int(drainer_->clock().ToWallMs(e.timestamp_ns))
      .Key("ifindex").Uint(e.ifindex);
  auto it = names_.find(e.ifindex);
  if (it != names_.end()) w.Key("ifname").String(it->second);
  w.Key("direction").String(e.direction == TCFLOW_DIR_INGRESS ? "ingress" : "egress")
      .Key("src").String(runtime::FormatAddress(e.src_addr, v))
      .Key("dst").String(runtime::FormatAddress(e.dst_addr, v))
      .Key("icmp_type").Uint(e.icmp_type)
      .Key("icmp_code").Uint(e.icmp_code);
  if (e.type == TCFLOW_EVENT_NDP) {
    bool has_target = false;
    for (uint8_t b : e.target_addr) has_target |= b != 0;
    if (has_target) w.Key("target").String(runtime::FormatAddress(e.target_addr, v));
  } else {
    w.Key("ext_depth").Uint(e.ext_depth).Key("ext_hdr_bitmap").Uint(e.ext_hdr_bitmap);
  }
  w.EndObject();
  {
    absl::MutexLock lock(&events_mu_);
    // Bounded: a main loop that cannot keep up loses events, never the drain's time.
    if (events_.size() >= 65536) {
      ++events_dropped_;
      return;
    }
    events_.push_back(std::move(json));
  }
  uint64_t one = 1;
  (void)!write(events_fd_, &one, sizeof(one));
}

std::vector<std::string> Pipeline::TakeEvents(uint64_t* dropped) {
  uint64_t count;
  (void)!read(events_fd_, &count, sizeof(count));
  absl::MutexLock lock(&events_mu_);
  std::vector<std::string> out;
  out.swap(events_);
  *dropped = events_dropped_;
  return out;
}

void Pipeline::ExportEnded() {
  const uint64_t sent_position = cache_->outbox_position();
  if (cache_->outbox_handoff()) {
    // The ended records are in the cache's outbox (and in ended_ only when it was full):
    // the send thread exports them from there, no copy on this thread.
    const uint64_t from = handed_position_;
    handed_position_ = sent_position;
    if (from == sent_position && ended_.empty()) return;
    auto job = [this, from, to = sent_position, rest = std::move(ended_)]() mutable {
      for (absl::Span<const FlowRecord> run : cache_->OutboxRuns(from, to)) ExportBatch(run);
      ExportBatch(rest);
      cache_->MarkSent(to);  // a successor no longer recovers these
    };
    ended_.clear();
    if (worker_ == nullptr) {  // start-up: nothing runs beside us yet
      job();
    } else {
      worker_->SubmitJob(std::move(job));
    }
    return;
  }
  // Without a crash state the records are in ended_ only.
  if (ended_.empty()) return;
  if (worker_ == nullptr) {
    ExportBatch(ended_);
    ended_.clear();
    return;
  }
  worker_->Submit(&ended_);
}

void Pipeline::ExportBatch(absl::Span<const FlowRecord> batch) {
  if (batch.empty()) return;
  exporters_->Export(batch, absl::Now());
  if (flow_log_ != nullptr) flow_log_->Write(batch);
  for (const FlowRecord& r : batch) {
    packets_exported_ += r.packets;
    bytes_exported_ += r.bytes;
  }
  records_exported_ += batch.size();
  if (flow_log_ != nullptr) (void)flow_log_->Flush();
}

void Pipeline::OnExportSide(std::function<void()> job) {
  if (worker_ == nullptr) {
    job();
  } else {
    worker_->Post(std::move(job));
  }
}

void Pipeline::RefreshInterfaces() {
  if (interfaces_ == nullptr || interfaces_->version() == names_version_) return;
  names_ = interfaces_->Snapshot(&names_version_);
  std::vector<ipfix::InterfaceInfo> infos;
  for (const auto& [index, name] : names_) infos.push_back({index, name, ""});
  OnExportSide([this, infos = std::move(infos), names = names_]() mutable {
    export_names_ = std::move(names);
    exporters_->SetInterfaces(infos);
  });
}

bool Pipeline::ReadKernelStats(tcflow_stats* out) {
  if (!stats_reader_.has_value() || !stats_reader_->Read(out).ok()) return false;
  StatsReader::Add(drainer_->slot_stats(), out);  // the counters kept per flow
  return true;
}

void Pipeline::RefreshMeteringStats() {
  if (!ReadKernelStats(&kernel_stats_)) return;
  ipfix::MeteringStats m;
  m.packets_observed = kernel_stats_.packets[0] + kernel_stats_.packets[1];
  m.octets_observed = kernel_stats_.bytes[0] + kernel_stats_.bytes[1];
  m.flows_observed = cache_->stats().flows_created;
  // Packets in no flow record: no slot and no overflow slot left, or unparseable.
  m.packets_ignored = kernel_stats_.overflow_lost;
  for (int i = 1; i < TCFLOW_PARSE_RESULT_COUNT; ++i) m.packets_ignored += kernel_stats_.parse_error[i];
  OnExportSide([this, m] { exporters_->SetMeteringStats(m); });
}

size_t Pipeline::Flush(const cache::FlowFilter& filter) {
  DrainNow();
  size_t n = cache_->Flush(filter, &ended_);
  ExportEnded();
  worker_->WaitIdle();  // `flowctl flush` answers once the records went out
  return n;
}

void Pipeline::DumpFlows(std::optional<uint32_t> ifindex, std::string* json_array) {
  DrainNow();
  flowlog::InterfaceNamer namer = [this](uint32_t index) -> absl::string_view {
    auto it = names_.find(index);
    return it == names_.end() ? absl::string_view() : absl::string_view(it->second);
  };
  json_array->push_back('[');
  bool first = true;
  cache_->ForEach([&](const FlowRecord& r) {
    if (ifindex.has_value() && r.key.ifindex != *ifindex) return;
    if (!first) json_array->push_back(',');
    first = false;
    flowlog::AppendFlowObject(r, &namer, json_array);
  });
  json_array->push_back(']');
}

absl::Status Pipeline::Apply(const config::Config& config) {
  cache::FlowCacheOptions cache_options = CacheOptionsFrom(config);
  if (absl::Status s = cache_options.Validate(); !s.ok()) return s;

  // Collectors: rebuild the set only when they changed (a rebuilt exporter starts a new
  // session: templates again, sequence numbers from 0).
  std::vector<ipfix::CollectorOptions> collectors = CollectorOptionsFrom(config);
  std::unique_ptr<ipfix::ExporterSet> new_set;
  bool collectors_changed = collectors.size() != collector_options_.size();
  for (size_t i = 0; !collectors_changed && i < collectors.size(); ++i) {
    const auto& a = collectors[i];
    const auto& b = collector_options_[i];
    collectors_changed = a.address != b.address || a.transport != b.transport ||
                         a.mtu != b.mtu || a.tcp_queue_bytes != b.tcp_queue_bytes ||
                         a.exporter.observation_domain_id != b.exporter.observation_domain_id ||
                         a.exporter.template_refresh != b.exporter.template_refresh ||
                         a.exporter.ipv4_elements != b.exporter.ipv4_elements ||
                         a.exporter.ipv6_elements != b.exporter.ipv6_elements ||
                         a.exporter.options_records != b.exporter.options_records;
  }
  if (collectors_changed) {
    auto set = ipfix::ExporterSet::Create(collectors, absl::Now());
    if (!set.ok()) return set.status();
    new_set = std::make_unique<ipfix::ExporterSet>(std::move(*set));
  }
  std::unique_ptr<flowlog::FlowLog> new_log;
  if (!config.json_log_path.empty() && config.json_log_path != flow_log_path_) {
    flowlog::FlowLogOptions log_options;
    log_options.path = config.json_log_path;
    log_options.interface_name = [this](uint32_t ifindex) -> absl::string_view {
      auto it = export_names_.find(ifindex);
      return it == export_names_.end() ? absl::string_view() : absl::string_view(it->second);
    };
    auto log = flowlog::FlowLog::Open(log_options);
    if (!log.ok()) return log.status();
    new_log = std::move(*log);
  }

  // Everything could be built: switch. Flows ended so far go to the old exporters first.
  DrainNow();
  worker_->WaitIdle();
  if (absl::Status s = cache_->SetOptions(cache_options); !s.ok()) return s;
  worker_->Locked([&] {
    if (new_set != nullptr) {
      exporters_->Tick(absl::Now());
      exporters_ = std::move(new_set);
      collector_options_ = std::move(collectors);
      collector_names_.clear();
      for (const auto& c : config.collectors) collector_names_.push_back(c.name);
    }
    if (new_log != nullptr) {
      flow_log_ = std::move(new_log);
      flow_log_path_ = config.json_log_path;
    } else if (config.json_log_path.empty()) {
      flow_log_.reset();
      flow_log_path_.clear();
    } else if (flow_log_ != nullptr) {
      (void)flow_log_->Reopen();  // log rotation
    }
  });
  if (collectors_changed) {
    names_version_ = 0;  // the new exporters need the interface table
    RefreshInterfaces();
    RefreshMeteringStats();
  }
  if (config.drain_interval != drain_interval_) return ArmTimer(config.drain_interval);
  return absl::OkStatus();
}

void Pipeline::Finish() {
  DrainNow();
  DrainNow();
  cache_->FlushAll(&ended_);
  ExportEnded();
  worker_->WaitIdle();
  worker_->Locked([this] { FinishExport(); });
  cache_->DiscardState();  // everything is exported: nothing for a successor
}

void Pipeline::FinishExport() {
  exporters_->Tick(absl::Now());
  // TCP collectors: wait (a bounded while) until they acknowledged what was sent and took
  // what was held for them; what stays unacknowledged is counted as not sent by the
  // transport, what stays held (collector away) by DropHeld().
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  for (;;) {
    bool waiting = false;
    for (size_t i = 0; i < exporters_->size(); ++i) {
      auto* tcp = dynamic_cast<ipfix::TcpTransport*>(&exporters_->at(i).transport());
      waiting |= tcp != nullptr && tcp->connected() &&
                 (tcp->unacknowledged() > 0 || exporters_->at(i).stats().held_messages > 0);
    }
    if (!waiting || absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(10));
    exporters_->Tick(absl::Now());
  }
  exporters_->DropHeld(absl::Now());
}

void Pipeline::SnapshotMetrics(metrics::PipelineSnapshot* out) {
  RefreshInterfaces();
  out->traffic = traffic_metrics_.Snapshot(interfaces_ != nullptr ? interfaces_->MetricLabels()
                                                                   : names_);
  // The kernel's counters as of now (the traffic ones are as of the last drain).
  out->kernel_valid = ReadKernelStats(&out->kernel);
  out->table_flows = totals_.last.slots_read;
  out->table_capacity = drainer_->layout().slots_per_half;
  out->cache_flows = cache_->size();
  out->cache_capacity = cache_->options().max_flows;
  const cache::FlowCacheStats& cs = cache_->stats();
  std::copy(cs.records_ended.begin(), cs.records_ended.end(), out->flows_ended.begin());
  out->crash_state_unprotected = cs.records_unprotected;
  out->crash_state_storage_full = cs.storage_full;
  out->drain_duration = drain_duration_;
  out->drain_errors = totals_.drain_errors;
  out->last_drain_timestamp =
      totals_.drains == 0 ? 0 : absl::ToDoubleSeconds(totals_.last_drain_time - absl::UnixEpoch());
  worker_->Locked([&] { SnapshotCollectors(out); });
}

void Pipeline::SnapshotCollectors(metrics::PipelineSnapshot* out) {
  for (size_t i = 0; i < exporters_->size(); ++i) {
    const ipfix::ExporterStats s = exporters_->at(i).stats();
    metrics::CollectorMetrics& c = out->collectors.emplace_back();
    c.name = i < collector_names_.size() ? collector_names_[i] : "";
    c.records = s.flow_records;
    c.messages = s.messages;
    c.bytes = s.octets;
    c.records_not_sent = s.loss.records;
    c.messages_not_sent = s.loss.messages;
    c.template_refreshes = s.template_sends;
    c.up = s.collector_up;
  }
}

void Pipeline::WriteStatus(control::JsonWriter& w) {
  worker_->Locked([&] { WriteStatusLocked(w); });
}

void Pipeline::WriteStatusLocked(control::JsonWriter& w) {
  const TableLayout& layout = drainer_->layout();
  w.Key("table").BeginObject()
      .Key("slots_per_half").Uint(layout.slots_per_half)
      .Key("used_last_drain").Uint(totals_.last.slots_wanted)
      .Key("fill_last_drain").Double(layout.slots_per_half == 0 ? 0.0
          : static_cast<double>(totals_.last.slots_wanted) / layout.slots_per_half)
      .Key("max_used").Uint(totals_.max_slots_wanted)
      .Key("drains").Uint(totals_.drains)
      .Key("drain_errors").Uint(totals_.drain_errors)
      .Key("last_drain_error").String(totals_.last_drain_error)
      .Key("drain_interval_ms").Int(absl::ToInt64Milliseconds(drain_interval_))
      .Key("grace_mode").Int(static_cast<int>(drainer_->grace_mode()))
      .Key("packets_drained").Uint(totals_.packets)
      .Key("bytes_drained").Uint(totals_.bytes)
      .EndObject();
  const cache::FlowCacheStats& cs = cache_->stats();
  w.Key("cache").BeginObject()
      .Key("flows").Uint(cache_->size())
      .Key("max_flows").Uint(cache_->options().max_flows)
      .Key("flows_created").Uint(cs.flows_created)
      .Key("records_ended").BeginObject()
      .Key("idle_timeout").Uint(cs.records_ended[1])
      .Key("active_timeout").Uint(cs.records_ended[2])
      .Key("end_of_flow").Uint(cs.records_ended[3])
      .Key("forced_end").Uint(cs.records_ended[4])
      .Key("lack_of_resources").Uint(cs.records_ended[5])
      .EndObject()
      .EndObject();
  w.Key("exported").BeginObject()
      .Key("records").Uint(records_exported_)
      .Key("packets").Uint(packets_exported_)
      .Key("bytes").Uint(bytes_exported_)
      .EndObject();
  w.Key("collectors").BeginArray();
  for (size_t i = 0; i < exporters_->size(); ++i) {
    const ipfix::ExporterStats s = exporters_->at(i).stats();
    w.BeginObject()
        .Key("name").String(i < collector_names_.size() ? collector_names_[i] : "")
        .Key("address").String(collector_options_[i].address)
        .Key("transport").String(collector_options_[i].transport == ipfix::TransportKind::kTcp
                                     ? "tcp" : "udp")
        .Key("messages").Uint(s.messages)
        .Key("octets").Uint(s.octets)
        .Key("flow_records").Uint(s.flow_records)
        .Key("options_records").Uint(s.options_records)
        .Key("template_sends").Uint(s.template_sends)
        .Key("lost_messages").Uint(s.loss.messages)
        .Key("lost_records").Uint(s.loss.records)
        .Key("lost_packets").Uint(s.loss.packets)
        .Key("lost_octets").Uint(s.loss.octets)
        // TCP: records kept for the collector while it is away (sent after the reconnect).
        .Key("held_records").Uint(s.held_records)
        .Key("up").Bool(s.collector_up)
        .EndObject();
  }
  w.EndArray();
  uint64_t parse_errors = 0;
  for (int i = 1; i < TCFLOW_PARSE_RESULT_COUNT; ++i) parse_errors += kernel_stats_.parse_error[i];
  w.Key("kernel").BeginObject()
      .Key("packets_ingress").Uint(kernel_stats_.packets[0])
      .Key("packets_egress").Uint(kernel_stats_.packets[1])
      .Key("bytes_ingress").Uint(kernel_stats_.bytes[0])
      .Key("bytes_egress").Uint(kernel_stats_.bytes[1])
      .Key("not_ip").Uint(kernel_stats_.not_ip)
      .EndObject();
  uint64_t export_lost = 0;
  for (size_t i = 0; i < exporters_->size(); ++i) export_lost += exporters_->at(i).stats().loss.records;
  w.Key("losses").BeginObject()
      .Key("flows_not_created").Uint(kernel_stats_.flows_not_created)
      .Key("overflow_lost").Uint(kernel_stats_.overflow_lost)
      .Key("parse_errors").Uint(parse_errors)
      .Key("events_lost").Uint(kernel_stats_.events_lost)
      .Key("events_read").Uint(events_read_)
      .Key("events_dropped").Uint([this] {
        absl::MutexLock lock(&events_mu_);
        return events_dropped_;
      }())
      .Key("cache_evictions").Uint(cs.records_evicted())
      .Key("export_records_lost").Uint(export_lost)
      .Key("flow_log_dropped").Uint(flow_log_ ? flow_log_->stats().records_dropped : 0)
      .EndObject();
  w.Key("flow_log").String(flow_log_path_);
  // The crash state ("journal" for the status readers of earlier versions).
  w.Key("journal").BeginObject()
      .Key("path").String(cache_->state_path())
      .Key("entries_used").Uint(cache_->entries_used())
      .Key("records_unprotected").Uint(cs.records_unprotected)
      .Key("storage_full").Uint(cs.storage_full)
      .Key("recovered_records").Uint(recovered_records_)
      .Key("recovered_packets").Uint(recovered_packets_)
      .EndObject();
}

void Pipeline::WriteTop(const TopQuery& query, control::JsonWriter& w) {
  DrainNow();
  const absl::Time now = absl::Now();
  const bool has_window = cache_->window_enabled();
  TopResult top = RankTop(
      [this](absl::FunctionRef<void(const FlowRecord&, const cache::FlowWindowCounts&)> visit) {
        cache_->ForEachWithWindow(visit);
      },
      has_window, query);
  w.Key("mono_ms").Int(runtime::MonotonicNowNs() / 1'000'000)
      .Key("cache_flows").Uint(cache_->size())
      .Key("table").BeginObject()
      .Key("slots_per_half").Uint(drainer_->layout().slots_per_half)
      .Key("used_last_drain").Uint(totals_.last.slots_wanted)
      .Key("max_used").Uint(totals_.max_slots_wanted)
      .EndObject()
      .Key("kernel").BeginObject()
      .Key("packets").Uint(kernel_stats_.packets[0] + kernel_stats_.packets[1])
      .Key("bytes").Uint(kernel_stats_.bytes[0] + kernel_stats_.bytes[1])
      .EndObject()
      .Key("sort").String(query.sort == TopSort::kPackets ? "packets" : "bytes")
      .Key("ranked_by").String(top.ranked_by_rate ? "rate" : "total");
  if (has_window) {
    w.Key("window_ms").Int(absl::ToInt64Milliseconds(now - top_window_start_));
  }
  w.Key("matched_flows").Uint(top.matched_flows).Key("active_flows").Uint(top.active_flows);
  flowlog::InterfaceNamer namer = [this](uint32_t index) -> absl::string_view {
    auto it = names_.find(index);
    return it == names_.end() ? absl::string_view() : absl::string_view(it->second);
  };
  w.Key("flows").BeginArray();
  std::string flow;
  for (const TopRow& row : top.rows) {
    flow.clear();
    flowlog::AppendFlowObject(row.record, &namer, &flow);
    w.BeginObject().Key("flow").Raw(flow)
        .Key("window_packets").Uint(row.window.packets)
        .Key("window_bytes").Uint(row.window.bytes)
        .EndObject();
  }
  w.EndArray();
  // The next window starts now (shared by all clients: each rate is over its own window's
  // length, so concurrent clients see shorter windows, never wrong rates).
  if (has_window) {
    cache_->ClearWindow();
  } else {
    cache_->EnableWindow(true);
  }
  top_window_start_ = now;
  top_window_keep_ = std::max(absl::Seconds(30), 2 * absl::Milliseconds(query.interval_ms));
}

}  // namespace tcflow::tcflowd
