#include "config/validate.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bpf/tcflow_abi.h"
#include "config/address.h"
#include "config/suggest.h"
#include "daemon/ipfix/information_elements.h"

namespace tcflow::config {
namespace {

using ipfix::FindInformationElementByName;
using ipfix::InformationElement;

class Checker {
 public:
  Checker(const TcflowConfig& written, const TcflowConfig& resolved)
      : w_(written), r_(resolved) {}

  std::vector<FieldError> Run() {
    CheckOutputs();
    CheckInterfaces();
    CheckAttach();
    CheckTableAndCache();
    CheckTemplates();
    CheckCollectors();
    CheckJsonLog();
    CheckMetrics();
    CheckDaemon();
    CheckEvents();
    return std::move(errors_);
  }

 private:
  template <typename... Args>
  void Error(std::string path, const Args&... message) {
    errors_.push_back({std::move(path), absl::StrCat(message...)});
  }

  // Checks lo <= value <= hi; "PATH: V is out of range (LO-HI)".
  template <typename T>
  bool InRange(const std::string& path, T value, T lo, T hi) {
    if (value >= lo && value <= hi) return true;
    Error(path, value, " is out of range (", lo, "-", hi, ")");
    return false;
  }

  static std::string Quote(absl::string_view s) {
    return absl::StrCat("\"", absl::CHexEscape(s), "\"");
  }

  // Absolute path without NUL bytes; true when fine.
  bool CheckAbsolutePath(const std::string& path, absl::string_view value) {
    if (value.empty()) {
      Error(path, "empty path");
      return false;
    }
    if (value.find('\0') != absl::string_view::npos) {
      Error(path, "contains a NUL byte");
      return false;
    }
    if (value.front() != '/') {
      Error(path, Quote(value), " is not an absolute path");
      return false;
    }
    return true;
  }

  // A path naming a file (not a directory).
  void CheckFilePath(const std::string& path, absl::string_view value) {
    if (!CheckAbsolutePath(path, value)) return;
    if (absl::EndsWith(value, "/") || absl::EndsWith(value, "/.") ||
        absl::EndsWith(value, "/..")) {
      Error(path, Quote(value), " names a directory, not a file");
    }
  }

  void CheckOutputs() {
    if (w_.collector_size() == 0 && !w_.has_json_log()) {
      Error("",
            "nothing to export to: add a collector { address: ... } or a json_log { path: ... }");
    }
  }

  void CheckInterfaces() {
    std::map<std::string, int> namespaces;  // key -> first block
    for (int i = 0; i < r_.interfaces_size(); ++i) {
      const InterfaceSelection& s = r_.interfaces(i);
      const std::string p = absl::StrCat("interfaces[", i, "]");
      std::string ns_key = "self";
      if (s.has_netns() && s.has_netns_path()) {
        Error(p + ".netns_path", "conflicts with netns: give one of them");
      }
      if (s.has_netns()) {
        const std::string& n = s.netns();
        if (n.empty() || n == "." || n == ".." || n.size() > 255 ||
            n.find_first_of(std::string("/\0", 2)) != std::string::npos) {
          Error(p + ".netns", Quote(n),
                " is not a namespace name (a file name in /var/run/netns)");
        }
        ns_key = "/run/netns/" + n;
      } else if (s.has_netns_path()) {
        CheckAbsolutePath(p + ".netns_path", s.netns_path());
        // `ip netns` keeps named namespaces in /run/netns (/var/run is a link to /run):
        // a path there is the same namespace as the name.
        ns_key = s.netns_path();
        if (absl::StartsWith(ns_key, "/var/run/netns/")) ns_key = ns_key.substr(4);
      }
      auto [it, inserted] = namespaces.emplace(ns_key, i);
      if (!inserted) {
        std::string what = s.has_netns()        ? "netns"
                           : s.has_netns_path() ? "netns_path"
                                                : "";
        if (what.empty()) {
          Error(p, "the daemon's own namespace is already selected by interfaces[",
                it->second, "]");
        } else {
          Error(p + "." + what, "namespace ",
                Quote(what == "netns" ? s.netns() : s.netns_path()),
                " is already selected by interfaces[", it->second, "]");
        }
      }

      if (s.all_but_loopback() && s.include_size() > 0) {
        Error(p + ".all_but_loopback", "conflicts with include: give one or the other");
      }
      if (!s.all_but_loopback() && s.include_size() == 0) {
        Error(p, "selects no interface: give include or all_but_loopback: true");
      }
      std::map<std::string, int> included;
      for (int j = 0; j < s.include_size(); ++j) {
        const std::string q = absl::StrCat(p, ".include[", j, "]");
        std::string problem = InterfacePatternProblem(s.include(j));
        if (!problem.empty()) Error(q, problem);
        auto [at, fresh] = included.emplace(s.include(j), j);
        if (!fresh) Error(q, Quote(s.include(j)), " is already listed at include[", at->second, "]");
      }
      std::set<std::string> excluded;
      for (int j = 0; j < s.exclude_size(); ++j) {
        const std::string q = absl::StrCat(p, ".exclude[", j, "]");
        std::string problem = InterfacePatternProblem(s.exclude(j));
        if (!problem.empty()) Error(q, problem);
        if (!excluded.insert(s.exclude(j)).second) {
          Error(q, Quote(s.exclude(j)), " is already listed");
        }
        auto at = included.find(s.exclude(j));
        if (at != included.end()) {
          Error(q, Quote(s.exclude(j)), " is also included (include[", at->second,
                "]): conflicting");
        }
      }
    }
  }

