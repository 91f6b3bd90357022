// IPFIX over TCP when the collector is down at start, goes away mid-stream and comes back:
// templates are sent again in each new session, sequence numbers restart, and every flow
// record either reaches the collector or is counted in the reliability statistics (and
// the collector is told so in the reliability options record).
//
// The collector is a small TCP listener in this test, decoding with daemon/ipfix's decoder.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/ipfix/decoder.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/scoped_fd.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "daemon/ipfix/tcp_transport.h"
#include "daemon/ipfix/template.h"
#include "daemon/ipfix/wire.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"

namespace tcflow::ipfix {
namespace {

struct Session {
  std::vector<DecodedMessage> messages;
  std::vector<std::string> errors;
};

// Accepts connections on 127.0.0.1:port and decodes each as its own session.
class TcpCollector {
 public:
  explicit TcpCollector(uint16_t port, const char* ip = "127.0.0.1") {
    auto a = MakeSocketAddress(ip, port);
    listener_.Reset(socket(a->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    int one = 1;
    setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    EXPECT_EQ(bind(listener_.get(), a->get(), a->length), 0) << strerror(errno);
    EXPECT_EQ(listen(listener_.get(), 4), 0);
    thread_ = std::thread([this] { Loop(); });
  }
  // Goes away: reads what has arrived, then closes every socket.
  ~TcpCollector() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
  }
  std::vector<Session> sessions() {
    std::lock_guard<std::mutex> l(mu_);
    return sessions_;
  }

 private:
  struct Conn {
    ScopedFd fd;
    Decoder decoder;
    std::vector<uint8_t> buf;
    size_t index;
  };

  void Read(Conn& c) {
    uint8_t chunk[65536];
    for (;;) {
      ssize_t n = recv(c.fd.get(), chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n <= 0) {
        if (n == 0) c.fd.Reset();
        break;
      }
      c.buf.insert(c.buf.end(), chunk, chunk + n);
    }
    size_t pos = 0;
    for (;;) {
      size_t len = 0;
      absl::Span<const uint8_t> rest(c.buf.data() + pos, c.buf.size() - pos);
      absl::Status s = Decoder::MessageLength(rest, &len);
      std::lock_guard<std::mutex> l(mu_);
      if (!s.ok()) {
        sessions_[c.index].errors.push_back(std::string(s.message()));
        c.fd.Reset();
        break;
      }
      if (len == 0 || len > rest.size()) break;
      DecodedMessage m;
      s = c.decoder.Decode(rest.subspan(0, len), &m);
      if (!s.ok()) sessions_[c.index].errors.push_back(std::string(s.message()));
      for (const std::string& w : m.warnings) sessions_[c.index].errors.push_back(w);
      sessions_[c.index].messages.push_back(std::move(m));
      pos += len;
    }
    c.buf.erase(c.buf.begin(), c.buf.begin() + pos);
  }

  void Loop() {
    std::vector<std::unique_ptr<Conn>> conns;
    while (!stop_) {
      std::vector<pollfd> fds{{listener_.get(), POLLIN, 0}};
      for (auto& c : conns) fds.push_back({c->fd.get(), POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          auto c = std::make_unique<Conn>();
          c->fd.Reset(fd);
          std::lock_guard<std::mutex> l(mu_);
          c->index = sessions_.size();
          sessions_.emplace_back();
          conns.push_back(std::move(c));
        }
      }
      for (auto& c : conns) {
        if (c->fd.valid()) Read(*c);
      }
    }
    for (auto& c : conns) {
      if (c->fd.valid()) Read(*c);  // what has arrived is read before going away
    }
  }

  ScopedFd listener_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Session> sessions_;
};

struct Totals {
  uint64_t records = 0, packets = 0, octets = 0;
  void Add(const std::vector<FlowRecord>& flows) {
    for (const FlowRecord& f : flows) {
      ++records;
      packets += f.packets;
      octets += f.bytes;
    }
  }
};

// Ticks the exporter (real time) until `done` or 5 s.
template <typename F>
bool TickUntil(Exporter& e, F done) {
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    e.Tick(absl::Now());
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

TEST(IpfixTcpTest, CollectorDownAtStartGoneMidStreamAndBack) {
  uint16_t port = testsupport::FreeTcpPort();
  auto address = MakeSocketAddress("127.0.0.1", port);
  TcpOptions topt;
  topt.reconnect_min = absl::Milliseconds(20);
  topt.reconnect_max = absl::Milliseconds(100);
  auto t = TcpTransport::Create(*address, topt, absl::Now());
  ASSERT_TRUE(t.ok()) << t.status();
  TcpTransport* tcp = t->get();
  ExporterOptions options;
  options.observation_domain_id = 9;
  auto created = Exporter::Create(options, *std::move(t));
  ASSERT_TRUE(created.ok());
  Exporter& e = **created;
  e.SetInterfaces({{2, "eth0", "uplink"}});
  int64_t end_ms = absl::ToUnixMillis(absl::Now());
  auto batch = [&](int n, int base) {
    std::vector<FlowRecord> flows;
    for (int i = 0; i < n; ++i) flows.push_back(SyntheticFlow(base + i, i % 3 == 0, end_ms));
    return flows;
  };
  Totals exported, lost_while_down;

  // 1. Nobody listens: the batch cannot go anywhere, and that is counted.
  std::vector<FlowRecord> a = batch(100, 0);
  e.Export(a, absl::Now());
  exported.Add(a);
  lost_while_down.Add(a);
  absl::Time until = absl::Now() + absl::Milliseconds(300);
  TickUntil(e, [&] { return absl::Now() >= until; });  // reconnect attempts fail a while
  EXPECT_FALSE(tcp->connected());
  EXPECT_FALSE(e.stats().collector_up);
  EXPECT_EQ(e.stats().loss.records, 100u);
  EXPECT_EQ(e.stats().loss.packets, lost_while_down.packets);

  // 2. The collector comes up: the exporter connects by itself and sends.
  auto collector = std::make_unique<TcpCollector>(port);
  ASSERT_TRUE(TickUntil(e, [&] { return tcp->connected(); }));
  EXPECT_TRUE(e.stats().collector_up);
  std::vector<FlowRecord> b = batch(1000, 1000);
  e.Export(b, absl::Now());
  exported.Add(b);
  ASSERT_TRUE(TickUntil(e, [&] { return tcp->unacknowledged() == 0; }));
  absl::SleepFor(absl::Milliseconds(100));

  // 3. The collector goes away between two batches; the next batch meets a dead session.
  collector->Stop();
  std::vector<Session> first = collector->sessions();
  collector.reset();
  std::vector<FlowRecord> c = batch(1000, 2000);
  e.Export(c, absl::Now());
  exported.Add(c);
  ASSERT_TRUE(TickUntil(e, [&] { return !tcp->connected(); }));
  std::vector<FlowRecord> d = batch(300, 3000);
  e.Export(d, absl::Now());
  exported.Add(d);
  uint64_t lost_before_reconnect = e.stats().loss.records;
  EXPECT_GE(lost_before_reconnect, 100u + 300u);

  // 4. It comes back: a new session, templates first, sequence numbers from 0.
  collector = std::make_unique<TcpCollector>(port);
  ASSERT_TRUE(TickUntil(e, [&] { return tcp->connected(); }));
  std::vector<FlowRecord> f = batch(1000, 4000);
  e.Export(f, absl::Now());
  exported.Add(f);
  ASSERT_TRUE(TickUntil(e, [&] { return tcp->unacknowledged() == 0; }));
  absl::SleepFor(absl::Milliseconds(100));
  collector->Stop();
  std::vector<Session> second = collector->sessions();

  ExporterStats s = e.stats();
  uint64_t received1 = 0;
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].errors.empty());
  for (const DecodedMessage& m : first[0].messages) {
    for (const DecodedRecord& r : m.records) received1 += r.options ? 0 : 1;
  }
  EXPECT_EQ(received1, b.size());
  EXPECT_EQ(tcp->stats().connects, 2u);
  EXPECT_EQ(tcp->stats().disconnects, 1u);

