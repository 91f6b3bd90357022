#include "daemon/ipfix/exporter.h"

#include <cstring>
#include <utility>

namespace tcflow::ipfix {
namespace {

// Writes a variable-length string field (RFC 7011 7: one length byte below 255, else
// 255 and a 16-bit length). Returns the bytes written.
size_t PutString(uint8_t* p, const std::string& s, size_t max) {
  size_t n = s.size() > max ? max : s.size();
  if (n < 255) {
    p[0] = static_cast<uint8_t>(n);
    std::memcpy(p + 1, s.data(), n);
    return 1 + n;
  }
  p[0] = 255;
  Put16(p + 1, static_cast<uint16_t>(n));
  std::memcpy(p + 3, s.data(), n);
  return 3 + n;
}

size_t StringFieldSize(const std::string& s, size_t max) {
  size_t n = s.size() > max ? max : s.size();
  return n < 255 ? 1 + n : 3 + n;
}

// Names longer than this are cut: an interface record must always fit a message.
constexpr size_t kMaxStringLength = 200;

}  // namespace

absl::StatusOr<std::unique_ptr<Exporter>> Exporter::Create(
    const ExporterOptions& options, std::unique_ptr<Transport> transport) {
  std::vector<std::string> v4_names =
      options.ipv4_elements.empty() ? DefaultTemplateElementNames() : options.ipv4_elements;
  std::vector<std::string> v6_names =
      options.ipv6_elements.empty() ? DefaultTemplateElementNames() : options.ipv6_elements;
  absl::StatusOr<Template> v4 = BuildFlowTemplate(kIpv4TemplateId, 4, v4_names);
  if (!v4.ok()) return v4.status();
  absl::StatusOr<Template> v6 = BuildFlowTemplate(kIpv6TemplateId, 6, v6_names);
  if (!v6.ok()) return v6.status();
  // The largest single thing we write: the template message, or one record.
  size_t need = kMessageHeaderSize + 4 * kSetHeaderSize + v4->TemplateRecordSize() +
                v6->TemplateRecordSize() + ReliabilityOptionsTemplate().TemplateRecordSize() +
                MeteringOptionsTemplate().TemplateRecordSize() +
                InterfaceOptionsTemplate().TemplateRecordSize();
  if (transport->max_message_size() < need) {
    return absl::InvalidArgumentError(
        "the MTU leaves too little room for the templates in one message");
  }
  return std::unique_ptr<Exporter>(
      new Exporter(options, std::move(transport), *std::move(v4), *std::move(v6)));
}

Exporter::Exporter(const ExporterOptions& options, std::unique_ptr<Transport> transport,
                   Template v4, Template v6)
    : options_(options),
      transport_(std::move(transport)),
      v4_(std::move(v4)),
      v6_(std::move(v6)),
      reliability_(ReliabilityOptionsTemplate()),
      metering_template_(MeteringOptionsTemplate()),
      interface_template_(InterfaceOptionsTemplate()) {}

ExporterStats Exporter::stats() const {
  ExporterStats s = stats_;
  s.loss.Merge(transport_->loss());
  s.collector_up = transport_->up();
  for (size_t i = held_first_; i < held_.size(); ++i) {
    ++s.held_messages;
    s.held_records += held_[i].info.flow_records;
    s.held_packets += held_[i].info.packets;
    s.held_octets += held_[i].info.octets;
    s.held_message_bytes += held_[i].length;
  }
  return s;
}

void Exporter::StartMessage(absl::Time now) {
  if (holding_ && hold_scratch_.size() < transport_->max_message_size()) {
    hold_scratch_.resize(transport_->max_message_size());
  }
  writer_.Begin(holding_ ? hold_scratch_.data() : transport_->Buffer(),
                transport_->max_message_size(),
                static_cast<uint32_t>(absl::ToUnixSeconds(now)), sequence_,
                options_.observation_domain_id);
  info_ = MessageInfo();
}

Exporter::Outcome Exporter::CommitMessage(absl::Time now) {
  size_t length = writer_.Finish();
  if (holding_) return Hold(hold_scratch_.data(), length, now);
  if (!transport_->Commit(length, info_, now)) {
    if (may_hold_) {
      // The transport's queue is full: this and the rest of the batch wait in the hold,
      // behind nothing, so the order of messages stays.
      holding_ = true;
      return Hold(transport_->Buffer(), length, now);
    }
    stats_.loss.Add(info_, now);
    return Outcome::kLost;
  }
  // RFC 7011: the sequence number counts the data records sent in this session.
  sequence_ += info_.records;
  ++stats_.messages;
  stats_.octets += length;
  return Outcome::kSent;
}

Exporter::Outcome Exporter::Hold(const uint8_t* data, size_t length, absl::Time now) {
  if (held_live_bytes_ + length > options_.hold_bytes) {
    stats_.loss.Add(info_, now);
    return Outcome::kLost;
  }
  if (held_first_ > 0) {
    // Drop the part already replayed (rare: only after a partial replay).
    size_t from = held_[held_first_].offset;
    held_data_.erase(held_data_.begin(), held_data_.begin() + from);
    held_.erase(held_.begin(), held_.begin() + held_first_);
    for (Held& h : held_) h.offset -= from;
    held_first_ = 0;
  }
  size_t offset = held_data_.size();
  held_data_.insert(held_data_.end(), data, data + length);
  held_.push_back({offset, length, info_});
  held_live_bytes_ += length;
  return Outcome::kHeld;
}

void Exporter::Reclaim(absl::Time now) {
  std::vector<Held> held;
  std::vector<uint8_t> data;
  size_t live = 0;
  transport_->TakeUnsent([&](const uint8_t* p, size_t length, const MessageInfo& info) {
    // They were counted as sent when the transport accepted them.
    --stats_.messages;
    stats_.octets -= length;
    stats_.flow_records -= info.flow_records;
    if (transport_->datagram() || live + held_live_bytes_ + length > options_.hold_bytes) {
      stats_.loss.Add(info, now);
      return;
    }
    held.push_back({data.size(), length, info});
    data.insert(data.end(), p, p + length);
    live += length;
  });
  if (held.empty()) return;
  for (size_t i = held_first_; i < held_.size(); ++i) {
    const Held& h = held_[i];
    held.push_back({data.size(), h.length, h.info});
    data.insert(data.end(), held_data_.begin() + h.offset, held_data_.begin() + h.offset + h.length);
    live += h.length;
  }
  held_ = std::move(held);
  held_data_ = std::move(data);
  held_first_ = 0;
  held_live_bytes_ = live;
}

void Exporter::Replay(absl::Time now) {
  while (held_first_ < held_.size()) {
    if (transport_->session() == 0 || transport_->session() != templates_session_) return;
    const Held& h = held_[held_first_];
    uint8_t* buffer = transport_->Buffer();
    std::memcpy(buffer, held_data_.data() + h.offset, h.length);
    // The sequence number is this session's (RFC 7011 10.4.3: it restarts with each
    // session); the export time stays the time the message was built.
    Put32(buffer + 8, sequence_);
    if (!transport_->Commit(h.length, h.info, now)) return;  // queue full: next time
    sequence_ += h.info.records;
    ++stats_.messages;
    stats_.octets += h.length;
    stats_.flow_records += h.info.flow_records;
    held_live_bytes_ -= h.length;
    ++held_first_;
  }
  held_.clear();
  held_data_.clear();
  held_first_ = 0;
}

bool Exporter::EnsureTemplates(absl::Time now) {
  Reclaim(now);
  uint64_t session = transport_->session();
  if (session == 0) return false;
  if (session != templates_session_) {
    // A new transport session: its sequence numbers start at 0 (RFC 7011 10.4.3 for
    // TCP; a new UDP socket is a new session too).
    sequence_ = 0;
    return SendTemplatesAndOptions(now);
  }
  if (transport_->datagram() && now - last_templates_ >= options_.template_refresh) {
    SendTemplatesAndOptions(now);  // a failed refresh is retried at the next call
  }
  return true;
}

bool Exporter::SendTemplatesAndOptions(absl::Time now) {
  // Message 1: the template set and the options template set (they always fit: checked in
  // Create()).
  StartMessage(now);
  writer_.OpenSet(kTemplateSetId, 0);
  for (const Template* t : {&v4_, &v6_}) {
    t->WriteTemplateRecord(writer_.Reserve(t->TemplateRecordSize()));
  }
  if (options_.options_records) {
    // One options template per set: RFC 7011 allows several, but pmacct 1.7 rejects an
    // options template set holding more than one as malformed.
    for (const Template* t : {&reliability_, &metering_template_, &interface_template_}) {
      writer_.OpenSet(kOptionsTemplateSetId, 0);
      t->WriteTemplateRecord(writer_.Reserve(t->TemplateRecordSize()));
    }
  }
  if (CommitMessage(now) != Outcome::kSent) return false;
  templates_session_ = transport_->session();
  last_templates_ = now;
  ++stats_.template_sends;
  if (!options_.options_records) return true;

  // Then the options records, packed into as few messages as fit.
  StartMessage(now);
  auto reserve = [&](uint16_t set_id, size_t length) -> uint8_t* {
    if (writer_.set_id() == set_id) {
      if (uint8_t* p = writer_.Reserve(length)) return p;
    } else if (writer_.OpenSet(set_id, length)) {
      return writer_.Reserve(length);
    }
    CommitMessage(now);
    StartMessage(now);
    writer_.OpenSet(set_id, length);
    return writer_.Reserve(length);
  };
  {
    ExporterStats s = stats();
    uint8_t* p = reserve(reliability_.id, reliability_.record_length);
    Put32(p, options_.exporting_process_id);
    Put64(p + 4, s.loss.records);
    Put64(p + 12, s.loss.packets);
    Put64(p + 20, s.loss.octets);
    Put64(p + 28, static_cast<uint64_t>(s.loss.first_loss_ms));
    Put64(p + 36, static_cast<uint64_t>(s.loss.last_loss_ms));
    ++info_.records;
    p = reserve(metering_template_.id, metering_template_.record_length);
    Put32(p, options_.observation_domain_id);
    Put64(p + 4, metering_.packets_observed);
    Put64(p + 12, metering_.octets_observed);
    Put64(p + 20, metering_.flows_observed);
    Put64(p + 28, metering_.packets_ignored);
    Put64(p + 36, s.messages);
    Put64(p + 44, s.flow_records);
    Put64(p + 52, s.octets);
    ++info_.records;
  }
  for (const InterfaceInfo& itf : interfaces_) {
    size_t length = 4 + StringFieldSize(itf.name, kMaxStringLength) +
                    StringFieldSize(itf.description, kMaxStringLength);
    uint8_t* p = reserve(interface_template_.id, length);
    Put32(p, itf.ifindex);
    p += 4;
    p += PutString(p, itf.name, kMaxStringLength);
    PutString(p, itf.description, kMaxStringLength);
    ++info_.records;
  }
  stats_.options_records += 2 + interfaces_.size();
  CommitMessage(now);
  return true;
}

void Exporter::Export(absl::Span<const FlowRecord> records, absl::Time now) {
  bool ready = EnsureTemplates(now);
  if (ready) Replay(now);
  if (ready && transport_->datagram() && !transport_->up() && !records.empty() &&
      last_templates_ != now) {
    // The UDP collector was found down (ICMP port unreachable): when it comes back it
    // knows no templates, and would drop data until the next refresh. So while it is
    // down, every batch starts with the templates.
    SendTemplatesAndOptions(now);
  }
  const bool may_hold = options_.hold_bytes > 0 && !transport_->datagram();
  if (!ready && !may_hold) {
    // No session (TCP collector down) or its templates could not be queued: nothing of
    // this batch can be sent. Counted, never silent.
    MessageInfo lost;
    for (const FlowRecord& r : records) {
      ++lost.records;
      lost.packets += r.packets;
      lost.octets += r.bytes;
    }
    if (lost.records > 0) {
      stats_.loss.records += lost.records;
      stats_.loss.packets += lost.packets;
      stats_.loss.octets += lost.octets;
      int64_t ms = absl::ToUnixMillis(now);
      if (stats_.loss.first_loss_ms == 0) stats_.loss.first_loss_ms = ms;
      stats_.loss.last_loss_ms = ms;
    }
    transport_->Flush(now);
    return;
  }
  // Without a session, or behind messages still held, this batch goes to the hold too.
  holding_ = may_hold && (!ready || held_first_ < held_.size());
  may_hold_ = may_hold;
  uint64_t flow_records = 0;
  auto encode = [&](const Template& t, const FlowRecord& r) __attribute__((always_inline)) {
    if (!writer_.active()) StartMessage(now);
    uint8_t* p = nullptr;
    if (writer_.set_id() == t.id) p = writer_.Reserve(t.record_length);
    if (p == nullptr) {
      if (!writer_.OpenSet(t.id, t.record_length)) {
        if (CommitMessage(now) == Outcome::kSent) flow_records += info_.flow_records;
        StartMessage(now);
        writer_.OpenSet(t.id, t.record_length);
      }
      p = writer_.Reserve(t.record_length);
    }
    EncodeFlowRecord(t, r, p);
    ++info_.records;
    ++info_.flow_records;
    info_.packets += r.packets;
    info_.octets += r.bytes;
  };
  // IPv4 records first, then IPv6: one data set per family and message, not one per change
  // of family (a set header is 4 bytes, a record 66). One pass over the batch (records are
  // 112 bytes; a batch of a million is read once, not twice): IPv6 ones are noted.
  v6_pending_.clear();
  for (const FlowRecord& r : records) {
    if (r.is_ipv6()) {
      v6_pending_.push_back(&r);
    } else {
      encode(v4_, r);
    }
  }
  for (const FlowRecord* r : v6_pending_) encode(v6_, *r);
  if (writer_.active()) {
    if (CommitMessage(now) == Outcome::kSent) flow_records += info_.flow_records;
  }
  holding_ = false;
  may_hold_ = false;
  stats_.flow_records += flow_records;
  transport_->Flush(now);
}

void Exporter::DropHeld(absl::Time now) {
  Reclaim(now);
  for (size_t i = held_first_; i < held_.size(); ++i) stats_.loss.Add(held_[i].info, now);
  held_.clear();
  held_data_.clear();
  held_first_ = 0;
  held_live_bytes_ = 0;
}

void Exporter::Tick(absl::Time now) {
  transport_->Flush(now);
  if (EnsureTemplates(now)) {
    Replay(now);
    transport_->Flush(now);
  }
}

}  // namespace tcflow::ipfix
