#include "daemon/flowlog/flow_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/control/json.h"
#include "gtest/gtest.h"

namespace tcflow::flowlog {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/tcflow_flowlog_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

FlowRecord Record(uint64_t id) {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.src_addr[10] = r.key.src_addr[11] = 0xff;
  r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
  r.key.src_addr[12] = 10;
  r.key.src_addr[15] = static_cast<uint8_t>(id);
  r.key.ip_version = 4;
  r.key.protocol = 17;
  r.packets = id;
  r.bytes = id * 100;
  r.start_ms = 1'700'000'000'000;
  r.end_ms = r.start_ms + 1;
  r.end_reason = FlowEndReason::kIdleTimeout;
  return r;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<std::string> lines = absl::StrSplit(ss.str(), '\n', absl::SkipEmpty());
  return lines;
}

TEST(FlowLogTest, WritesOneParsableLinePerRecordAndRotates) {
  TempDir dir;
  FlowLogOptions o;
  o.path = dir.path() + "/flows.jsonl";
  o.flush_bytes = 4096;  // several automatic flushes
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  struct stat st;
  ASSERT_EQ(stat(o.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  for (uint64_t i = 1; i <= 100; ++i) (*log)->Write(Record(i));
  ASSERT_TRUE((*log)->Flush().ok());
  EXPECT_EQ((*log)->stats().records_written, 100u);

  // logrotate: move the file away, then SIGHUP -> Reopen.
  ASSERT_EQ(rename(o.path.c_str(), (o.path + ".1").c_str()), 0);
  (*log)->Write(Record(101));  // buffered: goes to the old file on Reopen's flush
  ASSERT_TRUE((*log)->Reopen().ok());
  std::vector<FlowRecord> more;
  for (uint64_t i = 102; i <= 110; ++i) more.push_back(Record(i));
  (*log)->Write(more);
  ASSERT_TRUE((*log)->Flush().ok());

  auto old_lines = Lines(o.path + ".1");
  auto new_lines = Lines(o.path);
  ASSERT_EQ(old_lines.size(), 101u);
  ASSERT_EQ(new_lines.size(), 9u);
  uint64_t packets = 0;
  for (const auto* lines : {&old_lines, &new_lines}) {
    for (const auto& l : *lines) {
      auto v = control::ParseJson(l);
      ASSERT_TRUE(v.ok()) << l;
      packets += *v->GetUint("packets");
      EXPECT_EQ(v->GetString("end_reason"), "idle_timeout");
    }
  }
  EXPECT_EQ(packets, 110u * 111u / 2);
  EXPECT_EQ((*log)->stats().records_written, 110u);
  EXPECT_EQ((*log)->stats().reopens, 1u);
  EXPECT_EQ((*log)->stats().write_errors, 0u);
}

TEST(FlowLogTest, WriteErrorsAreCountedAndRecordsAccountedFor) {
  FlowLogOptions o;
  o.path = "/dev/full";  // every write fails with ENOSPC
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  for (uint64_t i = 1; i <= 10; ++i) (*log)->Write(Record(i));
  absl::Status s = (*log)->Flush();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot write flow log /dev/full"), std::string::npos) << s;
  EXPECT_EQ((*log)->stats().write_errors, 1u);
  EXPECT_EQ((*log)->stats().records_dropped, 10u);
  EXPECT_EQ((*log)->stats().records_written, 0u);
  // It keeps trying (reopening) at the next flush.
  (*log)->Write(Record(11));
  EXPECT_FALSE((*log)->Flush().ok());
  EXPECT_EQ((*log)->stats().write_errors, 2u);
  EXPECT_EQ((*log)->stats().records_dropped, 11u);
}

TEST(FlowLogTest, OpenErrorsNameThePath) {
  FlowLogOptions o;
  o.path = "/nonexistent-dir-tcflow/flows.jsonl";
  auto log = FlowLog::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("cannot open flow log /nonexistent-dir-tcflow/flows.jsonl"),
            std::string::npos);
  o.path = "";
  EXPECT_FALSE(FlowLog::Open(o).ok());
}

// A reader that stalls (a FIFO nobody reads) never blocks the writer: data waits in a
// bounded buffer, the excess is dropped and counted, and every record is either written
// or dropped.
TEST(FlowLogTest, StalledFifoReaderNeverBlocksAndCountsAreExact) {
  TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  FlowLogOptions o;
  o.path = fifo;
  o.flush_bytes = 16 * 1024;
  o.max_buffer_bytes = 64 * 1024;
  auto log = FlowLog::Open(o);
  ASSERT_TRUE(log.ok()) << log.status();
  const uint64_t kRecords = 20'000;  // ~10 MB: far beyond the pipe and the buffer
  for (uint64_t i = 0; i < kRecords; ++i) (*log)->Write(Record(i));
  EXPECT_TRUE((*log)->Flush().ok());
  EXPECT_GT((*log)->stats().records_dropped, 0u);
  EXPECT_GT((*log)->buffered_bytes(), 0u);

  // Now the reader catches up.
  std::string got;
  char buf[65536];
  for (int i = 0; i < 1000 && (*log)->buffered_bytes() > 0; ++i) {
    ssize_t n;
    while ((n = read(reader, buf, sizeof(buf))) > 0) got.append(buf, n);
    (void)(*log)->Flush();
  }
  ssize_t n;
  while ((n = read(reader, buf, sizeof(buf))) > 0) got.append(buf, n);
  close(reader);
  EXPECT_EQ((*log)->buffered_bytes(), 0u);
  const uint64_t lines = std::count(got.begin(), got.end(), '\n');
  EXPECT_EQ(lines, (*log)->stats().records_written);
  EXPECT_EQ((*log)->stats().records_written + (*log)->stats().records_dropped, kRecords);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), '\n');
}

}  // namespace
}  // namespace tcflow::flowlog
