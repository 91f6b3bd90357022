#include "daemon/tcflowd/component_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tcflow::tcflowd {

LoaderOptions LoaderOptionsFrom(const config::Config& c) {
  LoaderOptions o;
  o.slots_per_half = c.slots_per_half;
  o.key_vlan = c.key_vlan;
  o.key_mark = c.key_mark;
  o.ext_alert_depth = c.ext_chain_alert_depth;
  o.ndp_events = c.ndp_events;
  // Take over what a previous instance left (restart without loss), create otherwise.
  o.pin_mode = PinMode::kReuse;
  o.pin_dir = c.bpffs_pin_path;
  return o;
}

cache::FlowCacheOptions CacheOptionsFrom(const config::Config& c) {
  cache::FlowCacheOptions o;
  o.idle_timeout_ms = absl::ToInt64Milliseconds(c.idle_timeout);
  o.active_timeout_ms = absl::ToInt64Milliseconds(c.active_timeout);
  // TIMEOUT_ONLY: a FIN/RST flow lingers as long as an idle one would.
  o.tcp_end_grace_ms = c.tcp_end_on_fin_or_rst ? absl::ToInt64Milliseconds(c.tcp_end_linger)
                                               : o.idle_timeout_ms;
  o.max_flows = c.max_flows;
  // Expiry granularity: a tenth of the drain interval, 10..100 ms.
  o.tick_ms = std::clamp<int64_t>(absl::ToInt64Milliseconds(c.drain_interval) / 10, 10, 100);
  return o;
}

std::string CollectorAddress(const config::CollectorView& v) {
  if (v.ip.has_value() && v.ip->family == 6) {
    return absl::StrCat("[", v.ip->ToString(), "]:", v.port);
  }
  if (v.ip.has_value()) return absl::StrCat(v.ip->ToString(), ":", v.port);
  if (v.address.find(':') != std::string::npos) return absl::StrCat("[", v.address, "]:", v.port);
  return absl::StrCat(v.address, ":", v.port);
}

std::vector<ipfix::CollectorOptions> CollectorOptionsFrom(const config::Config& c) {
  std::vector<ipfix::CollectorOptions> out;
  for (const config::CollectorView& v : c.collectors) {
    ipfix::CollectorOptions o;
    o.address = CollectorAddress(v);
    o.transport = v.tcp ? ipfix::TransportKind::kTcp : ipfix::TransportKind::kUdp;
    if (!v.tcp) o.mtu = v.mtu;
    if (v.tcp && v.send_queue_bytes > 0) o.tcp_queue_bytes = v.send_queue_bytes;
    o.exporter.observation_domain_id = v.observation_domain_id;
    if (v.template_refresh > absl::ZeroDuration()) o.exporter.template_refresh = v.template_refresh;
    auto names = [&](int index) {
      std::vector<std::string> n;
      if (index < 0 || index >= static_cast<int>(c.templates.size())) return n;
      for (const auto* ie : c.templates[index].elements) n.push_back(ie->name);
      return n;
    };
    o.exporter.ipv4_elements = names(v.ipv4_template);
    o.exporter.ipv6_elements = names(v.ipv6_template);
    o.exporter.options_records =
        v.exporter_reliability || v.metering_statistics || v.interface_table;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<Selection> SelectionsFrom(const config::Config& c, const std::string& netns_override) {
  std::vector<Selection> out;
  for (const config::InterfaceSelectionView& v : c.interfaces) {
    Selection s;
    s.netns = !v.netns.empty() ? v.netns : !v.netns_path.empty() ? v.netns_path : netns_override;
    s.selector.include = v.include;
    s.selector.exclude = v.exclude;
    s.selector.all_but_loopback = v.all_but_loopback;
    s.direction = v.ingress && v.egress ? netlink::Direction::kBoth
                  : v.ingress           ? netlink::Direction::kIngress
                                        : netlink::Direction::kEgress;
    out.push_back(std::move(s));
  }
  return out;
}

netlink::AttachOptions AttachOptionsFrom(const config::Config& c) {
  netlink::AttachOptions o;
  o.priority = c.tc_priority;
  o.handle = c.tc_handle;
  return o;
}

std::string RestartOnlyDifference(const config::Config& a, const config::Config& b) {
  std::vector<std::string> diff;
  if (a.tc_priority != b.tc_priority) diff.push_back("attach.tc_priority");
  if (a.tc_handle != b.tc_handle) diff.push_back("attach.tc_handle");
  if (a.key_vlan != b.key_vlan) diff.push_back("flow_key.vlan");
  if (a.key_mark != b.key_mark) diff.push_back("flow_key.mark");
  if (a.slots_per_half != b.slots_per_half) diff.push_back("table.slots_per_half");
  if (a.control_socket != b.control_socket) diff.push_back("daemon.control_socket");
  if (a.bpffs_pin_path != b.bpffs_pin_path) diff.push_back("daemon.bpffs_pin_path");
  if (a.ndp_events != b.ndp_events) diff.push_back("events.ndp");
  if (a.metrics_enabled != b.metrics_enabled ||
      (a.metrics_enabled && (a.metrics_listen.port != b.metrics_listen.port ||
                             a.metrics_listen.ip.ToString() != b.metrics_listen.ip.ToString()))) {
    diff.push_back("metrics");
  }
  if (a.ext_chain_alert_depth != b.ext_chain_alert_depth) {
    diff.push_back("events.ext_chain_alert_depth");
  }
  return absl::StrJoin(diff, ", ");
}

}  // namespace tcflow::tcflowd
