#include "daemon/ipfix/tcp_transport.h"

#include <errno.h>
#include <linux/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::ipfix {

absl::StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Create(
    const SocketAddress& collector, const TcpOptions& options, absl::Time now) {
  size_t overhead = (collector.family() == AF_INET6 ? 40 : 20) + 20;
  if (options.mtu < overhead + 512) {
    return absl::InvalidArgumentError(absl::StrCat("mtu ", options.mtu, " is too small"));
  }
  if (options.queue_bytes < 65536) {
    return absl::InvalidArgumentError("the TCP send queue must hold at least 64 KiB");
  }
  auto t = std::unique_ptr<TcpTransport>(new TcpTransport(collector, options));
  t->StartConnect(now);
  return t;
}

TcpTransport::TcpTransport(const SocketAddress& collector, const TcpOptions& options)
    : collector_(collector),
      options_(options),
      max_message_(std::min<size_t>(
          65535, options.mtu - (collector.family() == AF_INET6 ? 40 : 20) - 20)),
      backoff_(options.reconnect_min),
      scratch_(max_message_),
      queue_(options.queue_bytes),
      pending_(std::max<size_t>(options.max_unacked_messages, 16)) {}

void TcpTransport::StartConnect(absl::Time now) {
  fd_.Reset(socket(collector_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_.valid()) {
    ++stats_.send_errors;
    next_attempt_ = now + backoff_;
    return;
  }
  int one = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  int rc = connect(fd_.get(), collector_.get(), collector_.length);
  if (rc == 0) {
    OnConnected(now);
  } else if (errno == EINPROGRESS) {
    state_ = State::kConnecting;
    connect_deadline_ = now + options_.connect_timeout;
  } else {
    fd_.Reset();
    state_ = State::kIdle;
    next_attempt_ = now + backoff_;
    backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
  }
}

void TcpTransport::OnConnected(absl::Time now) {
  state_ = State::kConnected;
  ++session_;
  ++stats_.connects;
  backoff_ = options_.reconnect_min;
  head_ = tail_ = 0;
  written_ = queued_ = 0;
  pending_first_ = pending_count_ = 0;
  tcp_info info{};
  socklen_t len = sizeof(info);
  acked_base_ = getsockopt(fd_.get(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0
                    ? info.tcpi_bytes_acked
                    : 0;
}

void TcpTransport::Disconnect(absl::Time now) {
  // Whatever the collector's TCP has not acknowledged may never have reached it. What was
  // written may have been read (only its acknowledgement lost): counted as not sent, never
  // sent twice. Data messages never written at all are handed back (TakeUnsent()).
  UpdateAcknowledged();
  for (size_t i = 0; i < pending_count_; ++i) {
    const Pending& p = pending_[(pending_first_ + i) % pending_.size()];
    const uint64_t start = p.end - p.length;
    if (start >= written_ && p.info.flow_records > 0) {
      const uint8_t* bytes = queue_.data() + head_ + (start - written_);
      unsent_.push_back({unsent_data_.size(), p.length, p.info});
      unsent_data_.insert(unsent_data_.end(), bytes, bytes + p.length);
      --stats_.messages_sent;
    } else {
      loss_.Add(p.info, now);
    }
  }
  pending_first_ = pending_count_ = 0;
  head_ = tail_ = 0;
  fd_.Reset();
  state_ = State::kIdle;
  ++stats_.disconnects;
  next_attempt_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
}

bool TcpTransport::Commit(size_t length, const MessageInfo& info, absl::Time now) {
  if (state_ != State::kConnected) return false;
  if (pending_count_ == pending_.size()) {
    UpdateAcknowledged();
    if (pending_count_ == pending_.size()) return false;
  }
  if (queue_.size() - tail_ < length) {
    // Move the unwritten bytes to the front.
    std::memmove(queue_.data(), queue_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
    if (queue_.size() - tail_ < length) {
      Write(now);  // make room if the socket takes some
      if (state_ != State::kConnected) return false;
      std::memmove(queue_.data(), queue_.data() + head_, tail_ - head_);
      tail_ -= head_;
      head_ = 0;
      if (queue_.size() - tail_ < length) return false;
    }
  }
  std::memcpy(queue_.data() + tail_, scratch_.data(), length);
  tail_ += length;
  queued_ += length;
  pending_[(pending_first_ + pending_count_) % pending_.size()] = {
      queued_, static_cast<uint32_t>(length), info};
  ++pending_count_;
  ++stats_.messages_sent;
  if (tail_ - head_ >= 65536) Write(now);
  return true;
}

void TcpTransport::TakeUnsent(
    absl::FunctionRef<void(const uint8_t*, size_t, const MessageInfo&)> take) {
  for (const Unsent& u : unsent_) take(unsent_data_.data() + u.offset, u.length, u.info);
  unsent_.clear();
  unsent_data_.clear();
}

void TcpTransport::Write(absl::Time now) {
  while (head_ < tail_) {
    ssize_t n = send(fd_.get(), queue_.data() + head_, tail_ - head_,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      head_ += n;
      written_ += n;
      stats_.bytes_sent += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    ++stats_.send_errors;
    Disconnect(now);
    return;
  }
  head_ = tail_ = 0;
}

void TcpTransport::UpdateAcknowledged() {
  if (!fd_.valid() || pending_count_ == 0) return;
  tcp_info info{};
  socklen_t len = sizeof(info);
  uint64_t acked;
  if (getsockopt(fd_.get(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
      len >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked)) {
    acked = info.tcpi_bytes_acked - acked_base_;
  } else {
    // No tcp_info (an emulator): written is the best knowledge there is.
    acked = written_;
  }
  while (pending_count_ > 0 && pending_[pending_first_].end <= acked) {
    pending_first_ = (pending_first_ + 1) % pending_.size();
    --pending_count_;
  }
}

void TcpTransport::Flush(absl::Time now) {
  if (state_ == State::kIdle) {
    if (now >= next_attempt_) StartConnect(now);
    if (state_ != State::kConnecting) return;
  }
  if (state_ == State::kConnecting) {
    pollfd p{fd_.get(), POLLOUT, 0};
    if (poll(&p, 1, 0) == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) {
        OnConnected(now);
      } else {
        fd_.Reset();
        state_ = State::kIdle;
        next_attempt_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
        return;
      }
    } else {
      if (now >= connect_deadline_) {
        fd_.Reset();
        state_ = State::kIdle;
        next_attempt_ = now + backoff_;
        backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
      }
      return;
    }
  }
  // Connected. A collector never sends; EOF or an error means the session is over.
  char sink[256];
  for (;;) {
    ssize_t n = recv(fd_.get(), sink, sizeof(sink), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      Disconnect(now);
      return;
    }
    break;
  }
  Write(now);
  if (state_ == State::kConnected) UpdateAcknowledged();
}

}  // namespace tcflow::ipfix
