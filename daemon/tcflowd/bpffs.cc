#include "daemon/tcflowd/bpffs.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "daemon/loader/tables.h"

namespace tcflow::tcflowd {

absl::Status EnsureBpffs(const std::string& pin_dir, bool* mounted) {
  *mounted = false;
  if (CheckBpffs(pin_dir).ok()) return absl::OkStatus();
  namespace fs = std::filesystem;
  std::error_code ec;
  // Where to mount: the pin directory itself when it can be created; otherwise (its parent
  // is on a filesystem that takes no new directories, like /sys/fs/bpf on sysfs) the deepest
  // existing ancestor, when it is an empty directory (nothing gets hidden).
  fs::path target = pin_dir;
  if (!fs::create_directories(pin_dir, ec) && ec) {
    target = fs::path(pin_dir).parent_path();
    while (!target.empty() && !fs::exists(target, ec)) target = target.parent_path();
    if (target.empty() || !fs::is_directory(target, ec) || !fs::is_empty(target, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create the pin directory ", pin_dir, " and no empty directory above it to "
          "mount bpffs on; mount bpffs (mount -t bpf bpf /sys/fs/bpf)"));
    }
  }
  if (mount("bpf", target.c_str(), "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        target.string(), " is not on a bpf filesystem and mounting one there failed: ",
        std::strerror(errno)));
  }
  *mounted = true;
  fs::create_directories(pin_dir, ec);
  return CheckBpffs(pin_dir);
}

}  // namespace tcflow::tcflowd
