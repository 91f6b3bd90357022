#include "tools/flowctl/top_view.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::flowctl {
namespace {

using control::JsonValue;

uint64_t U(const JsonValue* v, absl::string_view key) {
  return v == nullptr ? 0 : v->GetUint(key).value_or(0);
}

// `text` cut to `width` characters (ASCII: names, numbers and addresses).
std::string Fit(std::string text, size_t width) {
  if (text.size() > width) text.resize(width);
  return text;
}

std::string PadRight(const std::string& s, size_t w) {
  return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
}
std::string PadLeft(const std::string& s, size_t w) {
  return s.size() >= w ? s : std::string(w - s.size(), ' ') + s;
}

// prefix + address + suffix in at most max_width characters, shortening the address in
// the middle first ("~" marks the cut: it never appears in an address).
std::string Shorten(const std::string& prefix, const std::string& address,
                    const std::string& suffix, size_t max_width) {
  const size_t frame = prefix.size() + suffix.size();
  if (frame + address.size() <= max_width) return prefix + address + suffix;
  if (max_width >= frame + 3) {
    const size_t keep = max_width - frame - 1;
    const size_t head = (keep + 1) / 2, tail = keep - head;
    return prefix + address.substr(0, head) + "~" + address.substr(address.size() - tail) +
           suffix;
  }
  return Fit(prefix + address + suffix, max_width);
}

// SI from 1000 on: "1.0k", "526.8k", "4.4M" (one decimal: at most 6 characters).
std::string Si(double v, int decimals = 1) {
  static constexpr char kUnits[] = "kMGTPE";
  int unit = 0;
  v /= 1000;
  while (v >= 999.95 && unit < 5) {
    v /= 1000;
    ++unit;
  }
  return absl::StrFormat("%.*f%c", decimals, v, kUnits[unit]);
}

// Rates: one decimal below 10, whole numbers below 1000, SI above.
std::string Rate(double v) {
  if (v < 10) return absl::StrFormat("%.1f", v);
  if (v < 999.5) return absl::StrFormat("%.0f", v);
  return Si(v);
}

std::string RateOr(const std::optional<double>& v) { return v ? Rate(*v) : "-"; }

std::string ShortProtocol(const TopFlow& f) {
  if (f.protocol_name == "ipv6-icmp") return "icmp6";
  return Fit(f.protocol_name.empty() ? absl::StrCat(f.protocol) : f.protocol_name, 5);
}

std::string Endpoint(const TopFlow& f, bool source, size_t width) {
  const std::string& addr = source ? f.src : f.dst;
  if (f.icmp_type.has_value()) {
    // ICMP: no ports; the destination shows type/code (echo 8/0, neighbour solicit 135/0).
    if (source) return Shorten("", addr, "", width);
    return Shorten("", addr, absl::StrCat(" ", *f.icmp_type, "/", f.icmp_code.value_or(0)),
                   width);
  }
  return FormatEndpoint(addr, f.ip_version, source ? f.src_port : f.dst_port, width);
}

}  // namespace

std::string FormatEndpoint(const std::string& address, int ip_version, int port,
                           size_t max_width) {
  if (port < 0) return Shorten("", address, "", max_width);
  if (ip_version == 6) return Shorten("[", address, absl::StrCat("]:", port), max_width);
  return Shorten("", address, absl::StrCat(":", port), max_width);
}

std::string CompactCount(double value, size_t width) {
  if (value < 0) value = 0;
  std::string exact = absl::StrFormat("%.0f", value);
  if (exact.size() <= width) return exact;
  std::string s = Si(value);
  return s.size() <= width ? s : Si(value, 0);
}

