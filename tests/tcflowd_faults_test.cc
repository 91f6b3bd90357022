// tcflowd under faults, with exact totals afterwards, on the namespace router: SIGTERM in
// the middle of traffic (detaching: everything the programs counted is exported; staying
// attached for an upgrade: the next tcflowd takes over and the flow's totals are exact),
// SIGKILL in the middle of traffic and a restart (pinned tables, the filters left behind
// and the crash state: exact totals; also from an older version's crash journal), a bad config on SIGHUP (reported with
// FILE:LINE:COLUMN, the daemon keeps exporting), a good one that drops an interface while
// traffic crosses the one that stays (no packet lost there), and a link added while running
// (metered within a second; removing it leaves no errors).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/cache/cache_state.h"
#include "daemon/control/json.h"
#include "daemon/tcflowd/journal.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"
#include "tests/tcflowd_test_support.h"

namespace tcflow::testing {
namespace {

class TcflowdFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto router = Router::Create("tff");
    ASSERT_TRUE(router.ok()) << router.status();
    r_ = std::move(*router);
    dir_ = std::make_unique<testsupport::TempDir>("tcflowd_faults");
    pins_ = absl::StrCat("/sys/fs/bpf/tcflowd_flt_", getpid(), "_", ++counter_);
    RemovePins(pins_);
    int n = 0;
    ASSERT_TRUE(Echo(*r_.h1, "10.61.2.1", 1, 8, &n).ok());  // neighbours resolved
    auto sink = IpfixSink::Start(*r_.rt);
    ASSERT_TRUE(sink.ok());
    sink_ = std::move(*sink);
    cfg_.dir = dir_->path();
    cfg_.pin_path = pins_;
    cfg_.udp_collectors = {sink_->port()};
    cfg_.idle_timeout_s = 1;
  }
  void TearDown() override { RemovePins(pins_); }  // and the daemon's run directory

  // A steady UDP stream h1 -> h2 on its own thread: `count` datagrams of 200 bytes.
  std::thread Flood(uint16_t sport, int count, int* received, absl::Status* status) {
    return std::thread([=] {
      auto w = UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", sport, 7000, count, 200, received,
                        absl::Microseconds(400));
      *status = w.status();
    });
  }
  FlowId Leg(uint16_t sport, bool first_leg) const {
    return FlowId{4, 17, "10.61.1.1", "10.61.2.1", sport, 7000,
                  static_cast<uint32_t>(first_leg ? r_.r1 : r_.r2), first_leg ? 0 : 1};
  }
  // Waits until both legs of the flood flow show `count` packets, then a little longer so
  // anything counted twice would show too.
  void ExpectExact(uint16_t sport, int count) {
    sink_->WaitFor(
        [&](const auto& f) {
          auto a = f.find(Leg(sport, true)), b = f.find(Leg(sport, false));
          return a != f.end() && b != f.end() && a->second.packets >= uint64_t(count) &&
                 b->second.packets >= uint64_t(count);
        },
        absl::Seconds(10));
    absl::SleepFor(absl::Milliseconds(400));
    auto flows = sink_->Flows();
    for (bool first : {true, false}) {
      EXPECT_EQ(flows[Leg(sport, first)].packets, uint64_t(count)) << Leg(sport, first).ToString();
      EXPECT_EQ(flows[Leg(sport, first)].bytes, uint64_t(count) * 228) << Leg(sport, first).ToString();
    }
  }

  static int counter_;
  Router r_;
  std::unique_ptr<testsupport::TempDir> dir_;
  std::string pins_;
  std::unique_ptr<IpfixSink> sink_;
  DaemonConfig cfg_;
};
int TcflowdFaultsTest::counter_ = 0;

