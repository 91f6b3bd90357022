// `flowctl meter ...` and `flowctl dependency-check` as an operator runs them: the real
// binary, started with an empty environment (PATH= : nothing to exec even if it tried),
// against veth links in a named namespace.
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tests/netns/netns.h"

namespace tcflow {
namespace {

using testing::Namespace;

#define ASSERT_OK(expr)                          \
  do {                                           \
    const absl::Status _s = (expr);              \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s; \
  } while (0)

std::string BinaryPath() {
  if (const char* path = std::getenv("TCFLOW_BINARY")) return path;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/tcflow/tools/tcflow";
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
  return text;
}

// Runs `flowctl ARGS...` with the environment {"PATH="}. With `drop_privileges` the child
// gives up every capability first (and root's automatic regain on exec).
Result Flowctl(std::vector<std::string> args, bool drop_privileges = false) {
  std::string binary = BinaryPath();
  int out_pipe[2], err_pipe[2];
  EXPECT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(err_pipe, O_CLOEXEC), 0);
  std::vector<char*> argv;
  std::string name = "flowctl";
  argv.push_back(name.data());
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char empty_path[] = "PATH=";
  char* envp[] = {empty_path, nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (drop_privileges) {
      prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED);
      __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[2] = {};
      if (syscall(SYS_capset, &header, data) != 0) _exit(126);
    }
    execve(binary.c_str(), argv.data(), envp);
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  Result result;
  // Small outputs: read stdout fully, then stderr (both fit in the pipe buffers).
  result.out = ReadAll(out_pipe[0]);
  result.err = ReadAll(err_pipe[0]);
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::unique_ptr<netlink::RtnlSocket> SocketIn(const Namespace& ns) {
  std::unique_ptr<netlink::RtnlSocket> sock;
  EXPECT_TRUE(ns.Run([&]() -> absl::Status {
                  auto opened = netlink::RtnlSocket::Open();
                  if (!opened.ok()) return opened.status();
                  sock = std::move(*opened);
                  return absl::OkStatus();
                }).ok());
  return sock;
}

int CountOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(FlowctlMeterTest, AttachStatusDetachWithEmptyPath) {
  auto a = Namespace::Create("fctl");
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = Namespace::Create("fctlpeer");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_OK(testing::CreateVethPair(**a, "va", **b, "vb"));
  ASSERT_OK((*a)->AddAddress("va", "10.78.0.1/24"));
  ASSERT_OK((*b)->AddAddress("vb", "10.78.0.2/24"));
  ASSERT_OK((*a)->AddDummy("d0"));
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string state = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/flowctl-state-", getpid());
  std::string ns = (*a)->name();
  // The tables go to a pin directory of this test's own (removed at the end).
  const std::string pins = absl::StrCat("/sys/fs/bpf/flowctl_test_", getpid());
  struct PinCleanup {
    std::string path;
    ~PinCleanup() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } pin_cleanup{pins};

  Result r = Flowctl({"meter", "attach", "-i", "va", "--netns", ns, "--state-dir", state,
                      "--pin-dir", pins});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "attached tcflow to va (ingress and egress)\n");
  // Twice: still one filter per hook.
  r = Flowctl({"meter", "attach", "-i", "va", "--netns", ns, "--state-dir", state,
               "--pin-dir", pins});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto sock = SocketIn(**a);
  ASSERT_NE(sock, nullptr);
  auto va = netlink::GetLink(*sock, "va");
  ASSERT_TRUE(va.ok());
  for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
    auto filters = netlink::ListFilters(*sock, va->ifindex, hook);
    ASSERT_TRUE(filters.ok());
    ASSERT_EQ(filters->size(), 1u);
    EXPECT_EQ((*filters)[0].bpf_name,
              hook == netlink::Hook::kIngress ? "tcflow_ingress" : "tcflow_egress");
    EXPECT_NE((*filters)[0].bpf_prog_id, 0u) << "the program outlives flowctl";
  }
  auto replies = testing::Ping(**b, "10.78.0.1", 3);
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(*replies, 3);
  ASSERT_OK(testing::TcpTransfer(**b, **a, "10.78.0.1", 7101, 1 << 20));

