// A Prometheus text-format (0.0.4) writer: a family's # HELP / # TYPE once, then its
// samples; label values escaped. Appends to a caller-owned string and allocates nothing
// else, so rendering tens of thousands of series costs little (see
// tools/bench/metrics_render_bench.cc).

#ifndef TCFLOW_DAEMON_METRICS_TEXT_WRITER_H_
#define TCFLOW_DAEMON_METRICS_TEXT_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tcflow::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// Appends `value` with the label-value escapes of the text format: \\, \" and \n.
void AppendLabelValue(absl::string_view value, std::string* out);
// Appends `key="value"` (value escaped), preceded by ',' unless `out` is empty.
void AppendLabel(absl::string_view key, absl::string_view value, std::string* out);
// Appends a sample value: integers as such, other numbers in the shortest form that reads
// back to the same double (NaN, +Inf, -Inf spelled as Prometheus does).
void AppendUint(uint64_t v, std::string* out);
void AppendDouble(double v, std::string* out);

class TextWriter {
 public:
  explicit TextWriter(std::string* out) : out_(out) {}

  // Starts a family: its # HELP and # TYPE lines. Its samples must follow before the
  // next family (the format wants a family's samples together).
  void Family(absl::string_view name, MetricType type, absl::string_view help);

  // `name{labels} value`. `labels` and `more` are rendered pairs without braces
  // (`a="x",b="y"`, see AppendLabel), joined with ','; either may be empty.
  void Sample(absl::string_view name, absl::string_view labels, absl::string_view more,
              uint64_t value);
  void Sample(absl::string_view name, absl::string_view labels, uint64_t value) {
    Sample(name, labels, {}, value);
  }
  void SampleDouble(absl::string_view name, absl::string_view labels, double value) {
    Head(name, labels, {});
    AppendDouble(value, out_);
    out_->push_back('\n');
  }

  // A histogram's samples (after Family(name, kHistogram, ...)): name_bucket per bound with
  // cumulative counts, name_bucket{le="+Inf"} (== name_count), name_sum, name_count.
  // `counts` holds the observations per bucket, NOT cumulative: bounds.size() entries, or
  // one more for the observations above the last bound.
  void Histogram(absl::string_view name, absl::string_view labels,
                 absl::Span<const double> bounds, absl::Span<const uint64_t> counts,
                 double sum);

  std::string* out() { return out_; }

 private:
  void Head(absl::string_view name, absl::string_view labels, absl::string_view more);

  std::string* out_;
};

}  // namespace tcflow::metrics

#endif  // TCFLOW_DAEMON_METRICS_TEXT_WRITER_H_
