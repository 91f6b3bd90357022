#include "daemon/control/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tcflow::control {

struct ControlServer::Connection {
  int fd = -1;
  uid_t uid = 0;
  std::string in;
  std::string out;
  size_t out_offset = 0;
  std::string stream;  // subscribed stream, if any
  uint64_t lost = 0;   // events dropped since the last delivered one
  bool close_after_flush = false;
  bool dead = false;   // write failed: close at the next safe point
  uint32_t interest = 0;

  size_t pending() const { return out.size() - out_offset; }
};

namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::Status(absl::ErrnoToStatusCode(errno),
                      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

bool FillAddress(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

}  // namespace

std::string ControlServer::ErrorLine(absl::string_view message) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject().Key("ok").Bool(false).Key("error").String(message).EndObject();
  return line;
}

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(
    ControlServerOptions options) {
  const std::string& path = options.path;
  sockaddr_un addr;
  if (!FillAddress(path, &addr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "control socket path '", path, "' must be 1..", sizeof(addr.sun_path) - 1, " bytes"));
  }
  // The directory: created private when missing (only the last component).
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT || mkdir(dir.c_str(), 0700) != 0) {
        return Errno("cannot create the control socket directory", dir);
      }
    } else if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(dir, " is not a directory"));
    }
  }
  // An existing file: a live server (refuse), a stale socket (replace), or something else.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; not replacing it"));
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
      const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(probe);
      if (live) {
        return absl::AlreadyExistsError(
            absl::StrCat("another tcflowd is already listening on ", path));
      }
    }
    if (unlink(path.c_str()) != 0) return Errno("cannot remove the stale socket", path);
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("cannot create the control socket", path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status s = Errno("cannot bind the control socket", path);
    close(fd);
    return s;
  }
  // Root only. (bind() honours the umask; tighten right away. The peer uid check below
  // holds even in the instant before.)
  if (chmod(path.c_str(), 0600) != 0 || listen(fd, 16) != 0 || stat(path.c_str(), &st) != 0) {
    absl::Status s = Errno("cannot set up the control socket", path);
    close(fd);
    unlink(path.c_str());
    return s;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    absl::Status s = Errno("epoll_create1 for", path);
    close(fd);
    unlink(path.c_str());
    return s;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return std::unique_ptr<ControlServer>(
      new ControlServer(std::move(options), fd, ep, st.st_dev, st.st_ino));
}

ControlServer::ControlServer(ControlServerOptions options, int listen_fd, int epoll_fd,
                             dev_t dev, ino_t ino)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      epoll_fd_(epoll_fd),
      socket_dev_(dev),
      socket_ino_(ino) {}

ControlServer::~ControlServer() {
  for (auto& [fd, c] : connections_) close(fd);
  connections_.clear();
  close(listen_fd_);
  close(epoll_fd_);
  // Only our own socket: a successor may already have replaced it.
  struct stat st;
  if (stat(options_.path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
      st.st_ino == socket_ino_) {
    unlink(options_.path.c_str());
  }
}

void ControlServer::Register(std::string command, Handler handler) {
  handlers_[std::move(command)] = std::move(handler);
}

void ControlServer::RegisterStream(std::string stream, SubscribeHook hook) {
  streams_[std::move(stream)] = std::move(hook);
}

size_t ControlServer::subscriber_count(absl::string_view stream) const {
  size_t n = 0;
  for (const auto& [fd, c] : connections_) n += c->stream == stream;
  return n;
}

void ControlServer::HandleReady() {
  epoll_event events[32];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events, 32, 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        Accept();
        continue;
      }
      auto it = connections_.find(fd);
      if (it == connections_.end()) continue;
      Connection& c = *it->second;
      if (events[i].events & EPOLLOUT) Flush(c);
      if (!c.dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnReadable(c);
      if (c.dead) Close(fd);
    }
    if (n < 32) return;
  }
}

void ControlServer::Accept() {
  while (true) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error: try again at the next readiness
    ++stats_.connections;
    ucred cred{};
    socklen_t len = sizeof(cred);
    std::string refusal;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      refusal = "cannot identify the peer (SO_PEERCRED)";
    } else if (cred.uid != options_.allowed_uid) {
      refusal = absl::StrCat("permission denied: the tcflowd control socket accepts uid ",
                             options_.allowed_uid, " only (you are uid ", cred.uid, ")");
    } else if (connections_.size() >= options_.max_clients) {
      refusal = absl::StrCat("too many control connections (", options_.max_clients, ")");
    }
    if (!refusal.empty()) {
      ++stats_.peers_rejected;
      std::string line = ErrorLine(refusal) + "\n";
      (void)!send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    c->uid = cred.uid;
    c->interest = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    connections_[fd] = std::move(c);
  }
}

