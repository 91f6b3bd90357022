#include "netlink/selector.h"

#include <fnmatch.h>

namespace tcflow::netlink {
namespace {

bool IsGlob(const std::string& pattern) {
  return pattern.find_first_of("*?[") != std::string::npos;
}

bool AnyMatches(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& pattern : patterns) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool LinkSelector::Matches(absl::string_view name, bool is_loopback) const {
  std::string n(name);
  if (AnyMatches(exclude, n)) return false;
  if (AnyMatches(include, n)) return true;
  return all_but_loopback && !is_loopback;
}

bool LinkSelector::IsLiteral() const {
  if (all_but_loopback) return false;
  for (const std::string& pattern : include) {
    if (IsGlob(pattern)) return false;
  }
  return true;
}

}  // namespace tcflow::netlink