  ASSERT_EQ(second.size(), 1u);
  const Session& s2 = second[0];
  EXPECT_TRUE(s2.errors.empty()) << s2.errors[0];
  ASSERT_FALSE(s2.messages.empty());
  EXPECT_FALSE(s2.messages[0].templates.empty()) << "the new session must start with templates";
  EXPECT_EQ(s2.messages[0].sequence, 0u);
  uint64_t received2 = 0, received2_packets = 0;
  bool reliability_seen = false;
  for (const DecodedMessage& m : s2.messages) {
    for (const DecodedRecord& r : m.records) {
      if (r.template_id == kReliabilityTemplateId) {
        reliability_seen = true;
        // The collector learns what was lost before this session.
        EXPECT_EQ(r.Find(166)->AsUnsigned(), lost_before_reconnect);
        EXPECT_GT(r.fields[4].AsUnsigned(), 0u);  // first loss time
      }
      if (!r.options) {
        ++received2;
        received2_packets += r.Find(2)->AsUnsigned();
      }
    }
  }
  EXPECT_TRUE(reliability_seen);
  uint64_t f_packets = 0;
  for (const FlowRecord& x : f) f_packets += x.packets;
  EXPECT_EQ(received2, f.size());
  EXPECT_EQ(received2_packets, f_packets);

