// "Did you mean ...?" for misspelt field, enum and information element names.

#ifndef TCFLOW_CONFIG_SUGGEST_H_
#define TCFLOW_CONFIG_SUGGEST_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcflow::config {

// The candidate closest to `name` (case-insensitive edit distance), or "" when none is
// close enough to be a plausible typo.
std::string ClosestName(absl::string_view name, const std::vector<std::string>& candidates);

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_SUGGEST_H_
