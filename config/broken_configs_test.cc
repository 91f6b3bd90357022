// Table-driven: every file in config/testdata/broken/ is a config that must be refused
// with exactly the errors written in its own `# expect: ` lines, in order, and nothing else.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "config/config.h"
#include "config/testdata_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tcflow::config {
namespace {

TEST(BrokenConfigs, EachFailsWithExactlyTheExpectedMessages) {
  std::vector<std::string> files =
      FilesIn(RunfilesPath("config/testdata/broken"), ".textproto");
  // The suite is the point: an empty or lost directory must fail, not pass.
  ASSERT_GE(files.size(), 30u);
  size_t expectations = 0;
  for (const std::string& path : files) {
    const std::string name = path.substr(path.rfind('/') + 1);
    SCOPED_TRACE(name);
    const std::string text = ReadFileOrDie(path);
    std::vector<std::string> expected;
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::ConsumePrefix(&line, "# expect: ")) expected.emplace_back(line);
    }
    ASSERT_FALSE(expected.empty()) << name << " has no '# expect: ' line";
    expectations += expected.size();

    // Errors name the file as given: the bare name keeps expectations independent of
    // where the runfiles tree is.
    LoadResult result = LoadConfigText(text, name);
    std::vector<std::string> actual;
    for (const ConfigError& e : result.errors) actual.push_back(e.ToString());
    EXPECT_THAT(actual, ::testing::ElementsAreArray(expected));
    EXPECT_FALSE(result.config.has_value());
  }
  std::printf("%zu broken configs, %zu expected errors\n", files.size(), expectations);
}

}  // namespace
}  // namespace tcflow::config
