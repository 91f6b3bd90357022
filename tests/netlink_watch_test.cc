// The link watcher on the real kernel: hot-plugged links are attached within a second,
// deleted ones forgotten without errors, selectors respected, and a tcflow filter removed
// behind tcflow's back is reported (and put back when configured).
#include <bpf/libbpf.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bpf/empty.skel.h"
#include "gtest/gtest.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/link_watcher.h"
#include "netlink/netns.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/netns/netns.h"

namespace tcflow {
namespace {

using netlink::Hook;
using netlink::LinkWatcher;
using netlink::RtnlSocket;
using netlink::WatchEvent;
using testing::Namespace;

#define ASSERT_OK(expr)                          \
  do {                                           \
    const absl::Status _s = (expr);              \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

class EventLog {
 public:
  void Add(const WatchEvent& event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  // Waits until an event of `kind` for `name` arrives; returns how long it took.
  std::optional<absl::Duration> WaitFor(WatchEvent::Kind kind, const std::string& name,
                                        absl::Time since, absl::Duration timeout) {
    auto found = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      for (const WatchEvent& e : events_) {
        if (e.kind == kind && e.link.name == name) return true;
      }
      return false;
    };
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(&found), timeout)) return std::nullopt;
    return absl::Now() - since;
  }
  int Count(WatchEvent::Kind kind) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const WatchEvent& e : events_) n += e.kind == kind;
    return n;
  }
  std::string Dump() {
    absl::MutexLock lock(&mu_);
    std::string text;
    for (const WatchEvent& e : events_) absl::StrAppend(&text, netlink::ToString(e), "\n");
    return text;
  }

 private:
  absl::Mutex mu_;
  std::vector<WatchEvent> events_ ABSL_GUARDED_BY(mu_);
};

struct Fixture {
  std::unique_ptr<Namespace> ns;
  std::unique_ptr<RtnlSocket> sock;
  empty* skel = nullptr;
  EventLog log;
  std::string state_dir;

  ~Fixture() {
    if (skel != nullptr) empty__destroy(skel);
  }
  absl::Status Build(const std::string& prefix) {
    auto created = Namespace::Create(prefix);
    if (!created.ok()) return created.status();
    ns = std::move(*created);
    absl::Status status = ns->Run([&]() -> absl::Status {
      auto opened = RtnlSocket::Open();
      if (!opened.ok()) return opened.status();
      sock = std::move(*opened);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    skel = empty__open_and_load();
    if (skel == nullptr) return absl::InternalError("empty program does not load");
    const char* tmp = std::getenv("TEST_TMPDIR");
    state_dir =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/tcflow-watch-", getpid(), "-", prefix);
    return absl::OkStatus();
  }
  netlink::WatcherOptions Options() {
    netlink::WatcherOptions options;
    options.netns = ns->name();  // by name, as the daemon's config gives it
    options.selector.include = {"hot*"};
    options.selector.exclude = {"hotx*"};
    options.attach.state_dir = state_dir;
    int fd = bpf_program__fd(skel->progs.tcflow_empty);
    options.programs = {{fd, "tcflow_empty"}, {fd, "tcflow_empty"}};
    options.on_event = [this](const WatchEvent& e) { log.Add(e); };
    return options;
  }
  // tcflow's filters on `name` (both hooks), read from the kernel.
  int OurFilters(const std::string& name) {
    auto link = netlink::GetLink(*sock, name);
    if (!link.ok()) return -1;
    int n = 0;
    for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
      auto filters = netlink::ListFilters(*sock, link->ifindex, hook);
      if (!filters.ok()) return -1;
      for (const auto& f : *filters) {
        n += f.priority == netlink::kDefaultPriority && f.bpf_name == "tcflow_empty";
      }
    }
    return n;
  }
};

TEST(NetlinkWatchTest, HotplugAttachWithinASecondForgetOnDeleteSelectorsRespected) {
  Fixture f;
  ASSERT_OK(f.Build("watch"));
  ASSERT_OK(f.ns->AddDummy("hot0"));  // present before the watcher starts
  auto watcher = LinkWatcher::Start(f.Options());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ(f.OurFilters("hot0"), 2) << "existing links are attached when Start returns";

  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummy("hot1"));
  ASSERT_OK(f.ns->AddDummy("hotx1"));  // excluded
  ASSERT_OK(f.ns->AddDummy("cold1"));  // not included
  auto took = f.log.WaitFor(WatchEvent::Kind::kAttached, "hot1", start, absl::Seconds(1));
  ASSERT_TRUE(took.has_value()) << "hot1 not attached within 1 s; events:\n" << f.log.Dump();
  EXPECT_EQ(f.OurFilters("hot1"), 2);
  std::printf("hot-plugged link attached after %s\n", absl::FormatDuration(*took).c_str());

