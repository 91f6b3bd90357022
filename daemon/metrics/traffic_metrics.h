// Traffic metrics aggregated in user space from the drained flow records, instead of
// per-packet counting in the kernel: each record adds its packets/bytes to exactly one
// series of its (interface, direction), so the sums are exact and cost one lookup per record.
// ICMPv6 flows are keyed by type/code, so they give messages by type and code too. The flow
// cache reports flows it creates and removes (FlowCacheObserver), which gives IPv6 flows in
// the cache by destination scope.
//
// Storage: one flat block of counters per (ifindex, direction), indexed by small enums,
// found by ifindex in a flat array (a sorted vector for huge ifindexes). Nothing is allocated per record once an interface is known. One owner thread (the
// pipeline); Snapshot() copies what a renderer needs.

#ifndef TCFLOW_DAEMON_METRICS_TRAFFIC_METRICS_H_
#define TCFLOW_DAEMON_METRICS_TRAFFIC_METRICS_H_

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "bpf/tcflow_abi.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::metrics {

// ip_version label: "4", "6", or "unknown" (an overflow record: the table was full and the
// packet was folded into a per-interface record that has no IP version).
enum IpVersionIndex : uint8_t { kIpv4 = 0, kIpv6, kIpUnknown, kIpVersionCount };
// protocol label.
enum ProtocolIndex : uint8_t {
  kTcp = 0, kUdp, kIcmp, kIcmpv6, kSctp, kGre, kEsp, kAh, kOtherProtocol, kProtocolCount
};
// scope label of an IPv6 destination (RFC 4291 2.4: what is not special is global unicast).
enum ScopeIndex : uint8_t {
  kGlobal = 0, kUniqueLocal, kLinkLocal, kMulticast, kOtherScope, kScopeCount
};

absl::string_view IpVersionLabel(int index);
absl::string_view ProtocolLabel(int index);
absl::string_view ScopeLabel(int index);
// IP protocol number -> protocol label index, as a table (a lookup per record).
constexpr std::array<uint8_t, 256> MakeProtocolTable() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kOtherProtocol;
  t[IPPROTO_TCP] = kTcp;
  t[IPPROTO_UDP] = kUdp;
  t[IPPROTO_ICMP] = kIcmp;
  t[IPPROTO_ICMPV6] = kIcmpv6;
  t[IPPROTO_SCTP] = kSctp;
  t[IPPROTO_GRE] = kGre;
  t[IPPROTO_ESP] = kEsp;
  t[IPPROTO_AH] = kAh;
  return t;
}
inline constexpr std::array<uint8_t, 256> kProtocolIndexOf = MakeProtocolTable();
inline ProtocolIndex ProtocolOf(uint8_t ip_protocol) {
  return static_cast<ProtocolIndex>(kProtocolIndexOf[ip_protocol]);
}
ScopeIndex Ipv6ScopeOf(const uint8_t (&addr)[16]);

// Distinct ICMPv6 (type, code) pairs kept per interface and direction (bounded
// cardinality: crafted packets can carry any of 65,536); messages of further pairs are
// counted with type="other", code="other".
inline constexpr int kMaxIcmpv6Series = 32;

struct Icmpv6Count {
  uint16_t type_code = 0;  // type << 8 | code
  uint64_t messages = 0;
};

struct PacketsBytes {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

struct InterfaceCounters {
  uint32_t ifindex = 0;
  uint8_t direction = 0;  // TCFLOW_DIR_*
  // Packets and bytes side by side: a record touches one cache line.
  PacketsBytes traffic[kIpVersionCount][kProtocolCount];
  uint32_t icmpv6_used = 0;
  Icmpv6Count icmpv6[kMaxIcmpv6Series];
  uint64_t icmpv6_other = 0;
  int64_t ipv6_flows[kScopeCount] = {};          // in the cache now
  uint64_t ipv6_flows_started[kScopeCount] = {};  // created in the cache
  uint64_t packets_at_prune = ~uint64_t{0};       // Prune(): total seen at the last pass

  uint64_t TotalPackets() const;

