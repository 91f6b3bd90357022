// How tcflowd's main loop composes these libraries, and proof that they do: one epoll set
// over the signalfd, the expiry timer and the control server; a client (flowctl's library)
// flushes flows by filter; SIGHUP rotates the flow log; SIGTERM ends every flow and exits.
// Every merged packet must appear exactly once across the rotated logs.

#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/cache/flow_cache.h"
#include "daemon/control/client.h"
#include "daemon/control/json.h"
#include "daemon/control/requests.h"
#include "daemon/control/server.h"
#include "daemon/flowlog/flow_log.h"
#include "daemon/runtime/signals.h"
#include "daemon/runtime/timer.h"
#include "gtest/gtest.h"

namespace tcflow {
namespace {

FlowRecord Increment(uint8_t id, uint8_t protocol, uint64_t packets, int64_t now_ms) {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.src_addr[10] = r.key.src_addr[11] = r.key.dst_addr[10] = r.key.dst_addr[11] = 0xff;
  r.key.src_addr[12] = 10;
  r.key.src_addr[15] = id;
  r.key.dst_addr[12] = 10;
  r.key.dst_addr[15] = 254;
  r.key.src_port = 1000 + id;
  r.key.dst_port = 53;
  r.key.ip_version = 4;
  r.key.protocol = protocol;
  r.packets = packets;
  r.bytes = packets * 100;
  r.start_ms = r.end_ms = now_ms;
  r.min_ttl = r.max_ttl = 64;
  return r;
}

std::vector<control::JsonValue> LogLines(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<control::JsonValue> out;
  for (absl::string_view line : absl::StrSplit(ss.str(), '\n', absl::SkipEmpty())) {
    auto v = control::ParseJson(line);
    EXPECT_TRUE(v.ok()) << line;
    if (v.ok()) out.push_back(*v);
  }
  return out;
}

TEST(MainLoopExampleTest, FlushRotateAndShutdownLoseNothing) {
  std::string tmpl = "/tmp/tcflow_loop_XXXXXX";
  const std::string dir = mkdtemp(tmpl.data());
  const std::string log_path = dir + "/flows.jsonl";

  // Signals first: threads started later inherit the blocked mask.
  auto signals = runtime::SignalFd::Create({SIGTERM, SIGHUP});
  ASSERT_TRUE(signals.ok()) << signals.status();
  auto tick = runtime::Timer::Create();
  ASSERT_TRUE(tick.ok());
  ASSERT_TRUE(tick->SetPeriodic(absl::Milliseconds(10)).ok());
  control::ControlServerOptions server_options;
  server_options.path = dir + "/control.sock";
  auto server = control::ControlServer::Listen(server_options);
  ASSERT_TRUE(server.ok()) << server.status();
  cache::FlowCacheOptions cache_options;
  cache_options.idle_timeout_ms = 600'000;
  cache::FlowCache cache(cache_options);
  flowlog::FlowLogOptions log_options;
  log_options.path = log_path;
  auto log = flowlog::FlowLog::Open(log_options);
  ASSERT_TRUE(log.ok()) << log.status();
  std::vector<FlowRecord> ended;

  (*server)->Register("status", [&](const control::JsonValue&, control::JsonWriter& out) {
    out.BeginObject().Key("flows").Uint(cache.size()).EndObject();
    return absl::OkStatus();
  });
  (*server)->Register("flush", [&](const control::JsonValue& req, control::JsonWriter& out) {
    absl::StatusOr<control::FlushRequest> flush = control::DecodeFlushRequest(req);
    if (!flush.ok()) return flush.status();
    ended.clear();
    const size_t n = cache.Flush(flush->filter, &ended);
    (*log)->Write(ended);
    (void)(*log)->Flush();
    out.BeginObject().Key("ended").Uint(n).EndObject();
    return absl::OkStatus();
  });

  const int64_t now = absl::ToUnixMillis(absl::Now());
  uint64_t merged_packets = 0;
  for (const FlowRecord& r : {Increment(1, IPPROTO_UDP, 5, now), Increment(2, IPPROTO_UDP, 7, now),
                              Increment(3, IPPROTO_TCP, 11, now), Increment(1, IPPROTO_UDP, 1, now)}) {
    cache.Merge(r, &ended);
    merged_packets += r.packets;
  }
  ASSERT_TRUE(ended.empty());

  const int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {signals->fd(), tick->fd(), (*server)->fd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
  }

  // flowctl, on its own thread.
  std::string client_error;
  std::thread flowctl([&] {
    auto client = control::ControlClient::Connect(server_options.path, absl::Seconds(10));
    if (!client.ok()) {
      client_error = std::string(client.status().message());
      kill(getpid(), SIGTERM);
      return;
    }
    auto status = client->Call("status");
    if (!status.ok() || status->GetUint("flows") != 3u) client_error += "status; ";
    control::FlushFlags flags;
    flags.protocol = "udp";
    auto request = control::FlushRequestFromFlags(flags);
    auto flushed = client->Call("flush", control::EncodeFlushRequest(*request));
    if (!flushed.ok() || flushed->GetUint("ended") != 2u) client_error += "flush; ";
    // logrotate: move the file, then SIGHUP; then stop the daemon.
    std::rename(log_path.c_str(), (log_path + ".1").c_str());
    kill(getpid(), SIGHUP);
    kill(getpid(), SIGTERM);
  });

  bool running = true;
  int reloads = 0;
  while (running) {
    epoll_event events[8];
    const int n = epoll_wait(ep, events, 8, 5000);
    if (n <= 0) {
      ADD_FAILURE() << "the loop stalled";
      break;  // still join the client thread below
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == tick->fd()) {
        tick->ReadExpirations();
        ended.clear();
        cache.Expire(absl::ToUnixMillis(absl::Now()), &ended);
        (*log)->Write(ended);
        (void)(*log)->Flush();
      } else if (fd == (*server)->fd()) {
        (*server)->HandleReady();
      } else if (fd == signals->fd()) {
        while (std::optional<int> sig = signals->Read()) {
          if (*sig == SIGHUP) {
            ++reloads;
            EXPECT_TRUE((*log)->Reopen().ok());
          } else {
            ended.clear();
            cache.FlushAll(&ended);  // shutdown: forced end
            (*log)->Write(ended);
            EXPECT_TRUE((*log)->Flush().ok());
            running = false;
          }
        }
      }
    }
  }
  flowctl.join();
  close(ep);
  EXPECT_EQ(client_error, "");
  EXPECT_EQ(reloads, 1);

  const auto before_rotation = LogLines(log_path + ".1");
  const auto after_rotation = LogLines(log_path);
  ASSERT_EQ(before_rotation.size(), 2u);
  ASSERT_EQ(after_rotation.size(), 1u);
  uint64_t logged_packets = 0;
  for (const auto* lines : {&before_rotation, &after_rotation}) {
    for (const auto& l : *lines) {
      logged_packets += *l.GetUint("packets");
      EXPECT_EQ(l.GetString("end_reason"), "forced_end");
    }
  }
  for (const auto& l : before_rotation) EXPECT_EQ(l.GetString("protocol_name"), "udp");
  EXPECT_EQ(after_rotation[0].GetString("protocol_name"), "tcp");
  EXPECT_EQ(after_rotation[0].GetString("src"), "10.0.0.3");
  EXPECT_EQ(logged_packets, merged_packets);
  EXPECT_EQ((*log)->stats().records_written, 3u);
  EXPECT_EQ(cache.size(), 0u);

  server->reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

}  // namespace
}  // namespace tcflow
