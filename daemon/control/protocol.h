// The control protocol between tcflowd and flowctl, over a Unix stream socket.
//
// One JSON object per line ('\n'-terminated) in each direction.
//   Request:  {"cmd":"<command>", ...arguments...}
//   Reply:    {"ok":true,"result":<value>}    or    {"ok":false,"error":"<message>"}
// A connection may carry many requests; replies come in order.
//
// Streams ("events"): the reply to the subscribing request is {"ok":true,"stream":"<name>"},
// then the server writes one object per event, {"event":<value>}, until either side closes.
// When the client reads too slowly, events are dropped (never the daemon's time) and the
// next delivered line says how many: {"lost":<count>}.

#ifndef TCFLOW_DAEMON_CONTROL_PROTOCOL_H_
#define TCFLOW_DAEMON_CONTROL_PROTOCOL_H_

namespace tcflow::control {

// Where tcflowd listens unless the config says otherwise.
inline constexpr char kDefaultSocketPath[] = "/run/tcflow/control.sock";

// The longest request line the server accepts.
inline constexpr unsigned kMaxRequestBytes = 64 * 1024;

}  // namespace tcflow::control

#endif  // TCFLOW_DAEMON_CONTROL_PROTOCOL_H_
