#include "daemon/metrics/render.h"

#include <algorithm>
#include <memory>
#include <numeric>

#include "daemon/metrics/text_writer.h"

namespace tcflow::metrics {
namespace {

constexpr double kDrainBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1};
constexpr double kSizeBounds[] = {64, 128, 256, 512, 1024, 1280, 1500, 4096, 9000};
static_assert(sizeof(kSizeBounds) / sizeof(kSizeBounds[0]) + 1 == TCFLOW_SIZE_BUCKETS);

const char* DirectionLabel(int d) { return d == TCFLOW_DIR_INGRESS ? "ingress" : "egress"; }

// One rendered label set per (interface name, direction): several ifindexes with one name
// (a link deleted and created again) are summed, so no two series share labels.
struct Group {
  std::string labels;  // interface="...",direction="..."
  const InterfaceCounters* counters = nullptr;
};

std::vector<Group> GroupTraffic(const TrafficSnapshot& t,
                                std::vector<std::unique_ptr<InterfaceCounters>>* merged) {
  std::vector<uint32_t> order(t.series.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    int c = t.names[a].compare(t.names[b]);
    return c != 0 ? c < 0 : t.series[a].direction < t.series[b].direction;
  });
  std::vector<Group> groups;
  groups.reserve(order.size());
  for (size_t i = 0; i < order.size();) {
    const uint32_t first = order[i];
    size_t j = i + 1;
    while (j < order.size() && t.names[order[j]] == t.names[first] &&
           t.series[order[j]].direction == t.series[first].direction) {
      ++j;
    }
    Group g;
    AppendLabel("interface", t.names[first], &g.labels);
    AppendLabel("direction", DirectionLabel(t.series[first].direction), &g.labels);
    if (j - i == 1) {
      g.counters = &t.series[first];
    } else {
      merged->push_back(std::make_unique<InterfaceCounters>(t.series[first]));
      for (size_t k = i + 1; k < j; ++k) merged->back()->MergeFrom(t.series[order[k]]);
      g.counters = merged->back().get();
    }
    groups.push_back(std::move(g));
    i = j;
  }
  return groups;
}

