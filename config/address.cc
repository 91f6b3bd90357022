#include "config/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::config {
namespace {

constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1

bool AllDigitsAndDots(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  }
  return !s.empty();
}

// The byte to show in a message: printable as itself, else as \xNN.
std::string ShowByte(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (absl::ascii_isgraph(u)) return absl::StrCat("'", std::string(1, c), "'");
  return absl::StrFormat("byte 0x%02x", u);
}

std::string Quoted(absl::string_view s) {
  return absl::StrCat("\"", absl::CHexEscape(s), "\"");
}

}  // namespace

bool IpLiteral::is_unspecified() const {
  size_t n = family == 4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

bool IpLiteral::is_multicast() const {
  return family == 4 ? (bytes[0] & 0xf0) == 0xe0 : bytes[0] == 0xff;
}

std::string IpLiteral::ToString() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, buffer, sizeof(buffer));
  return zone.empty() ? std::string(buffer) : absl::StrCat(buffer, "%", zone);
}

std::optional<IpLiteral> ParseIpLiteral(absl::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  IpLiteral ip;
  std::string address(text);
  if (address.find('\0') != std::string::npos) return std::nullopt;
  if (inet_pton(AF_INET, address.c_str(), ip.bytes) == 1) {
    ip.family = 4;
    return ip;
  }
  size_t percent = address.find('%');
  if (percent != std::string::npos) {
    ip.zone = address.substr(percent + 1);
    address.resize(percent);
    if (ip.zone.empty() || !InterfacePatternProblem(ip.zone).empty() || IsGlob(ip.zone)) {
      return std::nullopt;
    }
  }
  if (inet_pton(AF_INET6, address.c_str(), ip.bytes) == 1) {
    ip.family = 6;
    return ip;
  }
  return std::nullopt;
}

bool IsHostName(absl::string_view text) {
  if (absl::EndsWith(text, ".")) text.remove_suffix(1);
  if (text.empty() || text.size() > 253) return false;
  size_t label = 0;
  char previous = '.';
  for (char c : text) {
    if (c == '.') {
      if (label == 0 || previous == '-') return false;
      label = 0;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-') {
      if (label == 0 && c == '-') return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    previous = c;
  }
  return label > 0 && previous != '-';
}

std::string CollectorAddressProblem(absl::string_view text) {
  if (text.empty()) return "empty address";
  if (std::optional<IpLiteral> ip = ParseIpLiteral(text)) {
    if (ip->is_unspecified()) {
      return absl::StrCat(ip->ToString(), " is the unspecified address, not a collector");
    }
    if (!ip->zone.empty() && !(ip->bytes[0] == 0xfe && (ip->bytes[1] & 0xc0) == 0x80) &&
        !ip->is_multicast()) {
      return absl::StrCat(Quoted(text), ": a %zone only goes with a link-local address");
    }
    return "";
  }
  if (text.front() == '[') {
    return absl::StrCat(Quoted(text), ": no brackets here (the port goes in `port`)");
  }
  size_t colon = text.find(':');
  if (colon != absl::string_view::npos && text.find(':', colon + 1) == absl::string_view::npos) {
    int port;
    if (absl::SimpleAtoi(text.substr(colon + 1), &port)) {
      return absl::StrCat(Quoted(text), " has a port: give it in `port`");
    }
  }
  if (colon != absl::string_view::npos) {
    return absl::StrCat(Quoted(text), " is not a valid IPv6 address");
  }
  if (AllDigitsAndDots(text)) {
    return absl::StrCat(Quoted(text), " is not a valid IPv4 address");
  }
  if (!IsHostName(text)) {
    return absl::StrCat(Quoted(text), " is neither an IP address nor a valid host name");
  }
  return "";
}

std::optional<ListenAddress> ParseListenAddress(absl::string_view text) {
  absl::string_view host, port;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find("]:");
    if (close == absl::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (absl::StrContains(host, ':')) return std::nullopt;  // IPv6 needs brackets
  }
  ListenAddress out;
  std::optional<IpLiteral> ip = ParseIpLiteral(host);
  uint32_t number;
  if (!ip || port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &number) ||
      number == 0 || number > 65535 || port.front() == '+' || port.front() == '-') {
    return std::nullopt;
  }
  out.ip = *ip;
  out.port = static_cast<uint16_t>(number);
  return out;
}

bool IsGlob(absl::string_view pattern) {
  return pattern.find_first_of("*?[") != absl::string_view::npos;
}

std::string InterfacePatternProblem(absl::string_view pattern) {
  if (pattern.empty()) return "empty interface name";
  const std::string quoted = absl::StrCat("\"", absl::CHexEscape(pattern), "\"");
  if (!IsGlob(pattern)) {
    if (pattern == "." || pattern == "..") {
      return absl::StrCat(quoted, " is not an interface name");
    }
    if (pattern.size() > kMaxInterfaceName) {
      return absl::StrCat(quoted, " is longer than 15 bytes, the most an interface name has");
    }
  }
  size_t shortest_match = 0;  // bytes the shortest matching name has
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '/' || c == ':' || c == '\0' || absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        !absl::ascii_isprint(static_cast<unsigned char>(c))) {
      return absl::StrCat(quoted, ": ", ShowByte(c), " cannot be in an interface name");
    }
    if (c == '*') continue;
    if (c == '[') {
      // fnmatch: "[!" or "[^" negates, a ']' right after the opening is literal.
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      while (j < pattern.size() && pattern[j] != ']') ++j;
      if (j >= pattern.size()) return absl::StrCat(quoted, ": '[' without a closing ']'");
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= pattern.size()) return absl::StrCat(quoted, ": ends with a lone '\\'");
      ++i;
    }
    ++shortest_match;
  }
  if (shortest_match > kMaxInterfaceName) {
    return absl::StrCat(quoted, " can never match: interface names have at most 15 bytes");
  }
  return "";
}

}  // namespace tcflow::config
