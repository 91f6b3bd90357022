#include "daemon/ipfix/exporter.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "daemon/ipfix/decoder.h"
#include "daemon/ipfix/memory_transport.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "daemon/ipfix/wire.h"
#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

struct Harness {
  MemoryTransport* transport;
  std::unique_ptr<Exporter> exporter;
};

Harness Make(size_t max_message, bool datagram = true, ExporterOptions options = {}) {
  auto t = std::make_unique<MemoryTransport>(max_message, datagram);
  MemoryTransport* raw = t.get();
  auto e = Exporter::Create(options, std::move(t));
  EXPECT_TRUE(e.ok()) << e.status();
  return {raw, *std::move(e)};
}

// Decodes every message; fails the test on any error or warning.
std::vector<DecodedMessage> DecodeAll(const std::vector<std::vector<uint8_t>>& messages) {
  Decoder decoder;
  std::vector<DecodedMessage> out;
  for (const auto& m : messages) {
    DecodedMessage d;
    absl::Status s = decoder.Decode(m, &d);
    EXPECT_TRUE(s.ok()) << s;
    for (const std::string& w : d.warnings) ADD_FAILURE() << w;
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<const DecodedRecord*> FlowRecords(const std::vector<DecodedMessage>& msgs) {
  std::vector<const DecodedRecord*> out;
  for (const DecodedMessage& m : msgs) {
    for (const DecodedRecord& r : m.records) {
      if (!r.options) out.push_back(&r);
    }
  }
  return out;
}

// The order the exporter sends a batch in: its IPv4 records, then its IPv6 records.
std::vector<FlowRecord> ExportOrder(std::vector<FlowRecord> flows) {
  std::stable_sort(flows.begin(), flows.end(), [](const FlowRecord& a, const FlowRecord& b) {
    return !a.is_ipv6() && b.is_ipv6();
  });
  return flows;
}

void ExpectSameFlow(const DecodedRecord& got, const FlowRecord& want) {
  for (const DecodedField& f : got.fields) {
    ASSERT_NE(f.ie, nullptr);
    EXPECT_EQ(f.ValueText(), ExpectedValueText(want, *f.ie)) << f.ie->name;
  }
}

// MTU in, every message within it, no record split, every record back with equal fields.
TEST(ExporterTest, MessagesFitTheMtuAndRecordsRoundTrip) {
  struct Case {
    size_t max_message;
    double ipv6_share;
    size_t count;
  };
  const Case cases[] = {
      {1472, 0.0, 1000}, {1472, 1.0, 1000}, {1452, 0.5, 1000},
      {548, 0.3, 333},   {8972, 0.5, 5000}, {1472, 0.5, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "max " << c.max_message << " v6 " << c.ipv6_share);
    Harness h = Make(c.max_message);
    std::vector<FlowRecord> flows = SyntheticFlows(c.count, c.ipv6_share, 1700000000000);
    h.exporter->Export(flows, kT0);
    flows = ExportOrder(flows);
    size_t fixed_record_messages = 0;
    for (const auto& m : h.transport->messages()) {
      EXPECT_LE(m.size(), c.max_message);
      // A data message is full: the next record would not have fitted (90 bytes max).
      if (&m != &h.transport->messages().back() && m.size() + 90 + 4 <= c.max_message) {
        ++fixed_record_messages;
      }
    }
    // Only the template/options messages and the last data message may be short.
    EXPECT_LE(fixed_record_messages, 2u);
    std::vector<DecodedMessage> decoded = DecodeAll(h.transport->messages());
    std::vector<const DecodedRecord*> records = FlowRecords(decoded);
    ASSERT_EQ(records.size(), flows.size());
    for (size_t i = 0; i < flows.size(); ++i) {
      EXPECT_EQ(records[i]->template_id,
                flows[i].is_ipv6() ? kIpv6TemplateId : kIpv4TemplateId);
      ExpectSameFlow(*records[i], flows[i]);
    }
    ExporterStats s = h.exporter->stats();
    EXPECT_EQ(s.flow_records, flows.size());
    EXPECT_EQ(s.loss.records, 0u);
  }
}

// Every element a flow can fill, both families.
TEST(ExporterTest, EveryElementRoundTrips) {
  ExporterOptions options;
  options.ipv4_elements = AllFlowElementNames();
  options.ipv6_elements = AllFlowElementNames();
  Harness h = Make(1472, true, options);
  std::vector<FlowRecord> flows = SyntheticFlows(200, 0.5, 1700000000000);
  h.exporter->Export(flows, kT0);
  flows = ExportOrder(flows);
  std::vector<DecodedMessage> decoded = DecodeAll(h.transport->messages());
  std::vector<const DecodedRecord*> records = FlowRecords(decoded);
  ASSERT_EQ(records.size(), flows.size());
  for (size_t i = 0; i < flows.size(); ++i) ExpectSameFlow(*records[i], flows[i]);
  EXPECT_EQ(records[0]->fields.size(), h.exporter->ipv4_template().fields.size());
}

// RFC 7011: the sequence number counts the data records (flow and options) sent before.
TEST(ExporterTest, SequenceNumbersCountDataRecords) {
  Harness h = Make(1472);
  h.exporter->SetInterfaces({{2, "eth0", "uplink"}, {3, "eth1", ""}});
  for (int batch = 0; batch < 5; ++batch) {
    h.exporter->Export(SyntheticFlows(97 * batch + 3, 0.4, 1700000000000),
                       kT0 + absl::Seconds(batch * 40));
  }
  std::vector<DecodedMessage> decoded = DecodeAll(h.transport->messages());
  uint32_t expected = 0;
  for (const DecodedMessage& m : decoded) {
    EXPECT_EQ(m.sequence, expected);
    EXPECT_EQ(m.domain, 1u);
    expected += m.records.size();
  }
  EXPECT_EQ(h.exporter->sequence(), expected);
}

// Data messages carry header fields as RFC 7011 wants them: exact bytes.
TEST(ExporterTest, DataMessageExactHeader) {
  ExporterOptions options;
  options.observation_domain_id = 0x01020304;
  options.options_records = false;
  Harness h = Make(1472, true, options);
  auto flows = ParseFlowText("10.0.0.1 10.0.0.2 udp 1 2 3 4", 1700000000000);
  ASSERT_TRUE(flows.ok());
  h.exporter->Export(*flows, kT0);
  ASSERT_EQ(h.transport->messages().size(), 2u);  // templates, then data
  const auto& data = h.transport->messages()[1];
  ASSERT_EQ(data.size(), 16u + 4 + 66);
  std::string hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data.data()), 20));
  // version 10, length 86, export time 1700000000, sequence 0, domain, set 256 length 70.
  EXPECT_EQ(hex, "000a0056" "6553f100" "00000000" "01020304" "01000046");
  const auto& tmpl = h.transport->messages()[0];
  // Only the template set: id 2, 2 templates of 20 fields each.
  EXPECT_EQ(tmpl.size(), 16u + 4 + 2 * (4 + 20 * 4));
  EXPECT_EQ(Get16(tmpl.data() + 16), kTemplateSetId);
}

