#include "daemon/flowlog/flow_table.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tcflow::flowlog {
namespace {

constexpr int kColumns = 8;
constexpr bool kRightAligned[kColumns] = {false, false, false, false, false, true, true, false};

std::string Endpoint(const control::JsonValue& f, const char* addr_key, const char* port_key,
                     bool with_port) {
  std::optional<std::string> addr = f.GetString(addr_key);
  if (!addr) return "-";
  const bool v6 = addr->find(':') != std::string::npos;
  if (!with_port) return v6 ? absl::StrCat("[", *addr, "]") : *addr;
  std::optional<uint64_t> port = f.GetUint(port_key);
  const std::string p = port ? absl::StrCat(*port) : "-";
  return v6 ? absl::StrCat("[", *addr, "]:", p) : absl::StrCat(*addr, ":", p);
}

}  // namespace

std::string FormatFlowTable(absl::Span<const control::JsonValue> flows) {
  std::vector<std::array<std::string, kColumns>> rows;
  rows.push_back({"IFINDEX", "DIR", "PROTO", "SRC", "DST", "PKTS", "BYTES", "STATE"});
  for (const control::JsonValue& f : flows) {
    std::array<std::string, kColumns> row;
    std::optional<uint64_t> ifindex = f.GetUint("ifindex");
    row[0] = ifindex ? absl::StrCat(*ifindex) : "-";
    if (std::optional<std::string> name = f.GetString("ifname")) absl::StrAppend(&row[0], "(", *name, ")");
    row[1] = f.GetString("direction").value_or("-");
    row[2] = f.GetString("protocol_name").value_or("-");
    const std::optional<uint64_t> proto = f.GetUint("protocol");
    const bool icmp = proto && (*proto == IPPROTO_ICMP || *proto == IPPROTO_ICMPV6);
    const bool ports = proto && (*proto == IPPROTO_TCP || *proto == IPPROTO_UDP ||
                                 *proto == IPPROTO_SCTP || *proto == IPPROTO_UDPLITE);
    row[3] = Endpoint(f, "src", "src_port", ports);
    row[4] = Endpoint(f, "dst", "dst_port", ports);
    if (icmp) {
      std::optional<uint64_t> type = f.GetUint("icmp_type"), code = f.GetUint("icmp_code");
      if (type && code) absl::StrAppend(&row[4], " ", *type, "/", *code);
    }
    std::optional<uint64_t> packets = f.GetUint("packets"), bytes = f.GetUint("bytes");
    row[5] = packets ? absl::StrCat(*packets) : "-";
    row[6] = bytes ? absl::StrCat(*bytes) : "-";
    row[7] = f.GetString("end_reason").value_or("-");
    rows.push_back(std::move(row));
  }
  size_t width[kColumns] = {};
  for (const auto& row : rows) {
    for (int c = 0; c < kColumns; ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (int c = 0; c < kColumns; ++c) {
      const std::string& cell = row[c];
      const std::string pad(width[c] - cell.size(), ' ');
      if (c) line += "  ";
      if (kRightAligned[c]) {
        absl::StrAppend(&line, pad, cell);
      } else if (c + 1 < kColumns) {
        absl::StrAppend(&line, cell, pad);
      } else {
        line += cell;  // no trailing blanks
      }
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace tcflow::flowlog
