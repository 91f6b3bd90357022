// tcflowd's control socket server. It owns no thread: the daemon's main loop polls fd()
// (an epoll descriptor, readable whenever a client needs attention) and calls
// HandleReady(), which accepts, reads, dispatches and writes without blocking.
//
//   ControlServerOptions options;
//   options.path = config.control_socket();
//   auto server = ControlServer::Listen(options);
//   (*server)->Register("status", [&](const JsonValue& req, JsonWriter& out) {
//     out.BeginObject().Key("flows").Uint(cache.size()).EndObject();
//     return absl::OkStatus();
//   });
//   (*server)->RegisterStream("events");
//   ... epoll on (*server)->fd(); on readiness: (*server)->HandleReady();
//   (*server)->Publish("events", R"({"type":"ndp",...})");
//
// Security: the socket file is mode 0600 in a 0700 directory it creates when missing, and
// every peer's SO_PEERCRED uid must be `allowed_uid` (root): others get an error line and
// are disconnected. Not thread-safe: call everything from the main loop.

#ifndef TCFLOW_DAEMON_CONTROL_SERVER_H_
#define TCFLOW_DAEMON_CONTROL_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/control/json.h"
#include "daemon/control/protocol.h"

namespace tcflow::control {

struct ControlServerOptions {
  std::string path = kDefaultSocketPath;
  uid_t allowed_uid = 0;
  size_t max_clients = 32;
  size_t max_request_bytes = kMaxRequestBytes;
  // A subscriber further behind than this loses events rather than growing memory.
  size_t max_stream_backlog_bytes = 1 << 20;
};

struct ControlServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t request_errors = 0;  // bad JSON, unknown command, handler errors
  uint64_t peers_rejected = 0;  // wrong uid, too many clients
  uint64_t events_published = 0;
  uint64_t events_dropped = 0;  // slow subscribers
};

class ControlServer {
 public:
  // Writes the command's result (one JSON value) to `result`. An error status becomes
  // {"ok":false,"error":message} and whatever was written is discarded.
  using Handler = std::function<absl::Status(const JsonValue& request, JsonWriter& result)>;
  // Accepts or refuses a subscription (e.g. checks its arguments); may be empty.
  using SubscribeHook = std::function<absl::Status(const JsonValue& request)>;

  // Creates the socket (replacing a stale one; refusing when another server answers there).
  static absl::StatusOr<std::unique_ptr<ControlServer>> Listen(ControlServerOptions options);
  ~ControlServer();  // closes every connection; removes the socket file if it is still ours

  int fd() const { return epoll_fd_; }
  void HandleReady();

  void Register(std::string command, Handler handler);
  void RegisterStream(std::string stream, SubscribeHook hook = nullptr);
  // Sends {"event":<event_json>} to every subscriber of `stream`.
  void Publish(absl::string_view stream, absl::string_view event_json);

  size_t client_count() const { return connections_.size(); }
  size_t subscriber_count(absl::string_view stream) const;
  const ControlServerStats& stats() const { return stats_; }
  const std::string& path() const { return options_.path; }

 private:
  struct Connection;
  ControlServer(ControlServerOptions options, int listen_fd, int epoll_fd, dev_t dev,
                ino_t ino);
  void Accept();
  void OnReadable(Connection& c);
  void Dispatch(Connection& c, absl::string_view line);
  void Send(Connection& c, absl::string_view line);  // appends '\n'
  void Flush(Connection& c);
  void UpdateInterest(Connection& c);
  void Close(int fd);
  static std::string ErrorLine(absl::string_view message);

  ControlServerOptions options_;
  int listen_fd_;
  int epoll_fd_;
  dev_t socket_dev_;
  ino_t socket_ino_;
  std::map<std::string, Handler, std::less<>> handlers_;
  std::map<std::string, SubscribeHook, std::less<>> streams_;
  std::map<int, std::unique_ptr<Connection>> connections_;
  ControlServerStats stats_;
};

}  // namespace tcflow::control

#endif  // TCFLOW_DAEMON_CONTROL_SERVER_H_
