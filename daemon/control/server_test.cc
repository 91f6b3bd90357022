#include "daemon/control/server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "daemon/control/client.h"
#include "gtest/gtest.h"

namespace tcflow::control {
namespace {

// A temp directory removed at the end (with what the tests leave in it). Under /tmp, not
// $TEST_TMPDIR: socket paths must fit in 107 bytes.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/tcflow_ctl_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the server's loop the way tcflowd's main loop would (poll fd, HandleReady), on a
// thread of its own so the blocking client can talk to it. Other calls into the server go
// through Run(), which executes them on the loop thread.
class Loop {
 public:
  explicit Loop(ControlServer* server) : server_(server), thread_([this] { Main(); }) {}
  ~Loop() {
    stop_ = true;
    thread_.join();
  }
  void Run(std::function<void()> task) {
    std::atomic<bool> done{false};
    {
      absl::MutexLock l(&mu_);
      tasks_.push_back([&] {
        task();
        done = true;
      });
    }
    while (!done) usleep(1000);
  }

 private:
  void Main() {
    while (!stop_) {
      pollfd p{server_->fd(), POLLIN, 0};
      poll(&p, 1, 5);
      server_->HandleReady();
      std::deque<std::function<void()>> tasks;
      {
        absl::MutexLock l(&mu_);
        tasks.swap(tasks_);
      }
      for (auto& t : tasks) t();
    }
  }
  ControlServer* server_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_;
  std::thread thread_;
};

// A raw client, for what ControlClient would never send.
class RawConn {
 public:
  explicit RawConn(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawConn() { close(fd_); }
  bool connected() const { return connected_; }
  void Write(absl::string_view s) { ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  // The next line, or "<eof>" / "<timeout>".
  std::string ReadLine(int timeout_ms = 5000) {
    while (true) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return "<timeout>";
      char b[4096];
      ssize_t n = read(fd_, b, sizeof(b));
      if (n <= 0) return "<eof>";
      buf_.append(b, n);
    }
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string buf_;
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.path = absl::StrCat(dir_.path(), "/run/control.sock");  // run/ does not exist yet
  }
  std::unique_ptr<ControlServer> Start() {
    auto s = ControlServer::Listen(options_);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return nullptr;
    (*s)->Register("status", [](const JsonValue& req, JsonWriter& out) {
      out.BeginObject().Key("flows").Uint(18446744073709551615ull);
      if (auto echo = req.GetString("echo")) out.Key("echo").String(*echo);
      out.EndObject();
      return absl::OkStatus();
    });
    (*s)->Register("fail", [](const JsonValue&, JsonWriter& out) {
      out.BeginObject().Key("partial").Bool(true);  // discarded with the error
      return absl::FailedPreconditionError("flush: no interface named 'nope'");
    });
    (*s)->RegisterStream("events", [](const JsonValue& req) {
      if (req.Find("bad")) return absl::InvalidArgumentError("events: bad filter");
      return absl::OkStatus();
    });
    return std::move(*s);
  }

  TempDir dir_;
  ControlServerOptions options_;
};

TEST_F(ControlServerTest, RequestReplyAndFilePermissions) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  struct stat st;
  ASSERT_EQ(stat(options_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(absl::StrCat(dir_.path(), "/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  Loop loop(server.get());
  auto client = ControlClient::Connect(options_.path, absl::Seconds(5));
  ASSERT_TRUE(client.ok()) << client.status();
  JsonValue args = JsonValue::Object();
  args.Set("echo", JsonValue::String("hé \"quoted\"\n"));
  auto result = client->Call("status", args);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->GetUint("flows"), 18446744073709551615ull);
  EXPECT_EQ(result->GetString("echo"), "hé \"quoted\"\n");

  // Handler errors arrive as the status message; the connection stays usable.
  auto failed = client->Call("fail");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "flush: no interface named 'nope'");
  auto unknown = client->Call("bogus");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown command 'bogus' (tcflowd knows: events, fail, status)");
  EXPECT_TRUE(client->Call("status").ok());
  loop.Run([&] {
    EXPECT_EQ(server->stats().requests, 4u);
    EXPECT_EQ(server->stats().request_errors, 2u);
  });
}

TEST_F(ControlServerTest, MalformedPipelinedHalfClosedAndOversizedRequests) {
  options_.max_request_bytes = 1000;
  auto server = Start();
  ASSERT_NE(server, nullptr);
  Loop loop(server.get());
  {
    RawConn c(options_.path);
    ASSERT_TRUE(c.connected());
    // Two requests and a bad one in one write, plus a blank line: replies in order.
    c.Write("{\"cmd\":\"status\"}\n\n{nope\n[1]\n{\"cmd\":\"status\",\"echo\":\"2\"}\r\n");
    EXPECT_EQ(c.ReadLine(), R"({"ok":true,"result":{"flows":18446744073709551615}})");
    EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"bad JSON at byte 1: expected a member name"})");
    EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"a request is a JSON object with a \"cmd\" string"})");
    EXPECT_EQ(c.ReadLine(), R"({"ok":true,"result":{"flows":18446744073709551615,"echo":"2"}})");
  }
  {
    // A client that shuts down its sending side still gets its reply.
    RawConn c(options_.path);
    c.Write("{\"cmd\":\"status\"}\n");
    c.ShutdownWrite();
    EXPECT_EQ(c.ReadLine(), R"({"ok":true,"result":{"flows":18446744073709551615}})");
    EXPECT_EQ(c.ReadLine(), "<eof>");
  }
  {
    RawConn c(options_.path);
    c.Write(std::string(5000, ' '));  // no newline, over the limit
    EXPECT_EQ(c.ReadLine(), R"({"ok":false,"error":"request longer than 1000 bytes"})");
    EXPECT_EQ(c.ReadLine(), "<eof>");
  }
  loop.Run([&] { EXPECT_EQ(server->client_count(), 0u); });
}