TEST_F(TcflowdFaultsTest, SigtermMidTrafficDetachesAndExportsEverythingCounted) {
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  int received = 0;
  absl::Status flood_status;
  std::thread flood = Flood(41001, 3000, &received, &flood_status);
  absl::SleepFor(absl::Milliseconds(400));
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0) << (*daemon)->process().Log();
  flood.join();
  ASSERT_TRUE(flood_status.ok()) << flood_status;
  EXPECT_EQ(received, 3000);
  auto filters = TcflowFilters(*r_.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_TRUE(filters->empty());
  absl::SleepFor(absl::Milliseconds(300));
  auto totals = ReadKernelTotals(pins_);
  ASSERT_TRUE(totals.ok()) << totals.status();
  uint64_t exported = 0;
  for (const auto& [id, sum] : sink_->Flows()) exported += sum.packets;
  EXPECT_EQ(exported, totals->packets - totals->not_ip - totals->parse_errors - totals->overflow_lost);
  auto flows = sink_->Flows();
  const uint64_t first = flows[Leg(41001, true)].packets;
  EXPECT_GT(first, 0u);
  EXPECT_LT(first, 3000u) << "the stream went on after the detach";
  EXPECT_EQ(flows[Leg(41001, true)].end_reasons[4], flows[Leg(41001, true)].records)
      << "shutdown ends flows with forced end";
}

