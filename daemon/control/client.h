// flowctl's side of the control socket.
//
//   absl::StatusOr<ControlClient> client = ControlClient::Connect(path);
//   if (!client.ok()) { print client.status().message(); return 1; }
//   //   e.g. "tcflowd is not running (no socket at /run/tcflow/control.sock)"
//   absl::StatusOr<JsonValue> status = client->Call("status");
//
//   JsonValue flush = JsonValue::Object();
//   flush.Set("all", JsonValue::Bool(true));
//   client->Call("flush", flush);
//
//   client->Subscribe("events");
//   while (auto line = client->Next(absl::Seconds(1))) { ... }  // {"event":...} / {"lost":n}
//
// Errors the daemon reports ({"ok":false,...}) come back as a Status with its message.

#ifndef TCFLOW_DAEMON_CONTROL_CLIENT_H_
#define TCFLOW_DAEMON_CONTROL_CLIENT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "daemon/control/json.h"
#include "daemon/control/protocol.h"

namespace tcflow::control {

class ControlClient {
 public:
  static absl::StatusOr<ControlClient> Connect(const std::string& path = kDefaultSocketPath,
                                               absl::Duration timeout = absl::Seconds(30));
  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;
  ~ControlClient();

  // Sends {"cmd":command, ...members of args (an object)} and returns the reply's result.
  absl::StatusOr<JsonValue> Call(absl::string_view command,
                                 const JsonValue& args = JsonValue::Object());

  // Subscribes this connection to a stream; then read it with Next().
  absl::Status Subscribe(absl::string_view stream, const JsonValue& args = JsonValue::Object());
  // The next line of the stream, parsed; nullopt when nothing arrived within `wait`.
  // A closed connection is an error ("tcflowd closed the connection").
  absl::StatusOr<std::optional<JsonValue>> Next(absl::Duration wait);

 private:
  ControlClient(int fd, std::string path, absl::Duration timeout)
      : fd_(fd), path_(std::move(path)), timeout_(timeout) {}
  absl::Status SendRequest(absl::string_view command, const JsonValue& args);
  // One line; nullopt on timeout.
  absl::StatusOr<std::optional<std::string>> ReadLine(absl::Duration wait);
  absl::StatusOr<JsonValue> ReadReply();
  absl::Status ExplainSendFailure(absl::Status send_error);

  int fd_ = -1;
  std::string path_;
  absl::Duration timeout_;
  std::string buffer_;
};

}  // namespace tcflow::control

#endif  // TCFLOW_DAEMON_CONTROL_CLIENT_H_
