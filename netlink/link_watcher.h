// Keeps tcflow attached to the interfaces a selector picks, as they come and go.
//
// One named thread joins the namespace, subscribes to RTNLGRP_LINK and RTNLGRP_TC, attaches
// every selected interface already present, then follows the events: a selected link that
// appears (or is renamed into the selection) is attached, one that disappears is forgotten,
// one renamed out of the selection is detached. A tcflow filter (or the clsact under it)
// removed behind tcflow's back is noticed, reported and, when configured, re-attached.
// Lost notifications (ENOBUFS) trigger a full resynchronisation.

#ifndef TCFLOW_NETLINK_LINK_WATCHER_H_
#define TCFLOW_NETLINK_LINK_WATCHER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/selector.h"

namespace tcflow::netlink {

struct WatchEvent {
  enum class Kind {
    kAttached,       // a selected interface got tcflow's filters
    kAttachFailed,   // status says why
    kDetached,       // renamed out of the selection
    kForgotten,      // the interface disappeared
    kFilterRemoved,  // tcflow's filter vanished without tcflow removing it
    kReattached,     // ... and was put back
    kResynced,       // notifications were lost; state re-read from the kernel
  };
  Kind kind;
  LinkInfo link;
  absl::Status status;
};
const char* KindName(WatchEvent::Kind kind);
std::string ToString(const WatchEvent& event);

struct WatcherOptions {
  std::string netns;  // name or path; "" = the current namespace
  LinkSelector selector;
  Direction direction = Direction::kBoth;
  AttachOptions attach;
  Programs programs;  // fds must stay open while the watcher runs
  bool reattach_removed = false;
  // How long a removed filter stays missing before the repair: zero re-attaches in the pass
  // that noticed the removal; tcflowd waits a second so its /ready shows the gap. A repair
  // that fails is retried after twice the previous wait (at most 30 s).
  absl::Duration repair_delay = absl::ZeroDuration();
  // Receive buffer of the notification socket. When it overflows (ENOBUFS) the watcher
  // re-reads everything from the kernel, so a small buffer costs time, never correctness.
  int event_buffer_bytes = 4 << 20;
  // Called on the watcher thread; must not block for long.
  std::function<void(const WatchEvent&)> on_event;
};

// A selected interface that is not (fully) metered, and why.
struct LinkProblem {
  LinkInfo link;
  bool ingress = false;  // the hook is affected
  bool egress = false;
  std::string reason;    // "tcflow filter missing", or the attach error
};

class LinkWatcher {
 public:
  // Returns once subscribed and the interfaces present have been attached (failures are
  // reported as events, not returned).
  static absl::StatusOr<std::unique_ptr<LinkWatcher>> Start(WatcherOptions options);
  ~LinkWatcher();  // stops; leaves the filters attached
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  void Stop();
  // The interfaces currently attached.
  std::vector<LinkInfo> Attached() const;
  // The selected interfaces whose filters are missing (removed behind tcflow's back, repair
  // pending or failed) or could not be attached.
  std::vector<LinkProblem> Problems() const;
  // Filters found missing and put back since Start().
  uint64_t repairs() const;

 private:
  explicit LinkWatcher(WatcherOptions options);
  void Run(std::function<void(absl::Status)> started);
  void Resync();
  void OnMessage(const nlmsghdr* hdr);
  void OnLink(const LinkInfo& link);
  void OnLinkGone(const LinkInfo& link);
  void VerifyPending();
  void RepairDue();
  void SetProblem(const LinkInfo& link, bool ingress, bool egress, std::string reason);
  void ClearProblem(int ifindex);
  void AttachLink(const LinkInfo& link, WatchEvent::Kind success_kind);
  void Emit(WatchEvent::Kind kind, const LinkInfo& link, absl::Status status = {});

  WatcherOptions options_;
  int stop_fd_ = -1;
  std::thread thread_;
  // Owned by the watcher thread.
  std::unique_ptr<RtnlSocket> events_;
  std::unique_ptr<RtnlSocket> control_;
  std::unique_ptr<Attacher> attacher_;
  std::map<int, LinkInfo> seen_;  // every link, for rename/up detection
  std::set<int> failed_;          // selected, attach failed; retried on up/rename
  std::set<int> pending_verify_;  // got a filter/qdisc deletion on an attached link
  struct Repair {
    absl::Time due;
    absl::Duration wait;
  };
  std::map<int, Repair> repairs_due_;  // filters found missing, re-attached when due
  mutable absl::Mutex mu_;
  std::map<int, LinkInfo> attached_ ABSL_GUARDED_BY(mu_);
  std::map<int, LinkProblem> problems_ ABSL_GUARDED_BY(mu_);
  uint64_t repairs_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_LINK_WATCHER_H_
