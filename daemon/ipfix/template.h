// IPFIX templates: which elements a record carries, in which order, and how a FlowRecord
// becomes a data record of that template (straight into the caller's buffer).
//
// A template belongs to one address family: tcflow exports IPv4 flows with an IPv4 template
// and IPv6 flows with an IPv6 template, built from one list of element names (elements of
// the other family are left out of each).

#ifndef TCFLOW_DAEMON_IPFIX_TEMPLATE_H_
#define TCFLOW_DAEMON_IPFIX_TEMPLATE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/flow/flow_record.h"
#include "daemon/ipfix/information_elements.h"

namespace tcflow::ipfix {

// Template IDs tcflow uses.
inline constexpr uint16_t kIpv4TemplateId = 256;
inline constexpr uint16_t kIpv6TemplateId = 257;
inline constexpr uint16_t kReliabilityTemplateId = 258;
inline constexpr uint16_t kMeteringTemplateId = 259;
inline constexpr uint16_t kInterfaceTemplateId = 260;

struct TemplateField {
  const InformationElement* ie;
  uint16_t length;  // kVariableLength for strings
};

struct Template {
  uint16_t id = 0;
  int ip_version = 0;          // 4 or 6 for flow templates, 0 for options templates
  uint16_t scope_count = 0;    // > 0 makes it an options template
  std::vector<TemplateField> fields;
  // Fixed-size records only (flow templates); 0 when a field is variable-length.
  uint16_t record_length = 0;
  // Set when the fields are exactly the default template's: EncodeFlowRecord then takes a
  // straight-line path (the hot path of the default configuration).
  bool is_default = false;

  bool is_options() const { return scope_count > 0; }
  // Size of this template's record inside a (options) template set.
  size_t TemplateRecordSize() const;
  // Writes the template record (not the set header) at `out`; returns its size.
  size_t WriteTemplateRecord(uint8_t* out) const;
};

// The element names of the default flow template: the full flow key (addresses, ports,
// protocol, ICMP type/code, interfaces, direction, VLANs) plus absolute start/end times,
// delta counters, TCP flags, TOS, TTL range and end reason. Both families use the list;
// IPv6 adds nothing beyond its addresses, so the v4 record is 66 bytes and v6 90.
std::vector<std::string> DefaultTemplateElementNames();

// Every element a FlowRecord can fill (the "every IE" template of the interop tests).
std::vector<std::string> AllFlowElementNames();

// Builds the flow template `id` for `ip_version` from element names. Errors name the
// offending element: unknown, duplicate, not fillable from a flow, or an empty result.
absl::StatusOr<Template> BuildFlowTemplate(uint16_t id, int ip_version,
                                           absl::Span<const std::string> element_names);

// Writes `record` as a data record of flow template `t` at `out` (t.record_length bytes).
void EncodeFlowRecord(const Template& t, const FlowRecord& record, uint8_t* out);
// The field-by-field path for any template (EncodeFlowRecord uses it for non-default ones).
void EncodeFlowRecordGeneric(const Template& t, const FlowRecord& record, uint8_t* out);

// The options templates (RFC 7011 section 4).
Template ReliabilityOptionsTemplate();  // scope exportingProcessId
Template MeteringOptionsTemplate();     // scope observationDomainId
Template InterfaceOptionsTemplate();    // scope ingressInterface; name, description

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_TEMPLATE_H_
