#include "daemon/tcflowd/export_worker.h"

#include <pthread.h>

#include <utility>

namespace tcflow::tcflowd {

ExportWorker::ExportWorker(BatchJob export_batch, size_t max_pending)
    : export_batch_(std::move(export_batch)), max_pending_(max_pending < 1 ? 1 : max_pending) {
  thread_ = std::thread([this] { Run(); });
}

ExportWorker::~ExportWorker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void ExportWorker::WaitForRoom() {
  mu_.Await(absl::Condition(
      +[](ExportWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->pending_batches_ < w->max_pending_;
      },
      this));
}

void ExportWorker::EnqueueBatch(Item item) {
  item.counts = true;
  queue_.push_back(std::move(item));
  ++pending_batches_;
  ++batches_submitted_;
}

void ExportWorker::SubmitJob(Job job) {
  absl::MutexLock lock(&mu_);
  WaitForRoom();
  Item item;
  item.job = std::move(job);
  EnqueueBatch(std::move(item));
}

void ExportWorker::Submit(std::vector<FlowRecord>* records) {
  if (records->empty()) return;
  absl::MutexLock lock(&mu_);
  WaitForRoom();  // a batch that finished meanwhile leaves its vector in spares_
  Item item;
  item.batch.swap(*records);
  if (!spares_.empty()) {
    records->swap(spares_.back());
    spares_.pop_back();
  }
  EnqueueBatch(std::move(item));
}

void ExportWorker::Post(Job job) {
  absl::MutexLock lock(&mu_);
  Item item;
  item.job = std::move(job);
  queue_.push_back(std::move(item));
}

void ExportWorker::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](ExportWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->queue_.empty() && !w->running_;
      },
      this));
}

size_t ExportWorker::batches_submitted() const {
  absl::MutexLock lock(&mu_);
  return batches_submitted_;
}

void ExportWorker::Run() {
  pthread_setname_np(pthread_self(), "tcflowd-send");
  for (;;) {
    Item item;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ExportWorker* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return !w->queue_.empty() || w->stop_;
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing is left
      item = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
    }
    const bool is_batch = !item.job;
    {
      absl::MutexLock run(&run_mu_);
      if (is_batch) {
        export_batch_(item.batch);
      } else {
        item.job();
      }
    }
    absl::MutexLock lock(&mu_);
    running_ = false;
    if (item.counts) --pending_batches_;
    if (is_batch) {
      item.batch.clear();
      if (spares_.size() < max_pending_) spares_.push_back(std::move(item.batch));
    }
  }
}

}  // namespace tcflow::tcflowd
