// Every example in config/examples/ loads without an error, and says what its comments
// claim it does.

#include <string>

#include "config/config.h"
#include "config/testdata_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tcflow::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Config LoadExample(const std::string& name) {
  LoadResult r = LoadConfigFile(RunfilesPath("config/examples/" + name));
  std::vector<std::string> errors;
  for (const ConfigError& e : r.errors) errors.push_back(e.ToString());
  EXPECT_THAT(errors, IsEmpty()) << name;
  return r.config.value_or(Config{});
}

TEST(Examples, AllLoad) {
  std::vector<std::string> files = FilesIn(RunfilesPath("config/examples"), ".textproto");
  ASSERT_EQ(files.size(), 4u);
  for (const std::string& path : files) {
    LoadResult r = LoadConfigFile(path);
    EXPECT_TRUE(r.ok()) << FormatErrors(r.errors);
  }
}

TEST(Examples, TwoPortRouter) {
  Config c = LoadExample("two_port_router.textproto");
  ASSERT_EQ(c.interfaces.size(), 1u);
  EXPECT_THAT(c.interfaces[0].include, ElementsAre("eth0", "eth1"));
  EXPECT_TRUE(c.interfaces[0].ingress && c.interfaces[0].egress);
  EXPECT_TRUE(c.interfaces[0].Matches("eth1", false));
  EXPECT_FALSE(c.interfaces[0].Matches("eth2", false));
  ASSERT_EQ(c.collectors.size(), 1u);
  EXPECT_EQ(c.collectors[0].name, "noc");
  EXPECT_FALSE(c.collectors[0].tcp);
  EXPECT_EQ(c.collectors[0].port, 4739);
}

TEST(Examples, VlansAndNamespaces) {
  Config c = LoadExample("vlans_and_namespaces.textproto");
  ASSERT_EQ(c.interfaces.size(), 4u);
  EXPECT_TRUE(c.interfaces[0].netns.empty() && c.interfaces[0].netns_path.empty());
  EXPECT_TRUE(c.interfaces[0].Matches("eth1.100", false));
  EXPECT_FALSE(c.interfaces[0].Matches("eth1.4000", false));
  EXPECT_FALSE(c.interfaces[0].Matches("eth0", false));
  EXPECT_EQ(c.interfaces[1].netns, "cust-blue");
  EXPECT_TRUE(c.interfaces[1].Matches("eth0", false));
  EXPECT_FALSE(c.interfaces[1].Matches("lo", true));
  EXPECT_FALSE(c.interfaces[2].Matches("dummy0", false));
  EXPECT_EQ(c.interfaces[3].netns_path, "/run/containers/edge-fw/ns/net");
  EXPECT_TRUE(c.interfaces[3].ingress);
  EXPECT_FALSE(c.interfaces[3].egress);
  EXPECT_TRUE(c.key_vlan);
  EXPECT_EQ(c.slots_per_half, 262144u);
  EXPECT_EQ(c.max_flows, 4194304u);
  ASSERT_EQ(c.collectors.size(), 1u);
  EXPECT_FALSE(c.collectors[0].ip.has_value());  // a host name, resolved at start
  EXPECT_EQ(c.collectors[0].address, "collector.example.net");
  const TemplateView& v4 = c.templates[c.collectors[0].ipv4_template];
  EXPECT_EQ(v4.elements[12]->id, 243);  // dot1qVlanId
  EXPECT_EQ(v4.elements[13]->id, 245);  // dot1qCustomerVlanId
}

TEST(Examples, Ipv6OnlyEdge) {
  Config c = LoadExample("ipv6_only_edge.textproto");
  ASSERT_EQ(c.collectors.size(), 1u);
  const CollectorView& k = c.collectors[0];
  ASSERT_TRUE(k.ip.has_value());
  EXPECT_EQ(k.ip->family, 6);
  EXPECT_EQ(k.mtu, 1280u);
  EXPECT_EQ(k.ipv4_template, -1);
  ASSERT_GE(k.ipv6_template, 0);
  EXPECT_EQ(c.templates[k.ipv6_template].name, "v6");
  EXPECT_EQ(c.metrics_listen.ip.family, 6);
  EXPECT_TRUE(c.ndp_events);
  EXPECT_EQ(c.ext_chain_alert_depth, 3u);
}

TEST(Examples, TcpAndUdpCollectors) {
  Config c = LoadExample("tcp_and_udp_collectors.textproto");
  ASSERT_EQ(c.collectors.size(), 2u);
  EXPECT_TRUE(c.collectors[0].tcp);
  EXPECT_EQ(c.collectors[0].send_queue_bytes, 16777216u);
  EXPECT_FALSE(c.collectors[1].tcp);
  EXPECT_EQ(c.collectors[1].mtu, 1400u);
  EXPECT_EQ(c.collectors[1].template_refresh, absl::Seconds(30));
  EXPECT_FALSE(c.collectors[1].interface_table);
  EXPECT_TRUE(c.collectors[1].exporter_reliability);
  EXPECT_EQ(c.json_log_path, "/var/log/tcflow/flows.jsonl");
  EXPECT_EQ(c.active_timeout, absl::Seconds(300));
  EXPECT_TRUE(c.interfaces[0].all_but_loopback);
  EXPECT_FALSE(c.interfaces[0].Matches("docker0", false));
}

}  // namespace
}  // namespace tcflow::config
