#include "netlink/attach.h"

#include <linux/pkt_sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::netlink {
namespace {

absl::Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", prefix));
    }
  }
  return absl::OkStatus();
}

std::string Describe(const FilterInfo& f) {
  return absl::StrFormat("%s filter prio %u handle 0x%x%s", f.kind, f.priority, f.handle,
                         f.bpf_name.empty() ? "" : absl::StrCat(" name ", f.bpf_name));
}

}  // namespace

bool Includes(Direction direction, Hook hook) {
  int bit = hook == Hook::kIngress ? 1 : 2;
  return (static_cast<int>(direction) & bit) != 0;
}

absl::StatusOr<Direction> ParseDirection(absl::string_view text) {
  if (text == "ingress") return Direction::kIngress;
  if (text == "egress") return Direction::kEgress;
  if (text == "both") return Direction::kBoth;
  return absl::InvalidArgumentError(
      absl::StrCat("direction must be ingress, egress or both, not '", text, "'"));
}

absl::StatusOr<Attacher> Attacher::Create(RtnlSocket* sock, AttachOptions options) {
  if (options.priority == 0 || options.handle == 0) {
    return absl::InvalidArgumentError("tcflow's filter priority and handle must be non-zero");
  }
  // Without a namespace identity the markers cannot be keyed: keep them in memory only
  // (a later detach then leaves the qdisc in place, the safe direction).
  if (sock->NamespaceId().empty()) options.state_dir.clear();
  return Attacher(sock, std::move(options), sock->NamespaceId());
}

bool Attacher::IsTcflowFilter(const FilterInfo& f) const {
  return f.kind == "bpf" && f.chain == 0 && f.priority == options_.priority &&
         f.handle == options_.handle && absl::StartsWith(f.bpf_name, kFilterNamePrefix);
}

std::string Attacher::MarkerPath(int ifindex) const {
  return absl::StrCat(options_.state_dir, "/clsact/", netns_id_, ".", ifindex);
}

bool Attacher::CreatedQdisc(const LinkInfo& link) const {
  if (options_.state_dir.empty()) {
    return std::find(created_in_memory_.begin(), created_in_memory_.end(), link.ifindex) !=
           created_in_memory_.end();
  }
  // The marker names the link it was written for. An ifindex is reused once its link is
  // gone, so a marker left by a link deleted while nothing watched must not make tcflow
  // delete the clsact of the next link with that ifindex, which someone else may own.
  FILE* f = std::fopen(MarkerPath(link.ifindex).c_str(), "r");
  if (f == nullptr) return false;
  char name[64] = {};
  const bool read = std::fgets(name, sizeof(name), f) != nullptr;
  std::fclose(f);
  if (!read) return false;
  std::string marked(name);
  if (!marked.empty() && marked.back() == '\n') marked.pop_back();
  return marked == link.name;
}

void Attacher::RememberQdisc(const LinkInfo& link) {
  if (options_.state_dir.empty()) {
    created_in_memory_.push_back(link.ifindex);
    return;
  }
  // Best effort: without the marker the qdisc is merely left in place on detach, which is
  // the safe direction.
  if (!MakeDirs(absl::StrCat(options_.state_dir, "/clsact")).ok()) return;
  if (FILE* f = std::fopen(MarkerPath(link.ifindex).c_str(), "w")) {
    std::fprintf(f, "%s\n", link.name.c_str());
    std::fclose(f);
  }
}

void Attacher::Forget(int ifindex) {
  if (options_.state_dir.empty()) {
    created_in_memory_.erase(
        std::remove(created_in_memory_.begin(), created_in_memory_.end(), ifindex),
        created_in_memory_.end());
    return;
  }
  unlink(MarkerPath(ifindex).c_str());
}

