// A permanent IPv6 neighbour entry, for test routers whose NDP must stay quiet.

#ifndef TCFLOW_TESTS_STATIC_NEIGHBOUR_H_
#define TCFLOW_TESTS_STATIC_NEIGHBOUR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/netns/netns.h"

namespace tcflow::testing {

// `ip` is reachable at `mac` on `ifname` in `ns`, for good: the kernel never solicits or
// probes it.
absl::Status AddStaticNeighbour(const Namespace& ns, const std::string& ifname,
                                const std::string& ip, const std::vector<uint8_t>& mac);

}  // namespace tcflow::testing

#endif  // TCFLOW_TESTS_STATIC_NEIGHBOUR_H_
