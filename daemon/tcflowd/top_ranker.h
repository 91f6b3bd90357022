// `flowctl top`'s daemon side: the largest flows, ranked in tcflowd so that a refresh sends
// N flows, not the whole cache (at 1 M flows a `dump` is hundreds of MB of JSON).
//
// Rates need the traffic of the last refresh interval. The drain already produces exactly
// that: each drain's increments are the packets counted since the previous one. While some
// `top` client is watching, the flow cache also adds every merged increment to the flow's
// window counts (FlowCache::EnableWindow: an array beside its entries, matched by key through
// the cache's own index, so no second hash table); a `top` request ranks by the window and
// clears it. So the "rate" of a flow is what the kernel counted for it between two requests,
// divided by the time between the drains that bracket them: exact counts, no sampling.
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

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "daemon/cache/flow_cache.h"
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
  // The client's refresh interval: the window is kept at least twice that long without a
  // request (and at least 30 s) before the cache stops counting it.
  int64_t interval_ms = 0;
};

// The request's members: {"n":20,"sort":"bytes"|"packets","by":"rate"|"total",
// "ipv6":bool,"interface":"eth0","interval_ms":1000}. The interface name is left to the
// caller (it knows the names); everything else is checked here. n is 1..1000.
absl::StatusOr<TopQuery> TopQueryFromJson(const control::JsonValue& request);

struct TopRow {
  FlowRecord record;  // the cache's record: key and totals since the record began
  cache::FlowWindowCounts window;  // counted in the window (zero without one)
};

struct TopResult {
  std::vector<TopRow> rows;  // best first, at most n
  uint64_t matched_flows = 0;  // flows passing the filter (ipv6, interface)
  uint64_t active_flows = 0;   // of those, flows with traffic in the window
  bool ranked_by_rate = false;
};

// Visits every flow once with its window counts (FlowCache::ForEachWithWindow).
using FlowVisitor = absl::FunctionRef<void(
    absl::FunctionRef<void(const FlowRecord&, const cache::FlowWindowCounts&)>)>;

// Ranks the flows `for_each` visits. Without a window (`has_window` false: nobody asked
// since the window was enabled) by totals, as with by_rate=false.
TopResult RankTop(FlowVisitor for_each, bool has_window, const TopQuery& query);

}  // namespace tcflow::tcflowd

#endif  // TCFLOW_DAEMON_TCFLOWD_TOP_RANKER_H_