absl::Status Attacher::Attach(const LinkInfo& link, Direction direction, const Programs& programs) {
  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    if (!Includes(direction, hook)) continue;
    const Program& prog = hook == Hook::kIngress ? programs.ingress : programs.egress;
    if (prog.fd < 0) return absl::InvalidArgumentError("no program to attach");
    if (!absl::StartsWith(prog.name, kFilterNamePrefix)) {
      return absl::InvalidArgumentError(
          absl::StrCat("program name '", prog.name, "' does not start with ", kFilterNamePrefix));
    }
  }
  auto created = EnsureClsact(*sock_, link.ifindex);
  if (!created.ok()) {
    return absl::Status(created.status().code(),
                        absl::StrCat(link.name, ": ", created.status().message()));
  }
  if (*created) RememberQdisc(link);

  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    if (!Includes(direction, hook)) continue;
    auto filters = ListFilters(*sock_, link.ifindex, hook);
    if (!filters.ok()) {
      return absl::Status(filters.status().code(),
                          absl::StrCat(link.name, ": ", filters.status().message()));
    }
    for (const FilterInfo& f : *filters) {
      if (f.chain == 0 && f.priority == options_.priority && !IsTcflowFilter(f)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "%s %s: priority %u is held by a foreign %s; tcflow will not replace it (choose "
            "another priority)",
            link.name, HookName(hook), options_.priority, Describe(f)));
      }
    }
    const Program& prog = hook == Hook::kIngress ? programs.ingress : programs.egress;
    BpfFilterSpec spec;
    spec.priority = options_.priority;
    spec.handle = options_.handle;
    spec.prog_fd = prog.fd;
    spec.name = prog.name;
    absl::Status status = ReplaceBpfFilter(*sock_, link.ifindex, hook, spec);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat(link.name, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Attacher::Detach(const LinkInfo& link, Direction direction) {
  size_t others_left = 0;
  for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
    auto filters = ListFilters(*sock_, link.ifindex, hook);
    if (!filters.ok()) {
      return absl::Status(filters.status().code(),
                          absl::StrCat(link.name, ": ", filters.status().message()));
    }
    for (const FilterInfo& f : *filters) {
      if (IsTcflowFilter(f) && Includes(direction, hook)) {
        absl::Status status = DeleteFilter(*sock_, f);
        if (!status.ok() && ErrnoOf(status) != ENOENT) {
          return absl::Status(status.code(), absl::StrCat(link.name, ": ", status.message()));
        }
      } else {
        ++others_left;
      }
    }
  }
  if (others_left == 0 && CreatedQdisc(link)) {
    absl::Status status = DeleteClsact(*sock_, link.ifindex);
    if (!status.ok() && ErrnoOf(status) != ENOENT && ErrnoOf(status) != EINVAL) {
      return absl::Status(status.code(), absl::StrCat(link.name, ": ", status.message()));
    }
    Forget(link.ifindex);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FilterInfo>> Attacher::ListOn(int ifindex, Hook hook) {
  auto filters = ListFilters(*sock_, ifindex, hook);
  if (!filters.ok()) return filters.status();
  std::vector<FilterInfo> ours;
  for (FilterInfo& f : *filters) {
    if (IsTcflowFilter(f)) ours.push_back(std::move(f));
  }
  return ours;
}

absl::StatusOr<std::vector<AttachedFilter>> Attacher::List() {
  auto links = ListLinks(*sock_);
  if (!links.ok()) return links.status();
  auto qdiscs = ListQdiscs(*sock_);
  if (!qdiscs.ok()) return qdiscs.status();
  std::set<int> with_clsact;
  for (const QdiscInfo& q : *qdiscs) {
    if (q.parent == TC_H_INGRESS && q.kind == "clsact") with_clsact.insert(q.ifindex);
  }
  std::vector<AttachedFilter> result;
  for (const LinkInfo& link : *links) {
    if (with_clsact.count(link.ifindex) == 0) continue;
    for (Hook hook : {Hook::kIngress, Hook::kEgress}) {
      auto ours = ListOn(link.ifindex, hook);
      if (!ours.ok()) {
        if (ErrnoOf(ours.status()) == ENODEV) break;  // vanished meanwhile
        return ours.status();
      }
      for (FilterInfo& f : *ours) {
        result.push_back({link, std::move(f), CreatedQdisc(link)});
      }
    }
  }
  return result;
}

}  // namespace tcflow::netlink
