#include "config/config_error.h"

#include "absl/strings/str_cat.h"

namespace tcflow::config {

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) {
    absl::StrAppend(&out, ":", line);
    if (column > 0) absl::StrAppend(&out, ":", column);
  }
  absl::StrAppend(&out, ": ");
  if (!path.empty()) absl::StrAppend(&out, path, ": ");
  absl::StrAppend(&out, message);
  return out;
}

std::string FormatErrors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) absl::StrAppend(&out, e.ToString(), "\n");
  return out;
}

}  // namespace tcflow::config
