#include "config/parse.h"

#include <cstdlib>
#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/suggest.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"

namespace tcflow::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

// Text between the first two double quotes after `after` in `message`, or "".
std::string QuotedAfter(absl::string_view message, absl::string_view after) {
  size_t at = message.find(after);
  if (at == absl::string_view::npos) return "";
  size_t open = message.find('"', at + after.size());
  if (open == absl::string_view::npos) return "";
  size_t close = message.find('"', open + 1);
  if (close == absl::string_view::npos) return "";
  return std::string(message.substr(open + 1, close - open - 1));
}

// Protobuf's messages name internal types; say the same in the config's own words and
// suggest the intended spelling.
std::string Rephrase(const std::string& message) {
  const FileDescriptor* file = TcflowConfig::descriptor()->file();
  if (absl::StartsWith(message, "Message type \"") &&
      absl::StrContains(message, "has no field named")) {
    std::string type_name = QuotedAfter(message, "Message type");
    std::string field = QuotedAfter(message, "has no field named");
    const Descriptor* type = file->pool()->FindMessageTypeByName(type_name);
    if (type == nullptr) return message;
    std::vector<std::string> names;
    for (int i = 0; i < type->field_count(); ++i) names.push_back(type->field(i)->name());
    std::string out = absl::StrCat("unknown field \"", field, "\" in ", type->name());
    std::string closest = ClosestName(field, names);
    if (!closest.empty()) {
      absl::StrAppend(&out, " (did you mean \"", closest, "\"?)");
    } else {
      absl::StrAppend(&out, " (known fields: ", absl::StrJoin(names, ", "), ")");
    }
    return out;
  }
  if (absl::StartsWith(message, "Unknown enumeration value of \"")) {
    std::string value = QuotedAfter(message, "Unknown enumeration value of");
    std::string field = QuotedAfter(message, "for field");
    // Find the enum through the field's name (unique among the schema's enum fields).
    const EnumDescriptor* type = nullptr;
    for (int m = 0; m < file->message_type_count() && type == nullptr; ++m) {
      const FieldDescriptor* f = file->message_type(m)->FindFieldByName(field);
      if (f != nullptr && f->enum_type() != nullptr) type = f->enum_type();
    }
    if (type == nullptr) return message;
    std::vector<std::string> names;
    for (int i = 0; i < type->value_count(); ++i) names.push_back(type->value(i)->name());
    std::string out = absl::StrCat("\"", value, "\" is not a valid ", field, " (one of ",
                                   absl::StrJoin(names, ", "), ")");
    std::string closest = ClosestName(value, names);
    if (!closest.empty()) absl::StrAppend(&out, "; did you mean ", closest, "?");
    return out;
  }
  if (absl::StartsWith(message, "Non-repeated field \"")) {
    return absl::StrCat("\"", QuotedAfter(message, "Non-repeated field"),
                        "\" is given more than once (it takes one value)");
  }
  if (absl::StartsWith(message, "Invalid value for boolean field \"")) {
    return absl::StrCat("\"", QuotedAfter(message, "Value:"), "\" is not a boolean for \"",
                        QuotedAfter(message, "boolean field"), "\" (true or false)");
  }
  if (message == "Expected integer, got: -") {
    return "expected a number of 0 or more (negative values are not allowed)";
  }
  if (absl::EndsWith(message, "got: ")) {
    return absl::StrCat(message.substr(0, message.size() - 7),
                        " before the end of the file (a '}' missing?)");
  }
  if (absl::StartsWith(message, "Integer out of range (")) {
    return absl::StrCat(message.substr(22, message.size() - 23),
                        " is out of range for this field");
  }
  return message;
}

