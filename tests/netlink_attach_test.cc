// tcflow's attach policy on the real kernel, in throw-away namespaces with veth pairs:
// both directions attached with traffic still flowing, exactly tcflow's filters listed,
// idempotent re-attach, detach, coexistence with foreign filters, crash take-over, errors.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "bpf/empty.skel.h"
#include "gtest/gtest.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/netns.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/netns/count_packets.skel.h"
#include "tests/netns/netns.h"

namespace tcflow {
namespace {

using netlink::Attacher;
using netlink::AttachOptions;
using netlink::Direction;
using netlink::FilterInfo;
using netlink::Hook;
using netlink::LinkInfo;
using netlink::RtnlSocket;
using testing::Namespace;

#define ASSERT_OK(expr)                          \
  do {                                           \
    const absl::Status _s = (expr);              \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

std::unique_ptr<RtnlSocket> SocketIn(const Namespace& ns) {
  std::unique_ptr<RtnlSocket> sock;
  // By path, the way `--netns /proc/PID/ns/net` works.
  auto netns = netlink::Netns::Open(ns.path());
  EXPECT_TRUE(netns.ok()) << netns.status();
  absl::Status status = netlink::RunInNetns(*netns, [&]() -> absl::Status {
    auto opened = RtnlSocket::Open();
    if (!opened.ok()) return opened.status();
    sock = std::move(*opened);
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  return sock;
}

struct EmptyProgram {
  EmptyProgram() : skel(empty__open_and_load()) {}
  ~EmptyProgram() {
    if (skel != nullptr) empty__destroy(skel);
  }
  int fd() const { return bpf_program__fd(skel->progs.tcflow_empty); }
  netlink::Programs programs() const { return {{fd(), "tcflow_empty"}, {fd(), "tcflow_empty"}}; }
  empty* skel;
};

struct ProgIdentity {
  uint32_t id = 0;
  std::string tag;
};
ProgIdentity IdentityOf(int prog_fd) {
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(prog_fd, &info, &len), 0);
  return {info.id, absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(info.tag),
                                                            sizeof(info.tag)))};
}

// Two namespaces joined by a veth pair va (10.77.0.1) <-> vb (10.77.0.2).
struct Topology {
  std::unique_ptr<Namespace> a, b;
  std::unique_ptr<RtnlSocket> sock;  // in a
  LinkInfo va;
  std::string state_dir;

  absl::Status Build(const std::string& prefix) {
    auto na = Namespace::Create(prefix + "a");
    if (!na.ok()) return na.status();
    a = std::move(*na);
    auto nb = Namespace::Create(prefix + "b");
    if (!nb.ok()) return nb.status();
    b = std::move(*nb);
    if (auto s = testing::CreateVethPair(*a, "va", *b, "vb"); !s.ok()) return s;
    if (auto s = a->AddAddress("va", "10.77.0.1/24"); !s.ok()) return s;
    if (auto s = b->AddAddress("vb", "10.77.0.2/24"); !s.ok()) return s;
    sock = SocketIn(*a);
    if (sock == nullptr) return absl::InternalError("no socket");
    auto link = netlink::GetLink(*sock, "va");
    if (!link.ok()) return link.status();
    va = *link;
    const char* tmp = std::getenv("TEST_TMPDIR");
    state_dir =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/tcflow-state-", getpid(), "-", prefix);
    return absl::OkStatus();
  }
  AttachOptions Options() const {
    AttachOptions options;
    options.state_dir = state_dir;
    return options;
  }
};

std::vector<FilterInfo> Filters(RtnlSocket& sock, int ifindex, Hook hook) {
  auto filters = netlink::ListFilters(sock, ifindex, hook);
  EXPECT_TRUE(filters.ok()) << filters.status();
  return filters.ok() ? *filters : std::vector<FilterInfo>{};
}

TEST(NetlinkAttachTest, BothDirectionsTrafficFlowsOnlyOursListedReattachAndDetach) {
  Topology t;
  ASSERT_OK(t.Build("att"));
  EmptyProgram prog;
  ASSERT_NE(prog.skel, nullptr);
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok()) << attacher.status();

  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  ProgIdentity expected = IdentityOf(prog.fd());
  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    std::vector<FilterInfo> filters = Filters(*t.sock, t.va.ifindex, hook);
    ASSERT_EQ(filters.size(), 1u) << netlink::HookName(hook);
    const FilterInfo& f = filters[0];
    EXPECT_EQ(f.kind, "bpf");
    EXPECT_EQ(f.priority, netlink::kDefaultPriority);
    EXPECT_EQ(f.handle, netlink::kDefaultHandle);
    EXPECT_EQ(f.bpf_name, "tcflow_empty");
    EXPECT_TRUE(f.bpf_direct_action);
    EXPECT_EQ(f.bpf_prog_id, expected.id);
    EXPECT_EQ(f.bpf_prog_tag, expected.tag);
  }
  auto listed = attacher->List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  for (const auto& a : *listed) {
    EXPECT_EQ(a.link.name, "va");
    EXPECT_TRUE(a.qdisc_created_by_tcflow);
  }

