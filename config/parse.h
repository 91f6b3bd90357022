// Stage 1 of loading: text format -> TcflowConfig, with protobuf's TextFormat parser.
// Syntax errors, unknown fields and bad enum values become FILE:LINE:COLUMN errors; the
// locations of every parsed field are kept so later (semantic) errors can point at the
// line that caused them.

#ifndef TCFLOW_CONFIG_PARSE_H_
#define TCFLOW_CONFIG_PARSE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config_error.h"
#include "config/tcflow.pb.h"
#include "google/protobuf/text_format.h"

namespace tcflow::config {

// Largest config file accepted: far above any real config, small enough that a wrong file
// (a log, a binary) is refused quickly.
inline constexpr size_t kMaxConfigBytes = 1 << 20;

class ParsedText {
 public:
  ParsedText(std::string file, absl::string_view text);

  // Parses; false with errors appended when the text is not a valid TcflowConfig.
  bool Parse(std::vector<ConfigError>* errors);

  const TcflowConfig& config() const { return config_; }
  const std::string& file() const { return file_; }

  // The 1-based line and byte column where the field at `path` ("collector[1].port") was
  // written, or of its nearest written ancestor; {0, 0} when nothing on the path was.
  std::pair<int, int> Locate(absl::string_view path) const;

 private:
  // protobuf columns are 0-based and expand tabs to multiples of 8; editors count bytes.
  int ByteColumn(int line, int protobuf_column) const;

  std::string file_;
  std::string text_;
  std::vector<absl::string_view> lines_;
  TcflowConfig config_;
  google::protobuf::TextFormat::ParseInfoTree locations_;
};

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_PARSE_H_
