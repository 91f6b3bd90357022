#include "config/config_error.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::config {
namespace {

// Messages quote what the user wrote; control bytes from a broken file must not reach the
// terminal raw.
std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", u));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = Printable(file);
  if (line > 0) {
    absl::StrAppend(&out, ":", line);
    if (column > 0) absl::StrAppend(&out, ":", column);
  }
  absl::StrAppend(&out, ": ");
  if (!path.empty()) absl::StrAppend(&out, path, ": ");
  absl::StrAppend(&out, Printable(message));
  return out;
}

std::string FormatErrors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) absl::StrAppend(&out, e.ToString(), "\n");
  return out;
}

}  // namespace tcflow::config