void RenderTraffic(const TrafficSnapshot& t, TextWriter& w) {
  std::vector<std::unique_ptr<InterfaceCounters>> merged;
  const std::vector<Group> groups = GroupTraffic(t, &merged);

  // ip_version="4",protocol="tcp" ... once per render, not per series.
  std::string vp[kIpVersionCount][kProtocolCount];
  for (int v = 0; v < kIpVersionCount; ++v) {
    for (int p = 0; p < kProtocolCount; ++p) {
      AppendLabel("ip_version", IpVersionLabel(v), &vp[v][p]);
      AppendLabel("protocol", ProtocolLabel(p), &vp[v][p]);
    }
  }
  w.Family("tcflow_packets_total", MetricType::kCounter,
           "Packets metered, from the drained flow records (exact; overflow records: "
           "protocol other).");
  for (const Group& g : groups) {
    for (int v = 0; v < kIpVersionCount; ++v) {
      for (int p = 0; p < kProtocolCount; ++p) {
        const uint64_t n = g.counters->traffic[v][p].packets;
        if (n != 0 || g.counters->traffic[v][p].bytes != 0) {
          w.Sample("tcflow_packets_total", g.labels, vp[v][p], n);
        }
      }
    }
  }
  w.Family("tcflow_bytes_total", MetricType::kCounter,
           "IP-layer bytes metered, from the drained flow records.");
  for (const Group& g : groups) {
    for (int v = 0; v < kIpVersionCount; ++v) {
      for (int p = 0; p < kProtocolCount; ++p) {
        const uint64_t n = g.counters->traffic[v][p].bytes;
        if (n != 0 || g.counters->traffic[v][p].packets != 0) {
          w.Sample("tcflow_bytes_total", g.labels, vp[v][p], n);
        }
      }
    }
  }

  w.Family("tcflow_icmpv6_messages_total", MetricType::kCounter,
           "ICMPv6 messages by type and code, from the drained ICMPv6 flow records.");
  std::string tc;
  Icmpv6Count sorted[kMaxIcmpv6Series];
  for (const Group& g : groups) {
    const InterfaceCounters& c = *g.counters;
    // At most kMaxIcmpv6Series: an insertion sort is enough (and small).
    for (uint32_t i = 0; i < c.icmpv6_used; ++i) {
      uint32_t j = i;
      for (; j > 0 && sorted[j - 1].type_code > c.icmpv6[i].type_code; --j) sorted[j] = sorted[j - 1];
      sorted[j] = c.icmpv6[i];
    }
    for (uint32_t i = 0; i < c.icmpv6_used; ++i) {
      tc.assign("type=\"");
      AppendUint(sorted[i].type_code >> 8, &tc);
      tc.append("\",code=\"");
      AppendUint(sorted[i].type_code & 0xff, &tc);
      tc.push_back('"');
      w.Sample("tcflow_icmpv6_messages_total", g.labels, tc, sorted[i].messages);
    }
    if (c.icmpv6_other != 0) {
      w.Sample("tcflow_icmpv6_messages_total", g.labels, "type=\"other\",code=\"other\"",
               c.icmpv6_other);
    }
  }

  std::string scope[kScopeCount];
  for (int s = 0; s < kScopeCount; ++s) AppendLabel("scope", ScopeLabel(s), &scope[s]);
  auto has_ipv6_flows = [](const InterfaceCounters& c) {
    for (int s = 0; s < kScopeCount; ++s) {
      if (c.ipv6_flows_started[s] != 0) return true;
    }
    return false;
  };
  w.Family("tcflow_ipv6_flows", MetricType::kGauge,
           "IPv6 flows in the flow cache by the scope of their destination address.");
  for (const Group& g : groups) {
    if (!has_ipv6_flows(*g.counters)) continue;
    for (int s = 0; s < kScopeCount; ++s) {
      const int64_t n = g.counters->ipv6_flows[s];
      w.Sample("tcflow_ipv6_flows", g.labels, scope[s], n > 0 ? static_cast<uint64_t>(n) : 0);
    }
  }
  w.Family("tcflow_ipv6_flows_started_total", MetricType::kCounter,
           "IPv6 flows created in the flow cache by the scope of their destination address.");
  for (const Group& g : groups) {
    if (!has_ipv6_flows(*g.counters)) continue;
    for (int s = 0; s < kScopeCount; ++s) {
      w.Sample("tcflow_ipv6_flows_started_total", g.labels, scope[s],
               g.counters->ipv6_flows_started[s]);
    }
  }
}

void Counter(TextWriter& w, const char* name, const char* help, uint64_t v) {
  w.Family(name, MetricType::kCounter, help);
  w.Sample(name, {}, v);
}

void Gauge(TextWriter& w, const char* name, const char* help, double v) {
  w.Family(name, MetricType::kGauge, help);
  w.SampleDouble(name, {}, v);
}

