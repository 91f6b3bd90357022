#include "netlink/tc.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::netlink {
namespace {

constexpr uint32_t kClsactHandle = TC_H_MAKE(TC_H_CLSACT, 0);

tcmsg TcHeader(int ifindex, uint32_t parent, uint32_t handle, uint32_t info) {
  tcmsg tcm = {};
  tcm.tcm_family = AF_UNSPEC;
  tcm.tcm_ifindex = ifindex;
  tcm.tcm_parent = parent;
  tcm.tcm_handle = handle;
  tcm.tcm_info = info;
  return tcm;
}

std::string AttrString(const nlattr* attr) {
  const char* text = static_cast<const char*>(nla_data(attr));
  return std::string(text, strnlen(text, nla_len(attr)));
}

std::string FilterLabel(int ifindex, Hook hook) {
  return absl::StrCat("ifindex ", ifindex, " ", HookName(hook));
}

}  // namespace

const char* HookName(Hook hook) { return hook == Hook::kIngress ? "ingress" : "egress"; }

uint32_t HookParent(Hook hook) {
  return TC_H_MAKE(TC_H_CLSACT, hook == Hook::kIngress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

std::optional<QdiscInfo> ParseQdiscMessage(const nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWQDISC && hdr->nlmsg_type != RTM_DELQDISC) return std::nullopt;
  nlattr* tb[TCA_MAX + 1] = {};
  if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) {
    return std::nullopt;
  }
  const auto* tcm = static_cast<const tcmsg*>(nlmsg_data(hdr));
  QdiscInfo info;
  info.ifindex = tcm->tcm_ifindex;
  info.handle = tcm->tcm_handle;
  info.parent = tcm->tcm_parent;
  if (tb[TCA_KIND] != nullptr) info.kind = AttrString(tb[TCA_KIND]);
  return info;
}

std::optional<FilterInfo> ParseFilterMessage(const nlmsghdr* hdr) {
  if (hdr->nlmsg_type != RTM_NEWTFILTER && hdr->nlmsg_type != RTM_DELTFILTER) {
    return std::nullopt;
  }
  const auto* tcm = static_cast<const tcmsg*>(nlmsg_data(hdr));
  FilterInfo info;
  if (tcm->tcm_parent == HookParent(Hook::kIngress)) {
    info.hook = Hook::kIngress;
  } else if (tcm->tcm_parent == HookParent(Hook::kEgress)) {
    info.hook = Hook::kEgress;
  } else {
    return std::nullopt;
  }
  nlattr* tb[TCA_MAX + 1] = {};
  if (nlmsg_parse(const_cast<nlmsghdr*>(hdr), sizeof(tcmsg), tb, TCA_MAX, nullptr) < 0) {
    return std::nullopt;
  }
  info.ifindex = tcm->tcm_ifindex;
  info.handle = tcm->tcm_handle;
  info.priority = static_cast<uint16_t>(TC_H_MAJ(tcm->tcm_info) >> 16);
  info.protocol = ntohs(static_cast<uint16_t>(TC_H_MIN(tcm->tcm_info)));
  if (tb[TCA_CHAIN] != nullptr) info.chain = nla_get_u32(tb[TCA_CHAIN]);
  if (tb[TCA_KIND] != nullptr) info.kind = AttrString(tb[TCA_KIND]);
  if (info.kind == "bpf" && tb[TCA_OPTIONS] != nullptr) {
    nlattr* opts[TCA_BPF_MAX + 1] = {};
    if (nla_parse_nested(opts, TCA_BPF_MAX, tb[TCA_OPTIONS], nullptr) == 0) {
      if (opts[TCA_BPF_NAME] != nullptr) info.bpf_name = AttrString(opts[TCA_BPF_NAME]);
      if (opts[TCA_BPF_ID] != nullptr) info.bpf_prog_id = nla_get_u32(opts[TCA_BPF_ID]);
      if (opts[TCA_BPF_TAG] != nullptr) {
        info.bpf_prog_tag = absl::BytesToHexString(absl::string_view(
            static_cast<const char*>(nla_data(opts[TCA_BPF_TAG])), nla_len(opts[TCA_BPF_TAG])));
      }
      if (opts[TCA_BPF_FLAGS] != nullptr) {
        info.bpf_direct_action = (nla_get_u32(opts[TCA_BPF_FLAGS]) & TCA_BPF_FLAG_ACT_DIRECT) != 0;
      }
    }
  }
  return info;
}