TEST_F(TcflowdFaultsTest, SigtermStayingAttachedThenTakeOverIsExact) {
  cfg_.extra = "attach { stay_attached_on_exit: true }";
  auto a = Daemon::Start(*r_.rt, cfg_, 2, "a.log");
  ASSERT_TRUE(a.ok()) << a.status();
  int received = 0;
  absl::Status flood_status;
  std::thread flood = Flood(41002, 3000, &received, &flood_status);
  absl::SleepFor(absl::Milliseconds(300));
  (*a)->process().Signal(SIGTERM);
  EXPECT_EQ((*a)->process().Wait(absl::Seconds(15)), 0) << (*a)->process().Log();
  auto filters = TcflowFilters(*r_.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_EQ(filters->size(), 4u) << "still metering while no daemon runs";
  absl::SleepFor(absl::Milliseconds(200));
  auto b = Daemon::Start(*r_.rt, cfg_, 2, "b.log");
  ASSERT_TRUE(b.ok()) << b.status();
  flood.join();
  ASSERT_TRUE(flood_status.ok()) << flood_status;
  EXPECT_EQ(received, 3000);
  ExpectExact(41002, 3000);
  EXPECT_TRUE(absl::StrContains((*b)->process().Log(), "took over the tables")) << (*b)->process().Log();
}

TEST_F(TcflowdFaultsTest, SigkillMidTrafficThenRestartIsExact) {
  auto a = Daemon::Start(*r_.rt, cfg_, 2, "a.log");
  ASSERT_TRUE(a.ok()) << a.status();
  int received = 0;
  absl::Status flood_status;
  std::thread flood = Flood(41003, 3000, &received, &flood_status);
  absl::SleepFor(absl::Milliseconds(500));
  (*a)->process().Signal(SIGKILL);
  EXPECT_EQ((*a)->process().Wait(absl::Seconds(5)), 128 + SIGKILL);
  absl::SleepFor(absl::Milliseconds(300));  // counted while no daemon runs
  auto b = Daemon::Start(*r_.rt, cfg_, 2, "b.log");
  ASSERT_TRUE(b.ok()) << b.status();
  // The killed daemon's filters were replaced in place, not doubled.
  auto filters = TcflowFilters(*r_.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_EQ(filters->size(), 4u);
  flood.join();
  ASSERT_TRUE(flood_status.ok()) << flood_status;
  EXPECT_EQ(received, 3000);
  auto status = (*b)->Call("status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->GetBool("tables_taken_over"), true);
  EXPECT_GT(*status->Find("journal")->GetUint("recovered_packets"), 0u)
      << "the killed daemon held unexported counts: the crash state brought them back";
  ExpectExact(41003, 3000);
  (*b)->process().Signal(SIGTERM);
  EXPECT_EQ((*b)->process().Wait(absl::Seconds(15)), 0);
}

// An upgrade after a crash: the killed daemon was of the version that kept a crash journal
// (flows.journal) instead of the crash state. What it held is written as such a journal;
// the new tcflowd replays it once, removes it, and the totals are exact.
TEST_F(TcflowdFaultsTest, SigkillThenStartFromAnOlderVersionsJournalIsExact) {
  auto a = Daemon::Start(*r_.rt, cfg_, 2, "a.log");
  ASSERT_TRUE(a.ok()) << a.status();
  int received = 0;
  absl::Status flood_status;
  std::thread flood = Flood(41004, 3000, &received, &flood_status);
  absl::SleepFor(absl::Milliseconds(500));
  (*a)->process().Signal(SIGKILL);
  EXPECT_EQ((*a)->process().Wait(absl::Seconds(5)), 128 + SIGKILL);
  const std::filesystem::path run = std::filesystem::path(cfg_.control_socket()).parent_path();
  auto held = cache::CacheState::Recover(run / "flows.state");
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_FALSE(held->empty()) << "the killed daemon held nothing: the test tests nothing";
  {
    std::vector<FlowRecord> none;
    auto journal = tcflowd::FlowJournal::Open(run / "flows.journal", &none);
    ASSERT_TRUE(journal.ok()) << journal.status();
    (*journal)->AppendMerged(*held);
  }
  ASSERT_TRUE(std::filesystem::remove(run / "flows.state"));
  auto b = Daemon::Start(*r_.rt, cfg_, 2, "b.log");
  ASSERT_TRUE(b.ok()) << b.status();
  flood.join();
  ASSERT_TRUE(flood_status.ok()) << flood_status;
  EXPECT_EQ(received, 3000);
  EXPECT_FALSE(std::filesystem::exists(run / "flows.journal")) << "replayed once, then removed";
  auto status = (*b)->Call("status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status->Find("journal")->GetUint("recovered_records"), held->size());
  ExpectExact(41004, 3000);
  (*b)->process().Signal(SIGTERM);
  EXPECT_EQ((*b)->process().Wait(absl::Seconds(15)), 0);
  EXPECT_FALSE(std::filesystem::exists(run / "flows.state")) << "a clean exit leaves nothing";
}

TEST_F(TcflowdFaultsTest, BadConfigOnSighupKeepsExportingGoodOneDropsAnInterface) {
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  ASSERT_TRUE(WriteFile(cfg_.config_path(), cfg_.Text() + "table { drain_interval_ms: 5 }\n").ok());
  (*daemon)->process().Signal(SIGHUP);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains((*daemon)->process().Log(), "reload refused") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string log = (*daemon)->process().Log();
  // The second `table` block is on line 9, column 1.
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat(cfg_.config_path(), ":9:1: "))) << log;
  EXPECT_TRUE(absl::StrContains(log, "reload refused, the running config stays")) << log;
  ASSERT_TRUE((*daemon)->process().running());
  int received = 0;
  auto w = UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", 41004, 7000, 40, 200, &received);
  ASSERT_TRUE(w.ok());
  ExpectExact(41004, 40);

  // A good config meters r1 only: r2's filters go, r1's stay without a gap.
  cfg_.interfaces = "interfaces { include: \"r1\" }";
  ASSERT_TRUE(WriteFile(cfg_.config_path(), cfg_.Text()).ok());
  absl::Status flood_status;
  std::thread flood = Flood(41005, 2000, &received, &flood_status);
  absl::SleepFor(absl::Milliseconds(200));
  (*daemon)->process().Signal(SIGHUP);
  flood.join();
  ASSERT_TRUE(flood_status.ok());
  EXPECT_EQ(received, 2000) << "r1 in: " << sink_->Flows()[Leg(41005, true)].packets
                            << ", r2 out: " << sink_->Flows()[Leg(41005, false)].packets;
  auto filters = TcflowFilters(*r_.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_EQ(*filters, (std::vector<std::string>{"r1", "r1"}));
  sink_->WaitFor([&](const auto& f) {
    auto it = f.find(Leg(41005, true));
    return it != f.end() && it->second.packets >= 2000;
  }, absl::Seconds(10));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(sink_->Flows()[Leg(41005, true)].packets, 2000u);
  EXPECT_LT(sink_->Flows()[Leg(41005, false)].packets, 2000u);
  auto status = (*daemon)->Call("status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->Find("interfaces")->items().size(), 1u);
  EXPECT_EQ(status->GetUint("reload_failures"), 1u);
}

TEST_F(TcflowdFaultsTest, MeterAttachThenDaemonTakesOverTablesAndFilters) {
  // flowctl attaches the real programs with the tables pinned where tcflowd's config says;
  // what they count before any daemon runs is exported by the tcflowd started later. The
  // table size is flowctl's (the built-in default's): a pinned set of another size is
  // refused, naming both sizes.
  cfg_.slots_per_half = 65536;
  RunResult r = Flowctl({"meter", "attach", "-i", "r1", "-i", "r2", "--netns", r_.rt->path(),
                         "--pin-dir", pins_});
  ASSERT_EQ(r.code, 0) << r.err;
  int received = 0;
  auto w = UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", 41006, 7000, 100, 200, &received);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(received, 100);
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto filters = TcflowFilters(*r_.rt);
  ASSERT_TRUE(filters.ok());
  EXPECT_EQ(filters->size(), 4u) << "replaced in place, not added";
  ExpectExact(41006, 100);
}

TEST_F(TcflowdFaultsTest, FullTableFoldsIntoOverflowRecordsExactly) {
  // The smallest table (1024 flow slots per half) and 3000 one-packet flows sent faster
  // than a drain interval: what finds no slot is counted in the leg's overflow record
  // (exported like a flow, without addresses), so the totals stay exact.
  // IPv6 off on the router and hosts: no NDP/MLD packet of their own can fall into the
  // overflow record next to the test's flows.
  for (Namespace* ns : {r_.h1.get(), r_.rt.get(), r_.h2.get()}) {
    ASSERT_TRUE(ns->Run([] {
                    std::ofstream f("/proc/sys/net/ipv6/conf/all/disable_ipv6");
                    f << "1\n";
                    return f.good() ? absl::OkStatus() : absl::InternalError("disable_ipv6");
                  }).ok());
  }
  cfg_.drain_interval_ms = 1000;
  cfg_.slots_per_half = 1024;
  cfg_.idle_timeout_s = 2;
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const int kFlows = 3000;
  int total_received = 0;
  absl::Time start = absl::Now();
  ASSERT_TRUE(UdpFlows(*r_.h1, *r_.h2, "10.61.2.1", 20000, kFlows, 7100, 20, &total_received).ok());
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(total_received, kFlows);
  auto legs = [&](const std::map<FlowId, FlowSum>& f, uint64_t* flows_pkts, uint64_t* ovf_pkts,
                  uint64_t* bytes) {
    *flows_pkts = *ovf_pkts = *bytes = 0;
    for (const auto& [id, sum] : f) {
      if (id.ifindex != static_cast<uint32_t>(r_.r1) || id.direction != 0) continue;
      if (id.protocol == 17 && id.dport == 7100) {
        *flows_pkts += sum.packets;
        *bytes += sum.bytes;
      } else if (id.protocol == 0 && id.src == "0.0.0.0") {
        *ovf_pkts += sum.packets;
        *bytes += sum.bytes;
      }
    }
  };
  uint64_t flows_pkts = 0, ovf_pkts = 0, bytes = 0;
  sink_->WaitFor([&](const auto& f) {
    legs(f, &flows_pkts, &ovf_pkts, &bytes);
    return flows_pkts + ovf_pkts >= uint64_t(kFlows);
  }, absl::Seconds(15));
  absl::SleepFor(absl::Milliseconds(500));
  legs(sink_->Flows(), &flows_pkts, &ovf_pkts, &bytes);
  EXPECT_EQ(flows_pkts + ovf_pkts, uint64_t(kFlows)) << "sent in " << took;
  EXPECT_EQ(bytes, uint64_t(kFlows) * 48);
  EXPECT_GT(ovf_pkts, 0u) << "the table never filled (sent in " << took << ")";
  auto status = (*daemon)->Call("status");
  ASSERT_TRUE(status.ok());
  EXPECT_GT(*status->Find("losses")->GetUint("flows_not_created"), 0u);
  EXPECT_EQ(*status->Find("losses")->GetUint("overflow_lost"), 0u);
}

// A TCP collector that goes away: what is exported while it is down is counted as not sent
// (the transport refuses messages without a session), exactly; after it comes back the
// exporter reconnects (backoff), sends templates again, and later flows arrive exactly.
TEST_F(TcflowdFaultsTest, TcpCollectorDownCountsLossThenReconnects) {
  auto a = IpfixSink::StartTcp(*r_.rt, 0);
  ASSERT_TRUE(a.ok()) << a.status();
  const uint16_t port = (*a)->port();
  cfg_.udp_collectors.clear();
  cfg_.extra = absl::StrCat("collector { address: \"127.0.0.1\" port: ", port,
                            " transport: TCP }");
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  int received = 0;
  ASSERT_TRUE(UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", 41010, 7000, 100, 200, &received).ok());
  auto both = [&](IpfixSink& s, uint16_t sport, uint64_t n) {
    return s.WaitFor([&](const auto& f) {
      auto x = f.find(Leg(sport, true)), y = f.find(Leg(sport, false));
      return x != f.end() && y != f.end() && x->second.packets >= n && y->second.packets >= n;
    }, absl::Seconds(15));
  };
  ASSERT_TRUE(both(**a, 41010, 100));
  absl::SleepFor(absl::Milliseconds(300));
  auto first = (*a)->Flows();
  a->reset();  // the collector goes away (having read everything it acknowledged)

  ASSERT_TRUE(UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", 41011, 7000, 150, 200, &received).ok());
  absl::SleepFor(absl::Milliseconds(2000));  // idle timeout: exported (held) while it is down
  auto collector = [&]() -> control::JsonValue {
    auto status = (*daemon)->Call("status");
    return status.ok() ? status->Find("collectors")->items()[0] : control::JsonValue();
  };
  const uint64_t template_sends = collector().GetUint("template_sends").value_or(0);
  auto b = IpfixSink::StartTcp(*r_.rt, port);
  ASSERT_TRUE(b.ok()) << b.status();
  // Reconnected when the templates went out again (backoff: 1 s, doubling).
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (collector().GetUint("template_sends").value_or(0) == template_sends &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(collector().GetUint("template_sends").value_or(0), template_sends);
  ASSERT_TRUE(UdpBurst(*r_.h1, *r_.h2, "10.61.2.1", 41012, 7000, 80, 200, &received).ok());
  EXPECT_TRUE(both(**b, 41012, 80));
  absl::SleepFor(absl::Milliseconds(300));
  auto second = (*b)->Flows();
  for (bool leg : {true, false}) {
    EXPECT_EQ(first[Leg(41010, leg)].packets, 100u);
    EXPECT_EQ(second[Leg(41012, leg)].packets, 80u);
    EXPECT_EQ(second[Leg(41012, leg)].bytes, 80u * 228);
    // Ended while the collector was down: held (within send_queue_bytes) and delivered
    // after the reconnect, behind the new session's templates.
    EXPECT_EQ(first[Leg(41011, leg)].packets + second[Leg(41011, leg)].packets, 150u);
  }
  // Every exported packet is either at a collector or counted as not sent. Other flows
  // (neighbour discovery, MLD) can still end and be exported while this looks, so the
  // daemon's count is read first and the collector is given time to catch up with it.
  uint64_t delivered = 0, lost = 0, exported = 0;
  std::string last_status;
  const absl::Time settle = absl::Now() + absl::Seconds(10);
  while (true) {
    auto status = (*daemon)->Call("status");
    ASSERT_TRUE(status.ok());
    last_status = status->Serialize();
    exported = *status->Find("exported")->GetUint("packets");
    lost = *status->Find("collectors")->items()[0].GetUint("lost_packets");
    second = (*b)->Flows();
    delivered = 0;
    for (const auto* flows : {&first, &second}) {
      for (const auto& [id, sum] : *flows) delivered += sum.packets;
    }
    if (delivered + lost == exported || absl::Now() > settle) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  // (A flow of the router's own, e.g. an MLD report, that ends just as the collector goes
  // away can be counted lost: written, never acknowledged. The test's flows are not.)
  EXPECT_EQ(delivered + lost, exported) << last_status;
}

TEST_F(TcflowdFaultsTest, LinkAddedIsMeteredWithinASecondAndRemovedCleanly) {
  auto daemon = Daemon::Start(*r_.rt, cfg_, 2);
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  const absl::Time created = absl::Now();
  ASSERT_TRUE(CreateVethPair(*r_.rt, "r3", *r_.h1, "e1").ok());
  absl::Duration took = absl::InfiniteDuration();
  while (absl::Now() - created < absl::Seconds(3)) {
    auto filters = TcflowFilters(*r_.rt);
    if (filters.ok() && std::count(filters->begin(), filters->end(), "r3") == 2) {
      took = absl::Now() - created;
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_LT(took, absl::Seconds(1)) << "r3 attached after " << took;
  ASSERT_TRUE(r_.rt->AddAddress("r3", "10.61.3.254/24").ok());
  ASSERT_TRUE(r_.h1->AddAddress("e1", "10.61.3.1/24").ok());
  auto r3 = r_.rt->IfIndex("r3");
  ASSERT_TRUE(r3.ok());
  int replies = 0;
  ASSERT_TRUE(Echo(*r_.h1, "10.61.3.254", 1, 8, &replies).ok());  // ARP
  absl::SleepFor(absl::Milliseconds(1500));
  auto w = Echo(*r_.h1, "10.61.3.254", 7, 32, &replies);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(replies, 7);
  const FlowId in{4, 1, "10.61.3.1", "10.61.3.254", 0, 8 << 8, static_cast<uint32_t>(*r3), 0};
  const FlowId out{4, 1, "10.61.3.254", "10.61.3.1", 0, 0, static_cast<uint32_t>(*r3), 1};
  // The first echo (for ARP) is a separate record ended by idle timeout; count from it.
  ASSERT_TRUE(sink_->WaitFor([&](const auto& f) {
    auto a = f.find(in), b = f.find(out);
    return a != f.end() && b != f.end() && a->second.packets >= 8 && b->second.packets >= 8;
  }, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(300));
  auto flows = sink_->Flows();
  EXPECT_EQ(flows[in].packets, 8u);
  EXPECT_EQ(flows[in].bytes, (20u + 8 + 8) + 7 * (20 + 8 + 32));
  EXPECT_EQ(flows[out].packets, 8u);
  EXPECT_EQ(sink_->InterfaceNames()[*r3], "r3");

  ASSERT_TRUE(r_.rt->DeleteLink("r3").ok());
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE((*daemon)->process().running());
  EXPECT_EQ((*daemon)->AttachedInterfaces(), 2u);
  (*daemon)->process().Signal(SIGTERM);
  EXPECT_EQ((*daemon)->process().Wait(absl::Seconds(15)), 0);
  const std::string log = (*daemon)->process().Log();
  EXPECT_FALSE(absl::StrContains(log, "failed")) << log;
  EXPECT_FALSE(absl::StrContains(log, "detach r3")) << log;
}

}  // namespace
}  // namespace tcflow::testing
