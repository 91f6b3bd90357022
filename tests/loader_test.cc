// The loader on the real kernel: knobs and sizes reach the loaded object, tables are pinned,
// a second loader takes the pinned tables over (a daemon restart loses nothing), mismatched
// or partial pins are refused with a clear error, and pins are cleaned up.
#include "daemon/loader/loader.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include <bpf/bpf.h>

#include "daemon/drain/drainer.h"
#include "daemon/drain/event_reader.h"
#include "daemon/drain/stats_reader.h"
#include "daemon/loader/tables.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/drain_test_util.h"

namespace tcflow {
namespace {

using ::testing::HasSubstr;
using testing::PinDirGuard;
using testing::TestRun;
using testing::Udp4Frame;
using testing::UniquePinDir;

uint32_t MapId(int fd) {
  bpf_map_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  return info.id;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Drains everything into key -> packets.
std::map<std::pair<uint32_t, uint16_t>, uint64_t> DrainAll(const Loader& l) {
  std::map<std::pair<uint32_t, uint16_t>, uint64_t> got;
  auto d = Drainer::Create(l.tables(), l.layout());
  EXPECT_TRUE(d.ok()) << d.status();
  if (!d.ok()) return got;
  auto r = (*d)->Drain([&](absl::Span<const FlowRecord> batch) {
    for (const FlowRecord& rec : batch) {
      got[{FlowRecord::Ipv4Of(rec.key.src_addr), rec.key.src_port}] += rec.packets;
    }
  });
  EXPECT_TRUE(r.ok()) << r.status();
  return got;
}

TEST(LoaderTest, KnobsAndSizesReachTheLoadedObject) {
  LoaderOptions o;
  o.slots_per_half = 5000;
  o.index_factor = 4;
  o.ringbuf_bytes = 64 * 1024;
  o.key_vlan = false;
  o.key_mark = true;
  o.ext_alert_depth = 3;
  o.ndp_events = false;
  auto l = Loader::Load(o);
  ASSERT_TRUE(l.ok()) << l.status();
  const Loader& loader = **l;
  EXPECT_FALSE(loader.reused_pins());
  EXPECT_GE(loader.ingress_prog_fd(), 0);
  EXPECT_GE(loader.egress_prog_fd(), 0);

  tcflow_skel::Knobs k = loader.knobs();
  EXPECT_EQ(k.slots_per_half, 5000u);
  EXPECT_FALSE(k.key_vlan);
  EXPECT_TRUE(k.key_mark);
  EXPECT_EQ(k.ext_alert_depth, 3u);
  EXPECT_FALSE(k.ndp_events);

  struct Want {
    TableId id;
    uint32_t entries;
  };
  const Want wants[] = {{kTableControl, 1},      {kTableSlots, 2 * (5000 + 256)},
                        {kTableIndexV4, 20000},  {kTableIndexV6, 20000},
                        {kTableOverflow, 1024},  {kTableStats, 1},
                        {kTableEvents, 65536}};
  for (const Want& w : wants) {
    auto spec = GetTableSpec(loader.tables().fd[w.id]);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(spec->max_entries, w.entries) << TableName(w.id);
  }
  auto slots = GetTableSpec(loader.tables().slots());
  EXPECT_EQ(slots->value_size, sizeof(tcflow_slot));
  EXPECT_NE(slots->map_flags & BPF_F_MMAPABLE, 0u);

  // key_mark on: the mark lands in the flow key.
  std::vector<uint8_t> frame = Udp4Frame(7, 1234, 10), out;
  ASSERT_EQ(TestRun(loader.ingress_prog_fd(), frame, 1, &out, /*mark=*/0x77),
            TC_ACT_UNSPEC);
  EXPECT_EQ(out, frame);
  auto d = Drainer::Create(loader.tables(), loader.layout());
  ASSERT_TRUE(d.ok()) << d.status();
  std::vector<FlowRecord> recs;
  auto r = (*d)->Drain([&](absl::Span<const FlowRecord> b) { recs.assign(b.begin(), b.end()); });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].key.mark, 0x77u);
  EXPECT_EQ(recs[0].packets, 1u);
  EXPECT_EQ(recs[0].bytes, 20u + 8 + 10);
}

TEST(LoaderTest, RejectsBadOptionsClearly) {
  LoaderOptions o;
  o.slots_per_half = 0;
  EXPECT_EQ(Loader::Load(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.slots_per_half = 100;
  o.index_factor = 1;
  EXPECT_THAT(Loader::Load(o).status().message(), HasSubstr("both live generations"));
  o.index_factor = 3;
  o.pin_mode = PinMode::kCreate;
  o.pin_dir = "/tmp/not_bpffs";
  EXPECT_THAT(Loader::Load(o).status().message(), HasSubstr("not on a bpf filesystem"));
  o.pin_dir = "relative/dir";
  EXPECT_EQ(Loader::Load(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LoaderTest, PinReuseKeepsCountsAcrossARestart) {
  PinDirGuard guard(UniquePinDir("loader"));
  LoaderOptions o;
  o.slots_per_half = 1000;
  o.pin_mode = PinMode::kCreate;
  o.pin_dir = guard.dir();

  uint32_t slots_id = 0;
  {
    auto first = Loader::Load(o);
    ASSERT_TRUE(first.ok()) << first.status();
    for (int i = 0; i < kTableCount; ++i) {
      EXPECT_TRUE(Exists(PinPath(o.pin_dir, static_cast<TableId>(i))))
          << TableName(static_cast<TableId>(i));
    }
    slots_id = MapId((*first)->tables().slots());
    // Packets counted by the first "daemon", which then exits without draining.
    ASSERT_EQ(TestRun((*first)->ingress_prog_fd(), Udp4Frame(1, 1000, 0), 5), TC_ACT_UNSPEC);
    ASSERT_EQ(TestRun((*first)->egress_prog_fd(), Udp4Frame(2, 2000, 0), 3), TC_ACT_UNSPEC);

    // A second create over existing pins is refused.
    auto again = Loader::Load(o);
    EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  }

  // The restarted daemon takes over the pinned tables.
  o.pin_mode = PinMode::kReuse;
  auto second = Loader::Load(o);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE((*second)->reused_pins());
  EXPECT_EQ(MapId((*second)->tables().slots()), slots_id);
  ASSERT_EQ(TestRun((*second)->ingress_prog_fd(), Udp4Frame(1, 1000, 0), 2), TC_ACT_UNSPEC);

  // flowctl-style read-only open of the same pins.
  auto pinned = PinnedTables::Open(o.pin_dir);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->layout().slots_per_half, 1000u);
  EXPECT_EQ(pinned->layout().slot_entries, (*second)->layout().slot_entries);
  EXPECT_EQ(MapId(pinned->tables().slots()), slots_id);

  auto got = DrainAll(**second);
  std::map<std::pair<uint32_t, uint16_t>, uint64_t> want = {
      {{htonl(0x0a000001), 1000}, 7},  // 5 before the restart + 2 after
      {{htonl(0x0a000002), 2000}, 3},
  };
  EXPECT_EQ(got, want);

  // Stats survive too: they are pinned with the tables. (The size histogram is counted per
  // packet; the per-flow counters went with the slots drained above.)
  auto stats = StatsReader::Create((*second)->tables().stats());
  ASSERT_TRUE(stats.ok());
  tcflow_stats st;
  ASSERT_TRUE(stats->Read(&st).ok());
  uint64_t sized = 0;
  for (uint64_t n : st.size_hist) sized += n;
  EXPECT_EQ(sized, 7u + 3u);

  ASSERT_TRUE((*second)->Unpin().ok());
  for (int i = 0; i < kTableCount; ++i) {
    EXPECT_FALSE(Exists(PinPath(o.pin_dir, static_cast<TableId>(i))));
  }
  EXPECT_FALSE(Exists(o.pin_dir));
}

TEST(LoaderTest, MismatchedPinsAreRefused) {
  PinDirGuard guard(UniquePinDir("mismatch"));
  LoaderOptions o;
  o.slots_per_half = 1000;
  o.pin_mode = PinMode::kReuse;  // none pinned yet: creates and pins
  o.pin_dir = guard.dir();
  auto first = Loader::Load(o);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE((*first)->reused_pins());

  o.slots_per_half = 2000;
  auto bigger = Loader::Load(o);
  EXPECT_EQ(bigger.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bigger.status().message(), HasSubstr("tcflow_slots"));
  EXPECT_THAT(bigger.status().message(), HasSubstr("max entries is 2512"));

  o.slots_per_half = 1000;
  o.index_factor = 5;
  EXPECT_THAT(Loader::Load(o).status().message(), HasSubstr("tcflow_idx_v4"));

  o.index_factor = 3;
  o.ringbuf_bytes = 1 << 20;
  EXPECT_THAT(Loader::Load(o).status().message(), HasSubstr("tcflow_events"));

  // An incomplete set (one pin removed) cannot be taken over.
  o.ringbuf_bytes = kDefaultRingbufBytes;
  ASSERT_EQ(::unlink(PinPath(o.pin_dir, kTableStats).c_str()), 0);
  auto partial = Loader::Load(o);
  EXPECT_EQ(partial.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(partial.status().message(), HasSubstr("only 6 of 7"));
  EXPECT_FALSE(PinnedTables::Open(o.pin_dir).ok());
}

TEST(LoaderTest, EventReaderDeliversNeighbourDiscovery) {
  LoaderOptions o;
  o.slots_per_half = 100;
  auto l = Loader::Load(o);
  ASSERT_TRUE(l.ok()) << l.status();
  std::vector<tcflow_event> events;
  auto reader = EventReader::Create((*l)->tables().events(),
                                    [&](const tcflow_event& e) { events.push_back(e); });
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ(TestRun((*l)->ingress_prog_fd(), testing::NeighborSolicitation(), 3),
            TC_ACT_UNSPEC);
  auto n = (*reader)->Poll(1000);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, static_cast<uint32_t>(TCFLOW_EVENT_NDP));
  EXPECT_EQ(events[0].icmp_type, 135);
  EXPECT_EQ(events[0].direction, TCFLOW_DIR_INGRESS);
  EXPECT_EQ(events[0].src_addr[0], 0xfe);
  EXPECT_EQ(events[0].target_addr[0], 0x20);
  EXPECT_EQ(events[0].target_addr[15], 0x99);
  EXPECT_EQ((*reader)->malformed(), 0u);
  EXPECT_EQ(*(*reader)->Consume(), 0);
}

}  // namespace
}  // namespace tcflow
