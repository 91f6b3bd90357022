#include "tools/flowctl/daemon_commands.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "daemon/control/client.h"
#include "daemon/control/json.h"
#include "daemon/control/protocol.h"
#include "daemon/control/requests.h"
#include "daemon/flowlog/flow_table.h"
#include "tools/cli/flags.h"

namespace tcflow::flowctl {
namespace {

using control::JsonValue;

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "flowctl %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

void AddSocketFlag(cli::FlagParser& flags, std::string* socket) {
  *socket = control::kDefaultSocketPath;
  flags.AddString("socket", 0, socket, "PATH",
                  absl::StrCat("tcflowd's control socket (default ", control::kDefaultSocketPath,
                               ")"));
}

absl::StatusOr<JsonValue> CallDaemon(const std::string& socket, const char* command,
                                     const JsonValue& args = JsonValue::Object()) {
  auto client = control::ControlClient::Connect(socket);
  if (!client.ok()) return client.status();
  return client->Call(command, args);
}

std::string Str(const JsonValue* v, absl::string_view key) {
  if (v == nullptr) return "-";
  const JsonValue* m = v->Find(key);
  if (m == nullptr) return "-";
  return m->is_string() ? m->text() : m->is_bool() ? (m->bool_value() ? "true" : "false")
                                                   : m->text();
}

void PrintStatus(const JsonValue& s) {
  std::printf("tcflowd pid %s, up %s s\n", Str(&s, "pid").c_str(),
              absl::StrFormat("%.1f", s.Find("uptime_s") && s.Find("uptime_s")->AsDouble()
                                          ? *s.Find("uptime_s")->AsDouble() : 0.0).c_str());
  std::printf("config:     %s (loaded %s; reloads %s, failed %s)\n", Str(&s, "config_file").c_str(),
              Str(&s, "config_loaded_at").c_str(), Str(&s, "reloads").c_str(),
              Str(&s, "reload_failures").c_str());
  if (std::string e = Str(&s, "last_reload_error"); !e.empty() && e != "-") {
    std::printf("last reload error:\n%s\n", e.c_str());
  }
  std::printf("interfaces:");
  if (const JsonValue* list = s.Find("interfaces"); list != nullptr) {
    if (list->items().empty()) std::printf(" none");
    for (const JsonValue& i : list->items()) {
      std::printf(" %s(%s%s, %s)", Str(&i, "name").c_str(), Str(&i, "ifindex").c_str(),
                  Str(&i, "netns").empty() ? "" : (" in " + Str(&i, "netns")).c_str(),
                  Str(&i, "direction").c_str());
    }
  }
  std::printf("\n");
  const JsonValue* t = s.Find("table");
  std::printf("table:      %s slots per half; last drain used %s (max %s); %s drains, %s errors\n",
              Str(t, "slots_per_half").c_str(), Str(t, "used_last_drain").c_str(),
              Str(t, "max_used").c_str(), Str(t, "drains").c_str(), Str(t, "drain_errors").c_str());
  const JsonValue* c = s.Find("cache");
  std::printf("cache:      %s flows (max %s)\n", Str(c, "flows").c_str(), Str(c, "max_flows").c_str());
  const JsonValue* x = s.Find("exported");
  std::printf("exported:   %s records, %s packets, %s bytes\n", Str(x, "records").c_str(),
              Str(x, "packets").c_str(), Str(x, "bytes").c_str());
  std::printf("%-28s %-9s %10s %12s %12s %12s %12s %5s\n", "COLLECTOR", "TRANSPORT", "MESSAGES",
              "RECORDS", "LOST_MSGS", "LOST_RECORDS", "HELD_RECORDS", "UP");
  if (const JsonValue* list = s.Find("collectors"); list != nullptr) {
    for (const JsonValue& k : list->items()) {
      std::printf("%-28s %-9s %10s %12s %12s %12s %12s %5s\n", Str(&k, "name").c_str(),
                  Str(&k, "transport").c_str(), Str(&k, "messages").c_str(),
                  Str(&k, "flow_records").c_str(), Str(&k, "lost_messages").c_str(),
                  Str(&k, "lost_records").c_str(), Str(&k, "held_records").c_str(),
                  Str(&k, "up") == "true" ? "yes" : "no");
    }
  }
  std::printf("losses:    ");
  if (const JsonValue* l = s.Find("losses"); l != nullptr) {
    for (const auto& [name, value] : l->members()) {
      std::printf(" %s=%s", name.c_str(), value.text().c_str());
    }
  }
  std::printf("\n");
  if (std::string log = Str(&s, "flow_log"); !log.empty() && log != "-") {
    std::printf("flow log:   %s\n", log.c_str());
  }
}

}  // namespace

int RunStatus(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl status",
                        "Shows the running tcflowd: interfaces, table fill, cache, collectors, "
                        "losses, uptime and config.");
  std::string socket, output = "table";
  AddSocketFlag(flags, &socket);
  flags.AddString("output", 'o', &output, "FORMAT", "table (default) or json");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (output != "table" && output != "json") {
    std::fprintf(stderr, "flowctl status: -o must be table or json\n");
    return 2;
  }
  auto status = CallDaemon(socket, "status");
  if (!status.ok()) return Fail("status", status.status());
  if (output == "json") {
    std::printf("%s\n", status->Serialize().c_str());
  } else {
    PrintStatus(*status);
  }
  return 0;
}

