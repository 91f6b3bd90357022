#include "daemon/control/client.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tcflow::control {

absl::StatusOr<ControlClient> ControlClient::Connect(const std::string& path,
                                                     absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad control socket path '", path, "'"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    switch (err) {
      case ENOENT:
        return absl::UnavailableError(
            absl::StrCat("tcflowd is not running (no socket at ", path, ")"));
      case ECONNREFUSED:
        return absl::UnavailableError(
            absl::StrCat("tcflowd is not running (stale socket at ", path, ")"));
      case EACCES:
      case EPERM:
        return absl::PermissionDeniedError(
            absl::StrCat("permission denied on ", path, " (flowctl must run as root)"));
      default:
        return absl::UnavailableError(
            absl::StrCat("cannot connect to tcflowd at ", path, ": ", std::strerror(err)));
    }
  }
  return ControlClient(fd, path, timeout);
}

ControlClient::ControlClient(ControlClient&& o) noexcept
    : fd_(o.fd_), path_(std::move(o.path_)), timeout_(o.timeout_), buffer_(std::move(o.buffer_)) {
  o.fd_ = -1;
}

ControlClient& ControlClient::operator=(ControlClient&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    timeout_ = o.timeout_;
    buffer_ = std::move(o.buffer_);
    o.fd_ = -1;
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) close(fd_);
}

absl::Status ControlClient::SendRequest(absl::string_view command, const JsonValue& args) {
  if (!args.is_object()) return absl::InvalidArgumentError("request arguments must be an object");
  std::string line;
  JsonWriter w(&line);
  w.BeginObject().Key("cmd").String(command);
  for (const auto& [key, value] : args.members()) {
    if (key == "cmd") continue;
    w.Key(key);
    value.WriteTo(w);
  }
  w.EndObject();
  line.push_back('\n');
  size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat("tcflowd closed the connection (", path_,
                                                 "): ", std::strerror(errno)));
    }
    off += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ControlClient::ReadLine(absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  while (true) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return std::optional<std::string>(std::move(line));
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::optional<std::string>();
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    if (r == 0) continue;  // re-check the deadline
    char buf[65536];
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat("tcflowd closed the connection (", path_, ")"));
    }
    buffer_.append(buf, n);
  }
}

absl::StatusOr<JsonValue> ControlClient::ReadReply() {
  absl::StatusOr<std::optional<std::string>> line = ReadLine(timeout_);
  if (!line.ok()) return line.status();
  if (!line->has_value()) {
    return absl::DeadlineExceededError(absl::StrCat("no reply from tcflowd within ",
                                                    absl::FormatDuration(timeout_)));
  }
  absl::StatusOr<JsonValue> reply = ParseJson(**line);
  if (!reply.ok()) {
    return absl::InternalError(absl::StrCat("unreadable reply from tcflowd: ",
                                            reply.status().message()));
  }
  std::optional<bool> ok = reply->is_object() ? reply->GetBool("ok") : std::nullopt;
  if (!ok) return absl::InternalError("unreadable reply from tcflowd: no \"ok\" member");
  if (!*ok) {
    return absl::FailedPreconditionError(
        reply->GetString("error").value_or("tcflowd reported an error without a message"));
  }
  return reply;
}

absl::Status ControlClient::ExplainSendFailure(absl::Status send_error) {
  // The daemon may have refused us (uid, too many clients) and closed before our request
  // went out: its explanation is still waiting to be read.
  absl::StatusOr<std::optional<std::string>> line = ReadLine(absl::Seconds(1));
  if (line.ok() && line->has_value()) {
    absl::StatusOr<JsonValue> reply = ParseJson(**line);
    if (reply.ok() && reply->is_object() && reply->GetBool("ok") == false) {
      if (std::optional<std::string> error = reply->GetString("error")) {
        return absl::FailedPreconditionError(*error);
      }
    }
  }
  return send_error;
}

absl::StatusOr<JsonValue> ControlClient::Call(absl::string_view command, const JsonValue& args) {
  if (absl::Status s = SendRequest(command, args); !s.ok()) return ExplainSendFailure(s);
  absl::StatusOr<JsonValue> reply = ReadReply();
  if (!reply.ok()) return reply.status();
  const JsonValue* result = reply->Find("result");
  return result ? *result : JsonValue();
}

absl::Status ControlClient::Subscribe(absl::string_view stream, const JsonValue& args) {
  if (absl::Status s = SendRequest(stream, args); !s.ok()) return ExplainSendFailure(s);
  absl::StatusOr<JsonValue> reply = ReadReply();
  if (!reply.ok()) return reply.status();
  if (reply->GetString("stream") != std::string(stream)) {
    return absl::InternalError(absl::StrCat("tcflowd did not open the '", stream, "' stream"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<JsonValue>> ControlClient::Next(absl::Duration wait) {
  absl::StatusOr<std::optional<std::string>> line = ReadLine(wait);
  if (!line.ok()) return line.status();
  if (!line->has_value()) return std::optional<JsonValue>();
  absl::StatusOr<JsonValue> v = ParseJson(**line);
  if (!v.ok()) return v.status();
  return std::optional<JsonValue>(std::move(*v));
}

}  // namespace tcflow::control
