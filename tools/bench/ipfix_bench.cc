// IPFIX export throughput on one core: records encoded per second (into a discarding
// transport), and records encoded and sent per second over loopback UDP (sendmmsg batches
// of full datagrams) to a sink thread, for IPv4 and IPv6 flows with the default template.
// A memcpy of the same records is printed as a baseline, measured in the same run.
//
//   bazel run -c opt //tools/bench:ipfix_bench -- [--seconds 2] [--mtu 1500]

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "daemon/ipfix/udp_transport.h"
#include "tools/cli/flags.h"

namespace tcflow::ipfix {
namespace {

// Encodes into one buffer and throws the message away.
class DiscardTransport : public Transport {
 public:
  explicit DiscardTransport(size_t max) : buf_(max) {}
  size_t max_message_size() const override { return buf_.size(); }
  uint8_t* Buffer() override { return buf_.data(); }
  bool Commit(size_t length, const MessageInfo&, absl::Time) override {
    stats_.bytes_sent += length;
    ++stats_.messages_sent;
    return true;
  }
  void Flush(absl::Time) override {}
  uint64_t session() const override { return 1; }
  bool datagram() const override { return true; }
  const LossStats& loss() const override { return loss_; }
  const TransportStats& stats() const override { return stats_; }

 private:
  std::vector<uint8_t> buf_;
  LossStats loss_;
  TransportStats stats_;
};

constexpr size_t kBatch = 4096;  // records per Export() call, as after a drain

struct Result {
  double records_per_s = 0;
  double messages_per_s = 0;
  double bytes_per_record = 0;
  uint64_t not_sent = 0;
};

Result Run(Exporter& e, const std::vector<FlowRecord>& flows, absl::Duration length) {
  uint64_t records = 0;
  absl::Time start = absl::Now(), end = start + length;
  absl::Time now = start;
  size_t pos = 0;
  while (now < end) {
    for (int i = 0; i < 16; ++i) {
      e.Export(absl::MakeConstSpan(flows).subspan(pos, kBatch), now);
      pos = (pos + kBatch) % flows.size();
      records += kBatch;
    }
    now = absl::Now();
  }
  double s = absl::ToDoubleSeconds(now - start);
  ExporterStats st = e.stats();
  Result r;
  r.records_per_s = records / s;
  r.messages_per_s = st.messages / s;
  r.bytes_per_record = st.flow_records ? static_cast<double>(st.octets) / st.flow_records : 0;
  r.not_sent = st.loss.records;
  return r;
}

double MemcpyBaseline(const std::vector<FlowRecord>& flows, absl::Duration length) {
  std::vector<uint8_t> out(kBatch * sizeof(FlowRecord));
  uint64_t records = 0;
  absl::Time start = absl::Now(), end = start + length, now = start;
  size_t pos = 0;
  while (now < end) {
    for (int i = 0; i < 16; ++i) {
      std::memcpy(out.data(), &flows[pos], kBatch * sizeof(FlowRecord));
      asm volatile("" : : "r"(out.data()) : "memory");
      pos = (pos + kBatch) % flows.size();
      records += kBatch;
    }
    now = absl::Now();
  }
  return records / absl::ToDoubleSeconds(now - start);
}

// Receives datagrams with recvmmsg until told to stop, counting them.
class Sink {
 public:
  Sink() {
    auto a = MakeSocketAddress("127.0.0.1", 0);
    fd_.Reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int buf = 32 << 20;
    // Root may go past net.core.rmem_max; otherwise the capped size is what we get.
    if (setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0) {
      setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    }
    bind(fd_.get(), a->get(), a->length);
    address_ = *a;
    address_.length = sizeof(address_.storage);
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address_.storage), &address_.length);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Sink() {
    stop_ = true;
    thread_.join();
  }
  const SocketAddress& address() const { return address_; }
  uint64_t datagrams() const { return datagrams_; }

 private:
  void Loop() {
    constexpr int kN = 64;
    std::vector<uint8_t> bufs(kN * 2048);
    iovec iov[kN];
    mmsghdr msgs[kN];
    for (int i = 0; i < kN; ++i) {
      iov[i] = {bufs.data() + i * 2048, 2048};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 50) != 1) continue;
      int n = recvmmsg(fd_.get(), msgs, kN, MSG_DONTWAIT, nullptr);
      if (n > 0) datagrams_ += n;
    }
  }
  ScopedFd fd_;
  SocketAddress address_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> datagrams_{0};
};

