// flowctl config check/default as an operator runs them: exit codes, what goes to stdout
// and what to stderr.

#include "tools/flowctl/config_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.h"
#include "gtest/gtest.h"

namespace tcflow::flowctl {
namespace {

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::string WriteFile(const std::string& name, const std::string& text) {
  std::string path = TempDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

std::string ReadAndRemove(const std::string& path) {
  std::string text;
  FILE* f = std::fopen(path.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) text.append(buffer, n);
  std::fclose(f);
  std::remove(path.c_str());
  return text;
}

struct Outcome {
  int rc;
  std::string out;
  std::string err;
};

// Runs a command with stdout and stderr captured in files.
Outcome Capture(int (*command)(const std::vector<std::string>&), std::vector<std::string> args) {
  static int counter = 0;
  std::string out_path = TempDir() + "/out" + std::to_string(++counter);
  std::string err_path = TempDir() + "/err" + std::to_string(counter);
  std::fflush(stdout);
  std::fflush(stderr);
  int saved_out = dup(1), saved_err = dup(2);
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  Outcome run;
  run.rc = command(args);
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(saved_out, 1);
  dup2(saved_err, 2);
  close(out_fd);
  close(err_fd);
  close(saved_out);
  close(saved_err);
  run.out = ReadAndRemove(out_path);
  run.err = ReadAndRemove(err_path);
  return run;
}

TEST(ConfigCheck, ValidFileExitsZeroQuietly) {
  std::string path = WriteFile("ok.conf", "collector { address: \"192.0.2.1\" }\n");
  Outcome r = Capture(RunConfigCheck, {path});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, path + ": OK (1 interface selection, 1 collector, 2 templates)\n");
  EXPECT_EQ(r.err, "");
}

TEST(ConfigCheck, BrokenFileExitsOneWithEveryErrorOnStderr) {
  std::string path = WriteFile("bad.conf",
                               "collector { address: \"192.0.2.1\" }\n"
                               "collector { address: \"192.0.2.2\" port: 70000 }\n"
                               "flow_cache { idle_timeout_s: 0 }\n");
  Outcome r = Capture(RunConfigCheck, {path});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, path + ":2:34: collector[1].port: 70000 is not a port\n" + path +
                       ":3:14: flow_cache.idle_timeout_s: 0 is out of range (1-3600)\n" + path +
                       ": 2 errors\n");
}

TEST(ConfigCheck, SyntaxErrorHasLineAndColumn) {
  std::string path = WriteFile("syntax.conf", "collector {\n  adress: \"192.0.2.1\"\n}\n");
  Outcome r = Capture(RunConfigCheck, {path});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, path + ":2:3: unknown field \"adress\" in Collector (did you mean "
                          "\"address\"?)\n" + path + ": 1 error\n");
}

TEST(ConfigCheck, UsageErrors) {
  EXPECT_EQ(Capture(RunConfigCheck, {}).rc, 2);
  EXPECT_EQ(Capture(RunConfigCheck, {"--no-such-flag", "x"}).rc, 2);
  Outcome r = Capture(RunConfigCheck, {TempDir() + "/does-not-exist.conf"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, TempDir() + "/does-not-exist.conf: No such file or directory\n" +
                       TempDir() + "/does-not-exist.conf: 1 error\n");
}

TEST(ConfigDefault, PrintsTheBuiltInDefaultWhichPassesTheCheck) {
  Outcome d = Capture(RunConfigDefault, {});
  EXPECT_EQ(d.rc, 0);
  EXPECT_EQ(d.out, std::string(config::BuiltinDefaultConfigText()));
  std::string path = WriteFile("default.conf", d.out);
  Outcome r = Capture(RunConfigCheck, {path});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(ConfigCheck, ResolvedOutputIsItselfAValidConfig) {
  std::string path = WriteFile("three.conf",
                               "interfaces { include: \"eth0\" include: \"eth1\" }\n"
                               "collector { address: \"192.0.2.10\" transport: TCP }\n");
  Outcome r = Capture(RunConfigCheck, {"--resolved", path});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string resolved = r.out.substr(r.out.find('\n') + 1);
  EXPECT_NE(resolved.find("send_queue_bytes: 4194304"), std::string::npos);
  std::string again = WriteFile("resolved.conf", resolved);
  EXPECT_EQ(Capture(RunConfigCheck, {again}).rc, 0);
}

}  // namespace
}  // namespace tcflow::flowctl