  // Nothing silently lost: every record reached a collector or is counted as not sent.
  EXPECT_EQ(received1 + received2 + s.loss.records, exported.records)
      << "received " << received1 << " + " << received2 << ", lost " << s.loss.records;
  EXPECT_EQ(s.loss.records, a.size() + c.size() + d.size());
  EXPECT_EQ(s.loss.records, lost_before_reconnect);
}

// One whole session to an IPv4 and to an IPv6 collector: templates once, sequence numbers
// counting every data record, every record delivered.
TEST(IpfixTcpTest, SessionDeliversEverythingIpv4AndIpv6) {
  for (const char* ip : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(ip);
    uint16_t port = testsupport::FreeTcpPort();
    TcpCollector collector(port, ip);
    auto address = MakeSocketAddress(ip, port);
    auto t = TcpTransport::Create(*address, TcpOptions(), absl::Now());
    ASSERT_TRUE(t.ok());
    TcpTransport* tcp = t->get();
    auto e = Exporter::Create(ExporterOptions(), *std::move(t));
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE(TickUntil(**e, [&] { return tcp->connected(); }));
    std::vector<FlowRecord> flows =
        SyntheticFlows(20000, 0.5, absl::ToUnixMillis(absl::Now()));
    for (size_t i = 0; i < flows.size(); i += 1000) {
      (*e)->Export(absl::MakeConstSpan(flows).subspan(i, 1000), absl::Now());
    }
    ASSERT_TRUE(TickUntil(**e, [&] { return tcp->unacknowledged() == 0; }));
    absl::SleepFor(absl::Milliseconds(200));
    collector.Stop();
    std::vector<Session> sessions = collector.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_TRUE(sessions[0].errors.empty());
    uint64_t records = 0;
    uint32_t expected_seq = 0;
    for (const DecodedMessage& m : sessions[0].messages) {
      EXPECT_EQ(m.sequence, expected_seq);
      expected_seq += m.records.size();
      for (const DecodedRecord& r : m.records) records += r.options ? 0 : 1;
    }
    EXPECT_EQ(records, flows.size());
    EXPECT_EQ((*e)->stats().loss.records, 0u);
    EXPECT_EQ((*e)->stats().template_sends, 1u);
  }
}

// A collector that accepts and never reads: the socket buffers and then the bounded queue
// fill up; the exporter never blocks, and what does not fit is counted.
TEST(IpfixTcpTest, FullQueueNeverBlocksAndIsCounted) {
  uint16_t port = testsupport::FreeTcpPort();
  auto address = MakeSocketAddress("127.0.0.1", port);
  ScopedFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(bind(listener.get(), address->get(), address->length), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  TcpOptions topt;
  topt.queue_bytes = 64 << 10;
  auto t = TcpTransport::Create(*address, topt, absl::Now());
  ASSERT_TRUE(t.ok());
  TcpTransport* tcp = t->get();
  auto e = Exporter::Create(ExporterOptions(), *std::move(t));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(TickUntil(**e, [&] { return tcp->connected(); }));
  ScopedFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));  // never read
  std::vector<FlowRecord> flows = SyntheticFlows(10000, 0.5, absl::ToUnixMillis(absl::Now()));
  absl::Time start = absl::Now();
  uint64_t exported = 0;
  for (int i = 0; i < 100; ++i) {
    (*e)->Export(flows, absl::Now());
    exported += flows.size();
  }
  absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Seconds(5)) << "the exporter blocked";
  ExporterStats s = (*e)->stats();
  EXPECT_GT(s.loss.records, 0u);
  EXPECT_EQ(s.flow_records + s.loss.records, exported);
  EXPECT_TRUE(tcp->connected());
  // Queued but unread: not lost yet, and not acknowledged either.
  EXPECT_GT(tcp->unacknowledged(), 0u);
}

