#include "daemon/ipfix/decoder.h"

#include <arpa/inet.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "daemon/ipfix/wire.h"

namespace tcflow::ipfix {
namespace {

// More template entries than this in one session is an attack or a bug, not an exporter.
constexpr size_t kMaxTemplates = 4096;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed IPFIX message: ", what));
}

}  // namespace

std::string DecodedField::Name() const {
  if (ie != nullptr) return ie->name;
  if (enterprise != 0) return absl::StrCat("e", enterprise, "id", id);
  return absl::StrCat("ie", id);
}

uint64_t DecodedField::AsUnsigned() const {
  if (value.empty() || value.size() > 8) return 0;
  uint64_t v = 0;
  for (uint8_t b : value) v = v << 8 | b;
  return v;
}

std::string DecodedField::ValueText() const {
  if (ie == nullptr) {
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
  }
  switch (ie->type) {
    case IeType::kIpv4Address:
    case IeType::kIpv6Address: {
      char buf[INET6_ADDRSTRLEN] = {};
      if (value.size() == 4) {
        inet_ntop(AF_INET, value.data(), buf, sizeof(buf));
        return buf;
      }
      if (value.size() == 16) {
        inet_ntop(AF_INET6, value.data(), buf, sizeof(buf));
        return buf;
      }
      break;
    }
    case IeType::kString: {
      std::string s(value.begin(), value.end());
      for (char& c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      }
      return s;
    }
    default:
      if (value.size() <= 8 && !value.empty()) return absl::StrCat(AsUnsigned());
      break;
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
}

const DecodedField* DecodedRecord::Find(uint16_t id) const {
  for (const DecodedField& f : fields) {
    if (f.id == id && f.enterprise == 0) return &f;
  }
  return nullptr;
}

absl::Status Decoder::MessageLength(absl::Span<const uint8_t> bytes, size_t* length) {
  *length = 0;
  if (bytes.size() < kMessageHeaderSize) return absl::OkStatus();
  if (Get16(bytes.data()) != kIpfixVersion) {
    return Malformed(absl::StrCat("version ", Get16(bytes.data()), ", expected 10"));
  }
  size_t n = Get16(bytes.data() + 2);
  if (n < kMessageHeaderSize) {
    return Malformed(absl::StrCat("message length ", n, " is shorter than its header"));
  }
  *length = n;
  return absl::OkStatus();
}

absl::Status Decoder::Decode(absl::Span<const uint8_t> bytes, DecodedMessage* out) {
  *out = DecodedMessage();
  if (bytes.size() < kMessageHeaderSize) {
    return Malformed(absl::StrCat(bytes.size(), " bytes, shorter than a message header"));
  }
  const uint8_t* p = bytes.data();
  if (Get16(p) != kIpfixVersion) {
    return Malformed(absl::StrCat("version ", Get16(p), ", expected 10"));
  }
  out->length = Get16(p + 2);
  out->export_time = Get32(p + 4);
  out->sequence = Get32(p + 8);
  out->domain = Get32(p + 12);
  if (out->length != bytes.size()) {
    return Malformed(absl::StrCat("header says ", out->length, " bytes, got ", bytes.size()));
  }
  auto seq = next_sequence_.find(out->domain);
  if (seq != next_sequence_.end() && seq->second != out->sequence) {
    uint32_t gap = out->sequence - seq->second;
    out->warnings.push_back(absl::StrCat("sequence number ", out->sequence, ", expected ",
                                         seq->second, " (", gap, " records missed?)"));
    if (gap < 0x80000000u) records_missed_ += gap;
  }
  size_t pos = kMessageHeaderSize;
  absl::Status status;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < kSetHeaderSize) {
      status = Malformed(absl::StrCat("truncated set header at offset ", pos));
      break;
    }
    uint16_t set_id = Get16(p + pos);
    uint16_t set_len = Get16(p + pos + 2);
    if (set_len < kSetHeaderSize || set_len > bytes.size() - pos) {
      status = Malformed(absl::StrCat("set ", set_id, " at offset ", pos, " has length ",
                                      set_len, ", ", bytes.size() - pos, " bytes left"));
      break;
    }
    absl::Span<const uint8_t> body(p + pos + kSetHeaderSize, set_len - kSetHeaderSize);
    if (set_id == kTemplateSetId || set_id == kOptionsTemplateSetId) {
      status = DecodeTemplateSet(set_id, body, out);
    } else if (set_id >= kMinDataSetId) {
      status = DecodeDataSet(set_id, body, out);
    } else {
      status = Malformed(absl::StrCat("reserved set id ", set_id, " at offset ", pos));
    }
    if (!status.ok()) break;
    pos += set_len;
  }
  uint32_t records = 0;
  for (const DecodedRecord& r : out->records) {
    if (r.domain == out->domain) ++records;
  }
  next_sequence_[out->domain] = out->sequence + records;
  return status;
}

