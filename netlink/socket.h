// RAII owners for libnl objects and a request/dump channel on an rtnetlink socket that
// surfaces the kernel's extended-ack text in its errors.
//
// libnl 3.7 has no cls_bpf/clsact modules, so tcflow builds those messages with libnl's
// generic message API (nlmsg_alloc_simple, nla_put*, nla_nest_*) and parses replies with
// nlmsg_parse/nla_parse_nested; this file is the transport under that.

#ifndef TCFLOW_NETLINK_SOCKET_H_
#define TCFLOW_NETLINK_SOCKET_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct nl_sock;
struct nl_msg;
struct nl_cache;
struct nlmsghdr;

namespace tcflow::netlink {

struct NlSockDeleter {
  void operator()(nl_sock* sock) const;
};
struct NlMsgDeleter {
  void operator()(nl_msg* msg) const;
};
struct NlCacheDeleter {
  void operator()(nl_cache* cache) const;
};
using NlSockPtr = std::unique_ptr<nl_sock, NlSockDeleter>;
using NlMsgPtr = std::unique_ptr<nl_msg, NlMsgDeleter>;
using NlCachePtr = std::unique_ptr<nl_cache, NlCacheDeleter>;

// Allocates a message (nlmsg_alloc_simple) with a fixed header of `header_len` bytes copied
// from `header`. Never null (libnl aborts only on out-of-memory).
NlMsgPtr NewMessage(int type, int flags, const void* header, size_t header_len);

// Maps a kernel errno plus the extended-ack text to a Status: "<what>: <strerror>
// (kernel: <text>)". The errno is kept as a payload (see ErrnoOf).
absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view ext_ack = {});
// The errno an ErrnoStatus was built from, or 0.
int ErrnoOf(const absl::Status& status);

// The kernel's extended-ack text (NLMSGERR_ATTR_MSG) of an NLMSG_ERROR or NLMSG_DONE
// message, capped or not; empty when there is none.
std::string ExtAckText(const nlmsghdr* hdr);

// An rtnetlink socket bound to the network namespace it was opened in (a socket keeps its
// namespace for life, whichever thread uses it later). Not thread-safe; one user at a time.
class RtnlSocket {
 public:
  // Opens a socket in the calling thread's namespace with NETLINK_EXT_ACK and
  // NETLINK_CAP_ACK set. `groups` (RTNLGRP_* numbers) are joined for notifications.
  static absl::StatusOr<std::unique_ptr<RtnlSocket>> Open(std::initializer_list<int> groups = {});

  // Sends `msg` with NLM_F_ACK and waits for the kernel's answer: OK or an ErrnoStatus
  // carrying the extended-ack text. `what` names the operation for the error. Replies that
  // come before the ack (the answer to a GET) go to `on_reply` when given.
  absl::Status Request(nl_msg* msg, absl::string_view what,
                       const std::function<absl::Status(const nlmsghdr*)>* on_reply = nullptr);

  // Sends a NLM_F_DUMP request and calls `on_message` for each answer until NLMSG_DONE.
  // A non-OK return from `on_message` stops the dump (the rest is drained) and is returned.
  absl::Status Dump(nl_msg* msg, absl::string_view what,
                    const std::function<absl::Status(const nlmsghdr*)>& on_message);

  // For notification sockets: receives whatever is queued (blocking unless the fd is
  // non-blocking) and calls `on_message` for each message. ENOBUFS (lost notifications) is
  // returned as ResourceExhausted so the caller can resynchronise.
  absl::Status ReceiveNotifications(const std::function<void(const nlmsghdr*)>& on_message);

  int fd() const;
  nl_sock* sock() const { return sock_.get(); }
  // The namespace's identity (device and inode of its nsfs file, taken when the socket
  // was opened), for state keyed by it. Empty if it could not be read.
  const std::string& NamespaceId() const { return namespace_id_; }

 private:
  explicit RtnlSocket(NlSockPtr sock) : sock_(std::move(sock)) {}
  // Receives until the answer to `seq` is complete.
  absl::Status Await(uint32_t seq, absl::string_view what,
                     const std::function<absl::Status(const nlmsghdr*)>* on_message);

  NlSockPtr sock_;
  std::string namespace_id_;
};

}  // namespace tcflow::netlink

#endif  // TCFLOW_NETLINK_SOCKET_H_