  // A veth pair coming up is attached too; the peer outside the selection is not.
  start = absl::Now();
  auto other = Namespace::Create("watchpeer");
  ASSERT_TRUE(other.ok());
  ASSERT_OK(testing::CreateVethPair(*f.ns, "hotv", **other, "peer"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "hotv", start, absl::Seconds(1)))
      << f.log.Dump();
  EXPECT_EQ(f.OurFilters("hotv"), 2);
  EXPECT_EQ(f.OurFilters("hotx1"), 0);
  EXPECT_EQ(f.OurFilters("cold1"), 0);

  // Deleted: forgotten, without any error.
  start = absl::Now();
  ASSERT_OK(f.ns->DeleteLink("hot1"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kForgotten, "hot1", start, absl::Seconds(1)))
      << f.log.Dump();
  ASSERT_OK(f.ns->DeleteLink("hotv"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kForgotten, "hotv", start, absl::Seconds(1)))
      << f.log.Dump();
  // Let any late notification of the deletions be processed before counting errors.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kAttachFailed), 0) << f.log.Dump();
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kFilterRemoved), 0) << f.log.Dump();
  std::vector<netlink::LinkInfo> attached = (*watcher)->Attached();
  ASSERT_EQ(attached.size(), 1u);
  EXPECT_EQ(attached[0].name, "hot0");

  // Stopping the watcher leaves the filters in place (the daemon's restart must not gap).
  (*watcher)->Stop();
  EXPECT_EQ(f.OurFilters("hot0"), 2);
}

TEST(NetlinkWatchTest, FilterRemovedBehindOurBackIsReportedAndReattached) {
  Fixture f;
  ASSERT_OK(f.Build("reatt"));
  netlink::WatcherOptions options = f.Options();
  options.reattach_removed = true;
  auto watcher = LinkWatcher::Start(std::move(options));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummy("hot2"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "hot2", start, absl::Seconds(1)));

  // Somebody deletes tcflow's ingress filter.
  auto link = netlink::GetLink(*f.sock, "hot2");
  ASSERT_TRUE(link.ok());
  auto filters = netlink::ListFilters(*f.sock, link->ifindex, Hook::kIngress);
  ASSERT_TRUE(filters.ok());
  ASSERT_EQ(filters->size(), 1u);
  start = absl::Now();
  ASSERT_OK(netlink::DeleteFilter(*f.sock, (*filters)[0]));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kFilterRemoved, "hot2", start, absl::Seconds(1)))
      << f.log.Dump();
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kReattached, "hot2", start, absl::Seconds(1)))
      << f.log.Dump();
  EXPECT_EQ(f.OurFilters("hot2"), 2);

  // Somebody deletes the whole clsact qdisc: noticed and repaired as well.
  start = absl::Now();
  ASSERT_OK(netlink::DeleteClsact(*f.sock, link->ifindex));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_GE(f.log.Count(WatchEvent::Kind::kReattached), 2) << f.log.Dump();
  EXPECT_EQ(f.OurFilters("hot2"), 2);
}