  void CheckAttach() {
    const Attach& a = r_.attach();
    if (a.tc_priority() < 1 || a.tc_priority() > 65535) {
      Error("attach.tc_priority", a.tc_priority(), " is not a tc priority (1-65535)");
    }
    if (a.tc_handle() == 0) {
      Error("attach.tc_handle", "0 is not a tc filter handle (1-4294967295)");
    }
  }

  void CheckTableAndCache() {
    const Table& t = r_.table();
    const FlowCache& c = r_.flow_cache();
    const FlowCache& written = w_.flow_cache();
    bool slots_ok = InRange<uint32_t>("table.slots_per_half", t.slots_per_half(), 1024, 4194304);
    bool drain_ok = InRange<uint32_t>("table.drain_interval_ms", t.drain_interval_ms(), 50, 60000);
    bool idle_ok = InRange<uint32_t>("flow_cache.idle_timeout_s", c.idle_timeout_s(), 1, 3600);
    bool active_ok =
        InRange<uint32_t>("flow_cache.active_timeout_s", c.active_timeout_s(), 1, 86400);
    if (drain_ok && idle_ok && t.drain_interval_ms() > uint64_t{c.idle_timeout_s()} * 1000) {
      Error("table.drain_interval_ms", t.drain_interval_ms(),
            " ms exceeds flow_cache.idle_timeout_s (", c.idle_timeout_s(),
            " s): flows would time out between drains");
    }
    if (idle_ok && active_ok && c.active_timeout_s() < c.idle_timeout_s()) {
      Error("flow_cache.active_timeout_s", c.active_timeout_s(),
            " s is shorter than flow_cache.idle_timeout_s (", c.idle_timeout_s(), " s)");
    }
    if (written.has_tcp_end_linger_s() && c.tcp_end_of_flow() == TIMEOUT_ONLY) {
      Error("flow_cache.tcp_end_linger_s",
            "only applies with tcp_end_of_flow: END_ON_FIN_OR_RST, not TIMEOUT_ONLY");
    } else if (InRange<uint32_t>("flow_cache.tcp_end_linger_s", c.tcp_end_linger_s(), 0, 60) &&
               idle_ok && c.tcp_end_of_flow() == END_ON_FIN_OR_RST &&
               c.tcp_end_linger_s() >= c.idle_timeout_s()) {
      Error("flow_cache.tcp_end_linger_s", c.tcp_end_linger_s(),
            " s is not below flow_cache.idle_timeout_s (", c.idle_timeout_s(), " s)");
    }
    if (InRange<uint64_t>("flow_cache.max_flows", c.max_flows(), 1024, 67108864) && slots_ok &&
        c.max_flows() < t.slots_per_half()) {
      Error("flow_cache.max_flows", c.max_flows(), " is smaller than table.slots_per_half (",
            t.slots_per_half(), "): one drain could overflow the cache");
    }
  }

  static bool IsTemplateName(absl::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
        return false;
      }
    }
    return true;
  }

  static const char* FamilyName(Family f) { return f == IPV6 ? "IPv6" : "IPv4"; }

