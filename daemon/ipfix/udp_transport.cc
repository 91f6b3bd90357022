#include "daemon/ipfix/udp_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::ipfix {

size_t MaxUdpMessageSize(uint32_t mtu, int family) {
  size_t ip_header = family == AF_INET6 ? 40 : 20;
  size_t overhead = ip_header + 8;
  if (mtu <= overhead) return 0;
  size_t size = mtu - overhead;
  return size > 65535 ? 65535 : size;
}

absl::StatusOr<std::unique_ptr<UdpTransport>> UdpTransport::Create(
    const SocketAddress& collector, const UdpOptions& options) {
  size_t max_message = MaxUdpMessageSize(options.mtu, collector.family());
  if (max_message < 512) {
    return absl::InvalidArgumentError(absl::StrCat("mtu ", options.mtu, " is too small"));
  }
  ScopedFd fd(socket(collector.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  }
  if (options.send_buffer > 0) {
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &options.send_buffer,
               sizeof(options.send_buffer));
  }
  if (connect(fd.get(), collector.get(), collector.length) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", collector.ToString(), ": ", strerror(errno)));
  }
  uint32_t batch = options.batch == 0 ? 1 : options.batch;
  return std::unique_ptr<UdpTransport>(new UdpTransport(std::move(fd), max_message, batch));
}

UdpTransport::UdpTransport(ScopedFd fd, size_t max_message, uint32_t batch)
    : fd_(std::move(fd)),
      max_message_(max_message),
      batch_(batch),
      storage_(max_message * batch),
      iov_(batch),
      msgs_(batch),
      infos_(batch) {
  for (uint32_t i = 0; i < batch; ++i) {
    iov_[i].iov_base = storage_.data() + i * max_message;
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr.msg_iov = &iov_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

bool UdpTransport::Commit(size_t length, const MessageInfo& info, absl::Time now) {
  iov_[count_].iov_len = length;
  infos_[count_] = info;
  if (++count_ == batch_) Flush(now);
  return true;
}

void UdpTransport::Flush(absl::Time now) {
  uint32_t done = 0;
  bool retried = false;
  while (done < count_) {
    int n = sendmmsg(fd_.get(), &msgs_[done], count_ - done, MSG_DONTWAIT);
    if (n > 0) {
      for (int i = 0; i < n; ++i) stats_.bytes_sent += iov_[done + i].iov_len;
      stats_.messages_sent += n;
      done += n;
      retried = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // ECONNREFUSED reports an ICMP error for an earlier datagram: this one was not sent
    // yet, so it gets one more try.
    if (n < 0 && errno == ECONNREFUSED && !retried) {
      retried = true;
      continue;
    }
    ++stats_.send_errors;
    loss_.Add(infos_[done], now);
    ++done;
    retried = false;
  }
  count_ = 0;
}

}  // namespace tcflow::ipfix
