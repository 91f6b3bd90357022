// tcflow's configuration, loaded and checked: the one entry point the daemon and flowctl
// use. Loading is three stages, each reporting every problem it finds:
//   1. parse (protobuf text format)     -> FILE:LINE:COLUMN: message
//   2. ApplyDefaults (config/defaults.h) -> nothing can fail
//   3. Validate (config/validate.h)     -> FILE:LINE:COLUMN: field.path: message
// and the result is a typed, complete view (Config) with nothing left to default.

#ifndef TCFLOW_CONFIG_CONFIG_H_
#define TCFLOW_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "config/address.h"
#include "config/config_error.h"
#include "config/tcflow.pb.h"
#include "daemon/ipfix/information_elements.h"

namespace tcflow::config {

struct InterfaceSelectionView {
  std::string netns;       // name under /var/run/netns, or empty
  std::string netns_path;  // path to a namespace file, or empty; both empty: own namespace
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool all_but_loopback = false;
  bool ingress = true;
  bool egress = true;

  // Whether the interface `name` is to be metered (loopback: IFF_LOOPBACK is set).
  bool Matches(absl::string_view name, bool loopback) const;
};

struct TemplateView {
  std::string name;
  int ip_version = 4;
  uint16_t template_id = 0;
  std::vector<const ipfix::InformationElement*> elements;  // record order
  uint32_t record_length = 0;                               // bytes per data record
};

struct CollectorView {
  std::string name;
  std::string address;                // as written: an IP literal or a host name
  std::optional<IpLiteral> ip;        // set when `address` is a literal
  uint16_t port = 0;
  bool tcp = false;
  uint32_t mtu = 0;                   // UDP; 0 for TCP
  absl::Duration template_refresh;    // UDP; zero for TCP
  uint32_t send_queue_bytes = 0;      // TCP; 0 for UDP
  uint32_t observation_domain_id = 0;
  int ipv4_template = -1;             // index into Config::templates, -1: none
  int ipv6_template = -1;
  bool exporter_reliability = false;
  bool metering_statistics = false;
  bool interface_table = false;
};

struct Config {
  std::vector<InterfaceSelectionView> interfaces;
  uint16_t tc_priority = 0;
  uint32_t tc_handle = 0;
  bool reattach = false;
  bool stay_attached_on_exit = false;

  bool key_vlan = false;
  bool key_mark = false;

  uint32_t slots_per_half = 0;
  absl::Duration drain_interval;

  absl::Duration idle_timeout;
  absl::Duration active_timeout;
  bool tcp_end_on_fin_or_rst = false;
  absl::Duration tcp_end_linger;
  uint64_t max_flows = 0;

  std::vector<CollectorView> collectors;
  std::vector<TemplateView> templates;

  std::string json_log_path;  // empty: no JSON log

  bool metrics_enabled = false;
  ListenAddress metrics_listen;

  std::string control_socket;
  std::string bpffs_pin_path;

  bool ndp_events = false;
  uint32_t ext_chain_alert_depth = 0;  // 0: off

  // The config with every default filled in.
  TcflowConfig resolved;
};

struct LoadResult {
  std::optional<Config> config;     // set exactly when `errors` is empty
  std::vector<ConfigError> errors;  // every problem found, in file order where known

  bool ok() const { return errors.empty(); }
};

// Loads `text`; `file` names it in errors.
LoadResult LoadConfigText(absl::string_view text, absl::string_view file);

// Reads and loads the file at `path`.
LoadResult LoadConfigFile(const std::string& path);

// The built-in default config, commented (what `flowctl config default` prints).
absl::string_view BuiltinDefaultConfigText();

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_CONFIG_H_
