#include "tools/flowctl/top_command.h"

// The kernel's termios via ioctl(TCGETS/TCSETS): glibc's <termios.h> declares a function
// named tcflow(), which collides with this project's namespace.
#include <asm/termbits.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/control/client.h"
#include "daemon/control/json.h"
#include "daemon/control/protocol.h"
#include "tools/cli/flags.h"
#include "tools/flowctl/top_view.h"

namespace tcflow::flowctl {
namespace {

using control::JsonValue;

// Keys without Enter and no echo while top runs (Ctrl-C still signals); the cursor hidden.
// Everything is put back by the destructor, on every way out.
class TerminalGuard {
 public:
  explicit TerminalGuard(bool keyboard) {
    if (keyboard && ioctl(STDIN_FILENO, TCGETS, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_ = ioctl(STDIN_FILENO, TCSETS, &raw) == 0;
    }
    std::fputs("\x1b[?25l", stdout);
  }
  ~TerminalGuard() {
    std::fputs("\x1b[?25h", stdout);
    std::fflush(stdout);
    if (restore_) ioctl(STDIN_FILENO, TCSETS, &saved_);
  }
  TerminalGuard(const TerminalGuard&) = delete;
  TerminalGuard& operator=(const TerminalGuard&) = delete;

 private:
  termios saved_{};
  bool restore_ = false;
};

// SIGINT/SIGTERM/SIGWINCH read from a signalfd (no handler, no global flag); the old mask
// comes back at the end.
class SignalGuard {
 public:
  SignalGuard() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGWINCH}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, &old_);
    fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~SignalGuard() {
    if (fd_ >= 0) close(fd_);
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  int fd() const { return fd_; }

 private:
  sigset_t old_;
  int fd_ = -1;
};

absl::StatusOr<absl::Duration> ParseInterval(const std::string& text) {
  absl::Duration d;
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--interval: \"", text, "\" is not a duration (e.g. 1s, 500ms, 2)"));
  }
  if (d < absl::Milliseconds(100) || d > absl::Hours(1)) {
    return absl::InvalidArgumentError("--interval must be between 100ms and 1h");
  }
  return d;
}

// Terminal size of stdout; nullopt when it is not a terminal.
std::optional<winsize> TerminalSize() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return std::nullopt;
  return ws;
}

enum class WaitResult { kTimeout, kQuit, kResize };

// Waits until `deadline` for a key or a signal.
WaitResult WaitFor(absl::Time deadline, int signal_fd, bool keyboard) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return WaitResult::kTimeout;
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {keyboard ? STDIN_FILENO : -1, POLLIN, 0}};
    const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    if (poll(fds, 2, timeout_ms) < 0) continue;  // EINTR
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo != SIGWINCH) return WaitResult::kQuit;
        return WaitResult::kResize;
      }
    }
    if (fds[1].revents & POLLIN) {
      char keys[32];
      const ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
      if (n == 0) return WaitResult::kQuit;  // stdin closed
      for (ssize_t i = 0; i < n; ++i) {
        if (keys[i] == 'q' || keys[i] == 'Q') return WaitResult::kQuit;
      }
    } else if (fds[1].revents & (POLLHUP | POLLERR)) {
      keyboard = false;
    }
  }
}

}  // namespace

