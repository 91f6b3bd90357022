#include "daemon/cache/cache_state.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "daemon/cache/flow_cache.h"
#include "gtest/gtest.h"

namespace tcflow::cache {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tcflow_cache_state_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    for (const char* f : {"/flows.state", "/flows.state.new"}) unlink((path + f).c_str());
    rmdir(path.c_str());
  }
};

FlowRecord Inc(uint16_t port, uint8_t protocol, uint16_t tcp_flags, uint64_t packets,
               int64_t now_ms) {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.ip_version = 4;
  r.key.protocol = protocol;
  r.key.src_port = port;
  r.packets = packets;
  r.bytes = packets * 100;
  r.start_ms = now_ms - 5;
  r.end_ms = now_ms;
  r.tcp_flags = tcp_flags;
  r.min_ttl = r.max_ttl = 64;
  return r;
}

// What the child tells the parent, in memory both share.
struct Shared {
  uint64_t merged_done;  // packets of increments whose Merge() returned
  uint64_t inflight;     // packets of the increment being merged (0 between merges)
  uint64_t steps;
};

// One message per record sent (16 bytes: pipe writes this small are atomic).
struct Sent {
  uint64_t position;
  uint64_t packets;
};

// The child: a durable cache under every kind of end (idle, active, FIN/RST with SYN
// reuse, eviction at max_flows, flush by filter, flush all), "sending" ended records into
// a pipe and marking them sent, until it is killed.
[[noreturn]] void Child(const std::string& path, Shared* shared, int out, unsigned seed) {
  FlowCacheOptions o;
  o.max_flows = 64;
  o.idle_timeout_ms = 50;
  o.active_timeout_ms = 200;
  o.tcp_end_grace_ms = 20;
  o.tick_ms = 10;
  std::vector<FlowRecord> recovered;
  auto cache = FlowCache::CreateDurable(o, path, &recovered);
  if (!cache.ok() || !recovered.empty() || !(*cache)->PublishState().ok()) _exit(3);
  (*cache)->set_outbox_handoff(true);  // as tcflowd runs it: ended records in the outbox
  std::mt19937 rng(seed);
  std::vector<FlowRecord> ended;
  uint64_t handed = (*cache)->outbox_position();
  int64_t now = 1'000'000;
  for (;;) {
    const int n = 1 + rng() % 16;
    for (int i = 0; i < n; ++i) {
      const uint8_t proto = rng() % 3 == 0 ? 6 : 17;
      uint16_t flags = 0;
      if (proto == 6) {
        const unsigned f = rng() % 10;
        flags = f == 0 ? 0x01 : f == 1 ? 0x04 : f == 2 ? 0x02 : 0x10;
      }
      const FlowRecord inc = Inc(static_cast<uint16_t>(rng() % 200), proto, flags,
                                 1 + rng() % 1000, now);
      shared->inflight = inc.packets;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      (*cache)->Merge(inc, &ended);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      shared->merged_done += inc.packets;
      shared->inflight = 0;
    }
    now += 1 + rng() % 15;
    (*cache)->Expire(now, &ended);
    if (rng() % 50 == 0) {
      FlowFilter f;
      f.protocol = 6;
      (*cache)->Flush(f, &ended);
    }
    if (rng() % 200 == 0) (*cache)->FlushAll(&ended);
    // The ended records are in the outbox at consecutive positions (it never fills here:
    // every batch is sent at once, so `ended` stays empty).
    if (!ended.empty()) _exit(5);
    const uint64_t end = (*cache)->outbox_position();
    Sent msg[256];  // 4 KiB: one atomic pipe write; few syscalls, so kills land in the cache
    size_t m = 0;
    uint64_t pos = handed;
    for (absl::Span<const FlowRecord> run : (*cache)->OutboxRuns(handed, end)) {
      for (const FlowRecord& r : run) {
        msg[m++] = Sent{pos++, r.packets};
        if (m == 256) {
          if (write(out, msg, sizeof(msg)) != static_cast<ssize_t>(sizeof(msg))) _exit(4);
          m = 0;
        }
      }
    }
    if (m > 0 && write(out, msg, m * sizeof(Sent)) != static_cast<ssize_t>(m * sizeof(Sent))) {
      _exit(4);
    }
    if (pos != end) _exit(6);
    (*cache)->MarkSent(end);
    handed = end;
    ++shared->steps;
  }
}

