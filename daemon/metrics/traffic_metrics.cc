#include "daemon/metrics/traffic_metrics.h"


#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tcflow::metrics {

absl::string_view IpVersionLabel(int index) {
  static constexpr absl::string_view kLabels[] = {"4", "6", "unknown"};
  return kLabels[index];
}

absl::string_view ProtocolLabel(int index) {
  static constexpr absl::string_view kLabels[] = {"tcp", "udp", "icmp", "icmpv6", "sctp",
                                                  "gre", "esp", "ah",   "other"};
  return kLabels[index];
}

absl::string_view ScopeLabel(int index) {
  static constexpr absl::string_view kLabels[] = {"global", "unique_local", "link_local",
                                                  "multicast", "other"};
  return kLabels[index];
}

ScopeIndex Ipv6ScopeOf(const uint8_t (&a)[16]) {
  if (a[0] == 0xff) return kMulticast;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return kLinkLocal;
  if ((a[0] & 0xfe) == 0xfc) return kUniqueLocal;
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) return kOtherScope;  // site-local (deprecated)
  if (a[0] == 0) {
    // ::, ::1, ::ffff:0:0/96 (IPv4-mapped) and the rest of ::/8 are not global unicast,
    // except the NAT64 prefixes 64:ff9b::/96 and 64:ff9b:1::/48 (RFC 6052, 8215).
    return a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b ? kGlobal : kOtherScope;
  }
  return kGlobal;
}

void InterfaceCounters::AddIcmpv6(uint16_t type_code, uint64_t messages) {
  for (uint32_t i = 0; i < icmpv6_used; ++i) {
    if (icmpv6[i].type_code == type_code) {
      icmpv6[i].messages += messages;
      return;
    }
  }
  if (icmpv6_used < kMaxIcmpv6Series) {
    icmpv6[icmpv6_used++] = {type_code, messages};
  } else {
    icmpv6_other += messages;
  }
}

void InterfaceCounters::MergeFrom(const InterfaceCounters& o) {
  for (int v = 0; v < kIpVersionCount; ++v) {
    for (int p = 0; p < kProtocolCount; ++p) {
      traffic[v][p].packets += o.traffic[v][p].packets;
      traffic[v][p].bytes += o.traffic[v][p].bytes;
    }
  }
  for (uint32_t i = 0; i < o.icmpv6_used; ++i) AddIcmpv6(o.icmpv6[i].type_code, o.icmpv6[i].messages);
  icmpv6_other += o.icmpv6_other;
  for (int s = 0; s < kScopeCount; ++s) {
    ipv6_flows[s] += o.ipv6_flows[s];
    ipv6_flows_started[s] += o.ipv6_flows_started[s];
  }
}

void TrafficMetrics::Add(absl::Span<const FlowRecord> batch) {
  for (const FlowRecord& r : batch) Add(r);
}

InterfaceCounters& TrafficMetrics::FindSlow(uint32_t ifindex, uint8_t direction) {
  direction &= 1;
  const uint32_t next = static_cast<uint32_t>(series_.size());
  uint32_t index;
  if (ifindex < kDirectIfindexes) {
    const size_t slot = size_t{ifindex} * 2 + direction;
    if (slot >= direct_.size()) direct_.resize(slot + 1);
    if (direct_[slot] == 0) direct_[slot] = next + 1;
    index = direct_[slot] - 1;
  } else {
    const uint64_t key = uint64_t{ifindex} << 1 | direction;
    auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(key, uint32_t{0}));
    if (it == index_.end() || it->first != key) it = index_.insert(it, {key, next});
    index = it->second;
  }
  if (index == next) {
    series_.emplace_back();
    series_.back().ifindex = ifindex;
    series_.back().direction = direction;
    names_.emplace_back();
  }
  return series_[index];
}

uint64_t InterfaceCounters::TotalPackets() const {
  uint64_t n = 0;
  for (const auto& by_version : traffic) {
    for (const PacketsBytes& c : by_version) n += c.packets;
  }
  return n;
}

size_t TrafficMetrics::Prune(const std::map<uint32_t, std::string>& live) {
  size_t kept = 0;
  for (size_t i = 0; i < series_.size(); ++i) {
    InterfaceCounters& c = series_[i];
    const uint64_t total = c.TotalPackets();
    bool idle = total == c.packets_at_prune && live.count(c.ifindex) == 0;
    for (int64_t n : c.ipv6_flows) idle &= n <= 0;
    c.packets_at_prune = total;
    if (idle) continue;
    if (kept != i) {
      series_[kept] = series_[i];
      names_[kept] = std::move(names_[i]);
    }
    ++kept;
  }
  const size_t dropped = series_.size() - kept;
  if (dropped == 0) return 0;
  series_.resize(kept);
  names_.resize(kept);
  std::fill(direct_.begin(), direct_.end(), 0);
  index_.clear();
  for (uint32_t i = 0; i < series_.size(); ++i) {
    const uint32_t ifindex = series_[i].ifindex;
    if (ifindex < kDirectIfindexes) {
      direct_[size_t{ifindex} * 2 + series_[i].direction] = i + 1;
    } else {
      index_.push_back({uint64_t{ifindex} << 1 | series_[i].direction, i});
    }
  }
  std::sort(index_.begin(), index_.end());
  return dropped;
}

TrafficSnapshot TrafficMetrics::Snapshot(const std::map<uint32_t, std::string>& names) {
  for (size_t i = 0; i < series_.size(); ++i) {
    auto it = names.find(series_[i].ifindex);
    if (it != names.end()) {
      if (names_[i] != it->second) names_[i] = it->second;
    } else if (names_[i].empty()) {
      names_[i] = absl::StrCat("ifindex:", series_[i].ifindex);
    }
  }
  return TrafficSnapshot{series_, names_};
}

}  // namespace tcflow::metrics
