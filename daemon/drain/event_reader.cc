#include "daemon/drain/event_reader.h"

#include <errno.h>

#include <cstring>

#include <bpf/libbpf.h>

namespace tcflow {

absl::StatusOr<std::unique_ptr<EventReader>> EventReader::Create(int ringbuf_map_fd,
                                                                 Callback callback) {
  std::unique_ptr<EventReader> r(new EventReader());
  r->callback_ = std::move(callback);
  r->rb_ = ring_buffer__new(ringbuf_map_fd, &EventReader::OnSample, r.get(), nullptr);
  if (r->rb_ == nullptr) return absl::ErrnoToStatus(errno, "open the event ring buffer");
  return r;
}

EventReader::~EventReader() { ring_buffer__free(rb_); }

int EventReader::OnSample(void* ctx, void* data, size_t size) {
  EventReader* self = static_cast<EventReader*>(ctx);
  if (size < sizeof(tcflow_event)) {
    ++self->malformed_;
    return 0;
  }
  tcflow_event ev;
  std::memcpy(&ev, data, sizeof(ev));  // ring-buffer records are only 8-byte aligned
  self->callback_(ev);
  return 0;
}

absl::StatusOr<int> EventReader::Poll(int timeout_ms) {
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return absl::ErrnoToStatus(-n, "poll the event ring buffer");
  return n < 0 ? 0 : n;
}

absl::StatusOr<int> EventReader::Consume() {
  int n = ring_buffer__consume(rb_);
  if (n < 0) return absl::ErrnoToStatus(-n, "read the event ring buffer");
  return n;
}

int EventReader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

}  // namespace tcflow