TEST(NetlinkWatchTest, FilterRemovedIsOnlyReportedWhenReattachIsOff) {
  Fixture f;
  ASSERT_OK(f.Build("report"));
  auto watcher = LinkWatcher::Start(f.Options());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummy("hot3"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "hot3", start, absl::Seconds(1)));
  auto link = netlink::GetLink(*f.sock, "hot3");
  ASSERT_TRUE(link.ok());
  auto filters = netlink::ListFilters(*f.sock, link->ifindex, Hook::kEgress);
  ASSERT_TRUE(filters.ok() && filters->size() == 1u);
  start = absl::Now();
  ASSERT_OK(netlink::DeleteFilter(*f.sock, (*filters)[0]));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kFilterRemoved, "hot3", start, absl::Seconds(1)))
      << f.log.Dump();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kReattached), 0);
  EXPECT_EQ(f.OurFilters("hot3"), 1) << "only the ingress filter is left";
  EXPECT_TRUE((*watcher)->Attached().empty());
}

// Waits until `done()` or the timeout; true when done.
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

TEST(NetlinkWatchTest, AllButLoopbackStormRenameAndDownUp) {
  Fixture f;
  ASSERT_OK(f.Build("storm"));
  netlink::WatcherOptions options = f.Options();
  options.selector = {};
  options.selector.all_but_loopback = true;
  options.selector.exclude = {"skip*"};
  auto watcher = LinkWatcher::Start(std::move(options));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ(f.OurFilters("lo"), 0) << "loopback is never selected by 'all but loopback'";
  EXPECT_TRUE((*watcher)->Attached().empty());

  // A burst of links: every one ends up attached, none fails.
  constexpr int kLinks = 200;
  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummies("st", kLinks));
  ASSERT_TRUE(WaitUntil([&] { return (*watcher)->Attached().size() == kLinks; }, absl::Seconds(5)))
      << (*watcher)->Attached().size() << " of " << kLinks << " attached";
  std::printf("%d links created and attached in %s\n", kLinks,
              absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_EQ(f.OurFilters("st0"), 2);
  EXPECT_EQ(f.OurFilters(absl::StrCat("st", kLinks - 1)), 2);
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kAttachFailed), 0) << f.log.Dump();

  // Renamed out of the selection: detached. Renamed back in: attached again.
  start = absl::Now();
  ASSERT_OK(f.ns->RenameLink("st0", "skip0"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kDetached, "skip0", start, absl::Seconds(1)))
      << f.log.Dump();
  EXPECT_EQ(f.OurFilters("skip0"), 0);
  start = absl::Now();
  ASSERT_OK(f.ns->RenameLink("skip0", "back0"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "back0", start, absl::Seconds(1)))
      << f.log.Dump();
  EXPECT_EQ(f.OurFilters("back0"), 2);

  // Up and down again changes nothing: still exactly one filter per hook.
  ASSERT_OK(f.ns->SetUp("back0"));
  ASSERT_OK(f.ns->SetDown("back0"));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(f.OurFilters("back0"), 2);
  EXPECT_EQ((*watcher)->Attached().size(), static_cast<size_t>(kLinks));
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kAttachFailed), 0) << f.log.Dump();
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kFilterRemoved), 0) << f.log.Dump();
}

TEST(NetlinkWatchTest, LostNotificationsAreRecoveredByResync) {
  Fixture f;
  ASSERT_OK(f.Build("enobufs"));
  netlink::WatcherOptions options = f.Options();
  options.selector.include = {"lost*"};
  options.event_buffer_bytes = 1;  // the kernel's minimum: a burst must overflow it
  auto watcher = LinkWatcher::Start(std::move(options));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  constexpr int kLinks = 150;
  ASSERT_OK(f.ns->AddDummies("lost", kLinks));
  ASSERT_TRUE(WaitUntil([&] { return (*watcher)->Attached().size() == kLinks; }, absl::Seconds(5)))
      << (*watcher)->Attached().size() << " of " << kLinks << " attached\n"
      << f.log.Dump();
  EXPECT_GE(f.log.Count(WatchEvent::Kind::kResynced), 1)
      << "the burst did not overflow the socket; the test proves nothing";
  EXPECT_EQ(f.log.Count(WatchEvent::Kind::kAttachFailed), 0);
  for (int i = 0; i < kLinks; i += 37) {
    EXPECT_EQ(f.OurFilters(absl::StrCat("lost", i)), 2) << i;
  }
}

