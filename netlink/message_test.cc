// Parsing of kernel answers without a kernel: filter and link messages and extended acks,
// built with the same libnl message API the kernel-facing code uses. Table-driven.
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "gtest/gtest.h"
#include "netlink/link.h"
#include "netlink/socket.h"
#include "netlink/tc.h"

namespace tcflow::netlink {
namespace {

struct FilterCase {
  const char* label;
  uint32_t parent;
  uint32_t handle;
  uint16_t priority;
  const char* kind;
  const char* bpf_name;  // nullptr: no TCA_OPTIONS
  uint32_t bpf_id;
  uint32_t bpf_flags;
  // Expected
  bool parsed;
  Hook hook;
};

NlMsgPtr FilterMessage(const FilterCase& c) {
  tcmsg tcm = {};
  tcm.tcm_family = AF_UNSPEC;
  tcm.tcm_ifindex = 7;
  tcm.tcm_parent = c.parent;
  tcm.tcm_handle = c.handle;
  tcm.tcm_info = TC_H_MAKE(static_cast<uint32_t>(c.priority) << 16, htons(ETH_P_ALL));
  NlMsgPtr msg = NewMessage(RTM_NEWTFILTER, 0, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, c.kind);
  nla_put_u32(msg.get(), TCA_CHAIN, 0);
  if (c.bpf_name != nullptr) {
    nlattr* opts = nla_nest_start(msg.get(), TCA_OPTIONS);
    nla_put_string(msg.get(), TCA_BPF_NAME, c.bpf_name);
    nla_put_u32(msg.get(), TCA_BPF_ID, c.bpf_id);
    const uint8_t tag[8] = {0x42, 0x79, 0x7b, 0xf7, 0x1d, 0x19, 0xcf, 0x24};
    nla_put(msg.get(), TCA_BPF_TAG, sizeof(tag), tag);
    nla_put_u32(msg.get(), TCA_BPF_FLAGS, c.bpf_flags);
    nla_nest_end(msg.get(), opts);
  }
  return msg;
}

TEST(MessageTest, FilterMessages) {
  const uint32_t ingress = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
  const uint32_t egress = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS);
  const FilterCase cases[] = {
      {"ingress bpf da", ingress, 0x7cf1, 31985, "bpf", "tcflow_ingress", 42,
       TCA_BPF_FLAG_ACT_DIRECT, true, Hook::kIngress},
      {"egress bpf no da", egress, 1, 1, "bpf", "other", 7, 0, true, Hook::kEgress},
      {"priority header", ingress, 0, 5, "bpf", nullptr, 0, 0, true, Hook::kIngress},
      {"u32 on egress", egress, 0x800, 49152, "u32", nullptr, 0, 0, true, Hook::kEgress},
      {"root qdisc filter", TC_H_ROOT, 1, 1, "bpf", "x", 1, 0, false, Hook::kIngress},
  };
  for (const FilterCase& c : cases) {
    NlMsgPtr msg = FilterMessage(c);
    std::optional<FilterInfo> f = ParseFilterMessage(nlmsg_hdr(msg.get()));
    ASSERT_EQ(f.has_value(), c.parsed) << c.label;
    if (!f.has_value()) continue;
    EXPECT_EQ(f->ifindex, 7) << c.label;
    EXPECT_EQ(f->hook, c.hook) << c.label;
    EXPECT_EQ(f->priority, c.priority) << c.label;
    EXPECT_EQ(f->handle, c.handle) << c.label;
    EXPECT_EQ(f->protocol, ETH_P_ALL) << c.label;
    EXPECT_EQ(f->kind, c.kind) << c.label;
    EXPECT_EQ(f->chain, 0u) << c.label;
    if (c.bpf_name != nullptr) {
      EXPECT_EQ(f->bpf_name, c.bpf_name) << c.label;
      EXPECT_EQ(f->bpf_prog_id, c.bpf_id) << c.label;
      EXPECT_EQ(f->bpf_prog_tag, "42797bf71d19cf24") << c.label;
      EXPECT_EQ(f->bpf_direct_action, c.bpf_flags != 0) << c.label;
    } else {
      EXPECT_TRUE(f->bpf_name.empty()) << c.label;
      EXPECT_EQ(f->bpf_prog_id, 0u) << c.label;
    }
  }
}

TEST(MessageTest, LinkMessages) {
  ifinfomsg ifi = {};
  ifi.ifi_index = 3;
  ifi.ifi_flags = IFF_UP | IFF_LOOPBACK;
  NlMsgPtr msg = NewMessage(RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  nla_put_string(msg.get(), IFLA_IFNAME, "lo");
  std::optional<LinkInfo> link = ParseLinkMessage(nlmsg_hdr(msg.get()));
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(link->ifindex, 3);
  EXPECT_EQ(link->name, "lo");
  EXPECT_TRUE(link->is_up());
  EXPECT_TRUE(link->is_loopback());

  NlMsgPtr nameless = NewMessage(RTM_DELLINK, 0, &ifi, sizeof(ifi));
  EXPECT_FALSE(ParseLinkMessage(nlmsg_hdr(nameless.get())).has_value());
  NlMsgPtr other = NewMessage(RTM_NEWADDR, 0, &ifi, sizeof(ifi));
  EXPECT_FALSE(ParseLinkMessage(nlmsg_hdr(other.get())).has_value());
}

// An NLMSG_ERROR as the kernel sends it: the error, the request's header (plus its payload
// unless capped), then the extended-ack attributes.
NlMsgPtr ErrorMessage(int error, bool capped, const char* text) {
  int flags = (capped ? NLM_F_CAPPED : 0) | (text != nullptr ? NLM_F_ACK_TLVS : 0);
  NlMsgPtr msg(nlmsg_alloc_simple(NLMSG_ERROR, flags));
  nlmsgerr err = {};
  err.error = error;
  const uint8_t request_payload[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  err.msg.nlmsg_len = NLMSG_HDRLEN + sizeof(request_payload);
  err.msg.nlmsg_type = RTM_NEWQDISC;
  nlmsg_append(msg.get(), &err, sizeof(err), NLMSG_ALIGNTO);
  if (!capped) {
    nlmsg_append(msg.get(), const_cast<uint8_t*>(request_payload), sizeof(request_payload),
                 NLMSG_ALIGNTO);
  }
  if (text != nullptr) {
    nla_put_u32(msg.get(), NLMSGERR_ATTR_OFFS, 20);
    nla_put_string(msg.get(), NLMSGERR_ATTR_MSG, text);
  }
  return msg;
}

TEST(MessageTest, ExtendedAcks) {
  struct Case {
    bool capped;
    const char* text;
  };
  const Case cases[] = {
      {true, "Exclusivity flag on, cannot modify"},
      {false, "Specified qdisc kind is unknown"},
      {true, nullptr},
      {false, nullptr},
  };
  for (const Case& c : cases) {
    NlMsgPtr msg = ErrorMessage(-EEXIST, c.capped, c.text);
    EXPECT_EQ(ExtAckText(nlmsg_hdr(msg.get())), c.text != nullptr ? c.text : "")
        << "capped=" << c.capped;
  }
}

TEST(MessageTest, ErrnoStatusKeepsErrnoAndText) {
  absl::Status status = ErrnoStatus(ENODEV, "attach eth9", "Cannot find device");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoOf(status), ENODEV);
  EXPECT_EQ(std::string(status.message()),
            std::string("attach eth9: ") + std::strerror(ENODEV) + " (kernel: Cannot find device)");
  EXPECT_EQ(ErrnoStatus(EPERM, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EEXIST, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoOf(absl::InternalError("plain")), 0);
}

}  // namespace
}  // namespace tcflow::netlink
