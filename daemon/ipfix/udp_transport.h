// IPFIX over UDP (RFC 7011 10.3): messages sized to the path MTU, batched and sent with
// sendmmsg(2) on a non-blocking connected socket. A datagram the kernel refuses
// (EAGAIN/ENOBUFS, ICMP unreachable reported as ECONNREFUSED) is counted as lost.
//
// With `gso` (the default), runs of equal-sized messages in a batch — full data messages
// of one template are all the same size — go as one UDP_SEGMENT (UDP GSO, Linux 4.18)
// entry of the sendmmsg call: the kernel cuts them into the very same datagrams, at a
// fraction of the per-datagram cost. Where the kernel refuses GSO, it is turned off.

#ifndef TCFLOW_DAEMON_IPFIX_UDP_TRANSPORT_H_
#define TCFLOW_DAEMON_IPFIX_UDP_TRANSPORT_H_

#include <sys/socket.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/transport.h"

namespace tcflow::ipfix {

struct UdpOptions {
  // Path MTU: messages are at most mtu - IP header - 8 bytes. 1500 suits an Ethernet path.
  uint32_t mtu = 1500;
  // Datagrams per sendmmsg call.
  uint32_t batch = 64;
  // SO_SNDBUF in bytes (0: the system default).
  int send_buffer = 1 << 20;
  // Send runs of equal-sized messages with UDP GSO (see above).
  bool gso = true;
};

// The largest IPFIX message a path MTU allows for a collector of `family`.
size_t MaxUdpMessageSize(uint32_t mtu, int family);

class UdpTransport : public Transport {
 public:
  static absl::StatusOr<std::unique_ptr<UdpTransport>> Create(const SocketAddress& collector,
                                                              const UdpOptions& options);

  bool gso() const { return gso_; }

  size_t max_message_size() const override { return max_message_; }
  uint8_t* Buffer() override { return storage_.data() + count_ * max_message_; }
  bool Commit(size_t length, const MessageInfo& info, absl::Time now) override;
  void Flush(absl::Time now) override;
  uint64_t session() const override { return 1; }
  bool datagram() const override { return true; }
  bool up() const override { return up_; }
  const LossStats& loss() const override { return loss_; }
  const TransportStats& stats() const override { return stats_; }

 private:
  UdpTransport(ScopedFd fd, size_t max_message, uint32_t batch, bool gso);
  // Fills msgs_ with the messages [from, count_); returns the number of entries.
  uint32_t BuildEntries(uint32_t from);

  ScopedFd fd_;
  size_t max_message_;
  uint32_t batch_;
  bool gso_;
  uint32_t count_ = 0;
  std::vector<uint8_t> storage_;
  std::vector<iovec> iov_;        // one per message
  std::vector<mmsghdr> msgs_;     // one per entry (a message, or a GSO run of messages)
  std::vector<uint32_t> first_;   // first message of each entry
  std::vector<uint32_t> runs_;    // messages in each entry
  std::vector<uint8_t> control_;  // a UDP_SEGMENT cmsg per entry
  std::vector<MessageInfo> infos_;
  bool up_ = true;  // the last sendmmsg entry went out (no error)
  LossStats loss_;
  TransportStats stats_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_UDP_TRANSPORT_H_
