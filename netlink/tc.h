// tc primitives over rtnetlink: the clsact qdisc and `bpf` filters on its two hooks.
//
// libnl 3.7 has neither a clsact qdisc module nor a cls_bpf classifier module, so these
// messages are built attribute by attribute (TCA_KIND, TCA_OPTIONS{TCA_BPF_FD, TCA_BPF_NAME,
// TCA_BPF_FLAGS}) with libnl's generic message API. These functions carry no policy; the
// rules about what tcflow may touch live in attach.h.

#ifndef TCFLOW_NETLINK_TC_H_
#define TCFLOW_NETLINK_TC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netlink/socket.h"

struct nlmsghdr;

namespace tcflow::netlink {

enum class Hook { kIngress, kEgress };
const char* HookName(Hook hook);  // "ingress" / "egress"
// The tcm_parent of a clsact hook (ffff:fff2 / ffff:fff3).
uint32_t HookParent(Hook hook);

// A qdisc as the kernel lists it.
struct QdiscInfo {
  int ifindex = 0;
  uint32_t handle = 0;
  uint32_t parent = 0;
  std::string kind;
};

// A classifier as the kernel lists it; the bpf_* fields only for kind "bpf".
struct FilterInfo {
  int ifindex = 0;
  Hook hook = Hook::kIngress;
  uint32_t chain = 0;
  uint16_t priority = 0;
  uint16_t protocol = 0;  // ETH_P_*, host byte order
  uint32_t handle = 0;
  std::string kind;
  std::string bpf_name;
  uint32_t bpf_prog_id = 0;
  std::string bpf_prog_tag;  // 16 hex digits, as bpftool prints it
  bool bpf_direct_action = false;
};

// What to install as a direct-action bpf filter for every protocol (ETH_P_ALL).
struct BpfFilterSpec {
  uint16_t priority = 0;
  uint32_t handle = 0;
  int prog_fd = -1;
  std::string name;  // TCA_BPF_NAME, shown by `tc filter show`
};

// Creates a clsact qdisc (NLM_F_EXCL). Returns true when this call created it, false when
// a clsact was already there. Another qdisc in the slot (`ingress`) is FailedPrecondition.
absl::StatusOr<bool> EnsureClsact(RtnlSocket& sock, int ifindex);
// The qdisc in the ingress/clsact slot of `ifindex`, if any.
absl::StatusOr<std::optional<QdiscInfo>> IngressSlotQdisc(RtnlSocket& sock, int ifindex);
// Every qdisc of the namespace.
absl::StatusOr<std::vector<QdiscInfo>> ListQdiscs(RtnlSocket& sock);
absl::Status DeleteClsact(RtnlSocket& sock, int ifindex);

// Creates or, when a filter with the same priority and handle exists, replaces it in place
// (NLM_F_CREATE | NLM_F_REPLACE): the program is swapped without a gap.
absl::Status ReplaceBpfFilter(RtnlSocket& sock, int ifindex, Hook hook, const BpfFilterSpec& spec);
// Deletes one filter, identified the way the kernel does (priority, protocol, handle, kind).
absl::Status DeleteFilter(RtnlSocket& sock, const FilterInfo& filter);
// The filters on one hook (an absent clsact gives an empty list).
absl::StatusOr<std::vector<FilterInfo>> ListFilters(RtnlSocket& sock, int ifindex, Hook hook);

// Parses RTM_NEWTFILTER/RTM_DELTFILTER; nullopt for other messages or parents that are not
// a clsact hook. Per-priority header entries (handle 0) are returned too.
std::optional<FilterInfo> ParseFilterMessage(const nlmsghdr* hdr);
std::optional<QdiscInfo> ParseQdiscMessage(const nlmsghdr* hdr);

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_TC_H_