TEST_F(ControlServerTest, RefusesPeersWithTheWrongUid) {
  options_.allowed_uid = getuid() + 1;  // we are root in the tests; pretend root is someone else
  auto server = Start();
  ASSERT_NE(server, nullptr);
  Loop loop(server.get());
  auto client = ControlClient::Connect(options_.path, absl::Seconds(5));
  ASSERT_TRUE(client.ok());
  auto r = client->Call("status");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied"), std::string::npos)
      << r.status().message();
  loop.Run([&] {
    EXPECT_EQ(server->stats().peers_rejected, 1u);
    EXPECT_EQ(server->stats().requests, 0u);
  });
}

TEST_F(ControlServerTest, TooManyClients) {
  options_.max_clients = 2;
  auto server = Start();
  ASSERT_NE(server, nullptr);
  Loop loop(server.get());
  RawConn a(options_.path), b(options_.path);
  a.Write("{\"cmd\":\"status\"}\n");
  b.Write("{\"cmd\":\"status\"}\n");
  EXPECT_NE(a.ReadLine().find("\"ok\":true"), std::string::npos);
  EXPECT_NE(b.ReadLine().find("\"ok\":true"), std::string::npos);
  RawConn c(options_.path);
  EXPECT_EQ(c.ReadLine(), R"j({"ok":false,"error":"too many control connections (2)"})j");
}

TEST_F(ControlServerTest, SocketLifecycleAndClientErrors) {
  auto missing = ControlClient::Connect(options_.path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            absl::StrCat("tcflowd is not running (no socket at ", options_.path, ")"));
  {
    auto server = Start();
    ASSERT_NE(server, nullptr);
    auto second = ControlServer::Listen(options_);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().message(),
              absl::StrCat("another tcflowd is already listening on ", options_.path));
  }
  struct stat st;
  EXPECT_NE(stat(options_.path.c_str(), &st), 0) << "the socket file is removed on exit";

  // A stale socket (its server died without cleaning up): clients say so; Listen replaces it.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, options_.path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    close(fd);
  }
  auto stale = ControlClient::Connect(options_.path);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().message(),
            absl::StrCat("tcflowd is not running (stale socket at ", options_.path, ")"));
  auto server = Start();
  ASSERT_NE(server, nullptr);

  // Not a socket: never replaced.
  ControlServerOptions file_opts = options_;
  file_opts.path = absl::StrCat(dir_.path(), "/regular");
  close(open(file_opts.path.c_str(), O_CREAT | O_WRONLY, 0600));
  auto refused = ControlServer::Listen(file_opts);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("is not a socket"), std::string::npos);
  file_opts.path = std::string(200, 'x');
  EXPECT_FALSE(ControlServer::Listen(file_opts).ok());
}