  // Traffic still flows both ways through both hooks.
  auto replies = testing::Ping(*t.b, "10.77.0.1", 3);
  ASSERT_TRUE(replies.ok()) << replies.status();
  EXPECT_EQ(*replies, 3);
  ASSERT_OK(testing::TcpTransfer(*t.b, *t.a, "10.77.0.1", 7001, 4 << 20));
  ASSERT_OK(testing::TcpTransfer(*t.a, *t.b, "10.77.0.2", 7002, 4 << 20));

  // Attaching again, then with another program, keeps one filter per hook (replaced in place).
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  EmptyProgram second;
  ASSERT_NE(second.skel, nullptr);
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, second.programs()));
  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    std::vector<FilterInfo> filters = Filters(*t.sock, t.va.ifindex, hook);
    ASSERT_EQ(filters.size(), 1u);
    EXPECT_EQ(filters[0].bpf_prog_id, IdentityOf(second.fd()).id);
    EXPECT_NE(filters[0].bpf_prog_id, expected.id);
  }

  // Detach: tcflow's filters are gone, and so is the clsact tcflow created.
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  EXPECT_TRUE(Filters(*t.sock, t.va.ifindex, Hook::kIngress).empty());
  EXPECT_TRUE(Filters(*t.sock, t.va.ifindex, Hook::kEgress).empty());
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok());
  EXPECT_FALSE(qdisc->has_value());
  listed = attacher->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  replies = testing::Ping(*t.b, "10.77.0.1", 2);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, 2);
  // Detaching what is not attached is not an error.
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
}

TEST(NetlinkAttachTest, SingleDirectionDetachKeepsQdiscForTheOther) {
  Topology t;
  ASSERT_OK(t.Build("dir"));
  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  ASSERT_OK(attacher->Detach(t.va, Direction::kEgress));
  EXPECT_EQ(Filters(*t.sock, t.va.ifindex, Hook::kIngress).size(), 1u);
  EXPECT_TRUE(Filters(*t.sock, t.va.ifindex, Hook::kEgress).empty());
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok() && qdisc->has_value());
  ASSERT_OK(attacher->Detach(t.va, Direction::kIngress));
  qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok());
  EXPECT_FALSE(qdisc->has_value());
}

struct Counter {
  Counter() : skel(count_packets__open_and_load()) {}
  ~Counter() {
    if (skel != nullptr) count_packets__destroy(skel);
  }
  int fd() const { return bpf_program__fd(skel->progs.foreign_counter); }
  uint64_t Read() const {
    uint32_t key = 0;
    uint64_t value = 0;
    EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel->maps.count_packets_map), &key, &value), 0);
    return value;
  }
  count_packets* skel;
};