  void AddIcmpv6(uint16_t type_code, uint64_t messages);
  // Adds every counter of `o` (same interface label, e.g. an ifindex that was reused).
  void MergeFrom(const InterfaceCounters& o);
};

// What a renderer needs, copied off the owner thread.
struct TrafficSnapshot {
  std::vector<InterfaceCounters> series;
  std::vector<std::string> names;  // interface label per series
};

class TrafficMetrics {
 public:
  // Per drained record (the drain's sink). Always inlined: -Os release builds would
  // otherwise call it per record.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Add(const FlowRecord& r) {
    InterfaceCounters& c = Find(r.key.ifindex, r.key.direction);
    int v;
    int p;
    if (r.key.key_flags & TCFLOW_KEY_OVERFLOW) {
      v = r.key.ip_version == 4 ? kIpv4 : r.key.ip_version == 6 ? kIpv6 : kIpUnknown;
      p = kOtherProtocol;
    } else {
      v = r.key.ip_version == 6 ? kIpv6 : r.key.ip_version == 4 ? kIpv4 : kIpUnknown;
      p = ProtocolOf(r.key.protocol);
      // An ICMPv6 message is one packet with its ICMPv6 header: later fragments carry
      // none, and a truncated header gave no type.
      if (p == kIcmpv6 && v == kIpv6 &&
          !(r.key.key_flags & (TCFLOW_KEY_NON_FIRST_FRAGMENT | TCFLOW_KEY_L4_TRUNCATED))) {
        c.AddIcmpv6(r.key.dst_port, r.packets);
      }
    }
    c.traffic[v][p].packets += r.packets;
    c.traffic[v][p].bytes += r.bytes;
  }
  // A drained batch (out of line: compiled -O2 with the hot paths, whatever the caller's).
  void Add(absl::Span<const FlowRecord> batch);

  // The flow cache's view (FlowCacheObserver): only IPv6 flows are counted.
  void FlowCreated(const tcflow_flow_key& k) {
    if (k.ip_version != 6) return;
    InterfaceCounters& c = Find(k.ifindex, k.direction);
    const ScopeIndex s = Ipv6ScopeOf(k.dst_addr);
    ++c.ipv6_flows[s];
    ++c.ipv6_flows_started[s];
  }
  void FlowRemoved(const tcflow_flow_key& k) {
    if (k.ip_version != 6) return;
    --Find(k.ifindex, k.direction).ipv6_flows[Ipv6ScopeOf(k.dst_addr)];
  }

  // Copies the counters, labelled with `names` (ifindex -> interface name). An ifindex not
  // in `names` keeps the name it last had there, else is labelled "ifindex:N".
  TrafficSnapshot Snapshot(const std::map<uint32_t, std::string>& names);

  // Forgets the counters of interfaces no longer in `live` (detached, deleted) that have no
  // IPv6 flow left in the cache and took no record since the previous Prune(): series and
  // memory stay bounded where links come and go (containers). Call it every minute or so.
  // Returns how many (interface, direction) blocks went.
  size_t Prune(const std::map<uint32_t, std::string>& live);

  size_t size() const { return series_.size(); }

 private:
  // Interface indexes are small and dense in practice: below kDirectIfindexes they index
  // an array (one load per record); larger ones go through a hash map.
  static constexpr uint32_t kDirectIfindexes = 1 << 16;

  InterfaceCounters& Find(uint32_t ifindex, uint8_t direction) {
    const size_t slot = size_t{ifindex} * 2 + (direction & 1);
    if (ifindex < kDirectIfindexes && slot < direct_.size() && direct_[slot] != 0) {
      return series_[direct_[slot] - 1];
    }
    return FindSlow(ifindex, direction);
  }
  InterfaceCounters& FindSlow(uint32_t ifindex, uint8_t direction);

  std::vector<InterfaceCounters> series_;
  std::vector<std::string> names_;
  std::vector<uint32_t> direct_;  // ifindex * 2 + direction -> series index + 1 (0: none)
  // The other ifindexes: (ifindex << 1 | direction, series index), sorted.
  std::vector<std::pair<uint64_t, uint32_t>> index_;
};

}  // namespace tcflow::metrics

#endif  // TCFLOW_DAEMON_METRICS_TRAFFIC_METRICS_H_
