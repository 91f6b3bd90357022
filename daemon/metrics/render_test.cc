#include "daemon/metrics/render.h"

#include <netinet/in.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "daemon/metrics/synthetic_snapshot.h"
#include "gtest/gtest.h"

namespace tcflow::metrics {
namespace {

// sample line (name{labels}) -> value text
std::map<std::string, std::string> Samples(const std::string& body) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    EXPECT_TRUE(out.emplace(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)))
                    .second)
        << "duplicate series " << line;
  }
  return out;
}

constexpr auto Rec = TrafficRecord;

TEST(RenderTest, TrafficSeriesFromRecords) {
  TrafficMetrics t;
  t.Add(Rec(2, 0, 4, IPPROTO_ICMP, 8 << 8, 5, 420));
  t.Add(Rec(3, 1, 4, IPPROTO_ICMP, 8 << 8, 5, 420));
  t.Add(Rec(2, 1, 6, IPPROTO_ICMPV6, 135 << 8, 2, 144));
  t.Add(Rec(2, 1, 6, IPPROTO_ICMPV6, 1 << 8 | 4, 1, 100));
  tcflow_flow_key k{};
  k.ifindex = 2;
  k.direction = 1;
  k.ip_version = 6;
  k.dst_addr[0] = 0xff;
  t.FlowCreated(k);
  PipelineSnapshot p;
  p.traffic = t.Snapshot({{2, "r1"}, {3, "ns \"x\"/r2"}});
  std::string body;
  RenderMetrics(p, ProcessInfo{}, &body);
  const auto s = Samples(body);
  const std::map<std::string, std::string> want = {
      {"tcflow_packets_total{interface=\"r1\",direction=\"ingress\",ip_version=\"4\",protocol=\"icmp\"}", "5"},
      {"tcflow_bytes_total{interface=\"r1\",direction=\"ingress\",ip_version=\"4\",protocol=\"icmp\"}", "420"},
      {"tcflow_packets_total{interface=\"ns \\\"x\\\"/r2\",direction=\"egress\",ip_version=\"4\",protocol=\"icmp\"}", "5"},
      {"tcflow_packets_total{interface=\"r1\",direction=\"egress\",ip_version=\"6\",protocol=\"icmpv6\"}", "3"},
      {"tcflow_bytes_total{interface=\"r1\",direction=\"egress\",ip_version=\"6\",protocol=\"icmpv6\"}", "244"},
      {"tcflow_icmpv6_messages_total{interface=\"r1\",direction=\"egress\",type=\"1\",code=\"4\"}", "1"},
      {"tcflow_icmpv6_messages_total{interface=\"r1\",direction=\"egress\",type=\"135\",code=\"0\"}", "2"},
      {"tcflow_ipv6_flows{interface=\"r1\",direction=\"egress\",scope=\"multicast\"}", "1"},
      {"tcflow_ipv6_flows{interface=\"r1\",direction=\"egress\",scope=\"global\"}", "0"},
      {"tcflow_ipv6_flows_started_total{interface=\"r1\",direction=\"egress\",scope=\"multicast\"}", "1"},
  };
  for (const auto& [series, value] : want) {
    auto it = s.find(series);
    ASSERT_NE(it, s.end()) << series << "\n" << body;
    EXPECT_EQ(it->second, value) << series;
  }
  int traffic = 0;
  for (const auto& [series, value] : s) traffic += absl::StartsWith(series, "tcflow_packets_total");
  EXPECT_EQ(traffic, 3) << "only series with traffic";
  // Without kernel counters (unreadable map) no kernel family is made up.
  EXPECT_FALSE(absl::StrContains(body, "tcflow_kernel_packets_total"));
}

TEST(RenderTest, OneInterfaceNameOneSeries) {
  // ifindex 5 was deleted and the link came back as ifindex 9 with the same name.
  TrafficMetrics t;
  t.Add(Rec(5, 0, 4, IPPROTO_UDP, 1, 10, 1000));
  const TrafficSnapshot first = t.Snapshot({{5, "veth0"}});
  t.Add(Rec(9, 0, 4, IPPROTO_UDP, 1, 4, 400));
  PipelineSnapshot p;
  p.traffic = t.Snapshot({{9, "veth0"}});
  std::string body;
  RenderMetrics(p, ProcessInfo{}, &body);
  const auto s = Samples(body);
  EXPECT_EQ(s.at("tcflow_packets_total{interface=\"veth0\",direction=\"ingress\",ip_version=\"4\",protocol=\"udp\"}"),
            "14");
}