TEST(NetlinkAttachTest, ForeignFiltersBeforeAndAfterKeepActingAndSurviveDetach) {
  Topology t;
  ASSERT_OK(t.Build("coex"));
  // Somebody else's clsact with somebody else's filters, before and after tcflow's priority.
  auto created = netlink::EnsureClsact(*t.sock, t.va.ifindex);
  ASSERT_TRUE(created.ok() && *created);
  Counter before, after;
  ASSERT_NE(before.skel, nullptr);
  ASSERT_NE(after.skel, nullptr);
  netlink::BpfFilterSpec spec_before{1, 1, before.fd(), "foreign_before"};
  netlink::BpfFilterSpec spec_after{0xfff0, 1, after.fd(), "foreign_after"};
  ASSERT_LT(spec_before.priority, netlink::kDefaultPriority);
  ASSERT_GT(spec_after.priority, netlink::kDefaultPriority);
  ASSERT_OK(netlink::ReplaceBpfFilter(*t.sock, t.va.ifindex, Hook::kIngress, spec_before));
  ASSERT_OK(netlink::ReplaceBpfFilter(*t.sock, t.va.ifindex, Hook::kIngress, spec_after));

  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));

  std::vector<FilterInfo> filters = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  ASSERT_EQ(filters.size(), 3u);
  EXPECT_EQ(filters[0].bpf_name, "foreign_before");
  EXPECT_EQ(filters[1].bpf_name, "tcflow_empty");
  EXPECT_EQ(filters[2].bpf_name, "foreign_after");
  auto listed = attacher->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u) << "only tcflow's filters are listed as tcflow's";
  for (const auto& a : *listed) EXPECT_FALSE(a.qdisc_created_by_tcflow);

  // Both foreign filters still see every echo request arriving on va while tcflow is there.
  uint64_t b0 = before.Read(), a0 = after.Read();
  auto replies = testing::Ping(*t.b, "10.77.0.1", 5);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, 5);
  EXPECT_GE(before.Read() - b0, 5u);
  EXPECT_GE(after.Read() - a0, 5u);

  // Detach leaves the foreign filters exactly as they were, and the qdisc they sit on.
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  filters = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  ASSERT_EQ(filters.size(), 2u);
  EXPECT_EQ(filters[0].bpf_name, "foreign_before");
  EXPECT_EQ(filters[0].priority, 1);
  EXPECT_EQ(filters[0].bpf_prog_id, IdentityOf(before.fd()).id);
  EXPECT_EQ(filters[1].bpf_name, "foreign_after");
  EXPECT_EQ(filters[1].bpf_prog_id, IdentityOf(after.fd()).id);
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok() && qdisc->has_value());
  EXPECT_EQ((*qdisc)->kind, "clsact");
  b0 = before.Read();
  a0 = after.Read();
  replies = testing::Ping(*t.b, "10.77.0.1", 3);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, 3);
  EXPECT_GE(before.Read() - b0, 3u);
  EXPECT_GE(after.Read() - a0, 3u);
}

// A u32 filter added through libnl's own classifier module, as another tool would.
absl::Status AddForeignU32(const Namespace& ns, int ifindex, Hook hook, uint16_t prio) {
  netlink::NlSockPtr sk(nl_socket_alloc());
  absl::Status status = ns.Run([&]() -> absl::Status {
    return nl_connect(sk.get(), NETLINK_ROUTE) == 0 ? absl::OkStatus()
                                                    : absl::InternalError("nl_connect");
  });
  if (!status.ok()) return status;
  rtnl_cls* cls = rtnl_cls_alloc();
  rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
  rtnl_tc_set_parent(TC_CAST(cls), netlink::HookParent(hook));
  rtnl_tc_set_kind(TC_CAST(cls), "u32");
  rtnl_cls_set_prio(cls, prio);
  rtnl_cls_set_protocol(cls, ETH_P_ALL);
  rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0);  // match everything
  int rc = rtnl_cls_add(sk.get(), cls, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_cls_put(cls);
  return rc == 0 ? absl::OkStatus()
                 : absl::InternalError(absl::StrCat("rtnl_cls_add: ", nl_geterror(rc)));
}

TEST(NetlinkAttachTest, ForeignU32FiltersOnBothHooksAreUntouched) {
  Topology t;
  ASSERT_OK(t.Build("u32"));
  ASSERT_TRUE(netlink::EnsureClsact(*t.sock, t.va.ifindex).ok());
  ASSERT_OK(AddForeignU32(*t.a, t.va.ifindex, Hook::kIngress, 3));
  ASSERT_OK(AddForeignU32(*t.a, t.va.ifindex, Hook::kEgress, 0xfff1));
  auto before_in = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  auto before_out = Filters(*t.sock, t.va.ifindex, Hook::kEgress);
  ASSERT_FALSE(before_in.empty());
  ASSERT_FALSE(before_out.empty());

  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  EXPECT_EQ(Filters(*t.sock, t.va.ifindex, Hook::kIngress).size(), before_in.size() + 1);
  EXPECT_EQ(Filters(*t.sock, t.va.ifindex, Hook::kEgress).size(), before_out.size() + 1);
  auto replies = testing::Ping(*t.b, "10.77.0.1", 3);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, 3);

  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  auto after_in = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  auto after_out = Filters(*t.sock, t.va.ifindex, Hook::kEgress);
  ASSERT_EQ(after_in.size(), before_in.size());
  ASSERT_EQ(after_out.size(), before_out.size());
  for (size_t i = 0; i < after_in.size(); ++i) {
    EXPECT_EQ(after_in[i].kind, "u32");
    EXPECT_EQ(after_in[i].priority, before_in[i].priority);
    EXPECT_EQ(after_in[i].handle, before_in[i].handle);
  }
  for (size_t i = 0; i < after_out.size(); ++i) {
    EXPECT_EQ(after_out[i].kind, "u32");
    EXPECT_EQ(after_out[i].handle, before_out[i].handle);
  }
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok() && qdisc->has_value()) << "the foreign clsact stays";
}

