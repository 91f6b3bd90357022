// Attach cost at scale: tcflow's filters on 1,000 dummy interfaces of a throw-away
// namespace, per interface, against the bare netlink requests as a baseline (the same
// clsact + two filter requests without tcflow's safety checks). Needs root.
//   bazel run -c opt //tools/bench:attach_bench -- --count 1000
// Budget: <= 2 ms per interface for a first attach.
#include <bpf/libbpf.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bpf/empty.skel.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/link_watcher.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/netns/netns.h"
#include "tools/cli/flags.h"

namespace {

using tcflow::netlink::Attacher;
using tcflow::netlink::Direction;
using tcflow::netlink::Hook;
using tcflow::netlink::LinkInfo;

constexpr char kPrefix[] = "bd";

double PerLinkUs(absl::Duration total, size_t links) {
  return absl::ToDoubleMicroseconds(total) / static_cast<double>(links);
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "attach_bench: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Run(int64_t count) {
  auto ns = tcflow::testing::Namespace::Create("attachbench");
  if (!ns.ok()) return Fail(ns.status());
  absl::Time t0 = absl::Now();
  if (auto s = (*ns)->AddDummies(kPrefix, static_cast<int>(count)); !s.ok()) return Fail(s);
  absl::Duration create = absl::Now() - t0;

  std::unique_ptr<tcflow::netlink::RtnlSocket> sock;
  absl::Status status = (*ns)->Run([&]() -> absl::Status {
    auto opened = tcflow::netlink::RtnlSocket::Open();
    if (!opened.ok()) return opened.status();
    sock = std::move(*opened);
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status);
  auto all = tcflow::netlink::ListLinks(*sock);
  if (!all.ok()) return Fail(all.status());
  std::vector<LinkInfo> links;
  for (const LinkInfo& link : *all) {
    if (link.name.rfind(kPrefix, 0) == 0) links.push_back(link);
  }
  empty* skel = empty__open_and_load();
  if (skel == nullptr) return Fail(absl::InternalError("cannot load the empty program"));
  int fd = bpf_program__fd(skel->progs.tcflow_empty);
  tcflow::netlink::Programs programs{{fd, "tcflow_empty"}, {fd, "tcflow_empty"}};
  tcflow::netlink::AttachOptions options;
  options.state_dir = "";  // markers in memory: measure netlink, not the file system
  auto attacher = Attacher::Create(sock.get(), options);
  if (!attacher.ok()) return Fail(attacher.status());

  // Baseline: the three bare requests per interface (clsact, ingress filter, egress filter).
  // Pass 0 warms caches and the kernel's allocators and is not timed.
  absl::Duration bare;
  for (int pass = 0; pass < 2; ++pass) {
    t0 = absl::Now();
    for (const LinkInfo& link : links) {
      auto created = tcflow::netlink::EnsureClsact(*sock, link.ifindex);
      if (!created.ok()) return Fail(created.status());
      for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
        tcflow::netlink::BpfFilterSpec spec{options.priority, options.handle, fd, "tcflow_empty"};
        if (auto s = tcflow::netlink::ReplaceBpfFilter(*sock, link.ifindex, hook, spec); !s.ok()) {
          return Fail(s);
        }
      }
    }
    bare = absl::Now() - t0;
    for (const LinkInfo& link : links) {
      if (auto s = tcflow::netlink::DeleteClsact(*sock, link.ifindex); !s.ok()) return Fail(s);
    }
  }

  // tcflow's attach: clsact ensured, each hook checked for foreign filters, then replaced.
  t0 = absl::Now();
  for (const LinkInfo& link : links) {
    if (auto s = attacher->Attach(link, Direction::kBoth, programs); !s.ok()) return Fail(s);
  }
  absl::Duration attach = absl::Now() - t0;
  t0 = absl::Now();
  for (const LinkInfo& link : links) {
    if (auto s = attacher->Attach(link, Direction::kBoth, programs); !s.ok()) return Fail(s);
  }
  absl::Duration reattach = absl::Now() - t0;
  t0 = absl::Now();
  auto listed = attacher->List();
  if (!listed.ok()) return Fail(listed.status());
  absl::Duration list = absl::Now() - t0;
  if (listed->size() != 2 * links.size()) {
    return Fail(absl::InternalError(
        absl::StrCat("listed ", listed->size(), " filters, expected ", 2 * links.size())));
  }
  t0 = absl::Now();
  for (const LinkInfo& link : links) {
    if (auto s = attacher->Detach(link, Direction::kBoth); !s.ok()) return Fail(s);
  }
  absl::Duration detach = absl::Now() - t0;

  // The link watcher's start-up: every selected interface attached before Start returns.
  tcflow::netlink::WatcherOptions watch;
  watch.netns = (*ns)->path();
  watch.selector.include = {absl::StrCat(kPrefix, "*")};
  watch.attach = options;
  watch.programs = programs;
  t0 = absl::Now();
  auto watcher = tcflow::netlink::LinkWatcher::Start(watch);
  if (!watcher.ok()) return Fail(watcher.status());
  absl::Duration watcher_start = absl::Now() - t0;
  size_t watched = (*watcher)->Attached().size();
  watcher->reset();

  double per_attach = PerLinkUs(attach, links.size());
  double per_bare = PerLinkUs(bare, links.size());
  auto kind = (*ns)->LinkKind(absl::StrCat(kPrefix, 0));
  std::printf("interfaces: %zu %s links in namespace %s (created in %.1f us each)\n",
              links.size(), kind.ok() ? kind->c_str() : "?", (*ns)->name().c_str(),
              PerLinkUs(create, links.size()));
  std::printf("%-44s %10s %8s\n", "operation", "us/iface", "ratio");
  std::printf("%-44s %10.1f %8.2f\n", "bare requests (clsact + 2 filters) [baseline]", per_bare,
              1.0);
  std::printf("%-44s %10.1f %8.2f\n", "tcflow attach, both hooks (first time)", per_attach,
              per_attach / per_bare);
  std::printf("%-44s %10.1f %8.2f\n", "tcflow attach again (replace in place)",
              PerLinkUs(reattach, links.size()), PerLinkUs(reattach, links.size()) / per_bare);
  std::printf("%-44s %10.1f %8.2f\n", "tcflow list (read back from the kernel)",
              PerLinkUs(list, links.size()), PerLinkUs(list, links.size()) / per_bare);
  std::printf("%-44s %10.1f %8.2f\n", "tcflow detach (filters + own clsact)",
              PerLinkUs(detach, links.size()), PerLinkUs(detach, links.size()) / per_bare);
  std::printf("%-44s %10.1f %8.2f   (%zu attached)\n", "link watcher start-up (dump + attach)",
              PerLinkUs(watcher_start, links.size()),
              PerLinkUs(watcher_start, links.size()) / per_bare, watched);
  bool within = per_attach <= 2000.0;
  std::printf("budget: first attach %.3f ms per interface (<= 2 ms): %s\n", per_attach / 1000,
              within ? "within budget" : "OVER BUDGET");
  empty__destroy(skel);
  return within && watched == links.size() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  tcflow::cli::FlagParser flags("attach_bench",
                                "Times tcflow's attach on many dummy interfaces in a namespace.");
  int64_t count = 1000;
  flags.AddInt("count", 'n', &count, "N", "interfaces (default 1000)");
  if (int rc = tcflow::cli::ParseOrExit(flags, std::vector<std::string>(argv + 1, argv + argc));
      rc >= 0) {
    return rc;
  }
  if (count < 1 || count > 100000) {
    std::fprintf(stderr, "attach_bench: --count must be between 1 and 100000\n");
    return 2;
  }
  return Run(count);
}
