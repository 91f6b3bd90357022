// Which interfaces tcflow meters: names or shell globs to include, "all but loopback",
// and names or globs to exclude (exclusion wins).

#ifndef TCFLOW_NETLINK_SELECTOR_H_
#define TCFLOW_NETLINK_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcflow::netlink {

struct LinkSelector {
  std::vector<std::string> include;  // "eth0", "veth*", "wan[01]"
  bool all_but_loopback = false;
  std::vector<std::string> exclude;

  // True when `name` is selected. Loopback is only selected when named by an include entry.
  bool Matches(absl::string_view name, bool is_loopback) const;
  // True when the selector names interfaces only literally (no globs, no "all").
  bool IsLiteral() const;
};

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_SELECTOR_H_
