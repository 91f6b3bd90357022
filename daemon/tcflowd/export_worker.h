// The export half of tcflowd's pipeline on a thread of its own: while the pipeline thread
// drains the kernel tables into the flow cache and ends flows, this thread encodes and
// sends what ended before (IPFIX, flow log, the journal's "exported" marks). On a router
// with a table of a million flows the two halves take about the same time, so running them
// side by side on two cores nearly doubles the records exported per second.
//
// Order is kept: jobs (batches of ended records and other work on the export side, such as
// a template refresh) run one at a time, in the order they were queued. Exactness is kept:
// a batch is handed over whole and exported exactly once. At most `max_pending` batches
// are handed over and not yet exported (the one being sent included); Submit() blocks
// beyond that, so a slow collector slows the drain down (the kernel
// tables then fill and count the overflow) instead of growing memory without bound.
//
// The export-side objects (exporters, flow log, journal) are used by jobs and by the owner
// through Locked(), never both at once.

#ifndef TCFLOW_DAEMON_TCFLOWD_EXPORT_WORKER_H_
#define TCFLOW_DAEMON_TCFLOWD_EXPORT_WORKER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::tcflowd {

class ExportWorker {
 public:
  using Job = std::function<void()>;
  using BatchJob = std::function<void(std::vector<FlowRecord>&)>;

  // `export_batch` runs on the worker thread for every submitted batch.
  explicit ExportWorker(BatchJob export_batch, size_t max_pending = 2);
  ExportWorker(const ExportWorker&) = delete;
  ExportWorker& operator=(const ExportWorker&) = delete;
  // Runs everything queued, then stops the thread.
  ~ExportWorker();

  // Hands the records over (*records comes back empty, usually with the capacity of an
  // earlier batch, so the steady state allocates nothing). Blocks while max_pending
  // batches are not yet exported.
  void Submit(std::vector<FlowRecord>* records);
  // Queues `job` behind what is queued.
  void Post(Job job);
  // Like Post(), but `job` exports a batch of its own (records it finds elsewhere, e.g. in
  // the flow cache's outbox): it counts towards max_pending like a submitted batch.
  void SubmitJob(Job job);
  // Returns when everything queued so far has run.
  void WaitIdle();
  // Runs `f` on the calling thread while no job runs (for reading or replacing the
  // export-side objects).
  template <typename F>
  void Locked(F&& f) {
    absl::MutexLock lock(&run_mu_);
    f();
  }

  // Batches and records handed over so far (the pipeline's status).
  size_t batches_submitted() const;

 private:
  struct Item {
    Job job;                        // or, when empty, a batch:
    std::vector<FlowRecord> batch;
    bool counts = false;  // a batch, or a SubmitJob() job
  };
  void Run();
  // Waits while max_pending batches are in flight.
  void WaitForRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `item` as a batch in flight.
  void EnqueueBatch(Item item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BatchJob export_batch_;
  const size_t max_pending_;
  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t pending_batches_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // an item taken, not yet finished
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  size_t batches_submitted_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::vector<FlowRecord>> spares_ ABSL_GUARDED_BY(mu_);
  absl::Mutex run_mu_;  // held while a job runs, and by Locked()
  std::thread thread_;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_EXPORT_WORKER_H_
