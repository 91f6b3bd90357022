#include "tools/flowctl/dependency_check.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "netlink/attach.h"
#include "netlink/link.h"
#include "netlink/socket.h"
#include "netlink/tc.h"
#include "tools/cli/flags.h"
#include "tools/flowctl/meter_commands.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace tcflow::flowctl {
namespace {

DependencyResult Valid(std::string what) { return {std::move(what), true, ""}; }
DependencyResult Missing(std::string what, std::string detail) {
  return {std::move(what), false, std::move(detail)};
}

std::string PrivilegeHint(int err) {
  return err == EPERM || err == EACCES ? " (run as root or with CAP_BPF and CAP_NET_ADMIN)" : "";
}

void CheckCapabilities(std::vector<DependencyResult>& out) {
  __user_cap_header_struct header = {};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[2] = {};
  bool ok = syscall(SYS_capget, &header, data) == 0;
  struct Cap {
    int number;
    const char* name;
    const char* why;
  };
  const Cap caps[] = {
      {CAP_BPF, "CAP_BPF", "load programs and create maps"},
      {CAP_NET_ADMIN, "CAP_NET_ADMIN", "create qdiscs and attach tc filters"},
      {CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "enter network namespaces, pin to bpffs"},
  };
  for (const Cap& cap : caps) {
    bool held = ok && (data[cap.number / 32].effective & (1u << (cap.number % 32))) != 0;
    std::string what = absl::StrCat("capability ", cap.name, " (", cap.why, ")");
    if (held) {
      out.push_back(Valid(what));
    } else {
      out.push_back(Missing(what, absl::StrCat("run as root or grant ", cap.name,
                                               " (e.g. systemd AmbientCapabilities=)")));
    }
  }
}

void CheckBpffs(std::vector<DependencyResult>& out) {
  struct statfs st = {};
  const char* what = "bpffs mounted on /sys/fs/bpf";
  if (statfs("/sys/fs/bpf", &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC) {
    out.push_back(Valid(what));
  } else {
    out.push_back(Missing(what, "mount it: mount -t bpf bpf /sys/fs/bpf (or an fstab entry)"));
  }
}

// bpf() itself: create and free the smallest map.
bool CheckBpfSyscall(std::vector<DependencyResult>& out) {
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tcflow_probe", 4, 4, 1, nullptr);
  const char* what = "bpf() system call usable";
  if (fd >= 0) {
    close(fd);
    out.push_back(Valid(what));
    return true;
  }
  int err = errno;
  out.push_back(
      Missing(what, absl::StrCat(std::strerror(err), PrivilegeHint(err),
                                 err == ENOSYS ? " (kernel built without CONFIG_BPF_SYSCALL)" : "",
                                 err == EPERM ? "; check kernel.unprivileged_bpf_disabled" : "")));
  return false;
}

void CheckProgType(std::vector<DependencyResult>& out) {
  const char* what = "program type BPF_PROG_TYPE_SCHED_CLS (tc classifier)";
  int rc = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, nullptr);
  if (rc == 1) {
    out.push_back(Valid(what));
  } else {
    out.push_back(Missing(
        what, rc == 0 ? "kernel lacks CONFIG_NET_CLS_BPF / CONFIG_NET_SCH_INGRESS"
                      : absl::StrCat("probe failed: ", std::strerror(-rc), PrivilegeHint(-rc))));
  }
}

// The mmap-able array is created and mapped for real: the drain reads slots from memory.
void CheckMmapableArray(std::vector<DependencyResult>& out) {
  const char* what = "map type ARRAY with BPF_F_MMAPABLE";
  bpf_map_create_opts opts = {};
  opts.sz = sizeof(opts);
  opts.map_flags = BPF_F_MMAPABLE;
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tcflow_probe", 4, 64, 64, &opts);
  if (fd < 0) {
    int err = errno;
    out.push_back(
        Missing(what, absl::StrCat(std::strerror(err), " (needs Linux 5.5+)", PrivilegeHint(err))));
    return;
  }
  long page = sysconf(_SC_PAGESIZE);
  void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    int err = errno;
    close(fd);
    out.push_back(Missing(what, absl::StrCat("mmap failed: ", std::strerror(err))));
    return;
  }
  munmap(mem, page);
  close(fd);
  out.push_back(Valid(what));
}

void CheckMapTypes(std::vector<DependencyResult>& out) {
  struct MapType {
    bpf_map_type type;
    const char* name;
    const char* since;
  };
  const MapType types[] = {
      {BPF_MAP_TYPE_HASH, "HASH", "3.19"},
      {BPF_MAP_TYPE_LRU_HASH, "LRU_HASH", "4.10"},
      {BPF_MAP_TYPE_PERCPU_ARRAY, "PERCPU_ARRAY", "4.6"},
      {BPF_MAP_TYPE_RINGBUF, "RINGBUF", "5.8"},
      {BPF_MAP_TYPE_ARRAY_OF_MAPS, "ARRAY_OF_MAPS", "4.12"},
  };
  for (const MapType& t : types) {
    std::string what = absl::StrCat("map type ", t.name);
    int rc = libbpf_probe_bpf_map_type(t.type, nullptr);
    if (rc == 1) {
      out.push_back(Valid(what));
    } else {
      out.push_back(Missing(
          what, rc == 0 ? absl::StrCat("not supported by this kernel (needs Linux ", t.since, "+)")
                        : absl::StrCat("probe failed: ", std::strerror(-rc), PrivilegeHint(-rc))));
    }
  }
}

