// The user-space flow record: what the drain produces, the flow cache keeps, and every
// exporter (IPFIX, JSON log) writes. Flat and fixed-size, so encoding allocates nothing.

#ifndef TCFLOW_DAEMON_FLOW_FLOW_RECORD_H_
#define TCFLOW_DAEMON_FLOW_FLOW_RECORD_H_

#include <cstdint>
#include <cstring>

#include "bpf/tcflow_abi.h"

namespace tcflow {

// IPFIX flowEndReason (IE 136).
enum class FlowEndReason : uint8_t {
  kNone = 0,             // still active (a record not yet ended, e.g. in `flowctl dump`)
  kIdleTimeout = 1,
  kActiveTimeout = 2,
  kEndOfFlow = 3,        // TCP FIN or RST seen
  kForcedEnd = 4,        // shutdown, `flowctl flush`
  kLackOfResources = 5,  // evicted under cache pressure
};

struct FlowRecord {
  // The key exactly as the kernel wrote it (see bpf/tcflow_abi.h): IPv4 addresses are
  // IPv4-mapped, ports host order, ICMP type/code in dst_port.
  tcflow_flow_key key;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  int64_t start_ms = 0;  // wall clock, ms since the Unix epoch (IPFIX IE 152)
  int64_t end_ms = 0;    // IPFIX IE 153
  uint32_t flow_label = 0;
  uint32_t frag_id = 0;
  uint32_t ext_hdr_bitmap = 0;
  uint16_t tcp_flags = 0;
  uint8_t min_ttl = 0;
  uint8_t max_ttl = 0;
  uint8_t tos = 0;
  uint8_t ext_hdr_depth = 0;
  FlowEndReason end_reason = FlowEndReason::kNone;

  bool is_ipv6() const { return key.ip_version == 6; }
  // The IPv4 address (network byte order) of an IPv4 record: the mapped address's tail.
  static uint32_t Ipv4Of(const uint8_t (&addr)[16]) {
    uint32_t v4;
    std::memcpy(&v4, addr + 12, sizeof(v4));
    return v4;
  }
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_FLOW_FLOW_RECORD_H_
