#include "config/config.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <tuple>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "config/defaults.h"
#include "config/parse.h"
#include "config/validate.h"

namespace tcflow::config {
namespace {

ConfigError FileError(absl::string_view file, std::string message) {
  ConfigError e;
  e.file = std::string(file);
  e.message = std::move(message);
  return e;
}

bool FnMatch(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

Config BuildView(const TcflowConfig& r) {
  Config c;
  for (const InterfaceSelection& s : r.interfaces()) {
    InterfaceSelectionView v;
    v.netns = s.netns();
    v.netns_path = s.netns_path();
    v.include.assign(s.include().begin(), s.include().end());
    v.exclude.assign(s.exclude().begin(), s.exclude().end());
    v.all_but_loopback = s.all_but_loopback();
    v.ingress = s.direction() != EGRESS;
    v.egress = s.direction() != INGRESS;
    c.interfaces.push_back(std::move(v));
  }
  c.tc_priority = static_cast<uint16_t>(r.attach().tc_priority());
  c.tc_handle = r.attach().tc_handle();
  c.reattach = r.attach().reattach();
  c.stay_attached_on_exit = r.attach().stay_attached_on_exit();
  c.key_vlan = r.flow_key().vlan();
  c.key_mark = r.flow_key().mark();
  c.slots_per_half = r.table().slots_per_half();
  c.drain_interval = absl::Milliseconds(r.table().drain_interval_ms());
  c.idle_timeout = absl::Seconds(r.flow_cache().idle_timeout_s());
  c.active_timeout = absl::Seconds(r.flow_cache().active_timeout_s());
  c.tcp_end_on_fin_or_rst = r.flow_cache().tcp_end_of_flow() == END_ON_FIN_OR_RST;
  c.tcp_end_linger = absl::Seconds(r.flow_cache().tcp_end_linger_s());
  c.max_flows = r.flow_cache().max_flows();

  for (const Template& t : r.template_()) {
    TemplateView v;
    v.name = t.name();
    v.ip_version = t.family() == IPV6 ? 6 : 4;
    v.template_id = static_cast<uint16_t>(t.template_id());
    for (const std::string& name : t.ie()) {
      const ipfix::InformationElement* ie = ipfix::FindInformationElementByName(name);
      v.elements.push_back(ie);
      v.record_length += ie->length;
    }
    c.templates.push_back(std::move(v));
  }
  for (const Collector& k : r.collector()) {
    CollectorView v;
    v.name = k.name();
    v.address = k.address();
    v.ip = ParseIpLiteral(k.address());
    v.port = static_cast<uint16_t>(k.port());
    v.tcp = k.transport() == TCP;
    if (!v.tcp) {
      v.mtu = k.mtu();
      v.template_refresh = absl::Seconds(k.template_refresh_s());
    } else {
      v.send_queue_bytes = k.send_queue_bytes();
    }
    v.observation_domain_id = k.observation_domain_id();
    for (const std::string& name : k.templates()) {
      for (size_t i = 0; i < c.templates.size(); ++i) {
        if (c.templates[i].name != name) continue;
        (c.templates[i].ip_version == 6 ? v.ipv6_template : v.ipv4_template) =
            static_cast<int>(i);
      }
    }
    v.exporter_reliability = k.options_records().exporter_reliability();
    v.metering_statistics = k.options_records().metering_statistics();
    v.interface_table = k.options_records().interface_table();
    c.collectors.push_back(std::move(v));
  }
  if (r.has_json_log()) c.json_log_path = r.json_log().path();
  c.metrics_enabled = r.metrics().enabled();
  if (c.metrics_enabled) c.metrics_listen = *ParseListenAddress(r.metrics().listen());
  c.control_socket = r.daemon().control_socket();
  c.bpffs_pin_path = r.daemon().bpffs_pin_path();
  c.ndp_events = r.events().ndp();
  c.ext_chain_alert_depth = r.events().ext_chain_alert_depth();
  c.resolved = r;
  return c;
}

}  // namespace

bool InterfaceSelectionView::Matches(absl::string_view name, bool loopback) const {
  const std::string n(name);
  bool selected = all_but_loopback ? !loopback : false;
  for (const std::string& p : include) selected = selected || FnMatch(p, n);
  if (!selected) return false;
  for (const std::string& p : exclude) {
    if (FnMatch(p, n)) return false;
  }
  return true;
}

LoadResult LoadConfigText(absl::string_view text, absl::string_view file) {
  LoadResult result;
  if (text.size() > kMaxConfigBytes) {
    result.errors.push_back(FileError(
        file, absl::StrCat("larger than ", kMaxConfigBytes, " bytes: not a tcflow config")));
    return result;
  }
  ParsedText parsed{std::string(file), text};
  if (!parsed.Parse(&result.errors)) return result;

  TcflowConfig resolved = parsed.config();
  ApplyDefaults(resolved);
  for (FieldError& f : Validate(parsed.config(), resolved)) {
    ConfigError e;
    e.file = std::string(file);
    std::tie(e.line, e.column) = parsed.Locate(f.path);
    e.path = std::move(f.path);
    e.message = std::move(f.message);
    result.errors.push_back(std::move(e));
  }
  // File order (stable: errors on one line keep the validator's order); errors about the
  // file as a whole last.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ConfigError& a, const ConfigError& b) {
                     auto line = [](const ConfigError& e) {
                       return e.line == 0 ? INT32_MAX : e.line;
                     };
                     return line(a) < line(b);
                   });
  if (result.errors.empty()) result.config = BuildView(resolved);
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  LoadResult result;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    result.errors.push_back(FileError(path, std::strerror(errno)));
    return result;
  }
  if (S_ISDIR(st.st_mode)) {
    result.errors.push_back(FileError(path, "is a directory, not a config file"));
    return result;
  }
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (f == nullptr) {
    result.errors.push_back(FileError(path, std::strerror(errno)));
    return result;
  }
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f.get())) > 0) {
    text.append(buffer, n);
    if (text.size() > kMaxConfigBytes) break;  // LoadConfigText says "too large"
  }
  if (std::ferror(f.get())) {
    result.errors.push_back(FileError(path, std::strerror(errno)));
    return result;
  }
  return LoadConfigText(text, path);
}

}  // namespace tcflow::config
