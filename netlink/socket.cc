#include "netlink/socket.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tcflow::netlink {
namespace {

#ifdef SO_NETNS_COOKIE
constexpr int kSoNetnsCookie = SO_NETNS_COOKIE;
#else
constexpr int kSoNetnsCookie = 71;  // asm-generic value, used by x86 and arm64
#endif

constexpr char kErrnoPayload[] = "tcflow.netlink/errno";

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case ENODEV:
    case ENOENT:
    case ENXIO:
      return absl::StatusCode::kNotFound;
    case EPERM:
    case EACCES:
      return absl::StatusCode::kPermissionDenied;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case EINVAL:
    case ERANGE:
      return absl::StatusCode::kInvalidArgument;
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    case EBUSY:
    case EAGAIN:
      return absl::StatusCode::kUnavailable;
    case ENOMEM:
    case ENOSPC:
    case ENOBUFS:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

std::string ExtAckText(const nlmsghdr* hdr) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  size_t offset = NLMSG_HDRLEN;
  if (hdr->nlmsg_type == NLMSG_ERROR) {
    const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(hdr));
    offset += sizeof(nlmsgerr);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  } else {
    offset += sizeof(int);
  }
  if (hdr->nlmsg_len <= offset) return {};
  nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
  auto* attrs =
      reinterpret_cast<nlattr*>(reinterpret_cast<char*>(const_cast<nlmsghdr*>(hdr)) + offset);
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, attrs, static_cast<int>(hdr->nlmsg_len - offset), nullptr) <
      0) {
    return {};
  }
  if (tb[NLMSGERR_ATTR_MSG] == nullptr) return {};
  const char* text = static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG]));
  return std::string(text, strnlen(text, nla_len(tb[NLMSGERR_ATTR_MSG])));
}

void NlSockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }
void NlMsgDeleter::operator()(nl_msg* msg) const { nlmsg_free(msg); }
void NlCacheDeleter::operator()(nl_cache* cache) const { nl_cache_free(cache); }

NlMsgPtr NewMessage(int type, int flags, const void* header, size_t header_len) {
  NlMsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (msg == nullptr) std::abort();
  if (header_len > 0 &&
      nlmsg_append(msg.get(), const_cast<void*>(header), header_len, NLMSG_ALIGNTO) < 0) {
    std::abort();
  }
  return msg;
}

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view ext_ack) {
  std::string text = absl::StrCat(what, ": ", std::strerror(err));
  if (!ext_ack.empty()) absl::StrAppend(&text, " (kernel: ", ext_ack, ")");
  absl::Status status(CodeForErrno(err), text);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  auto payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &err)) return 0;
  return err;
}

absl::StatusOr<std::unique_ptr<RtnlSocket>> RtnlSocket::Open(std::initializer_list<int> groups) {
  NlSockPtr sock(nl_socket_alloc());
  if (sock == nullptr) return absl::ResourceExhaustedError("nl_socket_alloc failed");
  nl_socket_disable_auto_ack(sock.get());
  nl_socket_enable_msg_peek(sock.get());
  if (groups.size() == 0) nl_socket_disable_seq_check(sock.get());
  int rc = nl_connect(sock.get(), NETLINK_ROUTE);
  if (rc < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open an rtnetlink socket: ", nl_geterror(rc)));
  }
  int fd = nl_socket_get_fd(sock.get());
  int one = 1;
  // Extended acks carry the kernel's reason ("Exclusivity flag on, cannot modify"); capped
  // acks keep answers small. Both are best effort on old kernels.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  for (int group : groups) {
    rc = nl_socket_add_membership(sock.get(), group);
    if (rc < 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot join rtnetlink group ", group, ": ", nl_geterror(rc)));
    }
  }
  if (groups.size() > 0) {
    // Link storms (a thousand interfaces at once) must not overflow the queue easily.
    nl_socket_set_buffer_size(sock.get(), 4 << 20, 0);
  }
  if (groups.size() == 0) {
    // A kernel that never answers must not hang a command forever.
    timeval timeout = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  std::unique_ptr<RtnlSocket> result(new RtnlSocket(std::move(sock)));
  // The namespace's identity keys tcflow's "we created this clsact" markers. The netns
  // cookie (kernel >= 5.14) is never reused while the system runs, so a marker left by a
  // deleted namespace can never match a new one; nsfs inode numbers are reused quickly.
  uint64_t cookie = 0;
  socklen_t cookie_len = sizeof(cookie);
  if (getsockopt(fd, SOL_SOCKET, kSoNetnsCookie, &cookie, &cookie_len) == 0 && cookie != 0) {
    result->namespace_id_ = absl::StrCat("cookie-", cookie);
    return result;
  }
  // Older kernels: the calling thread is in the socket's namespace right now (that is how
  // the socket got there), and reading its nsfs inode needs no privilege.
  struct stat st;
  if (stat("/proc/thread-self/ns/net", &st) == 0) {
    result->namespace_id_ = absl::StrCat(st.st_dev, "-", st.st_ino);
  }
  return result;
}

