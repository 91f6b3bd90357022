#include "daemon/ipfix/decoder.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/memory_transport.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

std::vector<uint8_t> FromHex(absl::string_view hex) {
  std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// A message with a template (id 256: sourceIPv4Address, an enterprise element of 2 bytes,
// interfaceName variable) and one data set, as hex pieces.
const char kTemplateMsg[] =
    "000a0028" "00000001" "00000000" "00000007"    // header, length 40
    "00020018" "01000003"                          // template set, template 256, 3 fields
    "00080004" "80010002" "00007a69" "0052ffff";   // PEN 31337
const char kDataMsg[] =
    "000a002c" "00000001" "00000000" "00000007"
    "0100001c"
    "c0000201" "abcd" "03" "657468"                // 192.0.2.1, e31337id1, "eth"
    "0a000001" "0001" "ff0005" "6c6f6e6731";       // 10.0.0.1, 3-byte length form, "long1"

TEST(DecoderTest, TemplatesEnterpriseAndVariableLength) {
  Decoder d;
  DecodedMessage m;
  ASSERT_EQ(d.Decode(FromHex(kTemplateMsg), &m), absl::OkStatus());
  ASSERT_EQ(m.templates.size(), 1u);
  EXPECT_EQ(m.templates[0].id, 256);
  EXPECT_EQ(m.domain, 7u);
  ASSERT_TRUE(d.Decode(FromHex(kDataMsg), &m).ok());
  EXPECT_TRUE(m.warnings.empty());
  ASSERT_EQ(m.records.size(), 2u);
  EXPECT_EQ(m.records[0].fields[0].Name(), "sourceIPv4Address");
  EXPECT_EQ(m.records[0].fields[0].ValueText(), "192.0.2.1");
  EXPECT_EQ(m.records[0].fields[1].Name(), "e31337id1");
  EXPECT_EQ(m.records[0].fields[1].ValueText(), "abcd");
  EXPECT_EQ(m.records[0].fields[2].ValueText(), "eth");
  EXPECT_EQ(m.records[1].fields[2].ValueText(), "long1");
}

TEST(DecoderTest, DataBeforeTemplateIsAWarningNotAnError) {
  Decoder d;
  DecodedMessage m;
  ASSERT_TRUE(d.Decode(FromHex(kDataMsg), &m).ok());
  EXPECT_TRUE(m.records.empty());
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0], "data set 256 (24 bytes) for a template not received yet");
}

TEST(DecoderTest, TemplatesArePerDomain) {
  Decoder d;
  DecodedMessage m;
  ASSERT_EQ(d.Decode(FromHex(kTemplateMsg), &m), absl::OkStatus());
  std::vector<uint8_t> other = FromHex(kDataMsg);
  other[15] = 8;  // domain 8
  ASSERT_TRUE(d.Decode(other, &m).ok());
  EXPECT_TRUE(m.records.empty());
  EXPECT_EQ(m.warnings.size(), 1u);
}

TEST(DecoderTest, Withdrawal) {
  Decoder d;
  DecodedMessage m;
  ASSERT_EQ(d.Decode(FromHex(kTemplateMsg), &m), absl::OkStatus());
  ASSERT_TRUE(d.Decode(FromHex("000a0018" "00000001" "00000000" "00000007"
                               "00020008" "01000000"), &m).ok());
  ASSERT_EQ(m.templates.size(), 1u);
  EXPECT_TRUE(m.templates[0].withdrawal);
  EXPECT_EQ(d.template_count(), 0u);
}

TEST(DecoderTest, SequenceGapIsReported) {
  Decoder d;
  DecodedMessage m;
  ASSERT_EQ(d.Decode(FromHex(kTemplateMsg), &m), absl::OkStatus());
  ASSERT_TRUE(d.Decode(FromHex(kDataMsg), &m).ok());  // sequence 0, 2 records
  std::vector<uint8_t> next = FromHex(kDataMsg);
  next[11] = 5;  // sequence 5, expected 2
  ASSERT_TRUE(d.Decode(next, &m).ok());
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0], "sequence number 5, expected 2 (3 records missed?)");
  EXPECT_EQ(d.records_missed(), 3u);
}

