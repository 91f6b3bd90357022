#ifndef TCFLOW_TOOLS_VERSION_H_
#define TCFLOW_TOOLS_VERSION_H_

namespace tcflow {

inline constexpr char kVersion[] = "0.1.0";

#if defined(__aarch64__)
inline constexpr char kBuildArch[] = "arm64";
#elif defined(__x86_64__)
inline constexpr char kBuildArch[] = "amd64";
#else
inline constexpr char kBuildArch[] = "unknown";
#endif

}  // namespace tcflow

#endif  // TCFLOW_TOOLS_VERSION_H_