absl::StatusOr<std::vector<QdiscInfo>> ListQdiscs(RtnlSocket& sock) {
  tcmsg tcm = TcHeader(0, 0, 0, 0);
  NlMsgPtr msg = NewMessage(RTM_GETQDISC, 0, &tcm, sizeof(tcm));
  std::vector<QdiscInfo> qdiscs;
  absl::Status status = sock.Dump(msg.get(), "list qdiscs", [&](const nlmsghdr* hdr) {
    if (auto q = ParseQdiscMessage(hdr)) qdiscs.push_back(std::move(*q));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return qdiscs;
}

absl::StatusOr<std::optional<QdiscInfo>> IngressSlotQdisc(RtnlSocket& sock, int ifindex) {
  // The kernel's qdisc dump is not filtered by interface; this runs only on the slow path.
  auto qdiscs = ListQdiscs(sock);
  if (!qdiscs.ok()) return qdiscs.status();
  for (QdiscInfo& q : *qdiscs) {
    if (q.ifindex == ifindex && q.parent == TC_H_INGRESS) return std::optional<QdiscInfo>(q);
  }
  return std::optional<QdiscInfo>();
}

absl::StatusOr<bool> EnsureClsact(RtnlSocket& sock, int ifindex) {
  tcmsg tcm = TcHeader(ifindex, TC_H_CLSACT, kClsactHandle, 0);
  NlMsgPtr msg = NewMessage(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "clsact");
  absl::Status status =
      sock.Request(msg.get(), absl::StrCat("create clsact qdisc on ifindex ", ifindex));
  if (status.ok()) return true;
  if (ErrnoOf(status) != EEXIST) return status;
  // Something holds the slot. Without NLM_F_EXCL and without options the same request is a
  // no-op "change" that the kernel accepts only when the kind matches: a cheap check that
  // it is a clsact, without dumping every qdisc of the namespace.
  msg = NewMessage(RTM_NEWQDISC, 0, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "clsact");
  if (sock.Request(msg.get(), "check clsact qdisc").ok()) return false;
  // Not a clsact: never replace it; name it in the error.
  auto existing = IngressSlotQdisc(sock, ifindex);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() && (*existing)->kind == "clsact") return false;
  return absl::FailedPreconditionError(
      absl::StrCat("the clsact slot of ifindex ", ifindex, " is held by an existing '",
                   existing->has_value() ? (*existing)->kind : std::string("unknown"),
                   "' qdisc; tcflow will not replace it (delete it or use clsact instead)"));
}

absl::Status DeleteClsact(RtnlSocket& sock, int ifindex) {
  tcmsg tcm = TcHeader(ifindex, TC_H_CLSACT, kClsactHandle, 0);
  NlMsgPtr msg = NewMessage(RTM_DELQDISC, 0, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "clsact");
  return sock.Request(msg.get(), absl::StrCat("delete clsact qdisc on ifindex ", ifindex));
}

absl::Status ReplaceBpfFilter(RtnlSocket& sock, int ifindex, Hook hook, const BpfFilterSpec& spec) {
  if (spec.prog_fd < 0) return absl::InvalidArgumentError("no program to attach");
  if (spec.priority == 0 || spec.handle == 0) {
    return absl::InvalidArgumentError("a filter needs a non-zero priority and handle");
  }
  tcmsg tcm = TcHeader(ifindex, HookParent(hook), spec.handle,
                       TC_H_MAKE(static_cast<uint32_t>(spec.priority) << 16, htons(ETH_P_ALL)));
  NlMsgPtr msg = NewMessage(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "bpf");
  nlattr* options = nla_nest_start(msg.get(), TCA_OPTIONS);
  nla_put_u32(msg.get(), TCA_BPF_FD, static_cast<uint32_t>(spec.prog_fd));
  nla_put_string(msg.get(), TCA_BPF_NAME, spec.name.c_str());
  nla_put_u32(msg.get(), TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
  nla_nest_end(msg.get(), options);
  return sock.Request(
      msg.get(), absl::StrFormat("attach bpf filter (prio %u handle 0x%x) on %s", spec.priority,
                                 spec.handle, FilterLabel(ifindex, hook)));
}

absl::Status DeleteFilter(RtnlSocket& sock, const FilterInfo& filter) {
  tcmsg tcm =
      TcHeader(filter.ifindex, HookParent(filter.hook), filter.handle,
               TC_H_MAKE(static_cast<uint32_t>(filter.priority) << 16, htons(filter.protocol)));
  NlMsgPtr msg = NewMessage(RTM_DELTFILTER, 0, &tcm, sizeof(tcm));
  if (!filter.kind.empty()) nla_put_string(msg.get(), TCA_KIND, filter.kind.c_str());
  if (filter.chain != 0) nla_put_u32(msg.get(), TCA_CHAIN, filter.chain);
  return sock.Request(msg.get(),
                      absl::StrFormat("delete filter (prio %u handle 0x%x) on %s", filter.priority,
                                      filter.handle, FilterLabel(filter.ifindex, filter.hook)));
}

absl::StatusOr<std::vector<FilterInfo>> ListFilters(RtnlSocket& sock, int ifindex, Hook hook) {
  tcmsg tcm = TcHeader(ifindex, HookParent(hook), 0, 0);
  NlMsgPtr msg = NewMessage(RTM_GETTFILTER, 0, &tcm, sizeof(tcm));
  std::vector<FilterInfo> filters;
  absl::Status status =
      sock.Dump(msg.get(), absl::StrCat("list filters on ", FilterLabel(ifindex, hook)),
                [&](const nlmsghdr* hdr) {
                  auto filter = ParseFilterMessage(hdr);
                  // Handle 0 entries are per-priority headers, not filters.
                  if (filter.has_value() && filter->handle != 0)
                    filters.push_back(std::move(*filter));
                  return absl::OkStatus();
                });
  // The kernel answers ENOENT when the interface has no clsact: no filters.
  if (ErrnoOf(status) == ENOENT) return filters;
  if (!status.ok()) return status;
  return filters;
}

}  // namespace tcflow::netlink