int RunDump(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl dump",
                        "Prints the flows tcflowd holds now (the kernel tables are drained into "
                        "its cache first, so both are included).");
  std::string socket, output = "table", interface;
  AddSocketFlag(flags, &socket);
  flags.AddString("interface", 'i', &interface, "IFACE", "only flows observed on this interface");
  flags.AddString("output", 'o', &output, "FORMAT", "table (default) or json (one flow per line)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (output != "table" && output != "json") {
    std::fprintf(stderr, "flowctl dump: -o must be table or json\n");
    return 2;
  }
  JsonValue request = JsonValue::Object();
  if (!interface.empty()) request.Set("interface", JsonValue::String(interface));
  auto reply = CallDaemon(socket, "dump", request);
  if (!reply.ok()) return Fail("dump", reply.status());
  const JsonValue* flows = reply->Find("flows");
  if (flows == nullptr || !flows->is_array()) {
    return Fail("dump", absl::DataLossError("the daemon's reply has no flow list"));
  }
  if (output == "json") {
    for (const JsonValue& f : flows->items()) std::printf("%s\n", f.Serialize().c_str());
  } else {
    std::fputs(flowlog::FormatFlowTable(flows->items()).c_str(), stdout);
  }
  return 0;
}

int RunFlush(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl flush",
                        "Ends the selected flows now (flowEndReason forced end) and exports "
                        "them. Give --all, or any of the filters (all must match).");
  std::string socket;
  control::FlushFlags f;
  AddSocketFlag(flags, &socket);
  flags.AddBool("all", 0, &f.all, "every flow");
  flags.AddString("interface", 'i', &f.interface, "IFACE", "observed on this interface");
  flags.AddString("protocol", 'p', &f.protocol, "PROTO", "tcp, udp, icmp, ipv6-icmp or a number");
  flags.AddString("src", 's', &f.src, "ADDR", "source address");
  flags.AddString("sport", 'S', &f.src_port, "PORT", "source port");
  flags.AddString("dst", 'd', &f.dst, "ADDR", "destination address");
  flags.AddString("dport", 'D', &f.dst_port, "PORT", "destination port");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  auto request = control::FlushRequestFromFlags(f);
  if (!request.ok()) {
    std::fprintf(stderr, "flowctl flush: %s\n", std::string(request.status().message()).c_str());
    return 2;
  }
  auto reply = CallDaemon(socket, "flush", control::EncodeFlushRequest(*request));
  if (!reply.ok()) return Fail("flush", reply.status());
  std::printf("ended and exported %s flow record(s)\n", Str(&*reply, "ended").c_str());
  return 0;
}

int RunReload(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl reload",
                        "Makes tcflowd re-read its config, like SIGHUP. A config with errors is "
                        "refused (the errors are printed) and the running one stays.");
  std::string socket;
  AddSocketFlag(flags, &socket);
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  auto reply = CallDaemon(socket, "reload");
  if (!reply.ok()) return Fail("reload", reply.status());
  std::printf("tcflowd reloaded %s\n", Str(&*reply, "config_file").empty()
                                           ? "the built-in default"
                                           : Str(&*reply, "config_file").c_str());
  return 0;
}

int RunEvents(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl events",
                        "Prints tcflowd's kernel events as they happen, one JSON object per "
                        "line: IPv6 neighbour discovery (ICMPv6 133-137, with the target) and "
                        "extension-header chains deeper than the configured alert depth.");
  std::string socket;
  int64_t count = 0, seconds = 0;
  AddSocketFlag(flags, &socket);
  flags.AddInt("count", 'n', &count, "N", "stop after N events (default: run until killed)");
  flags.AddInt("timeout", 't', &seconds, "S", "stop after S seconds (default: never)");
  std::string type, output = "json";
  flags.AddString("type", 0, &type, "KIND",
                  "only ndp (neighbour discovery) or exthdr (deep extension chains) events");
  flags.AddString("output", 'o', &output, "FORMAT", "json (the only format; the default)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (output != "json") {
    std::fprintf(stderr, "flowctl events: -o must be json\n");
    return 2;
  }
  if (!type.empty() && type != "ndp" && type != "exthdr") {
    std::fprintf(stderr, "flowctl events: --type must be ndp or exthdr\n");
    return 2;
  }
  // The event's own "type" field: "ndp" or "ext_chain_deep".
  const std::string want = type == "exthdr" ? "ext_chain_deep" : type;
  auto client = control::ControlClient::Connect(socket);
  if (!client.ok()) return Fail("events", client.status());
  if (absl::Status s = client->Subscribe("events"); !s.ok()) return Fail("events", s);
  const absl::Time deadline =
      seconds > 0 ? absl::Now() + absl::Seconds(seconds) : absl::InfiniteFuture();
  int64_t seen = 0;
  while (absl::Now() < deadline && (count <= 0 || seen < count)) {
    auto line = client->Next(std::min(absl::Seconds(1), deadline - absl::Now()));
    if (!line.ok()) return Fail("events", line.status());
    if (!line->has_value()) continue;
    if (const JsonValue* event = (*line)->Find("event"); event != nullptr) {
      if (!want.empty() && event->GetString("type") != want) continue;
      std::printf("%s\n", event->Serialize().c_str());
      ++seen;
    } else if (const JsonValue* lost = (*line)->Find("lost"); lost != nullptr) {
      std::fprintf(stderr, "flowctl events: %s events lost (reading too slowly)\n",
                   lost->text().c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace tcflow::flowctl