struct Outcome {
  uint64_t merged_done = 0;
  uint64_t inflight = 0;
  uint64_t counted = 0;  // sent and marked sent + recovered
  uint64_t sent_twice = 0;
  uint64_t steps = 0;
  size_t recovered_records = 0;
};

Outcome KillAndRecover(const std::string& dir, unsigned seed, int kill_after_us) {
  const std::string path = dir + "/flows.state";
  unlink(path.c_str());
  auto* shared = static_cast<Shared*>(mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                                           MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  EXPECT_NE(shared, MAP_FAILED);
  std::memset(shared, 0, sizeof(*shared));
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Child(path, shared, fds[1], seed);
  }
  close(fds[1]);
  // Drain the pipe while the child runs, then kill it at an arbitrary instant.
  std::vector<Sent> sent;
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  const auto drain = [&] {
    Sent buf[256];
    for (;;) {
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      sent.insert(sent.end(), buf, buf + n / sizeof(Sent));
    }
  };
  // The kill lands after the child's start-up (its state file published), at a random
  // instant of its work.
  for (int waited = 0; __atomic_load_n(&shared->steps, __ATOMIC_ACQUIRE) == 0 && waited < 5'000'000;
       waited += 500) {
    usleep(500);
    drain();
  }
  for (int waited = 0; waited < kill_after_us; waited += 500) {
    usleep(500);
    drain();
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  drain();
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child stopped on its own: status " << status;

  Outcome o;
  o.merged_done = shared->merged_done;
  o.inflight = shared->inflight;
  o.steps = shared->steps;
  munmap(shared, sizeof(Shared));
  // What the dead child had marked sent (positions below) is out; what it sent after that
  // is also in the outbox, so recovered once and sent twice.
  CacheStateHeader h{};
  int fd = open(path.c_str(), O_RDONLY);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(pread(fd, &h, sizeof(h), 0), static_cast<ssize_t>(sizeof(h)));
  close(fd);
  for (const Sent& s : sent) {
    if (s.position < h.outbox_consumed) {
      o.counted += s.packets;
    } else {
      o.sent_twice += s.packets;
    }
  }
  auto recovered = CacheState::Recover(path);
  EXPECT_TRUE(recovered.ok()) << recovered.status();
  if (recovered.ok()) {
    o.recovered_records = recovered->size();
    for (const FlowRecord& r : *recovered) {
      o.counted += r.packets;
      EXPECT_EQ(r.bytes, r.packets * 100);
    }
  }
  return o;
}

// Killed anywhere, the state file holds every packet merged and not marked sent, once: the
// increment being merged at the kill is either wholly in or wholly out.
TEST(CacheStateTest, SigkillAtAnyInstantLosesAndDoublesNothing) {
  TempDir dir;
  std::mt19937 rng(20261122);
  int with_inflight = 0, merged_steps = 0;
  constexpr int kRounds = 150;
  for (int round = 0; round < kRounds; ++round) {
    const int after_us = 1000 + static_cast<int>(rng() % 8000);
    const Outcome o = KillAndRecover(dir.path, rng(), after_us);
    SCOPED_TRACE(testing::Message() << "round " << round << " killed after " << after_us
                                    << " us, " << o.steps << " steps");
    ASSERT_GT(o.merged_done, 0u) << "the child never merged: the test tests nothing";
    if (o.counted == o.merged_done + o.inflight && o.inflight != 0) {
      ++with_inflight;
    } else {
      ASSERT_EQ(o.counted, o.merged_done) << "inflight " << o.inflight << ", sent twice "
                                          << o.sent_twice;
    }
    merged_steps += o.steps > 0;
  }
  // The kills landed in many places: often inside a merge, sometimes not.
  EXPECT_GT(merged_steps, kRounds * 3 / 4);
  std::printf("%d kills: %d inside a merge (its increment recovered)\n", kRounds, with_inflight);
}

// Every instant of the merge and export protocol (cache_state.h), as a state file a kill
// there leaves: recovery counts each packet once. Entry 0 is the flow (5 packets before the
// operation), the increment has 3, the exported record is the entry's 5.
struct CrashPoint {
  const char* name;
  uint64_t op;                 // header.op flags (entry 0)
  bool committed;              // the export's record is in the outbox
  EntryState entry_state;      // the entry as the kill left it
  uint64_t entry_packets;
  EntryState intent_state;     // the entry's state before the merge
  uint64_t want_packets;       // recovered
};

TEST(CacheStateTest, EveryCrashPointOfTheProtocolCountsOnce) {
  using H = CacheStateHeader;
  const CrashPoint points[] = {
      {"no operation", 0, false, EntryState::kOpen, 5, EntryState::kOpen, 5},
      {"export: marked, record not yet in the outbox", H::kExporting, false,
       EntryState::kOpen, 5, EntryState::kOpen, 5},
      {"export: record committed, entry not yet marked", H::kExporting, true,
       EntryState::kOpen, 5, EntryState::kOpen, 5},
      {"export: entry marked exported", H::kExporting, true, EntryState::kExported, 5,
       EntryState::kOpen, 5},
      {"export done, entry freed", 0, true, EntryState::kFree, 5, EntryState::kOpen, 5},
      {"active timeout done: key kept, counts zero", 0, true, EntryState::kEmpty, 0,
       EntryState::kOpen, 5},
      {"merge: intent written, entry untouched", H::kMerging, false, EntryState::kOpen, 5,
       EntryState::kOpen, 8},
      {"merge: packets added, rest not yet", H::kMerging, false, EntryState::kOpen, 8,
       EntryState::kOpen, 8},
      {"merge into a new entry: half started", H::kMerging, false, EntryState::kOpen, 3,
       EntryState::kFree, 3},
      {"SYN after FIN: export inside the merge, not committed", H::kMerging | H::kExporting,
       false, EntryState::kClosing, 5, EntryState::kClosing, 8},
      {"SYN after FIN: committed, new connection started", H::kMerging | H::kExporting, true,
       EntryState::kOpen, 3, EntryState::kClosing, 8},
      // A merge into a new entry keeps no intent (the header's increment is ignored): the
      // free entry's record is the increment.
      {"new entry: record written, entry still free", H::kMerging | H::kFresh, false,
       EntryState::kFree, 3, EntryState::kFree, 3},
      {"new entry: state set", H::kMerging | H::kFresh, false, EntryState::kOpen, 3,
       EntryState::kFree, 3},
      {"new entry: lingering after a FIN", H::kMerging | H::kFresh, false,
       EntryState::kClosing, 3, EntryState::kFree, 3},
      // FlushAll: the entry's record (5 packets) at outbox position 4, the flush's end 5.
      {"flush all: records written, not committed", H::kFlushing, false, EntryState::kOpen,
       5, EntryState::kOpen, 5},
      {"flush all: committed, entries not yet emptied", H::kFlushing, true,
       EntryState::kOpen, 5, EntryState::kOpen, 5},
  };
  TempDir dir;
  const std::string path = dir.path + "/flows.state";
  for (const CrashPoint& c : points) {
    SCOPED_TRACE(c.name);
    {
      auto st = CacheState::Create(path, 16, 16);
      ASSERT_TRUE(st.ok()) << st.status();
      CacheStateHeader* h = st->header();
      const FlowRecord before = Inc(7, 17, 0, 5, 1000);
      const FlowRecord inc = Inc(7, 17, 0, 3, 1010);
      CacheEntry& e = st->entries()[0];
      e.rec = before;
      e.rec.packets = c.entry_packets;
      e.rec.bytes = c.entry_packets * 100;
      e.state = c.entry_state;
      h->entries_used = 1;
      h->intent_old = before;
      if (c.intent_state == EntryState::kFree) h->intent_old = FlowRecord{};
      h->intent_state = static_cast<uint8_t>(c.intent_state);
      // A merge into a new entry must ignore the header's increment: a stale one (9
      // packets, from an earlier merge) would be counted if it did not.
      h->intent_increment = (c.op & H::kFresh) != 0 ? Inc(7, 17, 0, 9, 900) : inc;
      h->op = c.op;
      // The export's record goes to position 4 (after four records already sent).
      h->outbox_consumed = 4;
      h->outbox_base = 4;
      h->export_position = (c.op & H::kFlushing) != 0 ? 5 : 4;  // a flush names its end
      h->outbox_committed = c.committed ? 5 : 4;
      st->outbox()[0] = before;
    }
    auto got = CacheState::Recover(path);
    ASSERT_TRUE(got.ok()) << got.status();
    uint64_t packets = 0, bytes = 0;
    for (const FlowRecord& r : *got) {
      packets += r.packets;
      bytes += r.bytes;
    }
    EXPECT_EQ(packets, c.want_packets);
    EXPECT_EQ(bytes, c.want_packets * 100);
  }
}

// With the hand-off on, ended records are read from the outbox, in order, also when they
// run over the end of the ring; `ended` stays empty.
TEST(CacheStateTest, HandOffReadsEndedRecordsFromTheOutboxAcrossItsEnd) {
  TempDir dir;
  FlowCacheOptions o;
  o.max_flows = 5;  // an outbox of 2 * 5 + 4096 = 4106 records: batches of 3 straddle its end
  std::vector<FlowRecord> recovered, ended;
  auto cache = FlowCache::CreateDurable(o, dir.path + "/flows.state", &recovered);
  ASSERT_TRUE(cache.ok()) << cache.status();
  (*cache)->set_outbox_handoff(true);
  ASSERT_TRUE((*cache)->outbox_handoff());
  uint64_t handed = (*cache)->outbox_position(), next_packets = 1, runs_of_two = 0;
  uint64_t unsent_from = handed;  // one batch stays unsent, so the ring never starts over
  for (int batch = 0; batch < 3000; ++batch) {
    for (int i = 0; i < 3; ++i) {
      (*cache)->Merge(Inc(static_cast<uint16_t>(i), 17, 0, next_packets++, 1000 + batch),
                      &ended);
    }
    (*cache)->FlushAll(&ended);
    ASSERT_TRUE(ended.empty());
    const uint64_t to = (*cache)->outbox_position();
    ASSERT_EQ(to - handed, 3u);
    uint64_t want = next_packets - 3;
    auto runs = (*cache)->OutboxRuns(handed, to);
    runs_of_two += !runs[1].empty();
    for (absl::Span<const FlowRecord> run : runs) {
      for (const FlowRecord& r : run) {
        ASSERT_EQ(r.packets, want++);
        ASSERT_EQ(r.end_reason, FlowEndReason::kForcedEnd);
      }
    }
    (*cache)->MarkSent(unsent_from);
    unsent_from = handed;
    handed = to;
  }
  EXPECT_GT(runs_of_two, 0u) << "the ring never wrapped: the test tests less than it says";
  EXPECT_EQ((*cache)->stats().records_unprotected, 0u);
}

// FlushAll commits all its records at once only when the outbox has room for all of them;
// otherwise it ends the flows one by one: what fits goes to the outbox, the rest is handed
// back in `ended` and counted as unprotected. Nothing is lost or doubled either way.
TEST(CacheStateTest, FlushAllIntoANearlyFullOutboxProtectsWhatFits) {
  TempDir dir;
  FlowCacheOptions o;
  o.max_flows = 5;  // an outbox of 2 * 5 + 4096 = 4106 records
  std::vector<FlowRecord> recovered, ended;
  auto cache = FlowCache::CreateDurable(o, dir.path + "/flows.state", &recovered);
  ASSERT_TRUE(cache.ok()) << cache.status();
  (*cache)->set_outbox_handoff(true);
  const uint64_t start = (*cache)->outbox_position();
  uint64_t packets = 0;
  // 4103 records ended and never sent: 821 flushes, all of them whole commits.
  for (int batch = 0; batch < 821; ++batch) {
    const int n = batch < 820 ? 5 : 3;
    for (int i = 0; i < n; ++i) {
      (*cache)->Merge(Inc(static_cast<uint16_t>(i), 17, 0, 1 + i, 1000 + batch), &ended);
      packets += 1 + i;
    }
    ASSERT_EQ((*cache)->FlushAll(&ended), static_cast<size_t>(n));
    ASSERT_TRUE(ended.empty());
  }
  ASSERT_EQ((*cache)->outbox_position() - start, 4103u);
  ASSERT_EQ((*cache)->stats().records_unprotected, 0u);
  // Five more flows, room for three.
  for (int i = 0; i < 5; ++i) {
    (*cache)->Merge(Inc(static_cast<uint16_t>(i), 17, 0, 10, 5000), &ended);
    packets += 10;
  }
  ASSERT_EQ((*cache)->FlushAll(&ended), 5u);
  EXPECT_EQ((*cache)->outbox_position() - start, 4106u);
  EXPECT_EQ(ended.size(), 2u);
  EXPECT_EQ((*cache)->stats().records_unprotected, 2u);
  uint64_t got = 0;
  for (absl::Span<const FlowRecord> run : (*cache)->OutboxRuns(start, start + 4106)) {
    for (const FlowRecord& r : run) got += r.packets;
  }
  for (const FlowRecord& r : ended) {
    EXPECT_EQ(r.end_reason, FlowEndReason::kForcedEnd);
    got += r.packets;
  }
  EXPECT_EQ(got, packets);
  EXPECT_EQ((*cache)->size(), 0u);
}

TEST(CacheStateTest, MissingFileHoldsNothingAndForeignFileIsRefused) {
  TempDir dir;
  auto none = CacheState::Recover(dir.path + "/flows.state");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  const std::string path = dir.path + "/flows.state";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::string junk(8192, 'x');
  ASSERT_EQ(write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  close(fd);
  auto foreign = CacheState::Recover(path);
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not a tcflow flow cache state"),
            std::string::npos);
}

// A clean life: flows merged, some ended and sent, the rest still cached; a successor
// recovers exactly the cached ones, then the published file replaces the old one.
TEST(CacheStateTest, RecoversTheCachedFlowsAndPublishes) {
  TempDir dir;
  const std::string path = dir.path + "/flows.state";
  FlowCacheOptions o;
  std::vector<FlowRecord> recovered, ended;
  {
    auto cache = FlowCache::CreateDurable(o, path, &recovered);
    ASSERT_TRUE(cache.ok()) << cache.status();
    ASSERT_TRUE((*cache)->PublishState().ok());
    for (uint16_t p = 1; p <= 10; ++p) (*cache)->Merge(Inc(p, 17, 0, p, 1000), &ended);
    FlowFilter f;
    f.src_port = 3;
    ASSERT_EQ((*cache)->Flush(f, &ended), 1u);
    (*cache)->MarkSent((*cache)->outbox_position());
    f.src_port = 4;
    ASSERT_EQ((*cache)->Flush(f, &ended), 1u);  // ended, never marked sent
  }
  auto cache = FlowCache::CreateDurable(o, path, &recovered);
  ASSERT_TRUE(cache.ok());
  uint64_t packets = 0;
  for (const FlowRecord& r : recovered) packets += r.packets;
  EXPECT_EQ(recovered.size(), 9u);
  EXPECT_EQ(packets, 55u - 3u);
  // Until it is published, the old file is the one a crash would recover from.
  auto again = CacheState::Recover(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 9u);
  for (const FlowRecord& r : recovered) (*cache)->Merge(r, &ended);
  ASSERT_TRUE((*cache)->PublishState().ok());
  EXPECT_EQ((*cache)->state_path(), path);
  auto published = CacheState::Recover(path);
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->size(), 9u);
  (*cache)->DiscardState();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace tcflow::cache
