// A small, strict JSON writer and reader for the control protocol (RFC 8259).
//
// JsonWriter appends JSON text to a string as values are emitted (no tree is built, so a
// dump of many flows costs one string). JsonValue is the parsed tree the reader returns;
// numbers keep their text, so 64-bit counters round-trip exactly.
//
//   std::string out;
//   JsonWriter w(&out);
//   w.BeginObject().Key("cmd").String("status").Key("n").Uint(42).EndObject();
//   absl::StatusOr<JsonValue> v = ParseJson(out);
//   v->Find("n")->AsUint64();  // 42

#ifndef TCFLOW_DAEMON_CONTROL_JSON_H_
#define TCFLOW_DAEMON_CONTROL_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tcflow::control {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next value's name.
  JsonWriter& Key(absl::string_view key);
  JsonWriter& String(absl::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  JsonWriter& Double(double v);  // non-finite values are written as null
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Already-serialised JSON (a value), inserted as is.
  JsonWriter& Raw(absl::string_view json);

  // Appends `s` as a quoted JSON string (escaping quotes, backslashes and control bytes).
  static void AppendQuoted(std::string* out, absl::string_view s);

 private:
  void BeforeValue();
  std::string* out_;
  // Per open container: whether a value was written (a comma is due before the next).
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;
  static JsonValue Bool(bool b);
  static JsonValue Number(std::string text);  // must be valid JSON number text
  static JsonValue Int(int64_t v);
  static JsonValue Uint(uint64_t v);
  static JsonValue String(std::string s);
  static JsonValue Array();
  static JsonValue Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  bool bool_value() const { return bool_; }
  // kString: the string; kNumber: the number's text.
  const std::string& text() const { return text_; }
  std::optional<int64_t> AsInt64() const;
  std::optional<uint64_t> AsUint64() const;
  std::optional<double> AsDouble() const;

  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }
  // Object member by name (the first one), or nullptr.
  const JsonValue* Find(absl::string_view key) const;
  // Convenience lookups: the member if present and of that type.
  std::optional<std::string> GetString(absl::string_view key) const;
  std::optional<int64_t> GetInt(absl::string_view key) const;
  std::optional<uint64_t> GetUint(absl::string_view key) const;
  std::optional<bool> GetBool(absl::string_view key) const;

  // Builders (the value must be an array / object).
  JsonValue& Append(JsonValue v);
  JsonValue& Set(std::string key, JsonValue v);  // replaces an existing member

  void WriteTo(JsonWriter& w) const;
  std::string Serialize() const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Strict: no comments,
// trailing commas, single quotes, leading zeros, unescaped control characters, or
// nesting deeper than 64. Errors give the byte offset.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

}  // namespace tcflow::control

#endif  // TCFLOW_DAEMON_CONTROL_JSON_H_