void RenderKernel(const tcflow_stats& k, TextWriter& w) {
  w.Family("tcflow_kernel_packets_total", MetricType::kCounter,
           "Packets seen by the tc programs (per-CPU counters summed).");
  w.Sample("tcflow_kernel_packets_total", "direction=\"ingress\"", k.packets[0]);
  w.Sample("tcflow_kernel_packets_total", "direction=\"egress\"", k.packets[1]);
  w.Family("tcflow_kernel_bytes_total", MetricType::kCounter,
           "IP bytes seen by the tc programs.");
  w.Sample("tcflow_kernel_bytes_total", "direction=\"ingress\"", k.bytes[0]);
  w.Sample("tcflow_kernel_bytes_total", "direction=\"egress\"", k.bytes[1]);

  w.Family("tcflow_packet_size_bytes", MetricType::kHistogram,
           "IP packet sizes seen by the tc programs.");
  uint64_t sizes[TCFLOW_SIZE_BUCKETS];  // __u64 is unsigned long long
  std::copy(k.size_hist, k.size_hist + TCFLOW_SIZE_BUCKETS, sizes);
  w.Histogram("tcflow_packet_size_bytes", {}, kSizeBounds, sizes,
              static_cast<double>(k.bytes[0] + k.bytes[1]));

  w.Family("tcflow_kernel_icmpv6_messages_total", MetricType::kCounter,
           "ICMPv6 messages by type, counted per packet by the tc programs.");
  std::string type;
  for (int t = 0; t < 256; ++t) {
    if (k.icmp6_type[t] == 0) continue;
    type.assign("type=\"");
    AppendUint(t, &type);
    type.push_back('"');
    w.Sample("tcflow_kernel_icmpv6_messages_total", type, k.icmp6_type[t]);
  }

  static constexpr const char* kExt[TCFLOW_EXT_HEADER_COUNT] = {
      "hop_by_hop", "routing", "fragment", "destination_options", "ah", "esp", "mobility"};
  w.Family("tcflow_ipv6_extension_headers_total", MetricType::kCounter,
           "IPv6 extension headers seen, by type.");
  for (int i = 0; i < TCFLOW_EXT_HEADER_COUNT; ++i) {
    type.clear();
    AppendLabel("type", kExt[i], &type);
    w.Sample("tcflow_ipv6_extension_headers_total", type, k.ext_hdr[i]);
  }
  w.Family("tcflow_ipv6_extension_chain_depth_total", MetricType::kCounter,
           "IPv6 packets by the depth of their extension-header chain.");
  for (int d = 0; d < TCFLOW_MAX_EXT_HEADERS + 2; ++d) {
    type.assign("depth=\"");
    if (d <= TCFLOW_MAX_EXT_HEADERS) {
      AppendUint(d, &type);
    } else {
      type.append("deeper");
    }
    type.push_back('"');
    w.Sample("tcflow_ipv6_extension_chain_depth_total", type, k.ext_chain_depth[d]);
  }

  static constexpr const char* kReasons[TCFLOW_PARSE_RESULT_COUNT] = {
      "", "truncated_ethernet", "truncated_vlan", "too_many_vlans", "truncated_ipv4",
      "bad_ipv4_header", "truncated_ipv6", "bad_ipv6_header", "bad_ip_length"};
  w.Family("tcflow_parse_failures_total", MetricType::kCounter,
           "Packets the tc programs could not key, by reason.");
  for (int i = 1; i < TCFLOW_PARSE_RESULT_COUNT; ++i) {
    type.clear();
    AppendLabel("reason", kReasons[i], &type);
    w.Sample("tcflow_parse_failures_total", type, k.parse_error[i]);
  }
  Counter(w, "tcflow_non_ip_packets_total", "Packets that are not IPv4/IPv6 (ARP, LLDP, ...).",
          k.not_ip);
  Counter(w, "tcflow_gso_packets_total", "GSO/GRO super-packets seen (each counted as its segments).",
          k.gso_packets);
  Counter(w, "tcflow_flows_not_created_total",
          "Packets folded into an overflow record because the flow table was full.",
          k.flows_not_created);
  Counter(w, "tcflow_overflow_packets_lost_total",
          "Packets with neither a flow slot nor an overflow slot (counted only here).",
          k.overflow_lost);
  Counter(w, "tcflow_events_lost_total", "Kernel events dropped because the ring buffer was full.",
          k.events_lost);
}

void RenderCollectors(const std::vector<CollectorMetrics>& cs, TextWriter& w) {
  std::vector<std::string> labels(cs.size());
  for (size_t i = 0; i < cs.size(); ++i) AppendLabel("collector", cs[i].name, &labels[i]);
  struct Field {
    const char* name;
    MetricType type;
    const char* help;
    uint64_t (*get)(const CollectorMetrics&);
  };
  static constexpr Field kFields[] = {
      {"tcflow_export_records_total", MetricType::kCounter, "IPFIX flow records sent.",
       [](const CollectorMetrics& c) { return c.records; }},
      {"tcflow_export_messages_total", MetricType::kCounter, "IPFIX messages sent.",
       [](const CollectorMetrics& c) { return c.messages; }},
      {"tcflow_export_bytes_total", MetricType::kCounter, "IPFIX message bytes sent.",
       [](const CollectorMetrics& c) { return c.bytes; }},
      {"tcflow_export_records_not_sent_total", MetricType::kCounter,
       "IPFIX flow records not sent (no session, queue full, send error, lost session).",
       [](const CollectorMetrics& c) { return c.records_not_sent; }},
      {"tcflow_export_messages_not_sent_total", MetricType::kCounter, "IPFIX messages not sent.",
       [](const CollectorMetrics& c) { return c.messages_not_sent; }},
      {"tcflow_template_refreshes_total", MetricType::kCounter, "IPFIX template sets sent.",
       [](const CollectorMetrics& c) { return c.template_refreshes; }},
      {"tcflow_collector_up", MetricType::kGauge,
       "1 when the transport is usable (TCP: connected; UDP: last send succeeded).",
       [](const CollectorMetrics& c) { return uint64_t{c.up}; }},
  };
  for (const Field& f : kFields) {
    w.Family(f.name, f.type, f.help);
    for (size_t i = 0; i < cs.size(); ++i) w.Sample(f.name, labels[i], f.get(cs[i]));
  }
}

}  // namespace

