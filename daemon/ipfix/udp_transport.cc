#include "daemon/ipfix/udp_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <string.h>

#include <cstring>

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
  return std::unique_ptr<UdpTransport>(
      new UdpTransport(std::move(fd), max_message, batch, options.gso));
}

namespace {
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
constexpr size_t kControlSize = CMSG_SPACE(sizeof(uint16_t));
// The kernel's limits for one GSO send: 64 segments, and a UDP datagram of 64 KiB.
constexpr uint32_t kMaxSegments = 64;
constexpr size_t kMaxGsoBytes = 65000;
}  // namespace

UdpTransport::UdpTransport(ScopedFd fd, size_t max_message, uint32_t batch, bool gso)
    : fd_(std::move(fd)),
      max_message_(max_message),
      batch_(batch),
      gso_(gso),
      storage_(max_message * batch),
      iov_(batch),
      msgs_(batch),
      first_(batch),
      runs_(batch),
      control_(kControlSize * batch),
      infos_(batch) {
  for (uint32_t i = 0; i < batch; ++i) iov_[i].iov_base = storage_.data() + i * max_message;
}

bool UdpTransport::Commit(size_t length, const MessageInfo& info, absl::Time now) {
  iov_[count_].iov_len = length;
  infos_[count_] = info;
  if (++count_ == batch_) Flush(now);
  return true;
}

uint32_t UdpTransport::BuildEntries(uint32_t from) {
  uint32_t entries = 0;
  uint32_t i = from;
  while (i < count_) {
    // A run: messages of the run's first size, the last one possibly shorter.
    size_t segment = iov_[i].iov_len;
    uint32_t run = 1;
    size_t bytes = segment;
    if (gso_) {
      while (i + run < count_ && run < kMaxSegments &&
             iov_[i + run].iov_len <= segment && bytes + iov_[i + run].iov_len <= kMaxGsoBytes) {
        bytes += iov_[i + run].iov_len;
        ++run;
        if (iov_[i + run - 1].iov_len < segment) break;  // a short one ends the run
      }
    }
    mmsghdr& m = msgs_[entries];
    m = mmsghdr{};
    m.msg_hdr.msg_iov = &iov_[i];
    m.msg_hdr.msg_iovlen = run;
    if (run > 1) {
      uint8_t* control = control_.data() + entries * kControlSize;
      std::memset(control, 0, kControlSize);
      m.msg_hdr.msg_control = control;
      m.msg_hdr.msg_controllen = kControlSize;
      cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gso_size = static_cast<uint16_t>(segment);
      std::memcpy(CMSG_DATA(c), &gso_size, sizeof(gso_size));
    }
    first_[entries] = i;
    runs_[entries] = run;
    ++entries;
    i += run;
  }
  return entries;
}

void UdpTransport::Flush(absl::Time now) {
  uint32_t entries = BuildEntries(0);
  uint32_t done = 0;
  bool retried = false;
  bool refused = false;  // the collector's host reported its port closed
  bool failed = false;
  while (done < entries) {
    int n = sendmmsg(fd_.get(), &msgs_[done], entries - done, MSG_DONTWAIT);
    if (n > 0) {
      for (int e = 0; e < n; ++e) {
        for (uint32_t k = 0; k < runs_[done + e]; ++k) {
          stats_.bytes_sent += iov_[first_[done + e] + k].iov_len;
        }
        stats_.messages_sent += runs_[done + e];
      }
      done += n;
      retried = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && gso_ && runs_[done] > 1 &&
        (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOPROTOOPT)) {
      // No UDP GSO here (old kernel, device without checksum offload): send one by one.
      gso_ = false;
      entries = BuildEntries(first_[done]);
      done = 0;
      continue;
    }
    // ECONNREFUSED reports an ICMP error for an earlier datagram: this one was not sent
    // yet, so it gets one more try.
    if (n < 0 && errno == ECONNREFUSED && !retried) {
      retried = true;
      refused = true;
      continue;
    }
    ++stats_.send_errors;
    failed = true;
    for (uint32_t k = 0; k < runs_[done]; ++k) loss_.Add(infos_[first_[done] + k], now);
    ++done;
    retried = false;
  }
  if (entries > 0) up_ = !refused && !failed;
  count_ = 0;
}

}  // namespace tcflow::ipfix
