// `promtool check metrics` (the linter Prometheus ships) on rendered /metrics bodies: it
// must print nothing and exit 0 (naming, units, HELP/TYPE, histogram shape).

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "daemon/metrics/render.h"
#include "daemon/metrics/synthetic_snapshot.h"
#include "gtest/gtest.h"

namespace tcflow::metrics {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

// Runs `promtool check metrics < body`; its exit code and combined output.
int Check(const std::string& body, std::string* output) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/metrics_", getpid(), ".txt");
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return -1;
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
  FILE* p = popen(absl::StrCat(kPromtool, " check metrics < ", path, " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  const int status = pclose(p);
  std::remove(path.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PromtoolCheckTest, RenderedBodiesPass) {
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " not installed (tools/bootstrap.sh)";
  for (int interfaces : {0, 1, 20}) {
    std::string body;
    RenderMetrics(SyntheticSnapshot(interfaces), SyntheticProcessInfo(), &body);
    std::string output;
    EXPECT_EQ(Check(body, &output), 0) << output;
    EXPECT_EQ(output, "") << interfaces << " interfaces";
  }
  // Nothing but the always-present families (no traffic, kernel map unreadable).
  std::string body;
  RenderMetrics(PipelineSnapshot{}, ProcessInfo{}, &body);
  std::string output;
  EXPECT_EQ(Check(body, &output), 0) << output;
  EXPECT_EQ(output, "");
}

// The check itself can fail: a counter without _total is reported.
TEST(PromtoolCheckTest, CatchesABadBody) {
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " not installed";
  std::string output;
  Check("# HELP tcflow_x X.\n# TYPE tcflow_x counter\ntcflow_x 1\n", &output);
  EXPECT_NE(output, "");
}

}  // namespace
}  // namespace tcflow::metrics
