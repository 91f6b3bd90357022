// tcflow's attach policy on top of the tc primitives:
//   - a clsact qdisc is created when absent and reused when present; tcflow remembers the
//     ones it created (a marker file per namespace and ifindex under the state directory,
//     so a later `flowctl meter detach` or a restarted daemon knows too);
//   - tcflow's filters are direct-action bpf filters with tcflow's own priority and handle
//     and a name starting with "tcflow"; attaching again replaces them in place;
//   - a foreign filter is never replaced or deleted: if one holds tcflow's priority the
//     attach fails and names it;
//   - detach removes tcflow's filters, and the qdisc only when tcflow created it and no
//     filter at all is left on it.

#ifndef TCFLOW_NETLINK_ATTACH_H_
#define TCFLOW_NETLINK_ATTACH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netlink/link.h"
#include "netlink/socket.h"
#include "netlink/tc.h"

namespace tcflow::netlink {

// Defaults chosen away from what common tools use: `tc` auto-assigns priorities from 49152
// downwards and most hand-written setups and CNIs use small priorities (1, 10, 100...).
inline constexpr uint16_t kDefaultPriority = 0x7cf1;  // 31985
inline constexpr uint32_t kDefaultHandle = 0x7cf1;
// Every tcflow filter's TCA_BPF_NAME starts with this.
inline constexpr char kFilterNamePrefix[] = "tcflow";
inline constexpr char kDefaultStateDir[] = "/run/tcflow";

enum class Direction { kIngress = 1, kEgress = 2, kBoth = 3 };
bool Includes(Direction direction, Hook hook);
absl::StatusOr<Direction> ParseDirection(absl::string_view text);

struct Program {
  int fd = -1;
  std::string name;  // becomes TCA_BPF_NAME; must start with kFilterNamePrefix
};
struct Programs {
  Program ingress;
  Program egress;
};

struct AttachOptions {
  uint16_t priority = kDefaultPriority;
  uint32_t handle = kDefaultHandle;
  // Where the "tcflow created this clsact" markers live ("" keeps them in memory only).
  std::string state_dir = kDefaultStateDir;
};

// One of tcflow's filters, read back from the kernel.
struct AttachedFilter {
  LinkInfo link;
  FilterInfo filter;
  bool qdisc_created_by_tcflow = false;
};

class Attacher {
 public:
  // `sock` must outlive the Attacher; its namespace is the one worked on.
  static absl::StatusOr<Attacher> Create(RtnlSocket* sock, AttachOptions options = {});

  // Attaches the programs of `direction` to `link`. Idempotent; replaces in place.
  absl::Status Attach(const LinkInfo& link, Direction direction, const Programs& programs);
  // Removes tcflow's filters of `direction`, then the qdisc if tcflow created it and it is
  // empty. A link without tcflow's filters is not an error.
  absl::Status Detach(const LinkInfo& link, Direction direction);
  // tcflow's filters on every interface of the namespace.
  absl::StatusOr<std::vector<AttachedFilter>> List();
  // tcflow's filters on one hook of one interface.
  absl::StatusOr<std::vector<FilterInfo>> ListOn(int ifindex, Hook hook);
  // Drops what is remembered about an interface that disappeared.
  void Forget(int ifindex);

  bool IsTcflowFilter(const FilterInfo& filter) const;
  // Whether tcflow created `link`'s clsact (its marker names this link).
  bool CreatedQdisc(const LinkInfo& link) const;
  const AttachOptions& options() const { return options_; }

 private:
  Attacher(RtnlSocket* sock, AttachOptions options, std::string netns_id)
      : sock_(sock), options_(std::move(options)), netns_id_(std::move(netns_id)) {}
  std::string MarkerPath(int ifindex) const;
  void RememberQdisc(const LinkInfo& link);

  RtnlSocket* sock_;
  AttachOptions options_;
  std::string netns_id_;
  std::vector<int> created_in_memory_;  // when state_dir is empty
};

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_ATTACH_H_
