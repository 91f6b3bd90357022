#include "config/defaults.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace tcflow::config {
namespace {

// Every flow key field, the counters, times, and what the datapath measures per flow.
constexpr const char* kIpv4Elements[] = {
    "flowStartMilliseconds", "flowEndMilliseconds",   "sourceIPv4Address",
    "destinationIPv4Address", "sourceTransportPort",  "destinationTransportPort",
    "protocolIdentifier",    "octetDeltaCount",       "packetDeltaCount",
    "ingressInterface",      "egressInterface",       "flowDirection",
    "tcpControlBits",        "icmpTypeCodeIPv4",      "ipClassOfService",
    "minimumTTL",            "maximumTTL",            "fragmentIdentification",
    "vlanId",                "dot1qCustomerVlanId",   "flowEndReason",
};

constexpr const char* kIpv6Elements[] = {
    "flowStartMilliseconds", "flowEndMilliseconds",    "sourceIPv6Address",
    "destinationIPv6Address", "sourceTransportPort",   "destinationTransportPort",
    "protocolIdentifier",    "octetDeltaCount",        "packetDeltaCount",
    "ingressInterface",      "egressInterface",        "flowDirection",
    "tcpControlBits",        "icmpTypeCodeIPv6",       "ipClassOfService",
    "minimumTTL",            "maximumTTL",             "flowLabelIPv6",
    "fragmentIdentification", "ipv6ExtensionHeaders",  "vlanId",
    "dot1qCustomerVlanId",   "flowEndReason",
};

void AddBuiltinTemplate(TcflowConfig& config, absl::string_view name, Family family,
                        absl::Span<const char* const> elements) {
  for (const Template& t : config.template_()) {
    if (t.name() == name) return;  // the user's definition replaces the built-in one
  }
  Template* t = config.add_template_();
  t->set_name(std::string(name));
  t->set_family(family);
  for (const char* ie : elements) {
    const absl::string_view name = ie;
    if (!config.flow_key().vlan() && (name == "vlanId" || name == "dot1qCustomerVlanId")) {
      continue;
    }
    t->add_ie(ie);
  }
}

void DefaultInterfaces(TcflowConfig& config) {
  if (config.interfaces_size() == 0) config.add_interfaces();
  for (InterfaceSelection& s : *config.mutable_interfaces()) {
    if (!s.has_all_but_loopback()) s.set_all_but_loopback(s.include_size() == 0);
    if (!s.has_direction()) s.set_direction(BOTH);
  }
}

void DefaultFlowCache(TcflowConfig& config) {
  FlowCache& c = *config.mutable_flow_cache();
  if (!c.has_idle_timeout_s()) c.set_idle_timeout_s(kDefaultIdleTimeoutS);
  // Derived defaults follow a valid idle timeout; an invalid one is left to the validator.
  const uint32_t idle = c.idle_timeout_s();
  const bool idle_ok = idle >= 1 && idle <= 3600;
  if (!c.has_active_timeout_s()) {
    c.set_active_timeout_s(idle_ok ? std::max(kDefaultActiveTimeoutS, idle)
                                   : kDefaultActiveTimeoutS);
  }
  if (!c.has_tcp_end_of_flow()) c.set_tcp_end_of_flow(END_ON_FIN_OR_RST);
  // The linger only exists with END_ON_FIN_OR_RST (like mtu only on UDP collectors).
  if (!c.has_tcp_end_linger_s() && c.tcp_end_of_flow() == END_ON_FIN_OR_RST) {
    c.set_tcp_end_linger_s(idle_ok ? std::min(kDefaultTcpEndLingerS, idle - 1)
                                   : kDefaultTcpEndLingerS);
  }
  if (!c.has_max_flows()) {
    c.set_max_flows(std::max<uint64_t>(kDefaultMaxFlows, config.table().slots_per_half()));
  }
}

void DefaultCollector(Collector& c) {
  if (!c.has_port()) c.set_port(kDefaultIpfixPort);
  if (!c.has_transport()) c.set_transport(UDP);
  if (c.transport() == UDP) {
    if (!c.has_mtu()) c.set_mtu(kDefaultMtu);
    if (!c.has_template_refresh_s()) c.set_template_refresh_s(kDefaultTemplateRefreshS);
  } else {
    if (!c.has_send_queue_bytes()) c.set_send_queue_bytes(kDefaultSendQueueBytes);
  }
  if (!c.has_observation_domain_id()) {
    c.set_observation_domain_id(kDefaultObservationDomainId);
  }
  if (c.templates_size() == 0) {
    c.add_templates(std::string(kBuiltinIpv4Template));
    c.add_templates(std::string(kBuiltinIpv6Template));
  }
  OptionsRecords& o = *c.mutable_options_records();
  if (!o.has_exporter_reliability()) o.set_exporter_reliability(true);
  if (!o.has_metering_statistics()) o.set_metering_statistics(true);
  if (!o.has_interface_table()) o.set_interface_table(true);
  if (!c.has_name() && c.has_address()) c.set_name(DefaultCollectorName(c));
}

void AssignTemplateIds(TcflowConfig& config) {
  std::set<uint32_t> used;
  for (const Template& t : config.template_()) {
    if (t.has_template_id()) used.insert(t.template_id());
  }
  uint32_t next = 256;
  for (Template& t : *config.mutable_template_()) {
    if (t.has_template_id()) continue;
    while (used.count(next) != 0) ++next;
    if (next > 65535) return;  // more templates than ids: the validator says so
    t.set_template_id(next);
    used.insert(next);
  }
}

}  // namespace

