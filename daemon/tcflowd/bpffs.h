// Makes sure the pin directory is on a bpf filesystem, mounting one there (mount(2), no
// helper program) when it is not: routers' init systems often mount none.

#ifndef TCFLOW_DAEMON_TCFLOWD_BPFFS_H_
#define TCFLOW_DAEMON_TCFLOWD_BPFFS_H_

#include <string>

#include "absl/status/status.h"

namespace tcflow::tcflowd {

// OK when `pin_dir` (or its parent, if it does not exist) is on bpffs; otherwise creates
// `pin_dir` and mounts bpffs on it (mode 0700). `mounted` says whether it did.
absl::Status EnsureBpffs(const std::string& pin_dir, bool* mounted);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_BPFFS_H_
