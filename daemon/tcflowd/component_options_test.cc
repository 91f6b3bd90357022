#include "daemon/tcflowd/component_options.h"

#include "gtest/gtest.h"

namespace tcflow::tcflowd {
namespace {

config::Config Load(const std::string& text) {
  config::LoadResult r = config::LoadConfigText(text, "test.conf");
  EXPECT_TRUE(r.ok()) << config::FormatErrors(r.errors);
  return *r.config;
}

TEST(ComponentOptionsTest, BuiltinDefault) {
  config::LoadResult r =
      config::LoadConfigText(config::BuiltinDefaultConfigText(), "<built-in default>");
  ASSERT_TRUE(r.ok());
  const config::Config& c = *r.config;
  auto collectors = CollectorOptionsFrom(c);
  ASSERT_EQ(collectors.size(), 1u);
  EXPECT_EQ(collectors[0].address, "127.0.0.1:4739");
  EXPECT_EQ(collectors[0].transport, ipfix::TransportKind::kUdp);
  EXPECT_EQ(collectors[0].mtu, 1500u);
  EXPECT_TRUE(collectors[0].exporter.options_records);
  EXPECT_EQ(collectors[0].exporter.ipv4_elements.front(), "flowStartMilliseconds");
  auto sel = SelectionsFrom(c, "");
  ASSERT_EQ(sel.size(), 1u);
  EXPECT_TRUE(sel[0].selector.all_but_loopback);
  EXPECT_EQ(sel[0].direction, netlink::Direction::kBoth);
  EXPECT_EQ(sel[0].netns, "");
  EXPECT_EQ(SelectionsFrom(c, "rt")[0].netns, "rt");
  netlink::AttachOptions a = AttachOptionsFrom(c);
  EXPECT_EQ(a.priority, netlink::kDefaultPriority);
  EXPECT_EQ(a.handle, netlink::kDefaultHandle);
  LoaderOptions l = LoaderOptionsFrom(c);
  EXPECT_EQ(l.pin_mode, PinMode::kReuse);
  EXPECT_EQ(l.pin_dir, "/sys/fs/bpf/tcflow");
  EXPECT_EQ(l.slots_per_half, 65536u);
  cache::FlowCacheOptions co = CacheOptionsFrom(c);
  EXPECT_EQ(co.idle_timeout_ms, 15000);
  EXPECT_EQ(co.active_timeout_ms, 60000);
  EXPECT_EQ(co.tcp_end_grace_ms, 2000);
  EXPECT_TRUE(co.Validate().ok());
}

TEST(ComponentOptionsTest, Ipv6TcpCollectorAndSelections) {
  config::Config c = Load(R"(
    interfaces { include: "eth*" exclude: "eth9" direction: INGRESS netns: "blue" }
    interfaces { all_but_loopback: true direction: EGRESS }
    collector { address: "2001:db8::9" port: 9995 transport: TCP }
    table { drain_interval_ms: 200 }
    flow_cache { idle_timeout_s: 2 active_timeout_s: 5 tcp_end_of_flow: TIMEOUT_ONLY }
  )");
  auto collectors = CollectorOptionsFrom(c);
  ASSERT_EQ(collectors.size(), 1u);
  EXPECT_EQ(collectors[0].address, "[2001:db8::9]:9995");
  EXPECT_EQ(collectors[0].transport, ipfix::TransportKind::kTcp);
  auto sel = SelectionsFrom(c, "other");
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].netns, "blue");
  EXPECT_EQ(sel[0].direction, netlink::Direction::kIngress);
  EXPECT_EQ(sel[0].selector.include, std::vector<std::string>{"eth*"});
  EXPECT_EQ(sel[1].netns, "other");
  EXPECT_EQ(sel[1].direction, netlink::Direction::kEgress);
  cache::FlowCacheOptions co = CacheOptionsFrom(c);
  EXPECT_EQ(co.idle_timeout_ms, 2000);
  EXPECT_EQ(co.tcp_end_grace_ms, 2000);  // TIMEOUT_ONLY: lingers like an idle flow
  EXPECT_EQ(co.tick_ms, 20);
}

TEST(ComponentOptionsTest, RestartOnlyDifferences) {
  config::Config a = Load("collector { address: \"127.0.0.1\" }");
  config::Config b = Load("collector { address: \"127.0.0.2\" } flow_cache { idle_timeout_s: 5 }");
  EXPECT_EQ(RestartOnlyDifference(a, b), "");
  config::Config c = Load(
      "collector { address: \"127.0.0.1\" } attach { tc_priority: 7 } "
      "table { slots_per_half: 1024 }");
  EXPECT_EQ(RestartOnlyDifference(a, c), "attach.tc_priority, table.slots_per_half");
}

}  // namespace
}  // namespace tcflow::tcflowd
