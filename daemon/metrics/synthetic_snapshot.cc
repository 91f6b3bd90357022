#include "daemon/metrics/synthetic_snapshot.h"

#include <netinet/in.h>

#include <map>
#include <string>

namespace tcflow::metrics {
FlowRecord TrafficRecord(uint32_t ifindex, uint8_t direction, uint8_t ip_version,
                         uint8_t protocol, uint16_t dport, uint64_t packets, uint64_t bytes) {
  FlowRecord r{};
  r.key.ifindex = ifindex;
  r.key.direction = direction;
  r.key.ip_version = ip_version;
  r.key.protocol = protocol;
  r.key.dst_port = dport;
  r.packets = packets;
  r.bytes = bytes;
  return r;
}

TrafficMetrics SyntheticTraffic(int interfaces, std::map<uint32_t, std::string>* out_names) {
  TrafficMetrics t;
  std::map<uint32_t, std::string>& names = *out_names;
  static const uint8_t kProtos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_GRE, IPPROTO_ESP, 47, 200};
  static const uint16_t kIcmp6[] = {128 << 8, 129 << 8, 133 << 8, 134 << 8, 135 << 8,
                                    136 << 8, 137 << 8, 1 << 8 | 4, 3 << 8, 143 << 8};
  static const uint8_t kScopeFirst[][2] = {{0x20, 0x01}, {0xfd, 0x00}, {0xfe, 0x80},
                                           {0xff, 0x02}, {0x00, 0x00}};
  for (int i = 0; i < interfaces; ++i) {
    const uint32_t ifindex = 100 + i;
    names[ifindex] = "eth" + std::to_string(i);
    for (uint8_t dir = 0; dir < 2; ++dir) {
      for (uint8_t v : {4, 6}) {
        for (uint8_t p : kProtos) {
          t.Add(TrafficRecord(ifindex, dir, v, p, 443, 1000 + i, 900000 + i));
        }
      }
      t.Add(TrafficRecord(ifindex, dir, 4, IPPROTO_ICMP, 8 << 8, 10, 840));
      for (uint16_t tc : kIcmp6) t.Add(TrafficRecord(ifindex, dir, 6, IPPROTO_ICMPV6, tc, 3, 216));
      FlowRecord overflow = TrafficRecord(ifindex, dir, 0, 0, 0, 5, 500);
      overflow.key.key_flags = TCFLOW_KEY_OVERFLOW;
      t.Add(overflow);
      for (const auto& s : kScopeFirst) {
        tcflow_flow_key k{};
        k.ifindex = ifindex;
        k.direction = dir;
        k.ip_version = 6;
        k.dst_addr[0] = s[0];
        k.dst_addr[1] = s[1];
        k.dst_addr[15] = 1;
        for (int n = 0; n < 3; ++n) t.FlowCreated(k);
        t.FlowRemoved(k);
      }
    }
  }
  return t;
}

PipelineSnapshot SyntheticSnapshot(int interfaces) {
  std::map<uint32_t, std::string> names;
  TrafficMetrics t = SyntheticTraffic(interfaces, &names);
  PipelineSnapshot p;
  p.traffic = t.Snapshot(names);
  p.kernel_valid = true;
  p.kernel.packets[0] = 123456789;
  p.kernel.packets[1] = 123456000;
  p.kernel.bytes[0] = 98765432100;
  p.kernel.bytes[1] = 98765000000;
  for (int b = 0; b < TCFLOW_SIZE_BUCKETS; ++b) p.kernel.size_hist[b] = 1000 * (b + 1);
  p.kernel.icmp6_type[128] = 7;
  p.kernel.icmp6_type[135] = 11;
  p.kernel.icmp6_type[136] = 9;
  for (int e = 0; e < TCFLOW_EXT_HEADER_COUNT; ++e) p.kernel.ext_hdr[e] = e;
  for (int d = 0; d < TCFLOW_MAX_EXT_HEADERS + 2; ++d) p.kernel.ext_chain_depth[d] = 10 - d;
  for (int r = 1; r < TCFLOW_PARSE_RESULT_COUNT; ++r) p.kernel.parse_error[r] = r;
  p.kernel.not_ip = 17;
  p.kernel.gso_packets = 3;
  p.kernel.flows_not_created = 5;
  p.table_flows = 1234;
  p.table_capacity = 65536;
  p.cache_flows = 3000;
  p.cache_capacity = 1000000;
  p.flows_ended = {0, 10, 20, 30, 40, 0};
  p.crash_state_unprotected = 7;
  p.crash_state_storage_full = 5;
  for (double d : {0.0002, 0.0007, 0.003, 0.003, 2.0}) p.drain_duration.Observe(d);
  p.last_drain_timestamp = 1795300000.125;
  for (int c = 0; c < 4; ++c) {
    CollectorMetrics m;
    m.name = "collector \"" + std::to_string(c) + "\"\\n";
    m.records = 1000 * c;
    m.messages = 10 * c;
    m.bytes = 100000 * c;
    m.records_not_sent = c;
    m.template_refreshes = 2;
    m.up = c % 2 == 0;
    p.collectors.push_back(m);
  }
  return p;
}

ProcessInfo SyntheticProcessInfo() {
  ProcessInfo info;
  info.version = "0.1.0";
  info.revision = "unknown";
  info.start_time_seconds = 1795299000.5;
  info.reloads_ok = 2;
  info.reloads_error = 1;
  info.last_reload_success = false;
  return info;
}

}  // namespace tcflow::metrics
