#include "daemon/tcflowd/metrics.h"

#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

TEST(MetricsTest, StatusBecomesPrometheusText) {
  auto status = control::ParseJson(R"({
    "pid": 7, "uptime_s": 1.5, "config_file": "/etc/tcflow.conf", "reloads": 2,
    "interfaces": [{"name": "eth0", "ifindex": 2, "direction": "both"}],
    "table": {"slots_per_half": 1024, "drains": 10, "drain_interval_ms": 100},
    "cache": {"flows": 3, "records_ended": {"idle_timeout": 4}},
    "collectors": [{"name": "c\"1", "messages": 5, "lost_records": 0}],
    "kernel": {"packets_ingress": 11, "packets_egress": 12, "not_ip": 1},
    "losses": {"overflow_lost": 0, "flows_not_created": 9}
  })");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(PrometheusText(*status),
            "tcflowd_pid 7\n"
            "tcflowd_uptime_s 1.5\n"
            "tcflowd_reloads_total 2\n"
            "tcflowd_interfaces 1\n"
            "tcflowd_interface_info{name=\"eth0\",ifindex=\"2\",direction=\"both\"} 1\n"
            "tcflowd_table_slots_per_half 1024\n"
            "tcflowd_table_drains_total 10\n"
            "tcflowd_table_drain_interval_ms 100\n"
            "tcflowd_cache_flows 3\n"
            "tcflowd_cache_records_ended_idle_timeout_total 4\n"
            "tcflowd_collector_messages_total{collector=\"c\\\"1\"} 5\n"
            "tcflowd_collector_lost_records_total{collector=\"c\\\"1\"} 0\n"
            "tcflowd_kernel_packets_total{direction=\"ingress\"} 11\n"
            "tcflowd_kernel_packets_total{direction=\"egress\"} 12\n"
            "tcflowd_kernel_not_ip_total 1\n"
            "tcflowd_losses_total{kind=\"overflow_lost\"} 0\n"
            "tcflowd_losses_total{kind=\"flows_not_created\"} 9\n");
}

}  // namespace
}  // namespace tcflow::tcflowd