TEST(NetlinkWatchTest, UnknownNamespaceIsAClearError) {
  netlink::WatcherOptions options;
  options.netns = "tcflow-no-such-namespace";
  options.selector.all_but_loopback = true;
  auto watcher = LinkWatcher::Start(std::move(options));
  ASSERT_FALSE(watcher.ok());
  EXPECT_EQ(watcher.status().code(), absl::StatusCode::kNotFound) << watcher.status();
  EXPECT_NE(watcher.status().message().find("tcflow-no-such-namespace"), std::string::npos);
}

}  // namespace
}  // namespace tcflow

namespace tcflow {
namespace {

// With a repair delay (tcflowd's 1 s), a removed filter stays missing, named by Problems()
// per hook, until the delay has passed; then it is put back and counted.
TEST(NetlinkWatchTest, RepairWaitsForTheDelayAndProblemsNameTheHook) {
  Fixture f;
  ASSERT_OK(f.Build("delay"));
  netlink::WatcherOptions options = f.Options();
  options.reattach_removed = true;
  options.repair_delay = absl::Milliseconds(600);
  auto watcher = LinkWatcher::Start(std::move(options));
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummy("hot4"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "hot4", start, absl::Seconds(1)));
  EXPECT_TRUE((*watcher)->Problems().empty());

  auto link = netlink::GetLink(*f.sock, "hot4");
  ASSERT_TRUE(link.ok());
  auto filters = netlink::ListFilters(*f.sock, link->ifindex, Hook::kEgress);
  ASSERT_TRUE(filters.ok() && filters->size() == 1u);
  start = absl::Now();
  ASSERT_OK(netlink::DeleteFilter(*f.sock, (*filters)[0]));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kFilterRemoved, "hot4", start, absl::Seconds(1)))
      << f.log.Dump();
  auto problems = (*watcher)->Problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].link.name, "hot4");
  EXPECT_FALSE(problems[0].ingress);
  EXPECT_TRUE(problems[0].egress);
  EXPECT_EQ(problems[0].reason, "tcflow filter missing");
  EXPECT_EQ(f.OurFilters("hot4"), 1) << "not repaired in the pass that noticed it";

  auto took = f.log.WaitFor(WatchEvent::Kind::kReattached, "hot4", start, absl::Seconds(2));
  ASSERT_TRUE(took) << f.log.Dump();
  EXPECT_GE(*took, absl::Milliseconds(550));
  EXPECT_EQ(f.OurFilters("hot4"), 2);
  EXPECT_TRUE((*watcher)->Problems().empty());
  EXPECT_EQ((*watcher)->repairs(), 1u);
  EXPECT_EQ((*watcher)->Attached().size(), 1u);
}

// Reattach off: the filters stay missing and Problems() keeps naming both hooks.
TEST(NetlinkWatchTest, MissingFilterStaysAProblemWhenReattachIsOff) {
  Fixture f;
  ASSERT_OK(f.Build("stay"));
  auto watcher = LinkWatcher::Start(f.Options());
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  absl::Time start = absl::Now();
  ASSERT_OK(f.ns->AddDummy("hot5"));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kAttached, "hot5", start, absl::Seconds(1)));
  auto link = netlink::GetLink(*f.sock, "hot5");
  ASSERT_TRUE(link.ok());
  start = absl::Now();
  ASSERT_OK(netlink::DeleteClsact(*f.sock, link->ifindex));
  ASSERT_TRUE(f.log.WaitFor(WatchEvent::Kind::kFilterRemoved, "hot5", start, absl::Seconds(1)))
      << f.log.Dump();
  absl::SleepFor(absl::Milliseconds(300));
  auto problems = (*watcher)->Problems();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].ingress && problems[0].egress);
  EXPECT_EQ(f.OurFilters("hot5"), 0);
  EXPECT_EQ((*watcher)->repairs(), 0u);
}

}  // namespace
}  // namespace tcflow
