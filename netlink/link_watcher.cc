#include "netlink/link_watcher.h"

#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/socket.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <memory>

#include "absl/strings/str_cat.h"
#include "netlink/netns.h"
#include "netlink/tc.h"

namespace tcflow::netlink {

const char* KindName(WatchEvent::Kind kind) {
  switch (kind) {
    case WatchEvent::Kind::kAttached:
      return "attached";
    case WatchEvent::Kind::kAttachFailed:
      return "attach-failed";
    case WatchEvent::Kind::kDetached:
      return "detached";
    case WatchEvent::Kind::kForgotten:
      return "forgotten";
    case WatchEvent::Kind::kFilterRemoved:
      return "filter-removed";
    case WatchEvent::Kind::kReattached:
      return "reattached";
    case WatchEvent::Kind::kResynced:
      return "resynced";
  }
  return "?";
}

std::string ToString(const WatchEvent& event) {
  std::string text = absl::StrCat(KindName(event.kind), " ", event.link.name, " (ifindex ",
                                  event.link.ifindex, ")");
  if (!event.status.ok()) absl::StrAppend(&text, ": ", event.status.message());
  return text;
}

LinkWatcher::LinkWatcher(WatcherOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<LinkWatcher>> LinkWatcher::Start(WatcherOptions options) {
  auto netns = Netns::Open(options.netns);
  if (!netns.ok()) return netns.status();
  std::unique_ptr<LinkWatcher> watcher(new LinkWatcher(std::move(options)));
  watcher->stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (watcher->stop_fd_ < 0) return ErrnoStatus(errno, "eventfd");
  // Shared with the thread: it may still be inside set_value() when Start() returns.
  auto started = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> started_future = started->get_future();
  LinkWatcher* self = watcher.get();
  watcher->thread_ = std::thread([self, ns = std::move(*netns), started]() mutable {
    pthread_setname_np(pthread_self(), "tcflow-links");
    absl::Status entered = ns.EnterOnThisThread();
    if (!entered.ok()) {
      started->set_value(entered);
      return;
    }
    self->Run([started](absl::Status status) { started->set_value(std::move(status)); });
  });
  absl::Status status = started_future.get();
  if (!status.ok()) {
    watcher->thread_.join();
    return status;
  }
  return watcher;
}

LinkWatcher::~LinkWatcher() {
  Stop();
  if (stop_fd_ >= 0) close(stop_fd_);
}

void LinkWatcher::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  thread_.join();
}

std::vector<LinkProblem> LinkWatcher::Problems() const {
  absl::MutexLock lock(&mu_);
  std::vector<LinkProblem> problems;
  for (const auto& [ifindex, problem] : problems_) problems.push_back(problem);
  return problems;
}

uint64_t LinkWatcher::repairs() const {
  absl::MutexLock lock(&mu_);
  return repairs_;
}

void LinkWatcher::SetProblem(const LinkInfo& link, bool ingress, bool egress, std::string reason) {
  absl::MutexLock lock(&mu_);
  problems_[link.ifindex] = LinkProblem{link, ingress, egress, std::move(reason)};
}

void LinkWatcher::ClearProblem(int ifindex) {
  absl::MutexLock lock(&mu_);
  problems_.erase(ifindex);
}

std::vector<LinkInfo> LinkWatcher::Attached() const {
  absl::MutexLock lock(&mu_);
  std::vector<LinkInfo> links;
  for (const auto& [ifindex, link] : attached_) links.push_back(link);
  return links;
}

void LinkWatcher::Emit(WatchEvent::Kind kind, const LinkInfo& link, absl::Status status) {
  if (options_.on_event) options_.on_event(WatchEvent{kind, link, std::move(status)});
}

void LinkWatcher::Run(std::function<void(absl::Status)> started) {
  auto events = RtnlSocket::Open({RTNLGRP_LINK, RTNLGRP_TC});
  if (!events.ok()) return started(events.status());
  events_ = std::move(*events);
  nl_socket_set_nonblocking(events_->sock());
  nl_socket_set_buffer_size(events_->sock(), options_.event_buffer_bytes, 0);
  auto control = RtnlSocket::Open();
  if (!control.ok()) return started(control.status());
  control_ = std::move(*control);
  auto attacher = Attacher::Create(control_.get(), options_.attach);
  if (!attacher.ok()) return started(attacher.status());
  attacher_ = std::make_unique<Attacher>(std::move(*attacher));
  // Subscribed before the first dump, so nothing that happens after it is missed.
  Resync();
  started(absl::OkStatus());

  pollfd fds[2] = {{events_->fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    int timeout_ms = -1;
    if (!repairs_due_.empty()) {
      absl::Time next = absl::InfiniteFuture();
      for (const auto& [ifindex, repair] : repairs_due_) next = std::min(next, repair.due);
      timeout_ms = static_cast<int>(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(next - absl::Now()) + 1));
    }
    int n = poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (n == 0 || fds[0].revents == 0) {
      if (fds[1].revents != 0) return;
      RepairDue();
      continue;
    }
    if (fds[1].revents != 0) return;
    // Drain everything queued, then verify suspicious deletions: by then a DELLINK that
    // explains them has been seen.
    for (;;) {
      bool got_any = false;
      absl::Status status = events_->ReceiveNotifications([&](const nlmsghdr* hdr) {
        got_any = true;
        OnMessage(hdr);
      });
      if (absl::IsResourceExhausted(status)) {
        // The kernel reports an overflow once and then drops silently until the queue has
        // been emptied: empty it first, so every event after the dump below is either
        // queued or reported as a new overflow.
        for (int i = 0; i < 100000; ++i) {
          bool queued = false;
          absl::Status drained =
              events_->ReceiveNotifications([&](const nlmsghdr*) { queued = true; });
          if (drained.ok() && !queued) break;
          if (!drained.ok() && !absl::IsResourceExhausted(drained)) break;
        }
        Resync();
        Emit(WatchEvent::Kind::kResynced, LinkInfo{});
        continue;
      }
      if (!status.ok() || !got_any) break;
    }
    VerifyPending();
    RepairDue();
  }
}

void LinkWatcher::RepairDue() {
  const absl::Time now = absl::Now();
  std::vector<int> due;
  for (const auto& [ifindex, repair] : repairs_due_) {
    if (repair.due <= now) due.push_back(ifindex);
  }
  for (int ifindex : due) {
    Repair repair = repairs_due_[ifindex];
    repairs_due_.erase(ifindex);
    auto link = seen_.find(ifindex);
    if (link == seen_.end()) continue;  // gone meanwhile
    AttachLink(link->second, WatchEvent::Kind::kReattached);
    if (failed_.count(ifindex) > 0) {
      // Still failing (e.g. a foreign filter took the priority): try again, less often.
      failed_.erase(ifindex);
      const absl::Duration wait = std::min(repair.wait * 2, absl::Seconds(30));
      repairs_due_[ifindex] = Repair{now + wait, wait};
    }
  }
}

void LinkWatcher::Resync() {
  auto links = ListLinks(*control_);
  if (!links.ok()) return;
  std::map<int, LinkInfo> now;
  for (const LinkInfo& link : *links) now[link.ifindex] = link;
  std::vector<LinkInfo> gone;
  for (const auto& [ifindex, link] : seen_) {
    if (now.count(ifindex) == 0) gone.push_back(link);
  }
  for (const LinkInfo& link : gone) OnLinkGone(link);
  for (const LinkInfo& link : *links) {
    bool was_attached;
    {
      absl::MutexLock lock(&mu_);
      was_attached = attached_.count(link.ifindex) > 0;
    }
    if (was_attached) pending_verify_.insert(link.ifindex);
    OnLink(link);
  }
  VerifyPending();
}

void LinkWatcher::OnMessage(const nlmsghdr* hdr) {
  switch (hdr->nlmsg_type) {
    case RTM_NEWLINK:
      if (auto link = ParseLinkMessage(hdr)) OnLink(*link);
      break;
    case RTM_DELLINK:
      if (auto link = ParseLinkMessage(hdr)) OnLinkGone(*link);
      break;
    case RTM_DELTFILTER:
      if (auto filter = ParseFilterMessage(hdr)) {
        // Handle 0: the whole priority was flushed.
        if (filter->priority == options_.attach.priority &&
            (filter->handle == 0 || filter->handle == options_.attach.handle) &&
            Includes(options_.direction, filter->hook)) {
          pending_verify_.insert(filter->ifindex);
        }
      }
      break;
    case RTM_DELQDISC:
      if (auto qdisc = ParseQdiscMessage(hdr)) {
        if (qdisc->parent == TC_H_INGRESS) pending_verify_.insert(qdisc->ifindex);
      }
      break;
    default:
      break;
  }
}

void LinkWatcher::AttachLink(const LinkInfo& link, WatchEvent::Kind success_kind) {
  absl::Status status = attacher_->Attach(link, options_.direction, options_.programs);
  if (status.ok()) {
    failed_.erase(link.ifindex);
    repairs_due_.erase(link.ifindex);
    {
      absl::MutexLock lock(&mu_);
      attached_[link.ifindex] = link;
      problems_.erase(link.ifindex);
      if (success_kind == WatchEvent::Kind::kReattached) ++repairs_;
    }
    Emit(success_kind, link);
  } else {
    {
      absl::MutexLock lock(&mu_);
      attached_.erase(link.ifindex);
      problems_[link.ifindex] =
          LinkProblem{link, Includes(options_.direction, Hook::kIngress),
                      Includes(options_.direction, Hook::kEgress), std::string(status.message())};
    }
    failed_.insert(link.ifindex);
    Emit(WatchEvent::Kind::kAttachFailed, link, status);
  }
}

void LinkWatcher::OnLink(const LinkInfo& link) {
  auto previous = seen_.find(link.ifindex);
  bool first_sight = previous == seen_.end();
  bool renamed = !first_sight && previous->second.name != link.name;
  bool came_up = !first_sight && !previous->second.is_up() && link.is_up();
  seen_[link.ifindex] = link;

  bool selected = options_.selector.Matches(link.name, link.is_loopback());
  bool attached;
  {
    absl::MutexLock lock(&mu_);
    attached = attached_.count(link.ifindex) > 0;
    if (attached) attached_[link.ifindex] = link;
  }
  if (selected && !attached) {
    if (repairs_due_.count(link.ifindex) > 0) return;  // the repair timer puts it back
    // A failed attach is retried when something changed that could make it work.
    if (first_sight || renamed || came_up || failed_.count(link.ifindex) == 0) {
      AttachLink(link, WatchEvent::Kind::kAttached);
    }
  } else if (!selected && attached) {
    absl::Status status = attacher_->Detach(link, options_.direction);
    {
      absl::MutexLock lock(&mu_);
      attached_.erase(link.ifindex);
    }
    Emit(WatchEvent::Kind::kDetached, link, status);
  } else if (!selected) {
    failed_.erase(link.ifindex);
    repairs_due_.erase(link.ifindex);
    ClearProblem(link.ifindex);
  }
}

void LinkWatcher::OnLinkGone(const LinkInfo& link) {
  seen_.erase(link.ifindex);
  failed_.erase(link.ifindex);
  pending_verify_.erase(link.ifindex);
  repairs_due_.erase(link.ifindex);
  bool was_attached;
  {
    absl::MutexLock lock(&mu_);
    was_attached = attached_.erase(link.ifindex) > 0;
    problems_.erase(link.ifindex);
  }
  attacher_->Forget(link.ifindex);
  if (was_attached) Emit(WatchEvent::Kind::kForgotten, link);
}

void LinkWatcher::VerifyPending() {
  std::set<int> pending;
  pending.swap(pending_verify_);
  for (int ifindex : pending) {
    LinkInfo link;
    {
      absl::MutexLock lock(&mu_);
      auto it = attached_.find(ifindex);
      if (it == attached_.end()) continue;
      link = it->second;
    }
    bool complete = true;
    bool missing[2] = {false, false};  // ingress, egress
    absl::Status error;
    for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
      if (!Includes(options_.direction, hook)) continue;
      auto ours = attacher_->ListOn(ifindex, hook);
      if (!ours.ok()) {
        error = ours.status();
        break;
      }
      if (ours->empty()) {
        complete = false;
        missing[hook == Hook::kEgress] = true;
      }
    }
    if (ErrnoOf(error) == ENODEV) continue;  // going away; DELLINK will follow
    if (complete && error.ok()) continue;
    {
      absl::MutexLock lock(&mu_);
      attached_.erase(ifindex);
      if (error.ok()) {
        problems_[ifindex] = LinkProblem{link, missing[0], missing[1], "tcflow filter missing"};
      } else {
        problems_[ifindex] = LinkProblem{link, Includes(options_.direction, Hook::kIngress),
                                         Includes(options_.direction, Hook::kEgress),
                                         std::string(error.message())};
      }
    }
    Emit(WatchEvent::Kind::kFilterRemoved, link, error);
    if (!options_.reattach_removed) {
      // Stays missing: re-attached only when the link itself changes (rename, up).
      failed_.insert(ifindex);
    } else if (options_.repair_delay <= absl::ZeroDuration()) {
      AttachLink(link, WatchEvent::Kind::kReattached);
    } else {
      repairs_due_[ifindex] =
          Repair{absl::Now() + options_.repair_delay, options_.repair_delay};
    }
  }
}

}  // namespace tcflow::netlink
