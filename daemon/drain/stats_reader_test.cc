#include "daemon/drain/stats_reader.h"

#include <vector>

#include "gtest/gtest.h"

namespace tcflow {
namespace {

TEST(StatsReaderTest, SumsEveryFieldOverCpus) {
  constexpr int kCpus = 3;
  const size_t stride = (sizeof(tcflow_stats) + 7) & ~size_t{7};
  std::vector<char> buf(stride * kCpus, 0);
  for (int c = 0; c < kCpus; ++c) {
    tcflow_stats s = {};
    s.packets[0] = 10 + c;
    s.packets[1] = 100;
    s.parse_error[TCFLOW_PARSE_TRUNCATED_IPV6] = c;
    s.icmp6_type[135] = 2;
    s.size_hist[TCFLOW_SIZE_BUCKETS - 1] = 7;
    s.gso_packets = 1ull << 40;  // the last field
    std::memcpy(buf.data() + c * stride, &s, sizeof(s));
  }
  tcflow_stats sum;
  std::memset(&sum, 0xff, sizeof(sum));
  StatsReader::Sum(buf.data(), kCpus, stride, &sum);
  EXPECT_EQ(sum.packets[0], 33u);
  EXPECT_EQ(sum.packets[1], 300u);
  EXPECT_EQ(sum.parse_error[TCFLOW_PARSE_TRUNCATED_IPV6], 3u);
  EXPECT_EQ(sum.icmp6_type[135], 6u);
  EXPECT_EQ(sum.icmp6_type[136], 0u);
  EXPECT_EQ(sum.size_hist[TCFLOW_SIZE_BUCKETS - 1], 21u);
  EXPECT_EQ(sum.gso_packets, 3ull << 40);
  EXPECT_EQ(sum.not_ip, 0u);
}

}  // namespace
}  // namespace tcflow
