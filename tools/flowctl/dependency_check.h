// `flowctl dependency-check`: probes the running kernel for what tcflow needs (by trying
// the features, not by reading version numbers) and prints one VALID/MISSING line each.

#ifndef TCFLOW_TOOLS_FLOWCTL_DEPENDENCY_CHECK_H_
#define TCFLOW_TOOLS_FLOWCTL_DEPENDENCY_CHECK_H_

#include <string>
#include <vector>

namespace tcflow::flowctl {

struct DependencyResult {
  std::string what;
  bool valid = false;
  std::string detail;  // why it is missing and what to do (empty when valid)
};

// Runs every probe. Needs no clang, iproute2 or shell.
std::vector<DependencyResult> CheckDependencies();

int RunDependencyCheck(const std::vector<std::string>& args);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_DEPENDENCY_CHECK_H_