absl::Span<const double> DrainDurationBounds() { return kDrainBounds; }

void RenderMetrics(const PipelineSnapshot& p, const ProcessInfo& info, std::string* out) {
  // Room for the whole body up front (growing an 8 MB string by doubling copies it again
  // and again): about 4.5 KB per traffic block at most, a little for everything else.
  out->reserve(out->size() + 65536 + p.traffic.series.size() * 4608 +
               p.collectors.size() * 1024);
  TextWriter w(out);
  RenderTraffic(p.traffic, w);
  if (p.kernel_valid) RenderKernel(p.kernel, w);

  Gauge(w, "tcflow_kernel_table_flows", "Flow slots used in the kernel table at the last drain.",
        static_cast<double>(p.table_flows));
  Gauge(w, "tcflow_kernel_table_capacity", "Flow slots per generation of the kernel table.",
        static_cast<double>(p.table_capacity));
  Gauge(w, "tcflow_cache_flows", "Flows in the user-space flow cache.",
        static_cast<double>(p.cache_flows));
  Gauge(w, "tcflow_cache_capacity", "Flows the flow cache holds at most.",
        static_cast<double>(p.cache_capacity));
  static constexpr const char* kEnd[6] = {"",           "idle_timeout",      "active_timeout",
                                          "end_of_flow", "forced_end", "lack_of_resources"};
  w.Family("tcflow_flows_ended_total", MetricType::kCounter,
           "Flow records ended in the cache and handed to the exporters, by end reason.");
  std::string l;
  for (int i = 1; i < 6; ++i) {
    l.clear();
    AppendLabel("reason", kEnd[i], &l);
    w.Sample("tcflow_flows_ended_total", l, p.flows_ended[i]);
  }
  Counter(w, "tcflow_crash_state_unprotected_records_total",
          "Records ended while the crash state could not hold them (outbox full, or no room "
          "on its file system): a SIGKILL before their send loses them.",
          p.crash_state_unprotected);
  Counter(w, "tcflow_crash_state_storage_full_total",
          "New flows the crash state's file system had no room for: the cache ended "
          "another flow, or exported the increment at once.",
          p.crash_state_storage_full);
  w.Family("tcflow_drain_duration_seconds", MetricType::kHistogram,
           "Time to drain the kernel tables into the flow cache.");
  w.Histogram("tcflow_drain_duration_seconds", {}, p.drain_duration.bounds(),
              p.drain_duration.counts(), p.drain_duration.sum());
  Counter(w, "tcflow_drain_errors_total", "Drains that failed.", p.drain_errors);
  Gauge(w, "tcflow_last_drain_timestamp_seconds", "Unix time of the last successful drain.",
        p.last_drain_timestamp);

  RenderCollectors(p.collectors, w);

  w.Family("tcflow_build_info", MetricType::kGauge, "tcflow's version; always 1.");
  l.clear();
  AppendLabel("version", info.version, &l);
  AppendLabel("revision", info.revision, &l);
  w.Sample("tcflow_build_info", l, 1);
  Gauge(w, "tcflow_start_time_seconds", "Unix time tcflowd started.", info.start_time_seconds);
  w.Family("tcflow_config_reloads_total", MetricType::kCounter,
           "Configuration reloads (SIGHUP, flowctl reload) by result.");
  w.Sample("tcflow_config_reloads_total", "result=\"ok\"", info.reloads_ok);
  w.Sample("tcflow_config_reloads_total", "result=\"error\"", info.reloads_error);
  Gauge(w, "tcflow_config_last_reload_success",
        "1 when the last reload was applied (or none was tried), 0 when it was refused.",
        info.last_reload_success ? 1 : 0);
}

}  // namespace tcflow::metrics