TEST(RenderTest, EveryContractFamilyOnceWithHelpAndType) {
  PipelineSnapshot p = SyntheticSnapshot(3);
  ProcessInfo info = SyntheticProcessInfo();
  std::string body;
  RenderMetrics(p, info, &body);
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f[0] == "#" && f[1] == "TYPE") {
      EXPECT_TRUE(types.emplace(f[2], f[3]).second) << "TYPE twice: " << line;
    } else if (f[0] == "#" && f[1] == "HELP") {
      EXPECT_TRUE(helps.insert(f[2]).second) << "HELP twice: " << line;
    }
  }
  const std::map<std::string, std::string> contract = {
      {"tcflow_packets_total", "counter"}, {"tcflow_bytes_total", "counter"},
      {"tcflow_icmpv6_messages_total", "counter"}, {"tcflow_ipv6_flows", "gauge"},
      {"tcflow_ipv6_flows_started_total", "counter"},
      {"tcflow_kernel_packets_total", "counter"}, {"tcflow_kernel_bytes_total", "counter"},
      {"tcflow_packet_size_bytes", "histogram"},
      {"tcflow_kernel_icmpv6_messages_total", "counter"},
      {"tcflow_ipv6_extension_headers_total", "counter"},
      {"tcflow_ipv6_extension_chain_depth_total", "counter"},
      {"tcflow_parse_failures_total", "counter"}, {"tcflow_non_ip_packets_total", "counter"},
      {"tcflow_gso_packets_total", "counter"}, {"tcflow_flows_not_created_total", "counter"},
      {"tcflow_overflow_packets_lost_total", "counter"}, {"tcflow_events_lost_total", "counter"},
      {"tcflow_kernel_table_flows", "gauge"}, {"tcflow_kernel_table_capacity", "gauge"},
      {"tcflow_cache_flows", "gauge"}, {"tcflow_cache_capacity", "gauge"},
      {"tcflow_flows_ended_total", "counter"}, {"tcflow_drain_duration_seconds", "histogram"},
      {"tcflow_crash_state_unprotected_records_total", "counter"},
      {"tcflow_crash_state_storage_full_total", "counter"},
      {"tcflow_drain_errors_total", "counter"},
      {"tcflow_last_drain_timestamp_seconds", "gauge"},
      {"tcflow_export_records_total", "counter"}, {"tcflow_export_messages_total", "counter"},
      {"tcflow_export_bytes_total", "counter"},
      {"tcflow_export_records_not_sent_total", "counter"},
      {"tcflow_export_messages_not_sent_total", "counter"},
      {"tcflow_template_refreshes_total", "counter"}, {"tcflow_collector_up", "gauge"},
      {"tcflow_build_info", "gauge"}, {"tcflow_start_time_seconds", "gauge"},
      {"tcflow_config_reloads_total", "counter"}, {"tcflow_config_last_reload_success", "gauge"},
  };
  EXPECT_EQ(types, contract);
  EXPECT_EQ(helps.size(), contract.size());

  const auto s = Samples(body);
  EXPECT_EQ(s.at("tcflow_packet_size_bytes_bucket{le=\"64\"}"), "1000");
  EXPECT_EQ(s.at("tcflow_packet_size_bytes_bucket{le=\"9000\"}"), "45000");
  EXPECT_EQ(s.at("tcflow_packet_size_bytes_bucket{le=\"+Inf\"}"), "55000");
  EXPECT_EQ(s.at("tcflow_packet_size_bytes_count"), "55000");
  EXPECT_EQ(s.at("tcflow_packet_size_bytes_sum"), "197530432100");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_bucket{le=\"0.0005\"}"), "1");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_bucket{le=\"0.001\"}"), "2");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_bucket{le=\"0.005\"}"), "4");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_bucket{le=\"1\"}"), "4");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_bucket{le=\"+Inf\"}"), "5");
  EXPECT_EQ(s.at("tcflow_drain_duration_seconds_count"), "5");
  EXPECT_EQ(s.at("tcflow_kernel_icmpv6_messages_total{type=\"135\"}"), "11");
  EXPECT_EQ(s.at("tcflow_ipv6_extension_chain_depth_total{depth=\"deeper\"}"), "1");
  EXPECT_EQ(s.at("tcflow_parse_failures_total{reason=\"bad_ip_length\"}"), "8");
  EXPECT_EQ(s.at("tcflow_flows_ended_total{reason=\"end_of_flow\"}"), "30");
  EXPECT_EQ(s.at("tcflow_crash_state_unprotected_records_total"), "7");
  EXPECT_EQ(s.at("tcflow_crash_state_storage_full_total"), "5");
  EXPECT_EQ(s.at("tcflow_collector_up{collector=\"collector \\\"1\\\"\\\\n\"}"), "0");
  EXPECT_EQ(s.at("tcflow_build_info{version=\"0.1.0\",revision=\"unknown\"}"), "1");
  EXPECT_EQ(s.at("tcflow_config_reloads_total{result=\"error\"}"), "1");
  EXPECT_EQ(s.at("tcflow_last_drain_timestamp_seconds"), "1795300000.125");
  EXPECT_EQ(s.at("tcflow_packets_total{interface=\"eth2\",direction=\"egress\",ip_version=\"unknown\",protocol=\"other\"}"),
            "5");
  EXPECT_EQ(s.at("tcflow_ipv6_flows{interface=\"eth1\",direction=\"ingress\",scope=\"link_local\"}"),
            "2");
  EXPECT_EQ(s.at("tcflow_ipv6_flows_started_total{interface=\"eth1\",direction=\"ingress\",scope=\"other\"}"),
            "3");
}

TEST(RenderTest, NothingMadeUpWithoutData) {
  std::string body;
  RenderMetrics(PipelineSnapshot{}, ProcessInfo{}, &body);
  EXPECT_FALSE(absl::StrContains(body, "tcflow_kernel_packets_total"));  // map unreadable
  EXPECT_FALSE(absl::StrContains(body, "tcflow_packets_total{"));
  EXPECT_TRUE(absl::StrContains(body, "\ntcflow_config_last_reload_success 1\n"));
  EXPECT_TRUE(absl::StrContains(body, "\ntcflow_drain_duration_seconds_count 0\n"));
}

}  // namespace
}  // namespace tcflow::metrics
