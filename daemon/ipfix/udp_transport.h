// IPFIX over UDP (RFC 7011 10.3): messages sized to the path MTU, batched and sent with
// sendmmsg(2) on a non-blocking connected socket. A datagram the kernel refuses
// (EAGAIN/ENOBUFS, ICMP unreachable reported as ECONNREFUSED) is counted as lost.
//
// A datagram that left but met a closed port (collector down or restarting) comes back as
// an ICMP error. With IP_RECVERR/IPV6_RECVERR every such error is queued on the socket
// with the start of the datagram it refers to: the IPFIX header, whose sequence number and
// length name the message. The transport keeps the last kSentRing messages it sent and
// counts each one an error names as lost, exactly once. A GSO run is one datagram until it
// is cut into segments: sent to a remote collector each segment may come back with its
// own error, but into a local closed port the whole run comes back as one error naming
// its first message. So an error naming the first message of a run counts the whole run
// (its messages leave within microseconds of each other: the port was closed for all of
// them), and later errors for the same messages count nothing. What it cannot know: datagrams
// dropped without an ICMP error (a collector that does not read, a firewall, ICMP rate
// limits: net.ipv4.icmp_msgs_per_sec / icmp_msgs_burst, icmp_ratelimit), and errors for
// messages older than the ring (counted in unattributed_errors: a message each, records
// unknown).
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
  // ICMP errors whose message was no longer in the ring (see above).
  uint64_t unattributed_errors() const { return unattributed_errors_; }
  static constexpr size_t kSentRing = 4096;

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
  // Remembers message `i` of the batch as sent (for the ICMP error accounting); `run` is
  // the length of the GSO run it starts, 0 for the other messages of a run.
  void RememberSent(uint32_t i, uint32_t run);
  // Reads the socket's error queue; counts the messages the errors name as lost. Returns
  // the number of errors read.
  uint32_t DrainErrors(absl::Time now);

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
  bool up_ = true;  // the last flush sent without an error or an ICMP error
  struct Sent {
    uint32_t sequence = 0;
    uint16_t length = 0;
    uint16_t run = 0;  // messages in the GSO run this one starts (1: no GSO); 0: inside one
    bool lost = false;
    MessageInfo info;
  };
  std::vector<Sent> sent_;  // ring of kSentRing
  size_t sent_next_ = 0;
  uint64_t unattributed_errors_ = 0;
  LossStats loss_;
  TransportStats stats_;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_UDP_TRANSPORT_H_
