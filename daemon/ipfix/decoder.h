// Decodes IPFIX messages from any source, trusting nothing: every length is checked
// against the bytes that are really there, so truncated or hostile input gives an error,
// never a crash or a hang. Templates are learned per session and observation domain.
//
// One Decoder is one transport session (a UDP exporter address, a TCP connection, a file).

#ifndef TCFLOW_DAEMON_IPFIX_DECODER_H_
#define TCFLOW_DAEMON_IPFIX_DECODER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "daemon/ipfix/information_elements.h"

namespace tcflow::ipfix {

struct DecodedField {
  uint16_t id = 0;
  uint32_t enterprise = 0;
  const InformationElement* ie = nullptr;  // nullptr: not an element tcflow knows
  std::vector<uint8_t> value;              // raw bytes as on the wire

  // The field's name ("octetDeltaCount", or "e<PEN>id<N>"/"ie<N>" when unknown).
  std::string Name() const;
  // The value as text: numbers in decimal, addresses in their usual form, strings as is,
  // unknown elements in hex.
  std::string ValueText() const;
  // Unsigned integers of any size up to 8 bytes (also timestamps); 0 otherwise.
  uint64_t AsUnsigned() const;
};

struct DecodedRecord {
  uint32_t domain = 0;
  uint16_t template_id = 0;
  bool options = false;
  uint16_t scope_count = 0;
  std::vector<DecodedField> fields;

  // The first field with element `id` (enterprise 0), or nullptr.
  const DecodedField* Find(uint16_t id) const;
};

struct TemplateDescription {
  uint32_t domain = 0;
  uint16_t id = 0;
  bool options = false;
  uint16_t scope_count = 0;
  std::vector<std::pair<uint16_t, uint16_t>> fields;  // (element id | enterprise bit, length)
  bool withdrawal = false;
};

struct DecodedMessage {
  uint16_t length = 0;
  uint32_t export_time = 0;
  uint32_t sequence = 0;
  uint32_t domain = 0;
  std::vector<TemplateDescription> templates;
  std::vector<DecodedRecord> records;
  // Things a collector would note without rejecting the message: data sets for templates
  // not (yet) known, sequence gaps, padding.
  std::vector<std::string> warnings;
};

class Decoder {
 public:
  // Decodes one message, which must be exactly `bytes` long (use MessageLength() to split
  // a stream). On error `out` holds what was decoded before the bad part.
  absl::Status Decode(absl::Span<const uint8_t> bytes, DecodedMessage* out);

  // The total length a stream's next message announces, once its header is there:
  // 0 if fewer than 16 bytes are available, an error for a bad version or length.
  static absl::Status MessageLength(absl::Span<const uint8_t> bytes, size_t* length);

  size_t template_count() const { return templates_.size(); }
  // Data records seen per domain, and records the sequence numbers said were missed.
  uint64_t records_missed() const { return records_missed_; }

 private:
  struct Field {
    uint16_t id;
    uint32_t enterprise;
    uint16_t length;
  };
  struct Tmpl {
    bool options = false;
    uint16_t scope_count = 0;
    std::vector<Field> fields;
  };
  absl::Status DecodeTemplateSet(uint16_t set_id, absl::Span<const uint8_t> body,
                                 DecodedMessage* out);
  absl::Status DecodeDataSet(uint16_t set_id, absl::Span<const uint8_t> body,
                             DecodedMessage* out);

  std::map<std::pair<uint32_t, uint16_t>, Tmpl> templates_;  // (domain, id)
  std::map<uint32_t, uint32_t> next_sequence_;               // per domain
  uint64_t records_missed_ = 0;
};

}  // namespace tcflow::ipfix

#endif  // TCFLOW_DAEMON_IPFIX_DECODER_H_
