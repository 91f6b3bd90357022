// Summaries of repeated measurements, and the process's memory, shared by the benchmark
// programs.

#ifndef TCFLOW_TOOLS_BENCH_STATS_H_
#define TCFLOW_TOOLS_BENCH_STATS_H_

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace tcflow::bench {

// The median of `v` (the upper one for an even count); 0 for no samples.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The smallest sample; 0 for no samples.
inline double Min(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

// This process's resident memory in kB (VmRSS), or -1.
inline long ResidentKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

}  // namespace tcflow::bench

#endif  // TCFLOW_TOOLS_BENCH_STATS_H_