// A collector that is slow (does not read while the exporter writes a lot) and then goes
// away: what the transport never wrote cannot have reached it, so it is held and sent in
// the next session (after its templates), never counted lost. Exact in the end.
TEST(IpfixTcpTest, UnwrittenMessagesOfABrokenSessionGoToTheNextOne) {
  uint16_t port = testsupport::FreeTcpPort();
  auto address = MakeSocketAddress("127.0.0.1", port);
  ScopedFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  ASSERT_EQ(bind(listener.get(), address->get(), address->length), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);
  TcpOptions topt;
  topt.reconnect_min = absl::Milliseconds(20);
  topt.reconnect_max = absl::Milliseconds(100);
  auto t = TcpTransport::Create(*address, topt, absl::Now());
  ASSERT_TRUE(t.ok());
  TcpTransport* tcp = t->get();
  ExporterOptions options;
  options.hold_bytes = 64 << 20;  // everything fits: nothing is dropped for lack of room
  auto e = Exporter::Create(options, *std::move(t));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(TickUntil(**e, [&] { return tcp->connected(); }));
  const uint64_t kRecords = 300000;
  uint64_t first_received = 0, held_before = 0;
  {
    ScopedFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    listener.Reset();
    std::vector<FlowRecord> flows = SyntheticFlows(10000, 0.5, absl::ToUnixMillis(absl::Now()));
    for (uint64_t i = 0; i < kRecords / flows.size(); ++i) (*e)->Export(flows, absl::Now());
    ExporterStats s = (*e)->stats();
    EXPECT_GT(s.held_records, 0u) << "the socket and the transport's queue filled up";
    EXPECT_EQ(s.loss.records, 0u);
    held_before = s.held_records;
    // The collector now reads what its kernel has (the exporter's kernel sends the rest of
    // its socket buffer meanwhile; the exporter itself is not called), then goes away.
    Decoder decoder;
    std::vector<uint8_t> buf;
    uint8_t chunk[65536];
    absl::Time quiet_since = absl::Now();
    while (absl::Now() - quiet_since < absl::Milliseconds(300)) {
      ssize_t n = recv(accepted.get(), chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n <= 0) {
        absl::SleepFor(absl::Milliseconds(5));
        continue;
      }
      quiet_since = absl::Now();
      buf.insert(buf.end(), chunk, chunk + n);
    }
    size_t pos = 0;
    for (;;) {
      size_t len = 0;
      absl::Span<const uint8_t> rest(buf.data() + pos, buf.size() - pos);
      ASSERT_TRUE(Decoder::MessageLength(rest, &len).ok());
      if (len == 0 || len > rest.size()) break;
      DecodedMessage m;
      ASSERT_TRUE(decoder.Decode(rest.subspan(0, len), &m).ok());
      for (const DecodedRecord& r : m.records) first_received += r.options ? 0 : 1;
      pos += len;
    }
    // A message cut by the close (written in part) is lost with its session, and counted.
  }
  ASSERT_TRUE(TickUntil(**e, [&] { return !tcp->connected(); }));
  ExporterStats broken = (*e)->stats();
  // The transport's queue (never written) went back to the hold. Only what its kernel had
  // taken and not delivered when the collector closed (if any) is counted as not sent.
  EXPECT_GT(broken.held_records, held_before + 10000) << "the unwritten queue came back";
  EXPECT_LT(broken.loss.records, 2000u);
  EXPECT_EQ(first_received + broken.held_records + broken.loss.records, kRecords);

  TcpCollector collector(port);
  ASSERT_TRUE(TickUntil(**e, [&] { return tcp->connected(); }));
  ASSERT_TRUE(TickUntil(**e, [&] {
    return (*e)->stats().held_records == 0 && tcp->unacknowledged() == 0;
  }));
  absl::SleepFor(absl::Milliseconds(200));
  collector.Stop();
  std::vector<Session> sessions = collector.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(sessions[0].errors.empty()) << sessions[0].errors[0];
  uint64_t received = 0;
  for (const DecodedMessage& m : sessions[0].messages) {
    for (const DecodedRecord& r : m.records) received += r.options ? 0 : 1;
  }
  ExporterStats s = (*e)->stats();
  EXPECT_EQ(received, broken.held_records) << "every held record, once";
  EXPECT_EQ(first_received + received + s.loss.records, kRecords);
  EXPECT_EQ(s.loss.records, broken.loss.records);
}

