#include "daemon/tcflowd/top_ranker.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace tcflow::tcflowd {

absl::StatusOr<TopQuery> TopQueryFromJson(const control::JsonValue& request) {
  TopQuery q;
  if (const control::JsonValue* n = request.Find("n"); n != nullptr) {
    std::optional<uint64_t> v = n->AsUint64();
    if (!v || *v < 1 || *v > 1000) return absl::InvalidArgumentError("top: n must be 1..1000");
    q.n = *v;
  }
  if (std::optional<std::string> sort = request.GetString("sort"); sort.has_value()) {
    if (*sort == "bytes") {
      q.sort = TopSort::kBytes;
    } else if (*sort == "packets") {
      q.sort = TopSort::kPackets;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("top: sort must be bytes or packets, not \"", *sort, "\""));
    }
  }
  if (std::optional<std::string> by = request.GetString("by"); by.has_value()) {
    if (*by != "rate" && *by != "total") {
      return absl::InvalidArgumentError(
          absl::StrCat("top: by must be rate or total, not \"", *by, "\""));
    }
    q.by_rate = *by == "rate";
  }
  q.ipv6_only = request.GetBool("ipv6").value_or(false);
  if (const control::JsonValue* i = request.Find("interval_ms"); i != nullptr) {
    std::optional<uint64_t> v = i->AsUint64();
    if (!v || *v > 24 * 3'600'000ull) {
      return absl::InvalidArgumentError("top: interval_ms must be 0..86400000");
    }
    q.interval_ms = static_cast<int64_t>(*v);
  }
  return q;
}

namespace {

// What a row is ranked by: bigger is better.
struct Rank {
  uint64_t window;
  uint64_t total;
};

struct Candidate {
  Rank rank;
  TopRow row;
};

// True when a ranks before (is better than) b.
bool Better(const Candidate& a, const Candidate& b) {
  if (a.rank.window != b.rank.window) return a.rank.window > b.rank.window;
  if (a.rank.total != b.rank.total) return a.rank.total > b.rank.total;
  return std::memcmp(&a.row.record.key, &b.row.record.key, sizeof(tcflow_flow_key)) < 0;
}

}  // namespace

TopResult RankTop(FlowVisitor for_each, bool has_window, const TopQuery& query) {
  TopResult result;
  const bool by_rate = query.by_rate && has_window;
  result.ranked_by_rate = by_rate;
  const bool packets = query.sort == TopSort::kPackets;
  // A min-heap (worst on top) of the best n so far: std heap functions with Better as the
  // "less than" keep the worst candidate at front.
  std::vector<Candidate> heap;
  heap.reserve(query.n + 1);
  for_each([&](const FlowRecord& r, const cache::FlowWindowCounts& in_window) {
    if (query.ipv6_only && r.key.ip_version != 6) return;
    if (query.ifindex.has_value() && r.key.ifindex != *query.ifindex) return;
    ++result.matched_flows;
    if (in_window.packets != 0) ++result.active_flows;
    Rank rank{by_rate ? (packets ? in_window.packets : in_window.bytes) : 0,
              packets ? r.packets : r.bytes};
    if (heap.size() == query.n) {
      // Cheap reject before building a candidate: most flows of a big cache land here.
      const Rank& worst = heap.front().rank;
      if (rank.window < worst.window ||
          (rank.window == worst.window && rank.total < worst.total)) {
        return;
      }
    }
    Candidate c{rank, TopRow{r, in_window}};
    if (heap.size() < query.n) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), Better);
    } else if (Better(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), Better);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), Better);
    }
  });
  std::sort(heap.begin(), heap.end(), Better);
  result.rows.reserve(heap.size());
  for (const Candidate& c : heap) result.rows.push_back(c.row);
  return result;
}

}  // namespace tcflow::tcflowd