int Main(const std::vector<std::string>& args) {
  cli::FlagParser flags("ipfix_bench", "IPFIX encode and encode+send throughput.");
  int64_t seconds = 2, mtu = 1500, batch = UdpOptions().batch;
  flags.AddInt("seconds", 's', &seconds, "S", "length of each measurement (default 2)");
  flags.AddInt("mtu", 0, &mtu, "BYTES", "path MTU (default 1500)");
  flags.AddInt("batch", 0, &batch, "N", "messages per sendmmsg call (default: the transport's)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  absl::Duration length = absl::Seconds(seconds);
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<FlowRecord> v4 = SyntheticFlows(kBatch * 16, 0.0, now_ms);
  std::vector<FlowRecord> v6 = SyntheticFlows(kBatch * 16, 1.0, now_ms);
  size_t max_message = MaxUdpMessageSize(mtu, AF_INET);

  std::printf("ipfix_bench: one core, default template, %zu-byte messages (mtu %lld), "
              "Export() batches of %zu records, %lld messages per sendmmsg\n\n", max_message,
              static_cast<long long>(mtu), kBatch, static_cast<long long>(batch));
  std::printf("%-34s %14s %12s %10s %9s\n", "case", "records/s", "msgs/s", "B/record",
              "vs memcpy");
  for (int family = 4; family <= 6; family += 2) {
    const std::vector<FlowRecord>& flows = family == 4 ? v4 : v6;
    double base = MemcpyBaseline(flows, length);
    std::printf("%-34s %14.0f %12s %10zu %9s\n",
                family == 4 ? "IPv4 memcpy of FlowRecord" : "IPv6 memcpy of FlowRecord", base,
                "-", sizeof(FlowRecord), "1.00");
    {
      ExporterOptions o;
      o.options_records = false;
      auto e = Exporter::Create(o, std::make_unique<DiscardTransport>(max_message));
      Result r = Run(**e, flows, length);
      std::printf("%-34s %14.0f %12.0f %10.1f %9.2f\n",
                  family == 4 ? "IPv4 encode" : "IPv6 encode", r.records_per_s,
                  r.messages_per_s, r.bytes_per_record, r.records_per_s / base);
    }
    for (bool gso : {false, true}) {
      Sink sink;
      UdpOptions u;
      u.mtu = mtu;
      u.send_buffer = 8 << 20;
      u.gso = gso;
      u.batch = static_cast<uint32_t>(batch);
      auto t = UdpTransport::Create(sink.address(), u);
      if (!t.ok()) {
        std::fprintf(stderr, "%s\n", std::string(t.status().message()).c_str());
        return 1;
      }
      UdpTransport* udp = t->get();
      ExporterOptions o;
      o.options_records = false;
      auto e = Exporter::Create(o, *std::move(t));
      Result r = Run(**e, flows, length);
      absl::SleepFor(absl::Milliseconds(200));
      uint64_t sent = (*e)->transport().stats().messages_sent;
      std::string name = absl::StrCat(family == 4 ? "IPv4" : "IPv6", " encode + sendmmsg",
                                      gso ? " + GSO" : "");
      std::printf("%-34s %14.0f %12.0f %10.1f %9.2f\n", name.c_str(), r.records_per_s,
                  r.messages_per_s, r.bytes_per_record, r.records_per_s / base);
      std::printf("  (records refused by the kernel: %llu; datagrams sent %llu, received by "
                  "the sink %llu%s)\n",
                  static_cast<unsigned long long>(r.not_sent),
                  static_cast<unsigned long long>(sent),
                  static_cast<unsigned long long>(sink.datagrams()),
                  gso && !udp->gso() ? "; GSO refused by this kernel" : "");
    }
  }
  return 0;
}

}  // namespace
}  // namespace tcflow::ipfix

int main(int argc, char** argv) {
  return tcflow::ipfix::Main(std::vector<std::string>(argv + 1, argv + argc));
}