// Malformed input in, exact error out.
TEST(DecoderTest, MalformedMessages) {
  struct Case {
    const char* hex;
    const char* error;
  };
  const Case cases[] = {
      {"", "malformed IPFIX message: 0 bytes, shorter than a message header"},
      {"000a0010000000000000", "malformed IPFIX message: 10 bytes, shorter than a message header"},
      {"00090010" "00000000" "00000000" "00000000", "malformed IPFIX message: version 9, expected 10"},
      {"000a0020" "00000000" "00000000" "00000000",
       "malformed IPFIX message: header says 32 bytes, got 16"},
      {"000a0012" "00000000" "00000000" "00000000" "0002",
       "malformed IPFIX message: truncated set header at offset 16"},
      {"000a0014" "00000000" "00000000" "00000000" "00020003",
       "malformed IPFIX message: set 2 at offset 16 has length 3, 4 bytes left"},
      {"000a0014" "00000000" "00000000" "00000000" "01000010",
       "malformed IPFIX message: set 256 at offset 16 has length 16, 4 bytes left"},
      {"000a0014" "00000000" "00000000" "00000000" "00050004",
       "malformed IPFIX message: reserved set id 5 at offset 16"},
      {"000a001c" "00000000" "00000000" "00000000" "0002000c" "00ff0001" "00080004",
       "malformed IPFIX message: template id 255 is below 256"},
      {"000a001c" "00000000" "00000000" "00000000" "0002000c" "01000002" "00080004",
       "malformed IPFIX message: template 256 is cut short at field 1"},
      {"000a001c" "00000000" "00000000" "00000000" "0002000c" "01000001" "80080004",
       "malformed IPFIX message: template 256 is cut short at field 0"},
      {"000a001e" "00000000" "00000000" "00000000" "0003000e" "01000001" "0002" "00080004",
       "malformed IPFIX message: options template 256 has scope count 2 of 1 fields"},
      {"000a001e" "00000000" "00000000" "00000000" "0003000e" "01000001" "0000" "00080004",
       "malformed IPFIX message: options template 256 has scope count 0 of 1 fields"},
  };
  for (const Case& c : cases) {
    Decoder d;
    DecodedMessage m;
    absl::Status s = d.Decode(FromHex(c.hex), &m);
    EXPECT_EQ(s.message(), c.error) << c.hex;
  }
}

TEST(DecoderTest, TruncatedRecordIsReportedAsPadding) {
  Decoder d;
  DecodedMessage m;
  ASSERT_EQ(d.Decode(FromHex(kTemplateMsg), &m), absl::OkStatus());
  // One record, then 3 bytes that cannot be a record.
  ASSERT_TRUE(d.Decode(FromHex("000a0021" "00000001" "00000000" "00000007" "01000011"
                               "c0000201" "abcd" "03" "657468" "0a0000"), &m).ok());
  EXPECT_EQ(m.records.size(), 1u);
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0], "3 bytes of padding in set 256");
}

TEST(DecoderTest, StreamFraming) {
  size_t n = 99;
  EXPECT_TRUE(Decoder::MessageLength(FromHex("000a00"), &n).ok());
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(Decoder::MessageLength(FromHex(kDataMsg), &n).ok());
  EXPECT_EQ(n, 44u);
  EXPECT_FALSE(Decoder::MessageLength(FromHex("000a0002" "00000000" "00000000" "00000000"),
                                      &n).ok());
  EXPECT_FALSE(Decoder::MessageLength(FromHex("00050010" "00000000" "00000000" "00000000"),
                                      &n).ok());
}

}  // namespace
}  // namespace tcflow::ipfix