int CountTemplateMessages(const std::vector<std::vector<uint8_t>>& msgs, size_t from) {
  int n = 0;
  for (size_t i = from; i < msgs.size(); ++i) {
    if (Get16(msgs[i].data() + 16) == kTemplateSetId) ++n;
  }
  return n;
}

// UDP: templates (and options) go out first, then again once the refresh interval has
// passed, never in between; the clock is the test's.
TEST(ExporterTest, TemplateRefreshByTime) {
  ExporterOptions options;
  options.template_refresh = absl::Seconds(30);
  Harness h = Make(1472, true, options);
  auto& msgs = h.transport->messages();
  std::vector<FlowRecord> flows = SyntheticFlows(10, 0.5, 1700000000000);
  struct Step {
    absl::Duration at;
    bool tick_only;
    int templates;
  };
  const Step steps[] = {
      {absl::Seconds(0), false, 1},   {absl::Seconds(10), false, 0},
      {absl::Seconds(29), true, 0},   {absl::Seconds(30), false, 1},
      {absl::Seconds(45), true, 0},   {absl::Seconds(59), false, 0},
      {absl::Seconds(60), true, 1},   {absl::Seconds(61), false, 0},
  };
  for (const Step& s : steps) {
    size_t before = msgs.size();
    if (s.tick_only) {
      h.exporter->Tick(kT0 + s.at);
    } else {
      h.exporter->Export(flows, kT0 + s.at);
    }
    EXPECT_EQ(CountTemplateMessages(msgs, before), s.templates)
        << "at " << absl::FormatDuration(s.at);
  }
  // Each template send is followed by the options records.
  DecodeAll(msgs);
  EXPECT_EQ(h.exporter->stats().template_sends, 3u);
}

