// ifindex -> interface name of the metered interfaces, written by the link watchers'
// threads and read by the drain/export thread (options records, flow log, dump, flush),
// and the interface label of the metrics ("<netns>/<name>" in another namespace).

#ifndef TCFLOW_DAEMON_TCFLOWD_INTERFACE_TABLE_H_
#define TCFLOW_DAEMON_TCFLOWD_INTERFACE_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"

namespace tcflow::tcflowd {

class InterfaceTable {
 public:
  // `netns`: the selection's namespace ("" = tcflowd's own).
  void Set(uint32_t ifindex, std::string name, const std::string& netns = "") {
    absl::MutexLock lock(&mu_);
    std::string label = netns.empty() ? name : netns + "/" + name;
    auto [it, inserted] = names_.try_emplace(ifindex, name);
    if (!inserted && it->second == name && labels_[ifindex] == label) return;
    it->second = std::move(name);
    labels_[ifindex] = std::move(label);
    ++version_;
  }
  void Remove(uint32_t ifindex) {
    absl::MutexLock lock(&mu_);
    labels_.erase(ifindex);
    if (names_.erase(ifindex) > 0) ++version_;
  }
  // ifindex -> the metrics' interface label.
  std::map<uint32_t, std::string> MetricLabels() const {
    absl::MutexLock lock(&mu_);
    return labels_;
  }
  // A copy and its version (changes whenever the table does).
  std::map<uint32_t, std::string> Snapshot(uint64_t* version) const {
    absl::MutexLock lock(&mu_);
    if (version != nullptr) *version = version_;
    return names_;
  }
  uint64_t version() const {
    absl::MutexLock lock(&mu_);
    return version_;
  }
  std::optional<uint32_t> IndexOf(const std::string& name) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [index, n] : names_) {
      if (n == name) return index;
    }
    return std::nullopt;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<uint32_t, std::string> names_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::string> labels_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_INTERFACE_TABLE_H_