TEST_F(ControlServerTest, EventStreamDeliversInOrderAndCountsWhatASlowReaderLost) {
  options_.max_stream_backlog_bytes = 4096;
  auto server = Start();
  ASSERT_NE(server, nullptr);
  Loop loop(server.get());
  auto client = ControlClient::Connect(options_.path, absl::Seconds(5));
  ASSERT_TRUE(client.ok());

  JsonValue bad = JsonValue::Object();
  bad.Set("bad", JsonValue::Bool(true));
  absl::Status refused = client->Subscribe("events", bad);
  EXPECT_EQ(refused.message(), "events: bad filter");
  ASSERT_TRUE(client->Subscribe("events").ok());
  loop.Run([&] { EXPECT_EQ(server->subscriber_count("events"), 1u); });

  loop.Run([&] {
    for (int i = 0; i < 3; ++i) server->Publish("events", absl::StrCat("{\"seq\":", i, "}"));
    server->Publish("other", "{\"seq\":99}");  // nobody follows it
  });
  for (int i = 0; i < 3; ++i) {
    auto line = client->Next(absl::Seconds(5));
    ASSERT_TRUE(line.ok() && line->has_value());
    EXPECT_EQ((*line)->Serialize(), absl::StrCat("{\"event\":{\"seq\":", i, "}}"));
  }
  auto nothing = client->Next(absl::Milliseconds(50));
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->has_value());

  // A reader that does not read: the server never blocks, and every event is either
  // delivered or counted in a {"lost":n} line.
  const int kEvents = 20000;
  const std::string padding(100, 'p');
  loop.Run([&] {
    for (int i = 0; i < kEvents; ++i) {
      server->Publish("events", absl::StrCat("{\"seq\":", i, ",\"pad\":\"", padding, "\"}"));
    }
  });
  // Read until a sentinel event (seq -1) arrives; one is published whenever the stream
  // goes quiet, since events dropped at the end are only announced before the next one.
  uint64_t delivered = 0, lost = 0, sentinels = 0;
  int64_t last_seq = -1;
  bool done = false;
  while (!done) {
    auto line = client->Next(absl::Milliseconds(300));
    ASSERT_TRUE(line.ok()) << line.status();
    if (!line->has_value()) {
      ++sentinels;
      loop.Run([&] { server->Publish("events", "{\"seq\":-1}"); });
      continue;
    }
    if (auto l = (*line)->GetUint("lost")) {
      lost += *l;
      continue;
    }
    const JsonValue* ev = (*line)->Find("event");
    ASSERT_NE(ev, nullptr);
    const int64_t seq = *ev->GetInt("seq");
    if (seq == -1) {
      done = true;
      continue;
    }
    EXPECT_GT(seq, last_seq);
    last_seq = seq;
    ++delivered;
  }
  EXPECT_GT(lost, 0u);
  // Every event published was delivered or announced lost (one sentinel was delivered).
  EXPECT_EQ(delivered + 1 + lost, static_cast<uint64_t>(kEvents) + sentinels);
  loop.Run([&] { EXPECT_EQ(server->stats().events_dropped, lost); });

  // The subscriber hangs up: the server forgets it.
  *client = std::move(*ControlClient::Connect(options_.path));
  for (int i = 0; i < 100; ++i) {
    size_t n = 1;
    loop.Run([&] { n = server->subscriber_count("events"); });
    if (n == 0) break;
    usleep(10'000);
  }
  loop.Run([&] { EXPECT_EQ(server->subscriber_count("events"), 0u); });
}

}  // namespace
}  // namespace tcflow::control