// TCP-like transport: templates once per session, never by time; a new session gets them
// again and restarts the sequence numbers.
TEST(ExporterTest, StreamTemplatesOncePerSession) {
  Harness h = Make(1460, false);
  auto& msgs = h.transport->messages();
  std::vector<FlowRecord> flows = SyntheticFlows(50, 0.5, 1700000000000);
  h.exporter->Export(flows, kT0);
  h.exporter->Export(flows, kT0 + absl::Hours(2));
  EXPECT_EQ(CountTemplateMessages(msgs, 0), 1);
  EXPECT_GT(h.exporter->sequence(), 100u);

  // Collector gone: nothing can be sent, and all of it is counted.
  h.transport->set_session(0);
  size_t before = msgs.size();
  h.exporter->Export(flows, kT0 + absl::Hours(3));
  EXPECT_EQ(msgs.size(), before);
  ExporterStats s = h.exporter->stats();
  EXPECT_EQ(s.loss.records, flows.size());
  uint64_t packets = 0, octets = 0;
  for (const FlowRecord& f : flows) {
    packets += f.packets;
    octets += f.bytes;
  }
  EXPECT_EQ(s.loss.packets, packets);
  EXPECT_EQ(s.loss.octets, octets);
  EXPECT_EQ(s.loss.first_loss_ms, absl::ToUnixMillis(kT0 + absl::Hours(3)));

  // A new session: templates first, sequence from 0, and the reliability record tells the
  // collector what was lost.
  h.transport->set_session(2);
  before = msgs.size();
  h.exporter->Export(flows, kT0 + absl::Hours(4));
  EXPECT_EQ(CountTemplateMessages(msgs, before), 1);
  std::vector<std::vector<uint8_t>> session2(msgs.begin() + before, msgs.end());
  std::vector<DecodedMessage> decoded = DecodeAll(session2);
  EXPECT_EQ(decoded[0].sequence, 0u);
  bool found = false;
  for (const DecodedMessage& m : decoded) {
    for (const DecodedRecord& r : m.records) {
      if (r.template_id != kReliabilityTemplateId) continue;
      found = true;
      EXPECT_EQ(r.Find(166)->AsUnsigned(), flows.size());
      EXPECT_EQ(r.Find(167)->AsUnsigned(), packets);
      EXPECT_EQ(r.Find(168)->AsUnsigned(), octets);
      EXPECT_EQ(r.fields[4].AsUnsigned(), absl::ToUnixMillis(kT0 + absl::Hours(3)));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(FlowRecords(decoded).size(), flows.size());
}

// TCP collector away (restarting): with a hold, data waits and goes out after the next
// session's templates, with that session's sequence numbers; nothing is lost or doubled.
TEST(ExporterTest, HeldWhileNoSessionThenSentAfterTemplates) {
  ExporterOptions options;
  options.hold_bytes = 1 << 20;
  Harness h = Make(1460, false, options);
  auto& msgs = h.transport->messages();
  std::vector<FlowRecord> a = SyntheticFlows(40, 0.5, 1700000000000);
  h.exporter->Export(a, kT0);
  h.transport->set_session(0);
  std::vector<FlowRecord> b = SyntheticFlows(300, 0.5, 1700000100000);
  std::vector<FlowRecord> c = SyntheticFlows(200, 0.5, 1700000200000);
  size_t before = msgs.size();
  h.exporter->Export(b, kT0 + absl::Seconds(1));
  h.exporter->Tick(kT0 + absl::Seconds(2));
  h.exporter->Export(c, kT0 + absl::Seconds(3));
  EXPECT_EQ(msgs.size(), before);
  ExporterStats s = h.exporter->stats();
  EXPECT_EQ(s.loss.records, 0u);
  EXPECT_EQ(s.held_records, b.size() + c.size());
  EXPECT_EQ(s.flow_records, a.size());
  uint64_t packets = 0;
  for (const auto* v : {&b, &c}) {
    for (const FlowRecord& f : *v) packets += f.packets;
  }
  EXPECT_EQ(s.held_packets, packets);

  h.transport->set_session(2);
  h.exporter->Tick(kT0 + absl::Seconds(4));
  std::vector<std::vector<uint8_t>> session2(msgs.begin() + before, msgs.end());
  ASSERT_FALSE(session2.empty());
  EXPECT_EQ(Get16(session2[0].data() + 16), kTemplateSetId) << "templates first";
  std::vector<DecodedMessage> decoded = DecodeAll(session2);  // no warnings: no seq gap
  uint32_t seq = 0;
  for (const DecodedMessage& m : decoded) {
    EXPECT_EQ(m.sequence, seq);
    seq += m.records.size();
  }
  std::vector<const DecodedRecord*> got = FlowRecords(decoded);
  std::vector<FlowRecord> want = ExportOrder(b);
  for (const FlowRecord& f : ExportOrder(c)) want.push_back(f);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ExpectSameFlow(*got[i], want[i]);
  s = h.exporter->stats();
  EXPECT_EQ(s.held_records, 0u);
  EXPECT_EQ(s.flow_records, a.size() + b.size() + c.size());
  EXPECT_EQ(s.loss.records, 0u);
  EXPECT_EQ(h.exporter->sequence(), seq);
}

// Beyond the hold's bound, records are counted as not sent; sent + not sent = given.
TEST(ExporterTest, HoldOverflowIsCountedExactly) {
  ExporterOptions options;
  options.hold_bytes = 20000;  // about 13 full messages
  Harness h = Make(1460, false, options);
  h.transport->set_session(0);
  std::vector<FlowRecord> flows = SyntheticFlows(2000, 0.5, 1700000000000);
  uint64_t packets = 0;
  for (const FlowRecord& f : flows) packets += f.packets;
  h.exporter->Export(flows, kT0);
  ExporterStats s = h.exporter->stats();
  EXPECT_GT(s.loss.records, 0u);
  EXPECT_GT(s.held_records, 0u);
  EXPECT_LE(s.held_message_bytes, 20000u);
  EXPECT_GT(s.held_message_bytes, 20000u - 1460);
  EXPECT_EQ(s.held_records + s.loss.records, flows.size());
  EXPECT_EQ(s.held_packets + s.loss.packets, packets);
  h.transport->set_session(1);
  h.transport->messages().clear();
  h.exporter->Tick(kT0 + absl::Seconds(1));
  std::vector<DecodedMessage> decoded = DecodeAll(h.transport->messages());
  s = h.exporter->stats();
  EXPECT_EQ(FlowRecords(decoded).size(), s.flow_records);
  EXPECT_EQ(s.flow_records + s.loss.records, flows.size());
  EXPECT_EQ(s.held_records, 0u);
}

// Shutdown with the collector still away: what is held is counted as not sent.
TEST(ExporterTest, DropHeldCountsTheHeldAsNotSent) {
  ExporterOptions options;
  options.hold_bytes = 1 << 20;
  Harness h = Make(1460, false, options);
  h.transport->set_session(0);
  std::vector<FlowRecord> flows = SyntheticFlows(500, 0.5, 1700000000000);
  h.exporter->Export(flows, kT0);
  EXPECT_EQ(h.exporter->stats().held_records, flows.size());
  h.exporter->DropHeld(kT0 + absl::Seconds(1));
  ExporterStats s = h.exporter->stats();
  EXPECT_EQ(s.held_records, 0u);
  EXPECT_EQ(s.loss.records, flows.size());
  h.transport->set_session(1);
  h.exporter->Tick(kT0 + absl::Seconds(2));
  EXPECT_EQ(FlowRecords(DecodeAll(h.transport->messages())).size(), 0u);
}

// A full transport queue while connected: the batch waits in the hold, in order, and goes
// out when the transport takes messages again.
TEST(ExporterTest, RefusedWhileConnectedIsHeldInOrder) {
  ExporterOptions options;
  options.hold_bytes = 1 << 20;
  Harness h = Make(1460, false, options);
  auto& msgs = h.transport->messages();
  std::vector<FlowRecord> a = SyntheticFlows(30, 0, 1700000000000);
  h.exporter->Export(a, kT0);
  h.transport->set_refuse(true);
  std::vector<FlowRecord> b = SyntheticFlows(100, 0, 1700000100000);
  h.exporter->Export(b, kT0);
  EXPECT_EQ(h.exporter->stats().held_records, b.size());
  h.transport->set_refuse(false);
  std::vector<FlowRecord> c = SyntheticFlows(50, 0, 1700000200000);
  h.exporter->Export(c, kT0);
  std::vector<DecodedMessage> decoded = DecodeAll(msgs);
  std::vector<const DecodedRecord*> got = FlowRecords(decoded);
  std::vector<FlowRecord> want = a;
  want.insert(want.end(), b.begin(), b.end());
  want.insert(want.end(), c.begin(), c.end());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ExpectSameFlow(*got[i], want[i]);
  EXPECT_EQ(h.exporter->stats().loss.records, 0u);
}

TEST(ExporterTest, RefusedMessagesAreCounted) {
  Harness h = Make(1472, false);
  h.exporter->Export(SyntheticFlows(10, 0, 1700000000000), kT0);
  uint32_t seq = h.exporter->sequence();
  h.transport->set_refuse(true);
  h.exporter->Export(SyntheticFlows(100, 0, 1700000000000), kT0);
  EXPECT_EQ(h.exporter->stats().loss.records, 100u);
  EXPECT_EQ(h.exporter->sequence(), seq);  // refused records were not sent
}

// Lost options records are not flows: notSentFlowTotalCount counts flow records only.
TEST(ExporterTest, LostOptionsRecordsAreNotCountedAsFlows) {
  Harness h = Make(1472, false);
  h.exporter->SetInterfaces({{2, "eth0", ""}});
  h.exporter->Export(SyntheticFlows(5, 0, 1700000000000), kT0);
  h.transport->set_session(2);  // a new session: templates and options again...
  h.transport->set_refuse(true);  // ...which cannot go out
  h.exporter->Tick(kT0);
  ExporterStats s = h.exporter->stats();
  EXPECT_EQ(s.loss.messages, 1u);  // the template message; options are not tried without it
  EXPECT_EQ(s.loss.records, 0u);
  h.exporter->Export(SyntheticFlows(7, 0.5, 1700000000000), kT0);
  EXPECT_EQ(h.exporter->stats().loss.records, 7u);
}

TEST(ExporterTest, OptionsRecords) {
  Harness h = Make(1472);
  std::string long_description(300, 'd');
  h.exporter->SetInterfaces({{2, "eth0", "uplink to isp"}, {3, "eth1.100", long_description}});
  MeteringStats m;
  m.packets_observed = 123456;
  m.octets_observed = 987654321;
  m.flows_observed = 42;
  m.packets_ignored = 7;
  h.exporter->SetMeteringStats(m);
  h.exporter->Export({}, kT0);
  std::vector<DecodedMessage> decoded = DecodeAll(h.transport->messages());
  std::vector<const DecodedRecord*> itf, metering;
  for (const DecodedMessage& d : decoded) {
    for (const DecodedRecord& r : d.records) {
      if (r.template_id == kInterfaceTemplateId) itf.push_back(&r);
      if (r.template_id == kMeteringTemplateId) metering.push_back(&r);
    }
  }
  ASSERT_EQ(itf.size(), 2u);
  EXPECT_EQ(itf[0]->Find(10)->AsUnsigned(), 2u);
  EXPECT_EQ(itf[0]->Find(82)->ValueText(), "eth0");
  EXPECT_EQ(itf[0]->Find(83)->ValueText(), "uplink to isp");
  EXPECT_EQ(itf[1]->Find(82)->ValueText(), "eth1.100");
  EXPECT_EQ(itf[1]->Find(83)->ValueText(), std::string(200, 'd'));  // cut to 200
  ASSERT_EQ(metering.size(), 1u);
  EXPECT_EQ(metering[0]->Find(149)->AsUnsigned(), 1u);
  EXPECT_EQ(metering[0]->Find(86)->AsUnsigned(), 123456u);
  EXPECT_EQ(metering[0]->Find(85)->AsUnsigned(), 987654321u);
  EXPECT_EQ(metering[0]->Find(163)->AsUnsigned(), 42u);
  EXPECT_EQ(metering[0]->Find(164)->AsUnsigned(), 7u);
}

TEST(ExporterTest, RejectsBadTemplatesAndTinyMtu) {
  ExporterOptions options;
  options.ipv4_elements = {"octetDeltaCount", "nope"};
  auto e = Exporter::Create(options, std::make_unique<MemoryTransport>(1472));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "unknown information element \"nope\"");
  e = Exporter::Create({}, std::make_unique<MemoryTransport>(200));
  EXPECT_FALSE(e.ok());
}

}  // namespace
}  // namespace tcflow::ipfix
