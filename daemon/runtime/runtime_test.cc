#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/runtime/notify.h"
#include "daemon/runtime/signals.h"
#include "daemon/runtime/timer.h"
#include "gtest/gtest.h"

namespace tcflow::runtime {
namespace {

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

bool Blocked(int sig) {
  sigset_t cur;
  pthread_sigmask(SIG_SETMASK, nullptr, &cur);
  return sigismember(&cur, sig) == 1;
}

TEST(SignalFdTest, DeliversSignalsThroughTheFdAndRestoresTheMask) {
  ASSERT_FALSE(Blocked(SIGHUP));
  {
    auto signals = SignalFd::Create({SIGHUP, SIGUSR1});
    ASSERT_TRUE(signals.ok()) << signals.status();
    EXPECT_TRUE(Blocked(SIGHUP));
    EXPECT_TRUE(Blocked(SIGUSR1));
    EXPECT_FALSE(signals->Read().has_value());
    EXPECT_FALSE(Readable(signals->fd(), 0));

    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);  // would kill us if not blocked
    ASSERT_EQ(pthread_kill(pthread_self(), SIGHUP), 0);
    ASSERT_TRUE(Readable(signals->fd(), 1000));
    // Standard signals are delivered lowest number first: SIGHUP (1) then SIGUSR1 (10).
    EXPECT_EQ(signals->Read(), SIGHUP);
    EXPECT_EQ(signals->Read(), SIGUSR1);
    EXPECT_FALSE(signals->Read().has_value());

    // Moved-from objects do not restore the mask early.
    SignalFd moved = std::move(*signals);
    ASSERT_EQ(pthread_kill(pthread_self(), SIGHUP), 0);
    EXPECT_TRUE(Blocked(SIGHUP));
    EXPECT_EQ(moved.Read(), SIGHUP);
  }
  EXPECT_FALSE(Blocked(SIGHUP));
  EXPECT_FALSE(Blocked(SIGUSR1));
}

// A datagram socket standing in for systemd's notify socket.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t len = sizeof(a);
    if (name[0] == '@') {
      a.sun_path[0] = '\0';
      len = offsetof(sockaddr_un, sun_path) + name.size();
    } else {
      unlink(name.c_str());
    }
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~FakeSystemd() { close(fd_); }
  bool bound() const { return bound_; }
  std::string Receive() {
    if (!Readable(fd_, 2000)) return "<nothing>";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? "<error>" : std::string(buf, n);
  }

 private:
  int fd_;
  bool bound_ = false;
};

TEST(NotifierTest, SendsStatesToAPathSocket) {
  const std::string path = absl::StrCat("/tmp/tcflow_notify_", getpid());
  FakeSystemd systemd(path);
  ASSERT_TRUE(systemd.bound());
  Notifier n(path);
  EXPECT_TRUE(n.enabled());
  ASSERT_TRUE(n.Ready("metering 2 interfaces").ok());
  EXPECT_EQ(systemd.Receive(), "READY=1\nSTATUS=metering 2 interfaces");
  ASSERT_TRUE(n.Ready().ok());
  EXPECT_EQ(systemd.Receive(), "READY=1");
  ASSERT_TRUE(n.Stopping().ok());
  EXPECT_EQ(systemd.Receive(), "STOPPING=1");
  ASSERT_TRUE(n.Status("draining").ok());
  EXPECT_EQ(systemd.Receive(), "STATUS=draining");
  ASSERT_TRUE(n.Watchdog().ok());
  EXPECT_EQ(systemd.Receive(), "WATCHDOG=1");

  const int64_t before_us = MonotonicNowNs() / 1000;
  ASSERT_TRUE(n.Reloading().ok());
  const std::string reloading = systemd.Receive();
  ASSERT_TRUE(absl::StartsWith(reloading, "RELOADING=1\nMONOTONIC_USEC=")) << reloading;
  uint64_t usec = 0;
  ASSERT_TRUE(absl::SimpleAtoi(reloading.substr(strlen("RELOADING=1\nMONOTONIC_USEC=")), &usec));
  EXPECT_GE(static_cast<int64_t>(usec), before_us);
  EXPECT_LE(static_cast<int64_t>(usec), MonotonicNowNs() / 1000);
  unlink(path.c_str());

  // Nobody listening any more: an error to log, not a crash.
  EXPECT_FALSE(n.Ready().ok());
}

TEST(NotifierTest, AbstractSocketEnvironmentAndDisabled) {
  const std::string name = absl::StrCat("@tcflow-notify-test-", getpid());
  FakeSystemd systemd(name);
  ASSERT_TRUE(systemd.bound());
  setenv("NOTIFY_SOCKET", name.c_str(), 1);
  Notifier n = Notifier::FromEnvironment();
  unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(n.socket(), name);
  ASSERT_TRUE(n.Ready().ok());
  EXPECT_EQ(systemd.Receive(), "READY=1");

  Notifier off = Notifier::FromEnvironment();
  EXPECT_FALSE(off.enabled());
  EXPECT_TRUE(off.Ready().ok());  // a no-op outside systemd
  EXPECT_FALSE(Notifier("relative/path").Ready().ok());
}

TEST(TimerTest, PeriodicOneShotAndDisarm) {
  auto t = Timer::Create();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->ReadExpirations(), 0u);
  EXPECT_FALSE(Readable(t->fd(), 20));  // not armed

  ASSERT_TRUE(t->SetOneShot(absl::Milliseconds(20)).ok());
  const int64_t start = MonotonicNowNs();
  ASSERT_TRUE(Readable(t->fd(), 5000));
  EXPECT_GE(MonotonicNowNs() - start, 19'000'000);  // not before it was due
  EXPECT_EQ(t->ReadExpirations(), 1u);
  EXPECT_FALSE(Readable(t->fd(), 50));  // one shot only

  const int64_t armed = MonotonicNowNs();
  ASSERT_TRUE(t->SetPeriodic(absl::Milliseconds(10)).ok());
  usleep(100'000);
  const uint64_t n = t->ReadExpirations();  // missed ticks are counted, not queued
  const int64_t elapsed_ms = (MonotonicNowNs() - armed) / 1'000'000;
  EXPECT_GE(n, 3u);
  EXPECT_LE(n, static_cast<uint64_t>(elapsed_ms / 10 + 1));
  ASSERT_TRUE(Readable(t->fd(), 5000));
  EXPECT_GE(t->ReadExpirations(), 1u);

  ASSERT_TRUE(t->Disarm().ok());
  t->ReadExpirations();
  EXPECT_FALSE(Readable(t->fd(), 50));
  EXPECT_FALSE(t->SetPeriodic(absl::ZeroDuration()).ok());

  Timer moved = std::move(*t);
  EXPECT_EQ(t->fd(), -1);
  EXPECT_GE(moved.fd(), 0);
}

}  // namespace
}  // namespace tcflow::runtime
