#include "daemon/ipfix/udp_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/ipfix/wire.h"

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
  // ICMP errors (port unreachable: the collector is down) queued with the datagram they
  // refer to, so the loss can be counted per message (see the header).
  int one = 1;
  if (collector.family() == AF_INET6) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
  } else {
    setsockopt(fd.get(), IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
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
      infos_(batch),
      sent_(kSentRing) {
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
          RememberSent(first_[done + e] + k, k == 0 ? runs_[done + e] : 0);
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
  count_ = 0;
  // Errors of this batch on loopback are here already; a remote host's come later, and are
  // read at the next flush (the exporter's timer flushes even without records).
  if (DrainErrors(now) > 0) refused = true;
  if (entries > 0 || refused) up_ = !refused && !failed;
}

void UdpTransport::RememberSent(uint32_t i, uint32_t run) {
  const uint8_t* m = static_cast<const uint8_t*>(iov_[i].iov_base);
  Sent& s = sent_[sent_next_];
  s.sequence = Get32(m + 8);
  s.length = static_cast<uint16_t>(iov_[i].iov_len);
  s.run = static_cast<uint16_t>(run);
  s.lost = false;
  s.info = infos_[i];
  sent_next_ = (sent_next_ + 1) % sent_.size();
}

uint32_t UdpTransport::DrainErrors(absl::Time now) {
  uint32_t errors = 0;
  for (;;) {
    uint8_t payload[16];  // the IPFIX message header is all that is needed
    alignas(cmsghdr) uint8_t control[512];
    iovec iov{payload, sizeof(payload)};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(fd_.get(), &h, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: the queue is empty
    }
    const sock_extended_err* ee = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        ee = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c));
      }
    }
    if (ee == nullptr) continue;
    if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) continue;
    // Every ICMP error names a datagram that was dropped on the way (port or host
    // unreachable, time exceeded, and "fragmentation needed": tcflow's datagrams carry DF).
    ++errors;
    bool found = false;
    if (n >= 16) {
      uint32_t sequence = Get32(payload + 8);
      uint16_t length = Get16(payload + 2);
      // Newest first: the error is most likely for a message just sent. Messages of a
      // session share sequence numbers only when one carries no data records (templates),
      // so the length tells them apart; each message is counted at most once.
      for (size_t k = 1; k <= sent_.size(); ++k) {
        size_t at = (sent_next_ + sent_.size() - k) % sent_.size();
        Sent& s = sent_[at];
        if (s.length == 0) break;  // not filled yet
        if (s.sequence != sequence || s.length != length) continue;
        found = true;
        if (s.lost) break;  // counted already (with its GSO run)
        // The message and, when it starts a GSO run, the rest of the run (see the header).
        size_t count = s.run > 1 ? std::min<size_t>(s.run, k) : 1;
        for (size_t r = 0; r < count; ++r) {
          Sent& m = sent_[(at + r) % sent_.size()];
          if (m.lost) continue;
          m.lost = true;
          ++stats_.refused_after_send;
          loss_.Add(m.info, now);
        }
        break;
      }
    }
    if (!found) {
      ++unattributed_errors_;
      ++stats_.refused_after_send;
      loss_.Add(MessageInfo(), now);
    }
  }
  return errors;
}

}  // namespace tcflow::ipfix
