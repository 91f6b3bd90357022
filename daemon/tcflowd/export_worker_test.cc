#include "daemon/tcflowd/export_worker.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

FlowRecord Rec(uint64_t packets) {
  FlowRecord r{};
  r.packets = packets;
  return r;
}

// Batches and jobs run in the order they were queued, each record exactly once, and the
// caller gets its vector back empty.
TEST(ExportWorkerTest, RunsBatchesAndJobsInOrderExactlyOnce) {
  std::vector<uint64_t> seen;  // only touched by the worker, read after WaitIdle
  std::vector<int> jobs_at;    // how many records had been seen when each job ran
  ExportWorker worker([&](std::vector<FlowRecord>& batch) {
    for (const FlowRecord& r : batch) seen.push_back(r.packets);
  });
  std::vector<FlowRecord> ended;
  uint64_t next = 1;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 1 + round % 7; ++i) ended.push_back(Rec(next++));
    worker.Submit(&ended);
    EXPECT_TRUE(ended.empty());
    if (round % 50 == 0) worker.Post([&] { jobs_at.push_back(static_cast<int>(seen.size())); });
  }
  worker.WaitIdle();
  ASSERT_EQ(seen.size(), next - 1);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i + 1) << "out of order at " << i;
  // Each job saw exactly the records submitted before it was posted.
  ASSERT_EQ(jobs_at.size(), 4u);
  EXPECT_EQ(jobs_at[0], 1);  // round 0 submitted 1 record
  EXPECT_EQ(worker.batches_submitted(), 200u);
}

// Submit() blocks while max_pending batches wait: a stuck exporter holds the drain back
// instead of queueing without bound.
TEST(ExportWorkerTest, SubmitWaitsWhenBatchesPileUp) {
  absl::Notification release;
  std::atomic<int> exported{0};
  ExportWorker worker(
      [&](std::vector<FlowRecord>& batch) {
        release.WaitForNotification();
        exported += static_cast<int>(batch.size());
      },
      /*max_pending=*/2);
  std::atomic<int> submitted{0};
  std::thread producer([&] {
    for (int i = 0; i < 4; ++i) {
      std::vector<FlowRecord> b = {Rec(1)};
      worker.Submit(&b);
      ++submitted;
    }
  });
  absl::SleepFor(absl::Milliseconds(200));
  // One batch runs (stuck), one waits: the third Submit() blocks.
  EXPECT_EQ(submitted.load(), 2);
  release.Notify();
  producer.join();
  worker.WaitIdle();
  EXPECT_EQ(exported.load(), 4);
}

// Locked() never overlaps a running job; the destructor runs what is still queued.
TEST(ExportWorkerTest, LockedExcludesJobsAndDestructorFinishesTheQueue) {
  std::atomic<bool> in_job{false};
  std::atomic<int> overlaps{0};
  int total = 0;
  {
    ExportWorker worker([&](std::vector<FlowRecord>& batch) {
      in_job = true;
      absl::SleepFor(absl::Microseconds(200));
      total += static_cast<int>(batch.size());
      in_job = false;
    });
    for (int i = 0; i < 50; ++i) {
      std::vector<FlowRecord> b = {Rec(1), Rec(2)};
      worker.Submit(&b);
      worker.Locked([&] {
        if (in_job) ++overlaps;
      });
    }
  }
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(total, 100);
}

}  // namespace
}  // namespace tcflow::tcflowd
