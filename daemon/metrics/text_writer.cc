#include "daemon/metrics/text_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tcflow::metrics {
namespace {

char* Put(char* p, absl::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

void AppendLabelValue(absl::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      default:
        out->push_back(c);
    }
  }
}

void AppendLabel(absl::string_view key, absl::string_view value, std::string* out) {
  if (!out->empty()) out->push_back(',');
  out->append(key.data(), key.size());
  out->append("=\"");
  AppendLabelValue(value, out);
  out->push_back('"');
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v >= 0 && v < 1e15 && v == std::floor(v)) {
    AppendUint(static_cast<uint64_t>(v), out);
    return;
  }
  // Shortest of 15 and 17 significant digits that reads back exactly (few doubles per
  // scrape: timestamps, sums, bucket bounds; std::to_chars(double) would cost payload).
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.15g", v);
  if (std::strtod(buf, nullptr) != v) n = std::snprintf(buf, sizeof(buf), "%.17g", v);
  out->append(buf, n);
}

void TextWriter::Sample(absl::string_view name, absl::string_view labels, absl::string_view more,
                        uint64_t value) {
  // One size check and straight copies: this runs once per series (~100 k per scrape).
  char num[24];
  const size_t digits = std::to_chars(num, num + sizeof(num), value).ptr - num;
  const bool braces = !labels.empty() || !more.empty();
  const bool comma = !labels.empty() && !more.empty();
  const size_t n = name.size() + (braces ? 2 : 0) + labels.size() + comma + more.size() +
                   1 + digits + 1;
  const size_t at = out_->size();
  out_->resize(at + n);
  char* p = &(*out_)[at];
  p = Put(p, name);
  if (braces) {
    *p++ = '{';
    p = Put(p, labels);
    if (comma) *p++ = ',';
    p = Put(p, more);
    *p++ = '}';
  }
  *p++ = ' ';
  p = Put(p, absl::string_view(num, digits));
  *p = '\n';
}

void TextWriter::Family(absl::string_view name, MetricType type, absl::string_view help) {
  out_->append("# HELP ");
  out_->append(name.data(), name.size());
  out_->push_back(' ');
  for (char c : help) {  // HELP escapes only backslash and newline
    if (c == '\\') {
      out_->append("\\\\");
    } else if (c == '\n') {
      out_->append("\\n");
    } else {
      out_->push_back(c);
    }
  }
  out_->append("\n# TYPE ");
  out_->append(name.data(), name.size());
  out_->append(type == MetricType::kCounter   ? " counter\n"
               : type == MetricType::kGauge   ? " gauge\n"
                                              : " histogram\n");
}

void TextWriter::Head(absl::string_view name, absl::string_view labels, absl::string_view more) {
  out_->append(name.data(), name.size());
  if (!labels.empty() || !more.empty()) {
    out_->push_back('{');
    out_->append(labels.data(), labels.size());
    if (!labels.empty() && !more.empty()) out_->push_back(',');
    out_->append(more.data(), more.size());
    out_->push_back('}');
  }
  out_->push_back(' ');
}

void TextWriter::Histogram(absl::string_view name, absl::string_view labels,
                           absl::Span<const double> bounds, absl::Span<const uint64_t> counts,
                           double sum) {
  std::string bucket(name);
  bucket.append("_bucket");
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (i < counts.size()) cumulative += counts[i];
    le.assign("le=\"");
    AppendDouble(bounds[i], &le);
    le.push_back('"');
    Sample(bucket, labels, le, cumulative);
  }
  for (size_t i = bounds.size(); i < counts.size(); ++i) cumulative += counts[i];
  Sample(bucket, labels, "le=\"+Inf\"", cumulative);
  std::string n(name);
  n.append("_sum");
  Head(n, labels, {});
  AppendDouble(sum, out_);
  out_->push_back('\n');
  n.assign(name.data(), name.size());
  n.append("_count");
  Sample(n, labels, cumulative);
}

}  // namespace tcflow::metrics
