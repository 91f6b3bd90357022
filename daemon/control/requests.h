// Request arguments shared by flowctl (encode) and tcflowd (decode), so both sides agree.
//
// flush: {"cmd":"flush","all":true}
//        {"cmd":"flush","interface":"eth0","protocol":6,"src":"10.0.0.1","sport":1234,
//         "dst":"2001:db8::1","dport":80}     (any non-empty subset of the filters)

#ifndef TCFLOW_DAEMON_CONTROL_REQUESTS_H_
#define TCFLOW_DAEMON_CONTROL_REQUESTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "daemon/cache/flow_filter.h"
#include "daemon/control/json.h"

namespace tcflow::control {

struct FlushRequest {
  bool all = false;
  // The interface by name (the daemon resolves it into filter.ifindex); empty = any.
  std::string interface;
  // protocol, src, src_port, dst, dst_port; ifindex is the daemon's to fill in.
  cache::FlowFilter filter;
};

// From flowctl's flags, as typed (empty string = flag not given). Clear errors for bad
// values, for --all combined with filters, and for no selection at all.
struct FlushFlags {
  bool all = false;
  std::string interface, protocol, src, src_port, dst, dst_port;
};
absl::StatusOr<FlushRequest> FlushRequestFromFlags(const FlushFlags& flags);

// The request's arguments (without "cmd"), for ControlClient::Call("flush", ...).
JsonValue EncodeFlushRequest(const FlushRequest& request);
// Checks and decodes what EncodeFlushRequest wrote (the daemon's side).
absl::StatusOr<FlushRequest> DecodeFlushRequest(const JsonValue& request);

}  // namespace tcflow::control

#endif  // TCFLOW_DAEMON_CONTROL_REQUESTS_H_
