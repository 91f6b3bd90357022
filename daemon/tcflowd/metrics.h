// tcflowd's metrics: the /metrics text (daemon/metrics/render.h plus the health
// families), served over HTTP on the configured local address with the health
// endpoints /healthz and /ready. The server owns no
// thread: libmicrohttpd runs in its epoll mode, and the main loop polls fd() and calls
// Run(), so the status is read on the main thread like a control request.

#ifndef TCFLOW_DAEMON_TCFLOWD_METRICS_H_
#define TCFLOW_DAEMON_TCFLOWD_METRICS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "config/address.h"
#include "daemon/control/json.h"

struct MHD_Daemon;

namespace tcflow::tcflowd {

// An HTTP answer: status code and text/plain body.
struct HttpAnswer {
  unsigned int code = 200;
  std::string body;
};

// Routes (GET only; other methods 405, other paths 404):
//   /metrics  200, the text of `metrics()`
//   /healthz  200 "ok\n" (answered by the main loop, so it proves the loop runs)
//   /ready    what `ready()` answers (200 "ready\n" or 503 with the reasons); without
//             `ready`, 200 "ready\n".
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Listen(
      const config::ListenAddress& address, std::function<std::string()> metrics,
      std::function<HttpAnswer()> ready = nullptr);
  ~MetricsServer();
  int fd() const { return fd_; }
  void Run();
  uint16_t port() const { return port_; }

 private:
  MetricsServer() = default;
  MHD_Daemon* daemon_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::function<std::string()> metrics_;
  std::function<HttpAnswer()> ready_;
  friend struct MetricsHandler;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_METRICS_H_