int RtnlSocket::fd() const { return nl_socket_get_fd(sock_.get()); }

absl::Status RtnlSocket::Request(nl_msg* msg, absl::string_view what,
                                 const std::function<absl::Status(const nlmsghdr*)>* on_reply) {
  nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_ACK;
  int rc = nl_send_auto(sock_.get(), msg);
  if (rc < 0) {
    return absl::UnavailableError(absl::StrCat(what, ": send failed: ", nl_geterror(rc)));
  }
  return Await(nlmsg_hdr(msg)->nlmsg_seq, what, on_reply);
}

absl::Status RtnlSocket::Dump(nl_msg* msg, absl::string_view what,
                              const std::function<absl::Status(const nlmsghdr*)>& on_message) {
  nlmsg_hdr(msg)->nlmsg_flags |= NLM_F_DUMP;
  int rc = nl_send_auto(sock_.get(), msg);
  if (rc < 0) {
    return absl::UnavailableError(absl::StrCat(what, ": send failed: ", nl_geterror(rc)));
  }
  return Await(nlmsg_hdr(msg)->nlmsg_seq, what, &on_message);
}

absl::Status RtnlSocket::Await(uint32_t seq, absl::string_view what,
                               const std::function<absl::Status(const nlmsghdr*)>* on_message) {
  absl::Status result;  // the first callback error; the dump is still drained
  for (;;) {
    unsigned char* buf = nullptr;
    sockaddr_nl peer = {};
    int len = nl_recv(sock_.get(), &peer, &buf, nullptr);
    if (len < 0) {
      return absl::UnavailableError(absl::StrCat(what, ": receive failed: ", nl_geterror(len)));
    }
    std::unique_ptr<unsigned char, decltype(&free)> owner(buf, &free);
    auto* hdr = reinterpret_cast<nlmsghdr*>(buf);
    bool done = false;
    absl::Status answer;
    for (; nlmsg_ok(hdr, len); hdr = nlmsg_next(hdr, &len)) {
      if (hdr->nlmsg_seq != seq) continue;  // a late answer to an abandoned request
      if (hdr->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(nlmsg_data(hdr));
        if (err->error != 0) answer = ErrnoStatus(-err->error, what, ExtAckText(hdr));
        done = true;
      } else if (hdr->nlmsg_type == NLMSG_DONE) {
        int code = 0;
        if (hdr->nlmsg_len >= NLMSG_HDRLEN + sizeof(int)) {
          std::memcpy(&code, nlmsg_data(hdr), sizeof(int));
        }
        if (code < 0) answer = ErrnoStatus(-code, what, ExtAckText(hdr));
        done = true;
      } else if (on_message != nullptr && result.ok()) {
        result = (*on_message)(hdr);
      }
    }
    if (done) {
      if (!answer.ok()) return answer;
      return result;
    }
  }
}

absl::Status RtnlSocket::ReceiveNotifications(
    const std::function<void(const nlmsghdr*)>& on_message) {
  unsigned char* buf = nullptr;
  sockaddr_nl peer = {};
  int len = nl_recv(sock_.get(), &peer, &buf, nullptr);
  if (len == -NLE_AGAIN) return absl::OkStatus();
  if (len == -NLE_NOMEM) {
    return absl::ResourceExhaustedError("netlink notifications were lost (ENOBUFS)");
  }
  if (len < 0) {
    return absl::UnavailableError(absl::StrCat("netlink receive failed: ", nl_geterror(len)));
  }
  std::unique_ptr<unsigned char, decltype(&free)> owner(buf, &free);
  if (peer.nl_pid != 0) return absl::OkStatus();  // only the kernel speaks here
  auto* hdr = reinterpret_cast<nlmsghdr*>(buf);
  for (; nlmsg_ok(hdr, len); hdr = nlmsg_next(hdr, &len)) on_message(hdr);
  return absl::OkStatus();
}

}  // namespace tcflow::netlink
