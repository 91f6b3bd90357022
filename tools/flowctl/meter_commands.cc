#include "tools/flowctl/meter_commands.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "config/config.h"
#include "daemon/loader/loader.h"
#include "daemon/tcflowd/component_options.h"
#include "netlink/link.h"
#include "netlink/netns.h"
#include "netlink/selector.h"
#include "netlink/socket.h"
#include "tools/cli/flags.h"

namespace tcflow::flowctl {
namespace {

using netlink::Attacher;
using netlink::AttachOptions;
using netlink::Direction;
using netlink::LinkInfo;

struct Session {
  netlink::Netns netns;
  std::unique_ptr<netlink::RtnlSocket> sock;
};

// Opens an rtnetlink socket inside the namespace (on a helper thread: the main thread never
// switches namespaces).
absl::StatusOr<Session> OpenSession(const std::string& netns_name) {
  auto netns = netlink::Netns::Open(netns_name);
  if (!netns.ok()) return netns.status();
  Session session{std::move(*netns), nullptr};
  absl::Status status = netlink::RunInNetns(session.netns, [&]() -> absl::Status {
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) return sock.status();
    session.sock = std::move(*sock);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return session;
}

absl::StatusOr<AttachOptions> ReadOptions(int64_t priority, int64_t handle,
                                          const std::string& state_dir) {
  AttachOptions options;
  if (priority < 1 || priority > 0xffff) {
    return absl::InvalidArgumentError("--priority must be between 1 and 65535");
  }
  if (handle < 1 || handle > 0xffffffffLL) {
    return absl::InvalidArgumentError("--handle must be between 1 and 4294967295");
  }
  options.priority = static_cast<uint16_t>(priority);
  options.handle = static_cast<uint32_t>(handle);
  options.state_dir = state_dir;
  return options;
}

// Resolves -i names and globs against the namespace's interfaces; every literal name must
// exist and every glob must match something.
absl::StatusOr<std::vector<LinkInfo>> ResolveInterfaces(netlink::RtnlSocket& sock,
                                                        const std::vector<std::string>& names,
                                                        const std::string& netns) {
  auto links = netlink::ListLinks(sock);
  if (!links.ok()) return links.status();
  std::vector<LinkInfo> selected;
  for (const std::string& name : names) {
    netlink::LinkSelector one;
    one.include = {name};
    size_t before = selected.size();
    for (const LinkInfo& link : *links) {
      if (!one.Matches(link.name, link.is_loopback())) continue;
      bool duplicate = false;
      for (const LinkInfo& s : selected) duplicate |= s.ifindex == link.ifindex;
      if (!duplicate) selected.push_back(link);
    }
    bool matched = selected.size() > before;
    if (!matched) {
      for (const LinkInfo& s : selected) matched |= one.Matches(s.name, s.is_loopback());
    }
    if (!matched) {
      return absl::NotFoundError(absl::StrCat(
          name, ": no such interface",
          netns.empty() ? std::string() : absl::StrCat(" in network namespace ", netns)));
    }
  }
  return selected;
}

std::string DirectionText(Direction direction) {
  switch (direction) {
    case Direction::kIngress:
      return "ingress";
    case Direction::kEgress:
      return "egress";
    case Direction::kBoth:
      return "ingress and egress";
  }
  return "";
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

void AddCommonFlags(cli::FlagParser& flags, std::string* netns, int64_t* priority, int64_t* handle,
                    std::string* state_dir) {
  flags.AddString("netns", 0, netns, "NS",
                  "network namespace: a name under /var/run/netns or a path");
  flags.AddInt("priority", 0, priority, "N",
               absl::StrCat("tcflow's filter priority (default ", netlink::kDefaultPriority, ")"));
  flags.AddInt("handle", 0, handle, "N",
               absl::StrCat("tcflow's filter handle (default ", netlink::kDefaultHandle, ")"));
  flags.AddString("state-dir", 0, state_dir, "DIR",
                  absl::StrCat("where tcflow remembers the clsact qdiscs it created (default ",
                               netlink::kDefaultStateDir, ")"));
}

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "flowctl %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

}  // namespace

absl::StatusOr<MeterPrograms> LoadMeterPrograms(const std::string& pin_dir) {
  config::LoadResult defaults =
      config::LoadConfigText(config::BuiltinDefaultConfigText(), "<built-in default>");
  if (!defaults.ok()) return absl::InternalError(config::FormatErrors(defaults.errors));
  LoaderOptions options = tcflowd::LoaderOptionsFrom(*defaults.config);
  options.pin_mode = pin_dir.empty() ? PinMode::kNone : PinMode::kReuse;
  if (!pin_dir.empty()) options.pin_dir = pin_dir;
  // libbpf's own diagnostics would break the one-line error; the reason is in the status.
  libbpf_print_fn_t previous = libbpf_set_print(nullptr);
  absl::StatusOr<std::unique_ptr<Loader>> loader = Loader::Load(options);
  libbpf_set_print(previous);
  if (!loader.ok()) {
    const bool perm = absl::StrContains(loader.status().message(), "not permitted");
    return absl::FailedPreconditionError(
        absl::StrCat("cannot load tcflow's tc program: ", loader.status().message(),
                     perm ? " (needs root, or CAP_BPF and CAP_NET_ADMIN)" : ""));
  }
  MeterPrograms result;
  result.programs.ingress = {(*loader)->ingress_prog_fd(), TCFLOW_PROG_INGRESS};
  result.programs.egress = {(*loader)->egress_prog_fd(), TCFLOW_PROG_EGRESS};
  result.owner = std::shared_ptr<Loader>(std::move(*loader));
  return result;
}

int RunMeterAttach(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl meter attach",
                        "Attaches tcflow's programs to interfaces (creating a clsact qdisc "
                        "where none exists); attaching again replaces them in place.");
  std::vector<std::string> interfaces;
  std::string netns, direction_text = "both", state_dir = netlink::kDefaultStateDir;
  int64_t priority = netlink::kDefaultPriority, handle = netlink::kDefaultHandle;
  flags.AddStringList("interface", 'i', &interfaces, "IFACE",
                      "interface name or glob (repeatable)");
  flags.AddString("direction", 'd', &direction_text, "DIR", "ingress, egress or both (default)");
  AddCommonFlags(flags, &netns, &priority, &handle, &state_dir);
  std::string pin_dir = "/sys/fs/bpf/tcflow";
  flags.AddString("pin-dir", 0, &pin_dir, "DIR",
                  "bpffs directory of the tables, taken over by a tcflowd with the same "
                  "bpffs_pin_path (default /sys/fs/bpf/tcflow)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (interfaces.empty()) {
    std::fprintf(stderr, "flowctl meter attach: name at least one interface with -i\n");
    return 2;
  }
  auto direction = netlink::ParseDirection(direction_text);
  if (!direction.ok()) return Fail("meter attach", direction.status());
  auto options = ReadOptions(priority, handle, state_dir);
  if (!options.ok()) return Fail("meter attach", options.status());

  auto session = OpenSession(netns);
  if (!session.ok()) return Fail("meter attach", session.status());
  auto links = ResolveInterfaces(*session->sock, interfaces, netns);
  if (!links.ok()) return Fail("meter attach", links.status());
  auto attacher = Attacher::Create(session->sock.get(), *options);
  if (!attacher.ok()) return Fail("meter attach", attacher.status());
  auto programs = LoadMeterPrograms(pin_dir);
  if (!programs.ok()) {
    std::vector<std::string> names;
    for (const LinkInfo& link : *links) names.push_back(link.name);
    return Fail("meter attach", absl::Status(programs.status().code(),
                                             absl::StrCat(absl::StrJoin(names, ", "), ": ",
                                                          programs.status().message())));
  }

  int rc = 0;
  for (const LinkInfo& link : *links) {
    absl::Status status = attacher->Attach(link, *direction, programs->programs);
    if (!status.ok()) {
      rc = Fail("meter attach", status);
      continue;
    }
    std::printf("attached tcflow to %s (%s)\n", link.name.c_str(),
                DirectionText(*direction).c_str());
  }
  return rc;
}

int RunMeterDetach(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl meter detach",
                        "Removes tcflow's filters (and a clsact qdisc tcflow created, once "
                        "nothing else is on it). Foreign filters and qdiscs are never touched.");
  std::vector<std::string> interfaces;
  std::string netns, direction_text = "both", state_dir = netlink::kDefaultStateDir;
  int64_t priority = netlink::kDefaultPriority, handle = netlink::kDefaultHandle;
  bool all = false;
  flags.AddStringList("interface", 'i', &interfaces, "IFACE",
                      "interface name or glob (repeatable)");
  flags.AddBool("all", 0, &all, "every interface that has tcflow's filters");
  flags.AddString("direction", 'd', &direction_text, "DIR", "ingress, egress or both (default)");
  AddCommonFlags(flags, &netns, &priority, &handle, &state_dir);
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (interfaces.empty() == !all) {
    std::fprintf(stderr, "flowctl meter detach: give either -i IFACE or --all\n");
    return 2;
  }
  auto direction = netlink::ParseDirection(direction_text);
  if (!direction.ok()) return Fail("meter detach", direction.status());
  auto options = ReadOptions(priority, handle, state_dir);
  if (!options.ok()) return Fail("meter detach", options.status());
  auto session = OpenSession(netns);
  if (!session.ok()) return Fail("meter detach", session.status());
  auto attacher = Attacher::Create(session->sock.get(), *options);
  if (!attacher.ok()) return Fail("meter detach", attacher.status());