int RunTop(const std::vector<std::string>& args) {
  cli::FlagParser flags(
      "flowctl top",
      "Shows the largest flows of the running tcflowd, refreshed every interval (q or Ctrl-C "
      "quits). Ranked by the traffic since the previous refresh (bytes or packets), flows "
      "idle meanwhile by their totals; the first frame, with no previous one, by totals, "
      "with rates shown as -. PKTS/BYTES are the flow record's totals (a record restarts "
      "after the active timeout).");
  std::string socket = control::kDefaultSocketPath, sort = "bytes", interface,
              interval_text = "1s", output = "table";
  int64_t n = 20, iterations = 0, width = 0;
  bool ipv6 = false, once = false;
  flags.AddString("socket", 0, &socket, "PATH",
                  absl::StrCat("tcflowd's control socket (default ", control::kDefaultSocketPath,
                               ")"));
  flags.AddInt("count", 'n', &n, "N", "how many flows (default 20, at most 1000)");
  flags.AddString("sort", 's', &sort, "KEY", "bytes (default) or packets");
  flags.AddBool("ipv6", '6', &ipv6, "only IPv6 flows");
  flags.AddString("interface", 'i', &interface, "IFACE", "only flows observed on this interface");
  flags.AddString("interval", 'd', &interval_text, "DURATION",
                  "time between refreshes (default 1s; 500ms, 2s, ...)");
  flags.AddBool("once", 0, &once, "one frame (ranked by totals), then exit");
  flags.AddInt("iterations", 0, &iterations, "N", "N frames, then exit (default: until q)");
  flags.AddString("output", 'o', &output, "FORMAT",
                  "table (default) or json (one object per frame and line)");
  flags.AddInt("width", 'w', &width, "COLUMNS",
               "table width (default: the terminal's; unlimited when not a terminal)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  auto usage = [](const std::string& message) {
    std::fprintf(stderr, "flowctl top: %s\n", message.c_str());
    return 2;
  };
  if (n < 1 || n > 1000) return usage("-n must be 1..1000");
  if (sort != "bytes" && sort != "packets") return usage("--sort must be bytes or packets");
  if (output != "table" && output != "json") return usage("-o must be table or json");
  if (iterations < 0) return usage("--iterations must be positive");
  if (once) iterations = 1;
  auto interval = ParseInterval(interval_text);
  if (!interval.ok()) return usage(std::string(interval.status().message()));

  const bool table = output == "table";
  const bool tty = table && isatty(STDOUT_FILENO);
  const bool keyboard = tty && isatty(STDIN_FILENO);
  SignalGuard signals;
  std::optional<TerminalGuard> terminal;
  if (tty) terminal.emplace(keyboard);

  std::optional<control::ControlClient> client;
  auto call = [&](const JsonValue& request) -> absl::StatusOr<JsonValue> {
    // One connection for the whole run; a daemon restarted in between gets a new one.
    for (int attempt = 0;; ++attempt) {
      if (!client.has_value()) {
        // A bounded wait per call: Ctrl-C is read between frames, so a stuck daemon must
        // not hold the terminal for the client's default 30 s.
        auto c = control::ControlClient::Connect(socket, absl::Seconds(10));
        if (!c.ok()) return c.status();
        client.emplace(std::move(*c));
      }
      absl::StatusOr<JsonValue> reply = client->Call("top", request);
      if (reply.ok() || attempt > 0 || absl::IsInvalidArgument(reply.status()) ||
          absl::IsNotFound(reply.status())) {
        return reply;
      }
      client.reset();
    }
  };

  TopRenderOptions render;
  render.n = static_cast<size_t>(n);
  render.ipv6_only = ipv6;
  render.interface = interface;
  std::optional<TopFrame> previous;
  std::string last_text;
  auto draw = [&](const TopFrame& frame) {
    if (!table) {
      std::printf("%s\n", RenderTopJson(frame).c_str());
    } else if (tty) {
      std::optional<winsize> ws = TerminalSize();
      render.width = width > 0 ? static_cast<int>(width) : ws ? ws->ws_col : 80;
      TopFrame shown = frame;
      // As many rows as fit below the five header lines.
      if (ws && ws->ws_row > 6 && shown.flows.size() > ws->ws_row - 6u) {
        shown.flows.resize(ws->ws_row - 6u);
      }
      std::printf("\x1b[H\x1b[2J%s", RenderTopTable(shown, render).c_str());
    } else {
      render.width = width > 0 ? static_cast<int>(width) : 100000;
      std::printf("%s%s", previous.has_value() ? "\n" : "", RenderTopTable(frame, render).c_str());
    }
    std::fflush(stdout);
  };

  absl::Time next = absl::Now();
  for (int64_t i = 0; iterations == 0 || i < iterations; ++i) {
    if (i > 0) {
      next += *interval;
      WaitResult w;
      while ((w = WaitFor(next, signals.fd(), keyboard)) == WaitResult::kResize) {
        if (previous.has_value()) draw(*previous);
      }
      if (w == WaitResult::kQuit) break;
    }
    JsonValue request = JsonValue::Object();
    request.Set("n", JsonValue::Int(n));
    request.Set("sort", JsonValue::String(sort));
    // The daemon's window since our previous request carries the rates; the first frame
    // has none of its own, so it is ranked by totals.
    request.Set("by", JsonValue::String(previous.has_value() ? "rate" : "total"));
    request.Set("interval_ms", JsonValue::Int(absl::ToInt64Milliseconds(*interval)));
    if (ipv6) request.Set("ipv6", JsonValue::Bool(true));
    if (!interface.empty()) request.Set("interface", JsonValue::String(interface));
    absl::StatusOr<JsonValue> reply = call(request);
    if (!reply.ok()) {
      terminal.reset();
      std::fprintf(stderr, "flowctl top: %s\n", std::string(reply.status().message()).c_str());
      return 1;
    }
    absl::StatusOr<TopFrame> frame = ParseTopReply(*reply, previous ? &*previous : nullptr);
    if (!frame.ok()) {
      terminal.reset();
      std::fprintf(stderr, "flowctl top: %s\n", std::string(frame.status().message()).c_str());
      return 1;
    }
    draw(*frame);
    previous = std::move(*frame);
    // A slow daemon reply must not make frames pile up.
    if (absl::Now() > next + *interval) next = absl::Now();
  }
  return 0;
}

}  // namespace tcflow::flowctl