// The same reconnect seen by a decoder we did not write: tshark on a capture of the
// loopback TCP streams decodes both sessions (templates in each) with no malformed packet
// or expert warning, and finds every record the collectors received.
TEST(IpfixTcpTest, TsharkDecodesBothSessions) {
  uint16_t port = testsupport::FreeTcpPort();
  testsupport::TempDir dir("tcp_tshark");
  std::string pcap = dir.path() + "/tcp.pcap";
  testsupport::Collector dumpcap(
      {"dumpcap", "-q", "-i", "lo", "-f", absl::StrCat("tcp port ", port), "-w", pcap},
      dir.path() + "/dumpcap.log");
  // dumpcap creates the file once it captures.
  for (int i = 0; i < 200 && access(pcap.c_str(), F_OK) != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(25));
  }
  ASSERT_EQ(access(pcap.c_str(), F_OK), 0) << dumpcap.Log();
  absl::SleepFor(absl::Milliseconds(300));

  auto address = MakeSocketAddress("127.0.0.1", port);
  TcpOptions topt;
  topt.reconnect_min = absl::Milliseconds(20);
  topt.reconnect_max = absl::Milliseconds(100);
  auto t = TcpTransport::Create(*address, topt, absl::Now());
  ASSERT_TRUE(t.ok());
  TcpTransport* tcp = t->get();
  auto e = Exporter::Create(ExporterOptions(), *std::move(t));
  ASSERT_TRUE(e.ok());
  int64_t end_ms = absl::ToUnixMillis(absl::Now());
  uint64_t received = 0;
  for (int session = 0; session < 2; ++session) {
    TcpCollector collector(port);
    ASSERT_TRUE(TickUntil(**e, [&] { return tcp->connected(); }));
    std::vector<FlowRecord> flows;
    for (int i = 0; i < 500; ++i) flows.push_back(SyntheticFlow(session * 500 + i, i % 2, end_ms));
    (*e)->Export(flows, absl::Now());
    ASSERT_TRUE(TickUntil(**e, [&] { return tcp->unacknowledged() == 0; }));
    absl::SleepFor(absl::Milliseconds(100));
    collector.Stop();
    for (const Session& s : collector.sessions()) {
      for (const DecodedMessage& m : s.messages) {
        for (const DecodedRecord& r : m.records) received += r.options ? 0 : 1;
      }
    }
    ASSERT_TRUE(TickUntil(**e, [&] { return !tcp->connected(); }));
  }
  EXPECT_EQ(received, 1000u);
  absl::SleepFor(absl::Milliseconds(300));
  dumpcap.Stop();

  std::string decode_as = absl::StrCat("-d tcp.port==", port, ",cflow");
  std::string expert = testsupport::RunCommand(
      absl::StrCat("tshark -n -r ", pcap, " ", decode_as, " -q -z expert,warn 2>&1"));
  EXPECT_EQ(expert.find("Errors"), std::string::npos) << expert;
  // TCP itself warns of the RSTs that refuse reconnects while no collector listens; IPFIX
  // (CFLOW) must have nothing to say.
  EXPECT_EQ(expert.find("CFLOW"), std::string::npos) << expert;
  std::string fields = testsupport::RunCommand(absl::StrCat(
      "tshark -n -r ", pcap, " ", decode_as,
      " -Y cflow -T fields -E occurrence=a -E aggregator=';' -e cflow.template_id "
      "-e cflow.srcaddr -e cflow.srcaddrv6"));
  int templates_256 = 0;
  uint64_t records = 0;
  for (absl::string_view line : absl::StrSplit(fields, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    ASSERT_EQ(cols.size(), 3u) << line;
    for (absl::string_view id : absl::StrSplit(cols[0], ';', absl::SkipEmpty())) {
      templates_256 += id == "256";
    }
    for (int c = 1; c <= 2; ++c) {
      for (absl::string_view a : absl::StrSplit(cols[c], ';', absl::SkipEmpty())) {
        (void)a;
        ++records;
      }
    }
  }
  EXPECT_EQ(templates_256, 2) << "one template per session";
  EXPECT_EQ(records, received);
}

}  // namespace
}  // namespace tcflow::ipfix
