// The one place tcflow's config defaults live. Every field the user leaves out is filled
// here, before validation, so the validator and the daemon only ever see complete configs.

#ifndef TCFLOW_CONFIG_DEFAULTS_H_
#define TCFLOW_CONFIG_DEFAULTS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "config/tcflow.pb.h"

namespace tcflow::config {

// Scalar defaults (documented beside each field in tcflow.proto).
inline constexpr uint32_t kDefaultTcPriority = 0x7cf1;  // 31985, as netlink::kDefaultPriority
inline constexpr uint32_t kDefaultTcHandle = 0x7cf1;  // as netlink::kDefaultHandle
inline constexpr uint32_t kDefaultSlotsPerHalf = 65536;
inline constexpr uint32_t kDefaultDrainIntervalMs = 1000;
inline constexpr uint32_t kDefaultIdleTimeoutS = 15;
inline constexpr uint32_t kDefaultActiveTimeoutS = 60;
inline constexpr uint32_t kDefaultTcpEndLingerS = 2;
inline constexpr uint64_t kDefaultMaxFlows = 1048576;
inline constexpr uint32_t kDefaultIpfixPort = 4739;
inline constexpr uint32_t kDefaultMtu = 1500;
inline constexpr uint32_t kDefaultTemplateRefreshS = 60;
inline constexpr uint32_t kDefaultObservationDomainId = 1;
inline constexpr uint32_t kDefaultSendQueueBytes = 4 << 20;
inline constexpr uint32_t kDefaultExtChainAlertDepth = 4;
inline constexpr absl::string_view kDefaultMetricsListen = "127.0.0.1:9739";
inline constexpr absl::string_view kDefaultControlSocket = "/run/tcflow/control.sock";
inline constexpr absl::string_view kDefaultBpffsPinPath = "/sys/fs/bpf/tcflow";

// Names of the built-in templates.
inline constexpr absl::string_view kBuiltinIpv4Template = "ipv4";
inline constexpr absl::string_view kBuiltinIpv6Template = "ipv6";

// The built-in templates' information elements, in record order. The VLAN elements are
// left out when flow_key.vlan is off.
absl::Span<const char* const> BuiltinIpv4TemplateElements();
absl::Span<const char* const> BuiltinIpv6TemplateElements();

// Fills every field `config` leaves unset with its default, in place. Idempotent. Values
// that are set are never changed, even when invalid (the validator reports them).
void ApplyDefaults(TcflowConfig& config);

// The name a collector gets when it has none: "ADDRESS:PORT/udp" ("[ADDRESS]:PORT/tcp" for
// IPv6 literals).
std::string DefaultCollectorName(const Collector& collector);

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_DEFAULTS_H_