void CheckHelpers(std::vector<DependencyResult>& out) {
  struct Helper {
    bpf_func_id id;
    const char* name;
  };
  const Helper helpers[] = {
      {BPF_FUNC_map_lookup_elem, "bpf_map_lookup_elem"},
      {BPF_FUNC_map_update_elem, "bpf_map_update_elem"},
      {BPF_FUNC_skb_load_bytes, "bpf_skb_load_bytes"},
      {BPF_FUNC_ktime_get_ns, "bpf_ktime_get_ns"},
      {BPF_FUNC_ringbuf_reserve, "bpf_ringbuf_reserve"},
      {BPF_FUNC_ringbuf_submit, "bpf_ringbuf_submit"},
      {BPF_FUNC_ringbuf_discard, "bpf_ringbuf_discard"},
  };
  for (const Helper& h : helpers) {
    std::string what = absl::StrCat("helper ", h.name, " in tc programs");
    int rc = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, h.id, nullptr);
    if (rc == 1) {
      out.push_back(Valid(what));
    } else {
      out.push_back(Missing(what, rc == 0 ? "not available to tc programs on this kernel"
                                          : absl::StrCat("probe failed: ", std::strerror(-rc))));
    }
  }
}

// tcflow's programs use atomic fetch-and-add (-mcpu=v3): load a tiny program that does.
void CheckAtomics(std::vector<DependencyResult>& out) {
  const char* what = "BPF atomic fetch-and-add instructions";
  const bpf_insn insns[] = {
      // *(u64 *)(r10 - 8) = 0
      {BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -8, 0},
      // r1 = 1
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1},
      // r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)
      {BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_10, BPF_REG_1, -8, BPF_ADD | BPF_FETCH},
      // r0 = -1 (TC_ACT_UNSPEC); exit
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tcflow_probe", "GPL", insns,
                         sizeof(insns) / sizeof(insns[0]), nullptr);
  if (fd >= 0) {
    close(fd);
    out.push_back(Valid(what));
    return;
  }
  int err = errno;
  out.push_back(
      Missing(what, absl::StrCat(std::strerror(err), " (needs Linux 5.12+)", PrivilegeHint(err))));
}

// The embedded programs load, and a clsact qdisc plus a direct-action bpf filter can be
// created and read back: done on loopback of a throw-away namespace made on its own thread,
// so nothing on the host changes.
void CheckAttach(std::vector<DependencyResult>& out) {
  const char* load_what = "tcflow's embedded tc program passes the verifier";
  auto programs = LoadMeterPrograms();
  if (!programs.ok()) {
    out.push_back(Missing(load_what, std::string(programs.status().message())));
    return;
  }
  out.push_back(Valid(load_what));

  const char* what = "clsact qdisc and bpf filter creatable (throw-away namespace)";
  absl::Status status;
  std::thread worker([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      status = netlink::ErrnoStatus(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    auto sock = netlink::RtnlSocket::Open();
    if (!sock.ok()) {
      status = sock.status();
      return;
    }
    auto lo = netlink::GetLink(**sock, "lo");
    if (!lo.ok()) {
      status = lo.status();
      return;
    }
    netlink::AttachOptions options;
    options.state_dir = "";
    auto attacher = netlink::Attacher::Create(sock->get(), options);
    if (!attacher.ok()) {
      status = attacher.status();
      return;
    }
    status = attacher->Attach(*lo, netlink::Direction::kBoth, programs->programs);
    if (!status.ok()) return;
    for (netlink::Hook hook : {netlink::Hook::kIngress, netlink::Hook::kEgress}) {
      auto ours = attacher->ListOn(lo->ifindex, hook);
      if (!ours.ok()) {
        status = ours.status();
        return;
      }
      if (ours->size() != 1 || (*ours)[0].bpf_prog_id == 0) {
        status = absl::InternalError(
            absl::StrCat("the ", netlink::HookName(hook), " filter does not read back"));
        return;
      }
    }
    status = attacher->Detach(*lo, netlink::Direction::kBoth);
  });
  worker.join();
  if (status.ok()) {
    out.push_back(Valid(what));
  } else {
    out.push_back(Missing(what, absl::StrCat(status.message(),
                                             " (needs CONFIG_NET_SCH_INGRESS with clsact and "
                                             "CONFIG_NET_CLS_BPF)")));
  }
}

}  // namespace

std::vector<DependencyResult> CheckDependencies() {
  std::vector<DependencyResult> out;
  CheckCapabilities(out);
  CheckBpffs(out);
  if (CheckBpfSyscall(out)) {
    CheckProgType(out);
    CheckMmapableArray(out);
    CheckMapTypes(out);
    CheckHelpers(out);
    CheckAtomics(out);
    CheckAttach(out);
  } else {
    out.push_back(Missing("program, map and helper probes", "skipped: bpf() is not usable"));
  }
  return out;
}

int RunDependencyCheck(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl dependency-check",
                        "Probes the running kernel for every feature tcflow needs and prints "
                        "VALID or MISSING for each; exits non-zero when anything is missing.");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  int missing = 0;
  for (const DependencyResult& r : CheckDependencies()) {
    if (r.valid) {
      std::printf("VALID    %s\n", r.what.c_str());
    } else {
      ++missing;
      std::printf("MISSING  %s: %s\n", r.what.c_str(), r.detail.c_str());
    }
  }
  if (missing > 0) {
    std::printf("%d requirement(s) missing\n", missing);
    return 1;
  }
  std::printf("all requirements met\n");
  return 0;
}

}  // namespace tcflow::flowctl