void ControlServer::OnReadable(Connection& c) {
  char buf[16384];
  bool eof = false;
  while (true) {
    const ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n > 0) {
      c.in.append(buf, n);
      if (c.in.size() > options_.max_request_bytes + 1 && c.in.find('\n') == std::string::npos) {
        break;  // handled below
      }
      continue;
    }
    if (n == 0) eof = true;
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
    break;
  }
  size_t start = 0;
  while (!c.dead && !c.close_after_flush) {
    const size_t nl = c.in.find('\n', start);
    if (nl == std::string::npos) break;
    absl::string_view line(c.in.data() + start, nl - start);
    start = nl + 1;
    if (line.size() > options_.max_request_bytes) {
      ++stats_.request_errors;
      Send(c, ErrorLine(absl::StrCat("request longer than ", options_.max_request_bytes,
                                     " bytes")));
      c.close_after_flush = true;
      break;
    }
    Dispatch(c, line);
  }
  c.in.erase(0, start);
  if (!c.close_after_flush && c.in.size() > options_.max_request_bytes) {
    ++stats_.request_errors;
    Send(c, ErrorLine(absl::StrCat("request longer than ", options_.max_request_bytes,
                                   " bytes")));
    c.close_after_flush = true;
  }
  if (eof) {
    // The peer may only have shut down its writing side: replies still go out first.
    c.close_after_flush = true;
    if (!c.stream.empty()) c.dead = true;  // a subscriber hanging up
  }
  if (c.close_after_flush && c.pending() == 0) c.dead = true;
  if (!c.dead) UpdateInterest(c);
}

void ControlServer::Dispatch(Connection& c, absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find_first_not_of(" \t") == absl::string_view::npos) return;  // blank line
  ++stats_.requests;
  absl::StatusOr<JsonValue> request = ParseJson(line);
  if (!request.ok()) {
    ++stats_.request_errors;
    Send(c, ErrorLine(request.status().message()));
    return;
  }
  std::optional<std::string> cmd = request->is_object() ? request->GetString("cmd") : std::nullopt;
  if (!cmd) {
    ++stats_.request_errors;
    Send(c, ErrorLine("a request is a JSON object with a \"cmd\" string"));
    return;
  }
  if (auto h = handlers_.find(*cmd); h != handlers_.end()) {
    std::string result;
    JsonWriter w(&result);
    absl::Status s = h->second(*request, w);
    if (!s.ok()) {
      ++stats_.request_errors;
      Send(c, ErrorLine(s.message()));
      return;
    }
    std::string reply = absl::StrCat("{\"ok\":true,\"result\":", result.empty() ? "null" : result, "}");
    Send(c, reply);
    return;
  }
  if (auto st = streams_.find(*cmd); st != streams_.end()) {
    if (!c.stream.empty()) {
      ++stats_.request_errors;
      Send(c, ErrorLine(absl::StrCat("this connection already follows '", c.stream, "'")));
      return;
    }
    if (st->second) {
      if (absl::Status s = st->second(*request); !s.ok()) {
        ++stats_.request_errors;
        Send(c, ErrorLine(s.message()));
        return;
      }
    }
    c.stream = *cmd;
    std::string reply;
    JsonWriter w(&reply);
    w.BeginObject().Key("ok").Bool(true).Key("stream").String(*cmd).EndObject();
    Send(c, reply);
    return;
  }
  ++stats_.request_errors;
  std::vector<std::string> known;
  for (const auto& [name, h] : handlers_) known.push_back(name);
  for (const auto& [name, h] : streams_) known.push_back(name);
  std::sort(known.begin(), known.end());
  Send(c, ErrorLine(absl::StrCat("unknown command '", *cmd, "' (tcflowd knows: ",
                                 absl::StrJoin(known, ", "), ")")));
}

void ControlServer::Send(Connection& c, absl::string_view line) {
  c.out.append(line.data(), line.size());
  c.out.push_back('\n');
  Flush(c);
}

void ControlServer::Flush(Connection& c) {
  while (c.pending() > 0) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_offset, c.pending(),
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_offset += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    c.dead = true;  // EPIPE, ECONNRESET: the client is gone
    return;
  }
  if (c.pending() == 0) {
    c.out.clear();
    c.out_offset = 0;
    if (c.close_after_flush) {
      c.dead = true;
      return;
    }
  } else if (c.out_offset > (1 << 16) && c.out_offset * 2 > c.out.size()) {
    c.out.erase(0, c.out_offset);  // keep the buffer from growing without bound
    c.out_offset = 0;
  }
  UpdateInterest(c);
}

void ControlServer::UpdateInterest(Connection& c) {
  const uint32_t want = (c.close_after_flush ? 0u : static_cast<uint32_t>(EPOLLIN)) |
                        (c.pending() > 0 ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  if (want == c.interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = c.fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.interest = want;
}

void ControlServer::Publish(absl::string_view stream, absl::string_view event_json) {
  ++stats_.events_published;
  std::vector<int> dead;
  for (auto& [fd, cp] : connections_) {
    Connection& c = *cp;
    if (c.stream != stream || c.dead) continue;
    if (c.pending() > options_.max_stream_backlog_bytes) {
      ++c.lost;
      ++stats_.events_dropped;
      continue;
    }
    if (c.lost) {
      c.out.append(absl::StrCat("{\"lost\":", c.lost, "}\n"));
      c.lost = 0;
    }
    absl::StrAppend(&c.out, "{\"event\":", event_json, "}\n");
    Flush(c);
    if (c.dead) dead.push_back(fd);
  }
  for (int fd : dead) Close(fd);
}

void ControlServer::Close(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_.erase(it);
}

}  // namespace tcflow::control