  void CheckTemplates() {
    std::map<std::string, int> names;
    std::map<uint32_t, int> ids;
    std::vector<std::string> known;
    for (const InformationElement& ie : ipfix::AllInformationElements()) known.push_back(ie.name);
    for (int i = 0; i < r_.template__size(); ++i) {
      const Template& t = r_.template_(i);
      const std::string p = absl::StrCat("template[", i, "]");
      if (!t.has_name()) {
        Error(p + ".name", "required");
      } else if (!IsTemplateName(t.name())) {
        Error(p + ".name", Quote(t.name()), " must be 1-64 letters, digits, '-' or '_'");
      } else if (auto [at, fresh] = names.emplace(t.name(), i); !fresh) {
        Error(p + ".name", Quote(t.name()), " is already defined by template[", at->second, "]");
      }
      if (!t.has_template_id()) {
        Error(p + ".template_id", "no free template id left (256-65535)");
      } else if (InRange<uint32_t>(p + ".template_id", t.template_id(), 256, 65535)) {
        if (auto [at, fresh] = ids.emplace(t.template_id(), i); !fresh) {
          Error(p + ".template_id", t.template_id(), " is already used by template[",
                at->second, "]");
        }
      }
      if (!t.has_family()) Error(p + ".family", "required (IPV4 or IPV6)");
      if (t.ie_size() == 0) {
        Error(p + ".ie", "required: list the information elements of the template's records");
        continue;
      }
      const int version = t.family() == IPV6 ? 6 : 4;
      std::map<std::string, int> seen;
      for (int j = 0; j < t.ie_size(); ++j) {
        const std::string q = absl::StrCat(p, ".ie[", j, "]");
        const std::string& name = t.ie(j);
        const InformationElement* ie = FindInformationElementByName(name);
        if (ie == nullptr) {
          std::string closest = ClosestName(name, known);
          Error(q, "unknown information element ", Quote(name),
                closest.empty() ? "" : absl::StrCat(" (did you mean \"", closest, "\"?)"));
          continue;
        }
        if (auto [at, fresh] = seen.emplace(name, j); !fresh) {
          Error(q, name, " is already listed at ie[", at->second, "]");
          continue;
        }
        if (!ipfix::FlowSourceCanFill(*ie)) {
          Error(q, name, " (IE ", ie->id, ") is not something tcflow measures per flow");
          continue;
        }
        if (t.has_family() && !ipfix::AppliesToFamily(*ie, version)) {
          Error(q, name, " (IE ", ie->id, ") does not belong in an ",
                FamilyName(t.family()), " template");
          continue;
        }
        if (!r_.flow_key().vlan() &&
            (ie->flow_field == ipfix::FlowField::kVlanId ||
             ie->flow_field == ipfix::FlowField::kDot1qVlanId ||
             ie->flow_field == ipfix::FlowField::kDot1qCustomerVlanId)) {
          Error(q, name, " needs flow_key.vlan: true (VLAN ids are not kept without it)");
        }
      }
      if (!t.has_family()) continue;
      std::vector<std::string> required = {
          version == 4 ? "sourceIPv4Address" : "sourceIPv6Address",
          version == 4 ? "destinationIPv4Address" : "destinationIPv6Address",
          "protocolIdentifier", "packetDeltaCount", "octetDeltaCount"};
      std::vector<std::string> missing;
      for (const std::string& name : required) {
        if (seen.count(name) == 0) missing.push_back(name);
      }
      if (!missing.empty()) {
        Error(p + ".ie", "lacks ", absl::StrJoin(missing, ", "),
              ": every template carries the flow's addresses, protocolIdentifier, "
              "packetDeltaCount and octetDeltaCount");
      }
    }
  }