  std::vector<LinkInfo> links;
  if (all) {
    auto attached = attacher->List();
    if (!attached.ok()) return Fail("meter detach", attached.status());
    for (const auto& a : *attached) {
      bool seen = false;
      for (const LinkInfo& l : links) seen |= l.ifindex == a.link.ifindex;
      if (!seen) links.push_back(a.link);
    }
  } else {
    auto resolved = ResolveInterfaces(*session->sock, interfaces, netns);
    if (!resolved.ok()) return Fail("meter detach", resolved.status());
    links = std::move(*resolved);
  }
  int rc = 0;
  for (const LinkInfo& link : links) {
    absl::Status status = attacher->Detach(link, *direction);
    if (!status.ok()) {
      rc = Fail("meter detach", status);
      continue;
    }
    std::printf("detached tcflow from %s (%s)\n", link.name.c_str(),
                DirectionText(*direction).c_str());
  }
  return rc;
}

int RunMeterStatus(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl meter status",
                        "Lists tcflow's filters as the kernel reports them.");
  std::string netns, output = "table", state_dir = netlink::kDefaultStateDir;
  int64_t priority = netlink::kDefaultPriority, handle = netlink::kDefaultHandle;
  flags.AddString("output", 'o', &output, "FORMAT", "table (default) or json");
  AddCommonFlags(flags, &netns, &priority, &handle, &state_dir);
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (output != "table" && output != "json") {
    std::fprintf(stderr, "flowctl meter status: -o must be table or json, not '%s'\n",
                 output.c_str());
    return 2;
  }
  auto options = ReadOptions(priority, handle, state_dir);
  if (!options.ok()) return Fail("meter status", options.status());
  auto session = OpenSession(netns);
  if (!session.ok()) return Fail("meter status", session.status());
  auto attacher = Attacher::Create(session->sock.get(), *options);
  if (!attacher.ok()) return Fail("meter status", attacher.status());
  auto attached = attacher->List();
  if (!attached.ok()) return Fail("meter status", attached.status());

