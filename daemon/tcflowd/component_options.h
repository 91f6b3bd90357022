// The config (config/config.h) mapped onto each component's options: loader, flow cache,
// IPFIX collectors, link watchers, flow log. Pure functions, so a reload can compare what
// would change before applying it.

#ifndef TCFLOW_DAEMON_TCFLOWD_COMPONENT_OPTIONS_H_
#define TCFLOW_DAEMON_TCFLOWD_COMPONENT_OPTIONS_H_

#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/cache/flow_cache.h"
#include "daemon/ipfix/collector.h"
#include "daemon/loader/loader.h"
#include "netlink/attach.h"
#include "netlink/selector.h"

namespace tcflow::tcflowd {

LoaderOptions LoaderOptionsFrom(const config::Config& c);
cache::FlowCacheOptions CacheOptionsFrom(const config::Config& c);
std::vector<ipfix::CollectorOptions> CollectorOptionsFrom(const config::Config& c);

// One interface selection (one namespace) as the link watcher wants it.
struct Selection {
  std::string netns;  // name or path; "" = the daemon's own namespace
  netlink::LinkSelector selector;
  netlink::Direction direction = netlink::Direction::kBoth;
};
// `netns_override` (tcflowd --netns) replaces the namespace of selections that name none.
std::vector<Selection> SelectionsFrom(const config::Config& c, const std::string& netns_override);
netlink::AttachOptions AttachOptionsFrom(const config::Config& c);

// Collector "ADDR:PORT" text ([v6]:port).
std::string CollectorAddress(const config::CollectorView& v);

// Settings that cannot change while running (tables, programs, filters' identity, sockets):
// a reload that changes one is refused, naming it. Empty when none differs.
std::string RestartOnlyDifference(const config::Config& running, const config::Config& next);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_COMPONENT_OPTIONS_H_