  r = Flowctl({"meter", "status", "--netns", ns, "-o", "json", "--state-dir", state});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountOf(r.out, "\"interface\":\"va\""), 2) << r.out;
  EXPECT_EQ(CountOf(r.out, "\"interface\":"), 2) << r.out;
  EXPECT_EQ(CountOf(r.out, "\"qdisc_created_by_tcflow\":true"), 2) << r.out;
  r = Flowctl({"meter", "status", "--netns", ns, "--state-dir", state});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountOf(r.out, "tcflow_ingress"), 1) << r.out;
  EXPECT_EQ(CountOf(r.out, "tcflow_egress"), 1) << r.out;

  // A glob attaches the dummy as well; detach --all removes everything tcflow put there.
  r = Flowctl({"meter", "attach", "-i", "d*", "--netns", ns, "--direction", "ingress",
               "--state-dir", state, "--pin-dir", pins});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "attached tcflow to d0 (ingress)\n");
  r = Flowctl({"meter", "detach", "--all", "--netns", ns, "--state-dir", state});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Flowctl({"meter", "status", "--netns", ns, "-o", "json", "--state-dir", state});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[]\n");
  auto qdisc = netlink::IngressSlotQdisc(*sock, va->ifindex);
  ASSERT_TRUE(qdisc.ok());
  EXPECT_FALSE(qdisc->has_value()) << "tcflow created the clsact and removes it";
}

TEST(FlowctlMeterTest, ErrorsAreOneLineNamingTheInterface) {
  auto a = Namespace::Create("fctlerr");
  ASSERT_TRUE(a.ok()) << a.status();
  std::string ns = (*a)->name();
  Result r = Flowctl({"meter", "attach", "-i", "ghost0", "--netns", ns});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(CountOf(r.err, "\n"), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "ghost0: no such interface")) << r.err;

  r = Flowctl({"meter", "status", "--netns", "no-such-namespace-tcflow"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(CountOf(r.err, "\n"), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "no-such-namespace-tcflow")) << r.err;

  r = Flowctl({"meter", "attach", "-i", "lo", "--netns", ns, "--direction", "sideways"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "sideways")) << r.err;

  r = Flowctl({"meter", "detach", "--netns", ns});
  EXPECT_EQ(r.exit_code, 2) << "neither -i nor --all";

  r = Flowctl({"meter", "attach", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.out, "--netns")) << r.out;

  // Without privileges: the kernel's reason, naming the interface.
  r = Flowctl({"meter", "attach", "-i", "lo", "--netns", ns}, /*drop_privileges=*/true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(CountOf(r.err, "\n"), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "not permitted")) << r.err;
  // In its own namespace it gets as far as loading the program; libbpf's chatter is muted.
  r = Flowctl({"meter", "attach", "-i", "lo"}, /*drop_privileges=*/true);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(CountOf(r.err, "\n"), 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "lo: cannot load tcflow's tc program")) << r.err;
  // Reading the state needs no privilege.
  r = Flowctl({"meter", "status", "-o", "json"}, /*drop_privileges=*/true);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(FlowctlDependencyCheckTest, AllValidHereAndMissingWithoutPrivileges) {
  Result r = Flowctl({"dependency-check"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(CountOf(r.out, "MISSING"), 0) << r.out;
  EXPECT_GE(CountOf(r.out, "VALID"), 15) << r.out;
  for (const char* what : {"CAP_BPF", "bpffs", "SCHED_CLS", "BPF_F_MMAPABLE", "LRU_HASH",
                           "PERCPU_ARRAY", "RINGBUF", "ARRAY_OF_MAPS", "clsact"}) {
    EXPECT_TRUE(absl::StrContains(r.out, what)) << what;
  }

  r = Flowctl({"dependency-check"}, /*drop_privileges=*/true);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "MISSING  capability CAP_BPF")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "MISSING  bpf() system call usable")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "VALID    bpffs")) << r.out;
}

}  // namespace
}  // namespace tcflow