absl::Span<const char* const> BuiltinIpv4TemplateElements() { return kIpv4Elements; }
absl::Span<const char* const> BuiltinIpv6TemplateElements() { return kIpv6Elements; }

std::string DefaultCollectorName(const Collector& c) {
  std::string host = c.address();
  if (absl::StrContains(host, ':')) host = absl::StrCat("[", host, "]");
  return absl::StrCat(host, ":", c.port(), c.transport() == TCP ? "/tcp" : "/udp");
}

void ApplyDefaults(TcflowConfig& config) {
  DefaultInterfaces(config);

  Attach& a = *config.mutable_attach();
  if (!a.has_tc_priority()) a.set_tc_priority(kDefaultTcPriority);
  if (!a.has_tc_handle()) a.set_tc_handle(kDefaultTcHandle);
  if (!a.has_reattach()) a.set_reattach(true);
  if (!a.has_stay_attached_on_exit()) a.set_stay_attached_on_exit(false);

  FlowKey& k = *config.mutable_flow_key();
  if (!k.has_vlan()) k.set_vlan(true);
  if (!k.has_mark()) k.set_mark(false);

  Table& t = *config.mutable_table();
  if (!t.has_slots_per_half()) t.set_slots_per_half(kDefaultSlotsPerHalf);
  if (!t.has_drain_interval_ms()) t.set_drain_interval_ms(kDefaultDrainIntervalMs);

  DefaultFlowCache(config);

  for (Collector& c : *config.mutable_collector()) DefaultCollector(c);

  AddBuiltinTemplate(config, kBuiltinIpv4Template, IPV4, kIpv4Elements);
  AddBuiltinTemplate(config, kBuiltinIpv6Template, IPV6, kIpv6Elements);
  AssignTemplateIds(config);

  Metrics& m = *config.mutable_metrics();
  if (!m.has_enabled()) m.set_enabled(true);
  if (!m.has_listen() && m.enabled()) m.set_listen(std::string(kDefaultMetricsListen));

  Daemon& d = *config.mutable_daemon();
  if (!d.has_control_socket()) d.set_control_socket(std::string(kDefaultControlSocket));
  if (!d.has_bpffs_pin_path()) d.set_bpffs_pin_path(std::string(kDefaultBpffsPinPath));

  Events& e = *config.mutable_events();
  if (!e.has_ndp()) e.set_ndp(true);
  if (!e.has_ext_chain_alert_depth()) e.set_ext_chain_alert_depth(kDefaultExtChainAlertDepth);
}

}  // namespace tcflow::config
