// Which flows `flowctl flush` ends: every field that is set must match the flow's key.
// An empty filter matches every flow (`flowctl flush --all`).

#ifndef TCFLOW_DAEMON_CACHE_FLOW_FILTER_H_
#define TCFLOW_DAEMON_CACHE_FLOW_FILTER_H_

#include <cstdint>
#include <cstring>
#include <optional>

#include "bpf/tcflow_abi.h"

namespace tcflow::cache {

struct FilterAddress {
  uint8_t addr[16] = {};  // IPv4 as IPv4-mapped, like the flow key
  uint8_t ip_version = 0;
  bool operator==(const FilterAddress& o) const {
    return ip_version == o.ip_version && std::memcmp(addr, o.addr, sizeof(addr)) == 0;
  }
};

struct FlowFilter {
  std::optional<uint32_t> ifindex;  // the observation interface (key.ifindex)
  std::optional<uint8_t> protocol;
  std::optional<FilterAddress> src;
  std::optional<uint16_t> src_port;
  std::optional<FilterAddress> dst;
  std::optional<uint16_t> dst_port;

  bool MatchesAll() const {
    return !ifindex && !protocol && !src && !src_port && !dst && !dst_port;
  }

  bool Matches(const tcflow_flow_key& key) const {
    if (ifindex && key.ifindex != *ifindex) return false;
    if (protocol && key.protocol != *protocol) return false;
    if (src_port && key.src_port != *src_port) return false;
    if (dst_port && key.dst_port != *dst_port) return false;
    if (src && !AddressMatches(*src, key.src_addr, key.ip_version)) return false;
    if (dst && !AddressMatches(*dst, key.dst_addr, key.ip_version)) return false;
    return true;
  }

 private:
  static bool AddressMatches(const FilterAddress& want, const uint8_t (&addr)[16],
                             uint8_t ip_version) {
    return want.ip_version == ip_version && std::memcmp(want.addr, addr, 16) == 0;
  }
};

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_FLOW_FILTER_H_
