#include "config/suggest.h"

#include <algorithm>

#include "absl/strings/ascii.h"

namespace tcflow::config {
namespace {

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string ClosestName(absl::string_view name, const std::vector<std::string>& candidates) {
  // Names longer than this are not typos of a schema word; also bounds the work.
  if (name.empty() || name.size() > 64) return "";
  const std::string lower = absl::AsciiStrToLower(name);
  std::string best;
  size_t best_distance = 0;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(lower, absl::AsciiStrToLower(c));
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // A third of the name (at least 1, at most 3 edits) still reads as the same word.
  size_t limit = std::clamp<size_t>(name.size() / 3, 1, 3);
  return best_distance <= limit ? best : "";
}

}  // namespace tcflow::config
