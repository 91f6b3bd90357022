#include "daemon/control/requests.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/runtime/address.h"

namespace tcflow::control {
namespace {

absl::StatusOr<uint16_t> ParsePort(absl::string_view what, absl::string_view text) {
  uint32_t v;
  if (text.empty() || !absl::ascii_isdigit(text[0]) || !absl::SimpleAtoi(text, &v) ||
      v > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " '", text, "' is not a port number (0..65535)"));
  }
  return static_cast<uint16_t>(v);
}

absl::StatusOr<cache::FilterAddress> ParseFilterAddress(absl::string_view text) {
  absl::StatusOr<runtime::ParsedAddress> a = runtime::ParseAddress(text);
  if (!a.ok()) return a.status();
  cache::FilterAddress out;
  std::memcpy(out.addr, a->addr, sizeof(out.addr));
  out.ip_version = a->ip_version;
  return out;
}

absl::Status Validate(const FlushRequest& r) {
  const bool any = !r.interface.empty() || r.filter.protocol || r.filter.src ||
                   r.filter.src_port || r.filter.dst || r.filter.dst_port;
  if (r.all && any) return absl::InvalidArgumentError("--all cannot be combined with filters");
  if (!r.all && !any) {
    return absl::InvalidArgumentError(
        "say which flows to flush: --all, or at least one of -i -p -s -S -d -D");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FlushRequest> FlushRequestFromFlags(const FlushFlags& f) {
  FlushRequest r;
  r.all = f.all;
  r.interface = f.interface;
  if (!f.protocol.empty()) {
    absl::StatusOr<uint8_t> p = runtime::ParseProtocol(f.protocol);
    if (!p.ok()) return p.status();
    r.filter.protocol = *p;
  }
  if (!f.src.empty()) {
    auto a = ParseFilterAddress(f.src);
    if (!a.ok()) return a.status();
    r.filter.src = *a;
  }
  if (!f.dst.empty()) {
    auto a = ParseFilterAddress(f.dst);
    if (!a.ok()) return a.status();
    r.filter.dst = *a;
  }
  if (!f.src_port.empty()) {
    auto p = ParsePort("source port", f.src_port);
    if (!p.ok()) return p.status();
    r.filter.src_port = *p;
  }
  if (!f.dst_port.empty()) {
    auto p = ParsePort("destination port", f.dst_port);
    if (!p.ok()) return p.status();
    r.filter.dst_port = *p;
  }
  if (absl::Status s = Validate(r); !s.ok()) return s;
  return r;
}

JsonValue EncodeFlushRequest(const FlushRequest& r) {
  JsonValue v = JsonValue::Object();
  if (r.all) v.Set("all", JsonValue::Bool(true));
  if (!r.interface.empty()) v.Set("interface", JsonValue::String(r.interface));
  if (r.filter.protocol) v.Set("protocol", JsonValue::Uint(*r.filter.protocol));
  if (r.filter.src) {
    v.Set("src", JsonValue::String(runtime::FormatAddress(r.filter.src->addr, r.filter.src->ip_version)));
  }
  if (r.filter.src_port) v.Set("sport", JsonValue::Uint(*r.filter.src_port));
  if (r.filter.dst) {
    v.Set("dst", JsonValue::String(runtime::FormatAddress(r.filter.dst->addr, r.filter.dst->ip_version)));
  }
  if (r.filter.dst_port) v.Set("dport", JsonValue::Uint(*r.filter.dst_port));
  return v;
}

absl::StatusOr<FlushRequest> DecodeFlushRequest(const JsonValue& v) {
  FlushRequest r;
  for (const auto& [key, value] : v.members()) {
    if (key == "cmd") continue;
    auto bad = [&, key = key]() {
      return absl::InvalidArgumentError(absl::StrCat("flush: bad value for \"", key, "\""));
    };
    if (key == "all") {
      if (!value.is_bool()) return bad();
      r.all = value.bool_value();
    } else if (key == "interface") {
      if (!value.is_string() || value.text().empty()) return bad();
      r.interface = value.text();
    } else if (key == "protocol") {
      auto p = value.AsUint64();
      if (!p || *p > 255) return bad();
      r.filter.protocol = static_cast<uint8_t>(*p);
    } else if (key == "sport" || key == "dport") {
      auto p = value.AsUint64();
      if (!p || *p > 65535) return bad();
      (key == "sport" ? r.filter.src_port : r.filter.dst_port) = static_cast<uint16_t>(*p);
    } else if (key == "src" || key == "dst") {
      if (!value.is_string()) return bad();
      auto a = ParseFilterAddress(value.text());
      if (!a.ok()) return a.status();
      (key == "src" ? r.filter.src : r.filter.dst) = *a;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flush: unknown argument \"", key, "\""));
    }
  }
  if (absl::Status s = Validate(r); !s.ok()) return s;
  return r;
}

}  // namespace tcflow::control
