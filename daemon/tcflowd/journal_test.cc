#include "daemon/tcflowd/journal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

FlowRecord Rec(uint8_t id, uint64_t packets, int64_t start, int64_t end) {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.ip_version = 4;
  r.key.protocol = 17;
  r.key.src_port = id;
  r.packets = packets;
  r.bytes = packets * 100;
  r.start_ms = start;
  r.end_ms = end;
  r.min_ttl = r.max_ttl = 64;
  return r;
}

// A journal path in a directory of its own, removed with it.
struct JournalDir {
  std::string dir, path;
  JournalDir() {
    char tmpl[] = "/tmp/tcflowd_journal_XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/flows.journal";
  }
  ~JournalDir() {
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
};

FlowJournal::Entry E(uint32_t kind, const FlowRecord& r) {
  FlowJournal::Entry e;
  e.kind = kind;
  e.record = r;
  return e;
}

TEST(JournalTest, ReplayKeepsWhatWasNotExported) {
  const uint32_t M = FlowJournal::kMerged, X = FlowJournal::kExported;
  std::vector<FlowJournal::Entry> entries = {
      E(M, Rec(1, 5, 100, 200)), E(M, Rec(2, 7, 100, 150)), E(M, Rec(1, 3, 210, 300)),
      E(X, Rec(1, 8, 100, 300)),  // flow 1 fully exported
      E(M, Rec(2, 1, 400, 400)),  E(X, Rec(2, 7, 100, 150)),  // flow 2: 1 packet left
      E(M, Rec(3, 4, 500, 600)),  // flow 3 never exported
      E(M, Rec(1, 2, 700, 800)),  // flow 1 again after its export
  };
  std::vector<FlowRecord> left = FlowJournal::Replay(entries);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0].key.src_port, 1);
  EXPECT_EQ(left[0].packets, 2u);
  EXPECT_EQ(left[0].start_ms, 700);
  EXPECT_EQ(left[1].key.src_port, 2);
  EXPECT_EQ(left[1].packets, 1u);
  EXPECT_EQ(left[1].bytes, 100u);
  EXPECT_EQ(left[1].start_ms, 150);  // no earlier than the exported part's end
  EXPECT_EQ(left[1].end_ms, 400);
  EXPECT_EQ(left[2].packets, 4u);
}

TEST(JournalTest, SurvivesReopenAndTornTail) {
  JournalDir d;
  const std::string& path = d.path;
  std::vector<FlowRecord> recovered;
  {
    auto j = FlowJournal::Open(path, &recovered);
    ASSERT_TRUE(j.ok()) << j.status();
    EXPECT_TRUE(recovered.empty());
    std::vector<FlowRecord> a = {Rec(1, 5, 1, 2), Rec(2, 6, 1, 2)};
    (*j)->AppendMerged(a);
    std::vector<FlowRecord> x = {Rec(1, 5, 1, 2)};
    (*j)->AppendExported(x);
  }
  // A process killed mid-write leaves half an entry behind.
  int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "torn", 4), 4);
  close(fd);
  {
    auto j = FlowJournal::Open(path, &recovered);
    ASSERT_TRUE(j.ok());
    ASSERT_EQ(recovered.size(), 1u);
    EXPECT_EQ(recovered[0].key.src_port, 2);
    EXPECT_EQ(recovered[0].packets, 6u);
    // Appends go on after the last whole block (the torn tail was cut off).
    std::vector<FlowRecord> x = {Rec(2, 6, 1, 2)};
    (*j)->AppendExported(x);
  }
  auto j = FlowJournal::Open(path, &recovered);
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(recovered.empty());
}

// A kill inside a block's write leaves part of it: the whole records it holds count, the
// rest of the file is cut off, and appends go on after them.
TEST(JournalTest, KeepsTheWholeRecordsOfABlockCutShort) {
  JournalDir d;
  const std::string& path = d.path;
  std::vector<FlowRecord> recovered;
  {
    auto j = FlowJournal::Open(path, &recovered);
    ASSERT_TRUE(j.ok()) << j.status();
    std::vector<FlowRecord> a = {Rec(1, 5, 1, 2), Rec(2, 6, 1, 2), Rec(3, 7, 1, 2)};
    (*j)->AppendMerged(a);
  }
  // Cut inside the third record of the block.
  const off_t cut = sizeof(FlowJournal::BlockHeader) + 2 * sizeof(FlowRecord) + 40;
  ASSERT_EQ(truncate(path.c_str(), cut), 0);
  {
    auto j = FlowJournal::Open(path, &recovered);
    ASSERT_TRUE(j.ok());
    ASSERT_EQ(recovered.size(), 2u);
    EXPECT_EQ(recovered[0].packets, 5u);
    EXPECT_EQ(recovered[1].packets, 6u);
    EXPECT_EQ((*j)->bytes(), sizeof(FlowJournal::BlockHeader) + 2 * sizeof(FlowRecord));
    std::vector<FlowRecord> x = {Rec(1, 5, 1, 2)};
    (*j)->AppendExported(x);
  }
  auto j = FlowJournal::Open(path, &recovered);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].key.src_port, 2);
}

// A journal left by a tcflowd of the first format (one header per record, count 0) is
// still replayed after an upgrade.
TEST(JournalTest, ReadsTheFirstFormat) {
  JournalDir d;
  const std::string& path = d.path;
  std::vector<FlowJournal::Entry> old = {E(FlowJournal::kMerged, Rec(1, 5, 1, 2)),
                                         E(FlowJournal::kMerged, Rec(2, 6, 1, 2)),
                                         E(FlowJournal::kExported, Rec(1, 5, 1, 2))};
  int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  const ssize_t len = old.size() * sizeof(FlowJournal::Entry);
  ASSERT_EQ(write(fd, old.data(), len), len);
  close(fd);
  std::vector<FlowRecord> recovered;
  auto j = FlowJournal::Open(path, &recovered);
  ASSERT_TRUE(j.ok());
  ASSERT_EQ(recovered.size(), 1u);
  EXPECT_EQ(recovered[0].key.src_port, 2);
  EXPECT_EQ(recovered[0].packets, 6u);
}

}  // namespace
}  // namespace tcflow::tcflowd
