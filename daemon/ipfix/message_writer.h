// Writes one IPFIX message into a caller-owned buffer: header, then sets of records. Never
// allocates and never writes past the capacity: a record that does not fit is refused
// whole, so the caller closes the message and starts the next one (records never split).
//
//   MessageWriter w(buffer, capacity, export_time, sequence, domain);
//   w.OpenSet(256);  uint8_t* rec = w.Reserve(66);  ...  size_t length = w.Finish();
//
// No padding is ever written: RFC 7011 makes it optional, and collectors have rejected
// padding they did not expect.

#ifndef TCFLOW_DAEMON_IPFIX_MESSAGE_WRITER_H_
#define TCFLOW_DAEMON_IPFIX_MESSAGE_WRITER_H_

#include <cstddef>
#include <cstdint>

#include "daemon/ipfix/wire.h"

namespace tcflow::ipfix {

class MessageWriter {
 public:
  MessageWriter() = default;
  MessageWriter(uint8_t* buffer, size_t capacity, uint32_t export_time, uint32_t sequence,
                uint32_t domain) {
    Begin(buffer, capacity, export_time, sequence, domain);
  }

  void Begin(uint8_t* buffer, size_t capacity, uint32_t export_time, uint32_t sequence,
             uint32_t domain) {
    buf_ = buffer;
    cap_ = capacity > 65535 ? 65535 : capacity;
    Put16(buf_, kIpfixVersion);
    Put32(buf_ + 4, export_time);
    Put32(buf_ + 8, sequence);
    Put32(buf_ + 12, domain);
    pos_ = kMessageHeaderSize;
    set_start_ = 0;
    set_id_ = 0;
  }

  bool active() const { return buf_ != nullptr; }
  uint16_t set_id() const { return set_id_; }  // 0: no set open
  size_t size() const { return pos_; }
  size_t remaining() const { return cap_ - pos_; }
  // True when nothing but the header has been written.
  bool empty() const { return pos_ == kMessageHeaderSize; }

  // Opens a set (closing the open one) if a set header plus `first_record` bytes fit.
  bool OpenSet(uint16_t set_id, size_t first_record) {
    CloseSet();
    if (remaining() < kSetHeaderSize + first_record) return false;
    set_start_ = pos_;
    set_id_ = set_id;
    Put16(buf_ + pos_, set_id);
    pos_ += kSetHeaderSize;
    return true;
  }

  // Space for one record of `length` bytes in the open set, or nullptr if it does not fit.
  uint8_t* Reserve(size_t length) {
    if (set_id_ == 0 || remaining() < length) return nullptr;
    uint8_t* p = buf_ + pos_;
    pos_ += length;
    return p;
  }

  void CloseSet() {
    if (set_id_ == 0) return;
    Put16(buf_ + set_start_ + 2, static_cast<uint16_t>(pos_ - set_start_));
    set_id_ = 0;
  }

  // Closes the message and returns its length; the writer is then inactive.
  size_t Finish() {
    CloseSet();
    Put16(buf_ + 2, static_cast<uint16_t>(pos_));
    buf_ = nullptr;
    return pos_;
  }

 private:
  uint8_t* buf_ = nullptr;
  size_t cap_ = 0;
  size_t pos_ = 0;
  size_t set_start_ = 0;
  uint16_t set_id_ = 0;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_MESSAGE_WRITER_H_