TEST(NetlinkAttachTest, ForeignFilterAtOurPriorityIsNeverReplaced) {
  Topology t;
  ASSERT_OK(t.Build("prio"));
  ASSERT_TRUE(netlink::EnsureClsact(*t.sock, t.va.ifindex).ok());
  Counter foreign;
  netlink::BpfFilterSpec spec{netlink::kDefaultPriority, netlink::kDefaultHandle, foreign.fd(),
                              "someone_else"};
  ASSERT_OK(netlink::ReplaceBpfFilter(*t.sock, t.va.ifindex, Hook::kIngress, spec));
  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  absl::Status status = attacher->Attach(t.va, Direction::kBoth, prog.programs());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("va ingress"), std::string::npos) << status;
  EXPECT_NE(status.message().find("someone_else"), std::string::npos) << status;
  std::vector<FilterInfo> filters = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  ASSERT_EQ(filters.size(), 1u);
  EXPECT_EQ(filters[0].bpf_prog_id, IdentityOf(foreign.fd()).id);
  // Detach does not take it for tcflow's either.
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  EXPECT_EQ(Filters(*t.sock, t.va.ifindex, Hook::kIngress).size(), 1u);
}

TEST(NetlinkAttachTest, ExistingIngressQdiscIsReportedNotReplaced) {
  Topology t;
  ASSERT_OK(t.Build("ingq"));
  tcmsg tcm = {};
  tcm.tcm_family = AF_UNSPEC;
  tcm.tcm_ifindex = t.va.ifindex;
  tcm.tcm_parent = TC_H_INGRESS;
  tcm.tcm_handle = TC_H_MAKE(TC_H_INGRESS, 0);
  netlink::NlMsgPtr msg =
      netlink::NewMessage(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "ingress");
  ASSERT_OK(t.sock->Request(msg.get(), "add ingress qdisc"));

  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  absl::Status status = attacher->Attach(t.va, Direction::kBoth, prog.programs());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("va:"), std::string::npos) << status;
  EXPECT_NE(status.message().find("'ingress' qdisc"), std::string::npos) << status;
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok() && qdisc->has_value());
  EXPECT_EQ((*qdisc)->kind, "ingress");
}

// A marker left for an ifindex by a link that was deleted while nothing watched must not
// let tcflow delete the clsact of a later link that got the same ifindex.
TEST(NetlinkAttachTest, StaleMarkerOfAnotherLinkNeverDeletesItsClsact) {
  Topology t;
  ASSERT_OK(t.Build("stale"));
  // Someone else's clsact on va, and a marker for va's ifindex written for an earlier link.
  ASSERT_TRUE(netlink::EnsureClsact(*t.sock, t.va.ifindex).ok());
  std::filesystem::create_directories(t.state_dir + "/clsact");
  {
    FILE* f = std::fopen(absl::StrCat(t.state_dir, "/clsact/", t.sock->NamespaceId(), ".",
                                      t.va.ifindex).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fprintf(f, "gone0\n");
    std::fclose(f);
  }
  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  EXPECT_FALSE(attacher->CreatedQdisc(t.va));
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok());
  ASSERT_TRUE(qdisc->has_value()) << "tcflow deleted a clsact it did not create";
  EXPECT_EQ((*qdisc)->kind, "clsact");
}