  if (output == "json") {
    std::vector<std::string> items;
    for (const auto& a : *attached) {
      items.push_back(absl::StrFormat(
          "{\"interface\":%s,\"ifindex\":%d,\"direction\":\"%s\",\"priority\":%u,"
          "\"handle\":%u,\"prog_id\":%u,\"prog_tag\":%s,\"name\":%s,\"direct_action\":%s,"
          "\"qdisc_created_by_tcflow\":%s}",
          JsonString(a.link.name), a.link.ifindex, netlink::HookName(a.filter.hook),
          a.filter.priority, a.filter.handle, a.filter.bpf_prog_id,
          JsonString(a.filter.bpf_prog_tag), JsonString(a.filter.bpf_name),
          a.filter.bpf_direct_action ? "true" : "false",
          a.qdisc_created_by_tcflow ? "true" : "false"));
    }
    std::printf("[%s]\n", absl::StrJoin(items, ",").c_str());
    return 0;
  }
  if (attached->empty()) {
    std::printf("tcflow is not attached to any interface%s\n",
                netns.empty() ? "" : absl::StrCat(" in namespace ", netns).c_str());
    return 0;
  }
  std::printf("%-16s %-9s %-6s %-10s %-8s %-16s %-20s %s\n", "INTERFACE", "DIRECTION", "PRIO",
              "HANDLE", "PROG_ID", "TAG", "NAME", "QDISC");
  for (const auto& a : *attached) {
    std::printf("%-16s %-9s %-6u 0x%-8x %-8u %-16s %-20s %s\n", a.link.name.c_str(),
                netlink::HookName(a.filter.hook), a.filter.priority, a.filter.handle,
                a.filter.bpf_prog_id, a.filter.bpf_prog_tag.c_str(), a.filter.bpf_name.c_str(),
                a.qdisc_created_by_tcflow ? "created by tcflow" : "pre-existing");
  }
  return 0;
}

}  // namespace tcflow::flowctl
