#include "daemon/tcflowd/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcflow::tcflowd {

struct MetricsHandler {
  static MHD_Result Handle(void* cls, MHD_Connection* connection, const char* url,
                           const char* method, const char*, const char*, size_t*, void**) {
    auto* self = static_cast<MetricsServer*>(cls);
    std::string body;
    unsigned int code = MHD_HTTP_OK;
    const char* type = "text/plain; charset=utf-8";
    const bool known = std::strcmp(url, "/metrics") == 0 || std::strcmp(url, "/healthz") == 0 ||
                       std::strcmp(url, "/ready") == 0;
    if (!known) {
      code = MHD_HTTP_NOT_FOUND;
      body = "not found; endpoints: /metrics /healthz /ready\n";
    } else if (std::strcmp(method, "GET") != 0) {
      code = MHD_HTTP_METHOD_NOT_ALLOWED;
      body = "only GET\n";
    } else if (std::strcmp(url, "/metrics") == 0) {
      body = self->metrics_();
      type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (std::strcmp(url, "/healthz") == 0) {
      body = "ok\n";
    } else if (self->ready_) {
      HttpAnswer answer = self->ready_();
      code = answer.code;
      body = std::move(answer.body);
    } else {
      body = "ready\n";
    }
    MHD_Response* response =
        MHD_create_response_from_buffer(body.size(), body.data(), MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(response, "Content-Type", type);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(response, "Allow", "GET");
    MHD_Result r = MHD_queue_response(connection, code, response);
    MHD_destroy_response(response);
    return r;
  }
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Listen(
    const config::ListenAddress& address, std::function<std::string()> metrics,
    std::function<HttpAnswer()> ready) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->metrics_ = std::move(metrics);
  s->ready_ = std::move(ready);
  sockaddr_storage ss{};
  unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  if (address.ip.family == 6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(address.port);
    std::memcpy(&a->sin6_addr, address.ip.bytes, 16);
    flags |= MHD_USE_IPv6;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(address.port);
    std::memcpy(&a->sin_addr, address.ip.bytes, 4);
  }
  s->daemon_ = MHD_start_daemon(flags, address.port, nullptr, nullptr, &MetricsHandler::Handle,
                                s.get(), MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_TIMEOUT,
                                10u, MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_END);
  if (s->daemon_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot serve metrics on ", address.ip.ToString(), ":", address.port,
        " (address in use or not local?)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(s->daemon_, MHD_DAEMON_INFO_EPOLL_FD);
  s->fd_ = info != nullptr ? info->epoll_fd : -1;
  const MHD_DaemonInfo* port = MHD_get_daemon_info(s->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  s->port_ = port != nullptr ? port->port : address.port;
  return s;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void MetricsServer::Run() {
  if (daemon_ != nullptr) MHD_run(daemon_);
}

}  // namespace tcflow::tcflowd