TEST(NetlinkAttachTest, ErrorsNameTheInterfaceAndCarryTheKernelReason) {
  Topology t;
  ASSERT_OK(t.Build("err"));
  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  LinkInfo ghost{999999, "ghost0", 0};
  absl::Status status = attacher->Attach(ghost, Direction::kBoth, prog.programs());
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("ghost0"), std::string::npos) << status;

  auto missing = netlink::GetLink(*t.sock, "ghost0");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("no such interface ghost0"), std::string::npos);

  // The extended ack text reaches the error: a filter without a program fd.
  netlink::BpfFilterSpec bad{5, 5, 999, "tcflow_bad"};
  ASSERT_TRUE(netlink::EnsureClsact(*t.sock, t.va.ifindex).ok());
  status = netlink::ReplaceBpfFilter(*t.sock, t.va.ifindex, Hook::kIngress, bad);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(netlink::ErrnoOf(status), 0) << status;

  // An existing clsact re-created with NLM_F_EXCL answers with the kernel's own words.
  tcmsg tcm = {};
  tcm.tcm_family = AF_UNSPEC;
  tcm.tcm_ifindex = t.va.ifindex;
  tcm.tcm_parent = TC_H_CLSACT;
  tcm.tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0);
  netlink::NlMsgPtr msg =
      netlink::NewMessage(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, &tcm, sizeof(tcm));
  nla_put_string(msg.get(), TCA_KIND, "clsact");
  status = t.sock->Request(msg.get(), "add clsact again");
  EXPECT_EQ(netlink::ErrnoOf(status), EEXIST);
  EXPECT_NE(status.message().find("(kernel: "), std::string::npos) << status;
}

TEST(NetlinkAttachTest, FiltersLeftByACrashAreTakenOverNotDuplicated) {
  Topology t;
  ASSERT_OK(t.Build("crash"));
  std::string path = t.a->path();
  std::string state_dir = t.state_dir;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The "crashed" attacher: attaches, then dies without any cleanup.
    auto netns = netlink::Netns::Open(path);
    if (!netns.ok()) _exit(10);
    std::unique_ptr<RtnlSocket> sock;
    absl::Status s = netlink::RunInNetns(*netns, [&]() -> absl::Status {
      auto opened = RtnlSocket::Open();
      if (!opened.ok()) return opened.status();
      sock = std::move(*opened);
      return absl::OkStatus();
    });
    if (!s.ok()) _exit(11);
    auto link = netlink::GetLink(*sock, "va");
    if (!link.ok()) _exit(12);
    AttachOptions options;
    options.state_dir = state_dir;
    auto attacher = Attacher::Create(sock.get(), options);
    if (!attacher.ok()) _exit(13);
    empty* skel = empty__open_and_load();
    if (skel == nullptr) _exit(14);
    int fd = bpf_program__fd(skel->progs.tcflow_empty);
    if (!attacher->Attach(*link, Direction::kBoth, {{fd, "tcflow_empty"}, {fd, "tcflow_empty"}})
             .ok()) {
      _exit(15);
    }
    raise(SIGKILL);
    _exit(16);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exit " << WEXITSTATUS(wstatus);
  ASSERT_EQ(WTERMSIG(wstatus), SIGKILL);

  std::vector<FilterInfo> left = Filters(*t.sock, t.va.ifindex, Hook::kIngress);
  ASSERT_EQ(left.size(), 1u) << "the crashed process's filter stays attached";
  uint32_t crashed_id = left[0].bpf_prog_id;

  EmptyProgram prog;
  auto attacher = Attacher::Create(t.sock.get(), t.Options());
  ASSERT_TRUE(attacher.ok());
  ASSERT_OK(attacher->Attach(t.va, Direction::kBoth, prog.programs()));
  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    std::vector<FilterInfo> filters = Filters(*t.sock, t.va.ifindex, hook);
    ASSERT_EQ(filters.size(), 1u);
    EXPECT_EQ(filters[0].bpf_prog_id, IdentityOf(prog.fd()).id);
    EXPECT_NE(filters[0].bpf_prog_id, crashed_id);
  }
  // The crashed process created the clsact; its marker lets this process remove it.
  EXPECT_TRUE(attacher->CreatedQdisc(t.va));
  ASSERT_OK(attacher->Detach(t.va, Direction::kBoth));
  auto qdisc = netlink::IngressSlotQdisc(*t.sock, t.va.ifindex);
  ASSERT_TRUE(qdisc.ok());
  EXPECT_FALSE(qdisc->has_value());
}

}  // namespace
}  // namespace tcflow
