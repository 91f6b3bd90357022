#include "daemon/metrics/text_writer.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace tcflow::metrics {
namespace {

TEST(TextWriterTest, LabelValuesAreEscaped) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"eth0", "eth0"},
      {"a\"b", "a\\\"b"},
      {"back\\slash", "back\\\\slash"},
      {"new\nline", "new\\nline"},
      {"ns1/veth-0", "ns1/veth-0"},
      {"\\\"\n", "\\\\\\\"\\n"},
      {"", ""},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendLabelValue(c.in, &out);
    EXPECT_EQ(out, c.out) << c.in;
  }
  std::string labels;
  AppendLabel("interface", "x\"y", &labels);
  AppendLabel("direction", "ingress", &labels);
  EXPECT_EQ(labels, "interface=\"x\\\"y\",direction=\"ingress\"");
}

TEST(TextWriterTest, Numbers) {
  struct Case {
    double in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {0, "0"},
      {42, "42"},
      {0.0005, "0.0005"},
      {0.1, "0.1"},
      {1795300000.125, "1795300000.125"},
      {-1.5, "-1.5"},
      {1e20, "1e+20"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendDouble(c.in, &out);
    EXPECT_EQ(out, c.out);
  }
  std::string out;
  AppendUint(18446744073709551615ull, &out);
  EXPECT_EQ(out, "18446744073709551615");
}

TEST(TextWriterTest, FamilyAndSamples) {
  std::string out;
  TextWriter w(&out);
  w.Family("tcflow_x_total", MetricType::kCounter, "Help with \\ and\nnewline.");
  w.Sample("tcflow_x_total", "", 1);
  w.Sample("tcflow_x_total", "a=\"1\"", 2);
  w.Sample("tcflow_x_total", "a=\"1\"", "b=\"2\"", 3);
  w.Sample("tcflow_x_total", "", "b=\"2\"", 4);
  w.Family("tcflow_y", MetricType::kGauge, "Y.");
  w.SampleDouble("tcflow_y", "", 0.25);
  EXPECT_EQ(out,
            "# HELP tcflow_x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE tcflow_x_total counter\n"
            "tcflow_x_total 1\n"
            "tcflow_x_total{a=\"1\"} 2\n"
            "tcflow_x_total{a=\"1\",b=\"2\"} 3\n"
            "tcflow_x_total{b=\"2\"} 4\n"
            "# HELP tcflow_y Y.\n"
            "# TYPE tcflow_y gauge\n"
            "tcflow_y 0.25\n");
}

TEST(TextWriterTest, HistogramBucketsAreCumulativeAndInfIsCount) {
  const double bounds[] = {0.5, 1, 2.5};
  struct Case {
    std::vector<uint64_t> counts;  // per bucket (last: above every bound, optional)
    std::vector<uint64_t> cumulative;  // le=0.5, 1, 2.5, +Inf
  };
  const std::vector<Case> cases = {
      {{0, 0, 0, 0}, {0, 0, 0, 0}},
      {{1, 2, 3, 4}, {1, 3, 6, 10}},
      {{5, 0, 0}, {5, 5, 5, 5}},  // no overflow bucket given
      {{0, 0, 0, 7}, {0, 0, 0, 7}},
  };
  for (const Case& c : cases) {
    std::string out;
    TextWriter w(&out);
    w.Histogram("h", "x=\"y\"", bounds, c.counts, 12.5);
    const std::string want = "h_bucket{x=\"y\",le=\"0.5\"} " + std::to_string(c.cumulative[0]) +
                             "\nh_bucket{x=\"y\",le=\"1\"} " + std::to_string(c.cumulative[1]) +
                             "\nh_bucket{x=\"y\",le=\"2.5\"} " + std::to_string(c.cumulative[2]) +
                             "\nh_bucket{x=\"y\",le=\"+Inf\"} " + std::to_string(c.cumulative[3]) +
                             "\nh_sum{x=\"y\"} 12.5\nh_count{x=\"y\"} " +
                             std::to_string(c.cumulative[3]) + "\n";
    EXPECT_EQ(out, want);
  }
}

}  // namespace
}  // namespace tcflow::metrics