absl::Status Decoder::DecodeTemplateSet(uint16_t set_id, absl::Span<const uint8_t> body,
                                        DecodedMessage* out) {
  const bool options = set_id == kOptionsTemplateSetId;
  const size_t min_header = options ? 6 : 4;
  size_t pos = 0;
  // Anything shorter than a template record header at the end is padding.
  while (body.size() - pos >= min_header) {
    const uint8_t* p = body.data() + pos;
    TemplateDescription desc;
    desc.domain = out->domain;
    desc.id = Get16(p);
    desc.options = options;
    uint16_t count = Get16(p + 2);
    if (desc.id < kMinDataSetId) {
      return Malformed(absl::StrCat("template id ", desc.id, " is below 256"));
    }
    if (count == 0) {
      // Withdrawal (4 bytes even in an options template set).
      desc.withdrawal = true;
      templates_.erase({out->domain, desc.id});
      out->templates.push_back(desc);
      pos += 4;
      continue;
    }
    Tmpl t;
    t.options = options;
    if (options) {
      t.scope_count = Get16(p + 4);
      if (t.scope_count == 0 || t.scope_count > count) {
        return Malformed(absl::StrCat("options template ", desc.id, " has scope count ",
                                      t.scope_count, " of ", count, " fields"));
      }
    }
    desc.scope_count = t.scope_count;
    pos += min_header;
    for (uint16_t i = 0; i < count; ++i) {
      if (body.size() - pos < 4) {
        return Malformed(absl::StrCat("template ", desc.id, " is cut short at field ", i));
      }
      uint16_t id = Get16(body.data() + pos);
      uint16_t length = Get16(body.data() + pos + 2);
      pos += 4;
      uint32_t enterprise = 0;
      if (id & 0x8000) {
        if (body.size() - pos < 4) {
          return Malformed(absl::StrCat("template ", desc.id, " is cut short at field ", i));
        }
        enterprise = Get32(body.data() + pos);
        pos += 4;
      }
      t.fields.push_back({static_cast<uint16_t>(id & 0x7fff), enterprise, length});
      desc.fields.emplace_back(id, length);
    }
    if (templates_.size() >= kMaxTemplates && !templates_.count({out->domain, desc.id})) {
      return Malformed(absl::StrCat("more than ", kMaxTemplates, " templates"));
    }
    templates_[{out->domain, desc.id}] = std::move(t);
    out->templates.push_back(std::move(desc));
  }
  if (pos != body.size()) {
    out->warnings.push_back(absl::StrCat(body.size() - pos, " bytes of padding in set ",
                                         set_id));
  }
  return absl::OkStatus();
}

absl::Status Decoder::DecodeDataSet(uint16_t set_id, absl::Span<const uint8_t> body,
                                    DecodedMessage* out) {
  auto it = templates_.find({out->domain, set_id});
  if (it == templates_.end()) {
    out->warnings.push_back(absl::StrCat("data set ", set_id, " (", body.size(),
                                         " bytes) for a template not received yet"));
    return absl::OkStatus();
  }
  const Tmpl& t = it->second;
  size_t pos = 0;
  while (pos < body.size()) {
    DecodedRecord rec;
    rec.domain = out->domain;
    rec.template_id = set_id;
    rec.options = t.options;
    rec.scope_count = t.scope_count;
    size_t p = pos;
    bool complete = true;
    for (const Field& f : t.fields) {
      size_t length = f.length;
      if (length == kVariableLength) {
        if (p >= body.size()) {
          complete = false;
          break;
        }
        length = body[p++];
        if (length == 255) {
          if (body.size() - p < 2) {
            complete = false;
            break;
          }
          length = Get16(body.data() + p);
          p += 2;
        }
      }
      if (body.size() - p < length) {
        complete = false;
        break;
      }
      DecodedField field;
      field.id = f.id;
      field.enterprise = f.enterprise;
      field.ie = f.enterprise == 0 ? FindInformationElementById(f.id) : nullptr;
      field.value.assign(body.begin() + p, body.begin() + p + length);
      rec.fields.push_back(std::move(field));
      p += length;
    }
    if (!complete || p == pos) {
      // What is left is too short for a record: padding (RFC 7011 3.3.1), if short.
      out->warnings.push_back(absl::StrCat(body.size() - pos, " bytes of padding in set ",
                                           set_id));
      break;
    }
    out->records.push_back(std::move(rec));
    pos = p;
  }
  return absl::OkStatus();
}

}  // namespace tcflow::ipfix