class ErrorSink : public google::protobuf::io::ErrorCollector {
 public:
  ErrorSink(const ParsedText* parsed, std::vector<ConfigError>* errors,
            std::function<int(int, int)> byte_column,
            std::function<int(int, int, const std::string&)> token_start)
      : parsed_(parsed),
        errors_(errors),
        byte_column_(std::move(byte_column)),
        token_start_(std::move(token_start)) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    ConfigError e;
    e.file = parsed_->file();
    e.line = line + 1;
    e.column = byte_column_(line, column) + 1;
    e.message = Rephrase(message);
    // The parser reports some errors after the token they are about (the '{' after an
    // unknown field name); point at the token itself.
    std::string token = QuotedAfter(message, "has no field named");
    if (token.empty()) token = QuotedAfter(message, "Unknown enumeration value of");
    if (token.empty()) token = QuotedAfter(message, "Non-repeated field");
    if (token.empty()) token = QuotedAfter(message, "Value:");
    if (!token.empty()) e.column = token_start_(line, e.column - 1, token) + 1;
    errors_->push_back(std::move(e));
    ++count_;
  }
  // Warnings (e.g. deprecated fields) are not failures; the schema has none today.
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}

  int count() const { return count_; }

 private:
  const ParsedText* parsed_;
  std::vector<ConfigError>* errors_;
  std::function<int(int, int)> byte_column_;
  std::function<int(int, int, const std::string&)> token_start_;
  int count_ = 0;
};

}  // namespace

ParsedText::ParsedText(std::string file, absl::string_view text)
    : file_(std::move(file)), text_(text) {
  lines_ = absl::StrSplit(text_, '\n');
}

int ParsedText::ByteColumn(int line, int protobuf_column) const {
  if (line < 0 || line >= static_cast<int>(lines_.size())) return protobuf_column;
  absl::string_view l = lines_[line];
  int column = 0;
  for (size_t i = 0; i < l.size(); ++i) {
    if (column >= protobuf_column) return static_cast<int>(i);
    column = l[i] == '\t' ? (column / 8 + 1) * 8 : column + 1;
  }
  return static_cast<int>(l.size());
}

bool ParsedText::Parse(std::vector<ConfigError>* errors) {
  ErrorSink collector(
      this, errors, [this](int line, int column) { return ByteColumn(line, column); },
      [this](int line, int byte_column, const std::string& token) {
        // The last occurrence of `token` that starts before the reported column.
        if (line < 0 || line >= static_cast<int>(lines_.size())) return byte_column;
        size_t at = lines_[line].rfind(token, byte_column > 0 ? byte_column - 1 : 0);
        return at == absl::string_view::npos ? byte_column : static_cast<int>(at);
      });
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&locations_);
  // The schema nests 3 deep; a deeper text is an error, not a stack to exhaust.
  parser.SetRecursionLimit(16);
  bool ok = parser.ParseFromString(text_, &config_);
  if (!ok && collector.count() == 0) {
    ConfigError e;
    e.file = file_;
    e.message = "not a valid tcflow config";
    errors->push_back(std::move(e));
  }
  return ok;
}

std::pair<int, int> ParsedText::Locate(absl::string_view path) const {
  const Descriptor* type = TcflowConfig::descriptor();
  const google::protobuf::TextFormat::ParseInfoTree* tree = &locations_;
  std::pair<int, int> found = {0, 0};
  for (absl::string_view segment : absl::StrSplit(path, '.', absl::SkipEmpty())) {
    if (tree == nullptr || type == nullptr) break;
    int index = -1;
    size_t bracket = segment.find('[');
    absl::string_view name = segment.substr(0, bracket);
    if (bracket != absl::string_view::npos) {
      absl::string_view digits = segment.substr(bracket + 1);
      absl::ConsumeSuffix(&digits, "]");
      if (!absl::SimpleAtoi(digits, &index)) break;
    }
    const FieldDescriptor* field = type->FindFieldByName(std::string(name));
    if (field == nullptr) break;
    // A path naming a whole repeated field points at its first element.
    int lookup = field->is_repeated() ? (index < 0 ? 0 : index) : -1;
    auto location = tree->GetLocation(field, lookup);
    if (location.line < 0) break;  // filled by a default: the parent is the best we have
    found = {location.line + 1, ByteColumn(location.line, location.column) + 1};
    if (field->message_type() == nullptr) break;
    tree = tree->GetTreeForNested(field, lookup);
    type = field->message_type();
  }
  return found;
}

}  // namespace tcflow::config