std::string FormatUptime(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  if (s >= 86400) return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

absl::StatusOr<TopFrame> ParseTopReply(const JsonValue& reply, const TopFrame* previous) {
  const JsonValue* flows = reply.Find("flows");
  if (flows == nullptr || !flows->is_array()) {
    return absl::DataLossError("the daemon's top reply has no flow list");
  }
  TopFrame frame;
  if (const JsonValue* u = reply.Find("uptime_s"); u != nullptr) {
    frame.uptime_s = u->AsDouble().value_or(0);
  }
  frame.mono_ms = reply.GetInt("mono_ms").value_or(0);
  frame.cache_flows = U(&reply, "cache_flows");
  frame.table_slots = U(reply.Find("table"), "slots_per_half");
  frame.table_used = U(reply.Find("table"), "used_last_drain");
  frame.table_peak = U(reply.Find("table"), "max_used");
  frame.kernel_packets = U(reply.Find("kernel"), "packets");
  frame.kernel_bytes = U(reply.Find("kernel"), "bytes");
  frame.sort = reply.GetString("sort").value_or("bytes");
  frame.ranked_by_rate = reply.GetString("ranked_by").value_or("") == "rate";
  if (std::optional<int64_t> w = reply.GetInt("window_ms"); w.has_value()) frame.window_ms = w;
  frame.matched_flows = U(&reply, "matched_flows");
  frame.active_flows = U(&reply, "active_flows");

  // Rates need a window of this client's own: none on its first frame.
  const bool rates = previous != nullptr && frame.window_ms.has_value() && *frame.window_ms > 0;
  for (const JsonValue& item : flows->items()) {
    const JsonValue* f = item.Find("flow");
    if (f == nullptr) return absl::DataLossError("a top row without its flow");
    TopFlow t;
    t.ifindex = static_cast<uint32_t>(U(f, "ifindex"));
    t.ifname = f->GetString("ifname").value_or("");
    t.direction = f->GetString("direction").value_or("");
    t.ip_version = static_cast<int>(f->GetUint("ip_version").value_or(4));
    t.protocol = static_cast<int>(U(f, "protocol"));
    t.protocol_name = f->GetString("protocol_name").value_or("");
    t.src = f->GetString("src").value_or("");
    t.dst = f->GetString("dst").value_or("");
    t.src_port = static_cast<int>(U(f, "src_port"));
    t.dst_port = static_cast<int>(U(f, "dst_port"));
    if (std::optional<uint64_t> type = f->GetUint("icmp_type"); type.has_value()) {
      t.icmp_type = static_cast<int>(*type);
      t.icmp_code = static_cast<int>(U(f, "icmp_code"));
    }
    t.packets = U(f, "packets");
    t.bytes = U(f, "bytes");
    t.window_packets = U(&item, "window_packets");
    t.window_bytes = U(&item, "window_bytes");
    if (rates) {
      const double seconds = *frame.window_ms / 1000.0;
      t.pps = t.window_packets / seconds;
      t.bps = t.window_bytes * 8.0 / seconds;
    }
    frame.flows.push_back(std::move(t));
  }
  // Header rates: the kernel's counters between this client's frames (monotonic unless the
  // daemon restarted, which the clock going back shows).
  if (previous != nullptr && frame.mono_ms > previous->mono_ms &&
      frame.kernel_packets >= previous->kernel_packets &&
      frame.kernel_bytes >= previous->kernel_bytes) {
    const double seconds = (frame.mono_ms - previous->mono_ms) / 1000.0;
    frame.total_pps = (frame.kernel_packets - previous->kernel_packets) / seconds;
    frame.total_bps = (frame.kernel_bytes - previous->kernel_bytes) * 8.0 / seconds;
  }
  return frame;
}

std::string RenderTopTable(const TopFrame& frame, const TopRenderOptions& options) {
  const size_t width = static_cast<size_t>(std::max(options.width, 20));
  std::string out;
  auto line = [&](const std::string& text) {
    // Trailing blanks are cut too: a full-width line must not wrap on the terminal.
    std::string l = Fit(text, width);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    absl::StrAppend(&out, l, "\n");
  };

  auto percent = [&](uint64_t used) {
    return frame.table_slots == 0 ? 0.0 : 100.0 * used / frame.table_slots;
  };
  line(absl::StrFormat(
      "tcflowd up %s | %d flows cached | table %.1f%% (peak %.1f%%) of %d slots",
      FormatUptime(frame.uptime_s), frame.cache_flows, percent(frame.table_used),
      percent(frame.table_peak), frame.table_slots));
  line(absl::StrCat("total ", CompactCount(frame.kernel_packets, 6), " pkts ",
                    CompactCount(frame.kernel_bytes, 6), " bytes | now ",
                    RateOr(frame.total_pps), " pkt/s ", RateOr(frame.total_bps), " bit/s"));
  std::string filter;
  if (options.ipv6_only) filter += ", IPv6 only";
  if (!options.interface.empty()) absl::StrAppend(&filter, ", on ", options.interface);
  const std::string what = frame.sort == "packets" ? "packet" : "byte";
  if (frame.ranked_by_rate && frame.window_ms.has_value()) {
    line(absl::StrFormat("top %d by %s rate over %.2fs%s: %d of %d flows active", options.n,
                         what, *frame.window_ms / 1000.0, filter, frame.active_flows,
                         frame.matched_flows));
  } else {
    line(absl::StrFormat("top %d by total %ss%s of %d flows (rates from the next refresh)",
                         options.n, what, filter, frame.matched_flows));
  }
  line("");

  // Columns: IFACE DIR PROTO SRC DST PKTS BYTES PKT/S BIT/S. The numbers have fixed widths;
  // the endpoints share what is left (each its natural width when everything fits).
  size_t iface_w = 5;
  size_t src_nat = 3, dst_nat = 3;
  for (const TopFlow& f : frame.flows) {
    iface_w = std::max(iface_w, std::min<size_t>(
                                    f.ifname.empty() ? absl::StrCat(f.ifindex).size()
                                                     : f.ifname.size(), 10));
    src_nat = std::max(src_nat, Endpoint(f, true, 1000).size());
    dst_nat = std::max(dst_nat, Endpoint(f, false, 1000).size());
  }
  constexpr size_t kDir = 3, kProto = 5, kNum = 7, kRate = 6;
  const size_t fixed = iface_w + kDir + kProto + 2 * kNum + 2 * kRate + 8;  // 8 gaps
  const size_t room = width > fixed ? width - fixed : 0;
  size_t src_w = src_nat, dst_w = dst_nat;
  if (src_nat + dst_nat > room) {
    const size_t half = room / 2;
    if (src_nat <= half) {
      dst_w = room - src_nat;
    } else if (dst_nat <= room - half) {
      src_w = room - dst_nat;
    } else {
      src_w = half;
      dst_w = room - half;
    }
    src_w = std::max<size_t>(src_w, 3);
    dst_w = std::max<size_t>(dst_w, 3);
  }
  auto row = [&](const std::string& iface, const std::string& dir, const std::string& proto,
                 const std::string& src, const std::string& dst, const std::string& pkts,
                 const std::string& bytes, const std::string& pps, const std::string& bps) {
    line(absl::StrCat(PadRight(iface, iface_w), " ", PadRight(dir, kDir), " ",
                      PadRight(proto, kProto), " ", PadRight(src, src_w), " ",
                      PadRight(dst, dst_w), " ", PadLeft(pkts, kNum), " ",
                      PadLeft(bytes, kNum), " ", PadLeft(pps, kRate), " ", PadLeft(bps, kRate)));
  };
  row("IFACE", "DIR", "PROTO", "SRC", "DST", "PKTS", "BYTES", "PKT/S", "BIT/S");
  for (const TopFlow& f : frame.flows) {
    std::string iface = f.ifname.empty() ? absl::StrCat(f.ifindex) : f.ifname;
    if (iface.size() > iface_w) iface = iface.substr(0, iface_w - 1) + "~";
    row(iface, f.direction == "egress" ? "out" : "in", ShortProtocol(f),
        Endpoint(f, true, src_w), Endpoint(f, false, dst_w), CompactCount(f.packets, kNum),
        CompactCount(f.bytes, kNum), RateOr(f.pps), RateOr(f.bps));
  }
  return out;
}

std::string RenderTopJson(const TopFrame& frame) {
  std::string out;
  control::JsonWriter w(&out);
  auto opt = [&](const std::optional<double>& v) -> control::JsonWriter& {
    return v ? w.Double(*v) : w.Null();
  };
  w.BeginObject()
      .Key("uptime_s").Double(frame.uptime_s)
      .Key("cache_flows").Uint(frame.cache_flows)
      .Key("table_used").Uint(frame.table_used)
      .Key("table_slots").Uint(frame.table_slots)
      .Key("table_peak").Uint(frame.table_peak)
      .Key("packets").Uint(frame.kernel_packets)
      .Key("bytes").Uint(frame.kernel_bytes);
  w.Key("pps");
  opt(frame.total_pps);
  w.Key("bps");
  opt(frame.total_bps);
  w.Key("sort").String(frame.sort)
      .Key("ranked_by").String(frame.ranked_by_rate ? "rate" : "total");
  w.Key("window_ms");
  if (frame.window_ms) {
    w.Int(*frame.window_ms);
  } else {
    w.Null();
  }
  w.Key("matched_flows").Uint(frame.matched_flows)
      .Key("active_flows").Uint(frame.active_flows);
  w.Key("flows").BeginArray();
  for (const TopFlow& f : frame.flows) {
    w.BeginObject()
        .Key("ifindex").Uint(f.ifindex)
        .Key("ifname").String(f.ifname)
        .Key("direction").String(f.direction)
        .Key("ip_version").Int(f.ip_version)
        .Key("protocol").Int(f.protocol)
        .Key("protocol_name").String(f.protocol_name)
        .Key("src").String(f.src)
        .Key("dst").String(f.dst)
        .Key("src_port").Int(f.src_port)
        .Key("dst_port").Int(f.dst_port);
    if (f.icmp_type) w.Key("icmp_type").Int(*f.icmp_type).Key("icmp_code").Int(*f.icmp_code);
    w.Key("packets").Uint(f.packets)
        .Key("bytes").Uint(f.bytes)
        .Key("window_packets").Uint(f.window_packets)
        .Key("window_bytes").Uint(f.window_bytes);
    w.Key("pps");
    opt(f.pps);
    w.Key("bps");
    opt(f.bps);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

}  // namespace tcflow::flowctl
