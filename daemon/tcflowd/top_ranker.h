// `flowctl top`'s daemon side: the largest flows, ranked in tcflowd so that a refresh sends
// N flows, not the whole cache (at 1 M flows a `dump` is hundreds of MB of JSON).
//
// Rates need the traffic of the last refresh interval. The drain already produces exactly
// that: each drain's increments are the packets counted since the previous one. While some
// `top` client is watching, the pipeline also folds every drained increment into a
// TopWindow (key -> packets, bytes); a `top` request ranks by the window and starts a new
// one. So the "rate" of a flow is what the kernel counted for it between two requests,
// divided by the time between the drains that bracket them: exact counts, no sampling, and
// nothing per flow kept outside the window.
//
// Ranking: by the window's bytes (or packets), descending; flows idle in the window follow,
// by their record totals; ties by key bytes (a stable order between refreshes). Without a
// window (a client's first frame) by record totals. One pass over the cache with a bounded
// heap of n: O(flows * log n), nothing allocated per flow.

#ifndef TCFLOW_DAEMON_TCFLOWD_TOP_RANKER_H_
#define TCFLOW_DAEMON_TCFLOWD_TOP_RANKER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "daemon/cache/flow_key_hash.h"
#include "daemon/control/json.h"
#include "daemon/flow/flow_record.h"

namespace tcflow::tcflowd {

enum class TopSort { kBytes, kPackets };

struct TopQuery {
  size_t n = 20;
  TopSort sort = TopSort::kBytes;
  // Rank by the window (the traffic since the previous `top` request); false ranks by the
  // records' totals (a client's first frame, `--once`).
  bool by_rate = true;
  bool ipv6_only = false;
  std::optional<uint32_t> ifindex;  // only flows observed on this interface
};

// The request's members: {"n":20,"sort":"bytes"|"packets","by":"rate"|"total",
// "ipv6":bool,"interface":"eth0"}. The interface name is left to the caller (it knows the
// names); everything else is checked here. n is 1..1000.
absl::StatusOr<TopQuery> TopQueryFromJson(const control::JsonValue& request);

struct TopCounts {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// Drained increments summed by flow key since the last Clear().
class TopWindow {
 public:
  TopWindow();
  void Add(absl::Span<const FlowRecord> increments);
  // The key's counts in the window; nullptr when it saw no traffic.
  const TopCounts* Find(const tcflow_flow_key& key) const;
  void Clear();  // keeps the table's memory for the next window
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  struct Hash {
    uint64_t seed;
    size_t operator()(const tcflow_flow_key& k) const { return cache::HashFlowKey(k, seed); }
  };
  struct Eq {
    bool operator()(const tcflow_flow_key& a, const tcflow_flow_key& b) const {
      return cache::FlowKeyEqual(a, b);
    }
  };
  absl::flat_hash_map<tcflow_flow_key, TopCounts, Hash, Eq> map_;
};

struct TopRow {
  FlowRecord record;  // the cache's record: key and totals since the record began
  TopCounts window;   // counted in the window (zero without one)
};

struct TopResult {
  std::vector<TopRow> rows;  // best first, at most n
  uint64_t matched_flows = 0;  // flows passing the filter (ipv6, interface)
  uint64_t active_flows = 0;   // of those, flows with traffic in the window
  bool ranked_by_rate = false;
};

// Visits every flow once (e.g. FlowCache::ForEach).
using FlowVisitor = absl::FunctionRef<void(absl::FunctionRef<void(const FlowRecord&)>)>;

// Ranks the flows `for_each` visits. `window` may be null (then by totals, as by_rate=false).
TopResult RankTop(FlowVisitor for_each, const TopWindow* window, const TopQuery& query);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_TOP_RANKER_H_
