// `flowctl top`'s pure part: the daemon's `top` reply turned into a frame (rows with
// rates), and a frame rendered as a terminal table of a given width or as one JSON line.
// No I/O here; top_command.cc does the socket, the terminal and the timing.
//
// Rates: tcflowd counts each flow's traffic between two `top` requests (the flows matched
// by key in its drain window, daemon/tcflowd/top_ranker.h); a row's pkt/s and bit/s are
// that traffic over the window's length. A client's first frame has no window of its own:
// it is ranked by the records' totals and shows "-" for rates. The header's total rates
// are the kernel's packet/byte counters between this client's two frames.

#ifndef TCFLOW_TOOLS_FLOWCTL_TOP_VIEW_H_
#define TCFLOW_TOOLS_FLOWCTL_TOP_VIEW_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/control/json.h"

namespace tcflow::flowctl {

struct TopFlow {
  uint32_t ifindex = 0;
  std::string ifname;      // empty when the daemon knows no name
  std::string direction;   // "ingress" / "egress"
  int ip_version = 4;
  int protocol = 0;
  std::string protocol_name;
  std::string src, dst;    // address text (RFC 5952 for IPv6)
  int src_port = 0, dst_port = 0;
  std::optional<int> icmp_type, icmp_code;  // ICMP/ICMPv6 (then the ports mean nothing)
  uint64_t packets = 0, bytes = 0;          // the record's totals
  uint64_t window_packets = 0, window_bytes = 0;
  std::optional<double> pps, bps;           // none on a first frame
};

struct TopFrame {
  double uptime_s = 0;
  int64_t mono_ms = 0;  // the daemon's monotonic clock at the reply
  uint64_t cache_flows = 0;
  // Kernel table: slots per half, used at the last drain (a `top` request drains, so this
  // is the traffic since the previous drain), the most ever used.
  uint64_t table_used = 0, table_slots = 0, table_peak = 0;
  uint64_t kernel_packets = 0, kernel_bytes = 0;  // everything the programs saw
  std::optional<double> total_pps, total_bps;     // from the previous frame
  std::string sort = "bytes";
  bool ranked_by_rate = false;
  std::optional<int64_t> window_ms;
  uint64_t matched_flows = 0, active_flows = 0;
  std::vector<TopFlow> flows;
};

// Parses the daemon's reply. `previous` is this client's last frame (nullptr for the
// first): with it, rows get rates from their window counts and the header its total rates.
absl::StatusOr<TopFrame> ParseTopReply(const control::JsonValue& reply, const TopFrame* previous);

struct TopRenderOptions {
  int width = 80;        // terminal columns; lines never exceed it
  size_t n = 20;         // asked for (the header says "top N")
  bool ipv6_only = false;
  std::string interface; // the -i filter, "" for all
};

// The header lines, a blank line, the column titles and one line per flow.
std::string RenderTopTable(const TopFrame& frame, const TopRenderOptions& options);
// One JSON object (no newline) with the header values and the rows.
std::string RenderTopJson(const TopFrame& frame);

// "10.0.0.1:53", "[2001:db8::1]:443", "10.0.0.1" (port < 0: none). Longer than
// `max_width`: the address is shortened in the middle, marked "~" (the port is kept, so
// the prefix, the host part and the service stay visible).
std::string FormatEndpoint(const std::string& address, int ip_version, int port,
                           size_t max_width);
// A count in at most `width` characters: exact when it fits, else SI ("12.3M", "1.2G").
std::string CompactCount(double value, size_t width);
// "3d04h", "2h05m", "4m07s", "12s".
std::string FormatUptime(double seconds);

}  // namespace tcflow::flowctl

#endif  // TCFLOW_TOOLS_FLOWCTL_TOP_VIEW_H_