  void CheckCollectors() {
    std::map<std::string, const Template*> templates;
    for (const Template& t : r_.template_()) templates.emplace(t.name(), &t);
    std::map<std::string, int> endpoints;  // canonical address/port/transport -> index
    std::map<std::string, int> names;
    for (int i = 0; i < r_.collector_size(); ++i) {
      const Collector& c = r_.collector(i);
      const Collector& written = w_.collector(i);
      const std::string p = absl::StrCat("collector[", i, "]");
      const char* transport = c.transport() == TCP ? "TCP" : "UDP";

      std::optional<IpLiteral> ip;
      std::string address_key;
      if (!c.has_address()) {
        Error(p + ".address", "required (an IP address or a host name)");
      } else if (std::string problem = CollectorAddressProblem(c.address()); !problem.empty()) {
        Error(p + ".address", problem);
      } else {
        ip = ParseIpLiteral(c.address());
        address_key = ip ? ip->ToString() : absl::AsciiStrToLower(c.address());
        if (absl::EndsWith(address_key, ".")) address_key.pop_back();
        if (ip && ip->is_multicast() && c.transport() == TCP) {
          Error(p + ".address", ip->ToString(), " is a multicast address: TCP cannot connect to it");
        }
      }

      bool port_ok = c.port() >= 1 && c.port() <= 65535;
      if (!port_ok) Error(p + ".port", c.port(), " is not a port");

      if (c.transport() == TCP) {
        if (written.has_mtu()) Error(p + ".mtu", "only applies to UDP collectors");
        if (written.has_template_refresh_s()) {
          Error(p + ".template_refresh_s",
                "only applies to UDP collectors (TCP sends templates once per connection)");
        }
        InRange<uint32_t>(p + ".send_queue_bytes", c.send_queue_bytes(), 65536, 1073741824);
      } else {
        if (written.has_send_queue_bytes()) {
          Error(p + ".send_queue_bytes", "only applies to TCP collectors");
        }
        if (InRange<uint32_t>(p + ".mtu", c.mtu(), 576, 65535) && ip && ip->family == 6 &&
            c.mtu() < 1280) {
          Error(p + ".mtu", c.mtu(), " is below 1280, the IPv6 minimum");
        }
        InRange<uint32_t>(p + ".template_refresh_s", c.template_refresh_s(), 1, 86400);
      }

      if (!address_key.empty() && port_ok) {
        std::string key = absl::StrCat(address_key, " port ", c.port(), " ", transport);
        if (auto [at, fresh] = endpoints.emplace(key, i); !fresh) {
          Error(p, "duplicates collector[", at->second, "] (", key, ")");
        }
      }
      if (written.has_name()) {
        const std::string& n = c.name();
        bool printable = !n.empty() && n.size() <= 64;
        for (char ch : n) {
          if (!absl::ascii_isgraph(static_cast<unsigned char>(ch))) printable = false;
        }
        if (!printable) {
          Error(p + ".name", Quote(n), " must be 1-64 printable characters without spaces");
        }
      }
      if (c.has_name()) {
        if (auto [at, fresh] = names.emplace(c.name(), i); !fresh && written.has_name()) {
          Error(p + ".name", Quote(c.name()), " is already used by collector[", at->second, "]");
        }
      }

      std::map<Family, std::string> family_template;
      std::set<std::string> listed;
      for (int j = 0; j < c.templates_size(); ++j) {
        const std::string q = absl::StrCat(p, ".templates[", j, "]");
        const std::string& name = c.templates(j);
        if (!listed.insert(name).second) {
          Error(q, Quote(name), " is already listed");
          continue;
        }
        auto t = templates.find(name);
        if (t == templates.end()) {
          std::vector<std::string> candidates;
          for (const auto& [known, unused] : templates) candidates.push_back(known);
          std::string closest = ClosestName(name, candidates);
          Error(q, "no template named ", Quote(name),
                closest.empty() ? "" : absl::StrCat(" (did you mean \"", closest, "\"?)"));
          continue;
        }
        if (!t->second->has_family()) continue;  // reported with the template
        auto [other, fresh] = family_template.emplace(t->second->family(), name);
        if (!fresh) {
          Error(q, Quote(name), " is a second ", FamilyName(t->second->family()),
                " template (after ", Quote(other->second),
                "): a collector takes one per address family");
        }
      }
    }
  }

  void CheckJsonLog() {
    if (!r_.has_json_log()) return;
    if (!r_.json_log().has_path()) {
      Error("json_log.path", "required (the file to append flows to)");
      return;
    }
    CheckFilePath("json_log.path", r_.json_log().path());
    if (r_.json_log().path() == r_.daemon().control_socket()) {
      Error("json_log.path", "is also daemon.control_socket");
    }
  }

  void CheckMetrics() {
    const Metrics& m = r_.metrics();
    if (!m.enabled()) {
      if (w_.metrics().has_listen()) Error("metrics.listen", "given but metrics.enabled is false");
      return;
    }
    if (!ParseListenAddress(m.listen())) {
      Error("metrics.listen", Quote(m.listen()),
            " is not IP:PORT or [IPv6]:PORT (an IP address, not a host name, and a port 1-65535)");
    }
  }

  void CheckDaemon() {
    const Daemon& d = r_.daemon();
    CheckFilePath("daemon.control_socket", d.control_socket());
    // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    if (d.control_socket().size() > 107) {
      Error("daemon.control_socket", d.control_socket().size(),
            " bytes is longer than a Unix socket path can be (107)");
    }
    CheckAbsolutePath("daemon.bpffs_pin_path", d.bpffs_pin_path());
    if (d.bpffs_pin_path() == "/") Error("daemon.bpffs_pin_path", "cannot be /");
  }

  void CheckEvents() {
    if (r_.events().ext_chain_alert_depth() > TCFLOW_MAX_EXT_HEADERS) {
      Error("events.ext_chain_alert_depth", r_.events().ext_chain_alert_depth(),
            " is out of range (0-8; the programs walk at most 8 headers)");
    }
  }

  const TcflowConfig& w_;
  const TcflowConfig& r_;
  std::vector<FieldError> errors_;
};

}  // namespace

std::vector<FieldError> Validate(const TcflowConfig& written, const TcflowConfig& resolved) {
  return Checker(written, resolved).Run();
}

}  // namespace tcflow::config
