// Reads tcflow_event records from the ring buffer (libbpf ring_buffer API). The callback
// runs on the polling thread, once per event; it must not block.

#ifndef TCFLOW_DAEMON_DRAIN_EVENT_READER_H_
#define TCFLOW_DAEMON_DRAIN_EVENT_READER_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/tcflow_abi.h"

struct ring_buffer;

namespace tcflow {

class EventReader {
 public:
  using Callback = std::function<void(const tcflow_event&)>;

  static absl::StatusOr<std::unique_ptr<EventReader>> Create(int ringbuf_map_fd,
                                                             Callback callback);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Waits up to timeout_ms for events and handles them; returns how many.
  absl::StatusOr<int> Poll(int timeout_ms);
  // Handles what is there now without waiting.
  absl::StatusOr<int> Consume();
  // For the daemon's own epoll loop.
  int epoll_fd() const;
  // Records shorter than struct tcflow_event (a version mismatch), skipped.
  uint64_t malformed() const { return malformed_; }

 private:
  EventReader() = default;
  static int OnSample(void* ctx, void* data, size_t size);

  ring_buffer* rb_ = nullptr;
  Callback callback_;
  uint64_t malformed_ = 0;
};

}  // namespace tcflow

#endif  // TCFLOW_DAEMON_DRAIN_EVENT_READER_H_
