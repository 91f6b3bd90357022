// Loading, defaults and the typed view. Broken configs are in broken_configs_test.cc,
// the examples in examples_test.cc.

#include "config/config.h"

#include <cstdio>
#include <set>
#include <string>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "config/defaults.h"
#include "config/parse.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tcflow::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

LoadResult Load(absl::string_view text) { return LoadConfigText(text, "test.conf"); }

std::vector<std::string> ErrorLines(const LoadResult& r) {
  std::vector<std::string> lines;
  for (const ConfigError& e : r.errors) lines.push_back(e.ToString());
  return lines;
}

TcflowConfig Resolve(absl::string_view text) {
  TcflowConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(text), &c));
  ApplyDefaults(c);
  return c;
}

// Names ("Message.field") of the singular fields left unset anywhere in `m`.
void CollectUnset(const Message& m, std::set<std::string>* unset) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string name = absl::StrCat(d->name(), ".", f->name());
    if (f->is_repeated()) {
      if (f->message_type() == nullptr) continue;
      for (int j = 0; j < r->FieldSize(m, f); ++j) {
        CollectUnset(r->GetRepeatedMessage(m, f, j), unset);
      }
      continue;
    }
    if (!r->HasField(m, f)) {
      unset->insert(name);
    } else if (f->message_type() != nullptr) {
      CollectUnset(r->GetMessage(m, f), unset);
    }
  }
}

TEST(DefaultConfig, IsValidAndIsWhatDefaultsMakeOfOneCollector) {
  LoadResult printed = LoadConfigText(BuiltinDefaultConfigText(), "default");
  ASSERT_THAT(ErrorLines(printed), IsEmpty());
  // The printed default is exactly what ApplyDefaults makes of a one-collector config, so
  // the text `flowctl config default` shows cannot drift from the defaults in code.
  TcflowConfig from_code = Resolve(R"(collector { address: "127.0.0.1" })");
  std::string diff;
  MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(from_code, printed.config->resolved)) << diff;
}

TEST(DefaultConfig, SpellsOutEveryField) {
  TcflowConfig written;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      std::string(BuiltinDefaultConfigText()), &written));
  std::set<std::string> unset;
  CollectUnset(written, &unset);
  // Only fields that have no default by design: namespaces (own namespace), the TCP-only
  // queue on a UDP collector, and the optional JSON log.
  EXPECT_THAT(unset, ElementsAre("Collector.send_queue_bytes", "InterfaceSelection.netns",
                                 "InterfaceSelection.netns_path", "TcflowConfig.json_log"));
}

TEST(Defaults, FillEveryFieldThatHasADefault) {
  TcflowConfig c = Resolve(R"(
    collector { address: "192.0.2.1" transport: TCP }
    json_log { path: "/tmp/x" })");
  std::set<std::string> unset;
  CollectUnset(c, &unset);
  EXPECT_THAT(unset, ElementsAre("Collector.mtu", "Collector.template_refresh_s",
                                 "InterfaceSelection.netns", "InterfaceSelection.netns_path"));
}

TEST(Defaults, AreIdempotentAndNeverOverrideWhatIsWritten) {
  TcflowConfig once = Resolve(R"(
    collector { address: "192.0.2.1" port: 0 mtu: 9000 }
    flow_cache { idle_timeout_s: 0 })");
  TcflowConfig twice = once;
  ApplyDefaults(twice);
  EXPECT_TRUE(MessageDifferencer::Equals(once, twice));
  EXPECT_EQ(once.collector(0).port(), 0u);
  EXPECT_EQ(once.collector(0).mtu(), 9000u);
  EXPECT_EQ(once.flow_cache().idle_timeout_s(), 0u);
}

TEST(Defaults, FollowRelatedSettings) {
  // A long idle timeout lifts the default active timeout; a short one lowers the linger.
  TcflowConfig c = Resolve("flow_cache { idle_timeout_s: 120 }");
  EXPECT_EQ(c.flow_cache().active_timeout_s(), 120u);
  EXPECT_EQ(c.flow_cache().tcp_end_linger_s(), 2u);
  c = Resolve("flow_cache { idle_timeout_s: 2 }");
  EXPECT_EQ(c.flow_cache().active_timeout_s(), 60u);
  EXPECT_EQ(c.flow_cache().tcp_end_linger_s(), 1u);
  c = Resolve("flow_cache { tcp_end_of_flow: TIMEOUT_ONLY }");
  EXPECT_FALSE(c.flow_cache().has_tcp_end_linger_s());
  // The cache holds at least one table half.
  c = Resolve("table { slots_per_half: 2097152 }");
  EXPECT_EQ(c.flow_cache().max_flows(), 2097152u);
  // Without VLANs in the key, the built-in templates leave vlanId out.
  c = Resolve("flow_key { vlan: false }");
  ASSERT_EQ(c.template__size(), 2);
  for (const Template& t : c.template_()) {
    EXPECT_THAT(t.ie(), ::testing::Not(::testing::Contains("vlanId"))) << t.name();
    EXPECT_THAT(t.ie(), ::testing::Not(::testing::Contains("dot1qCustomerVlanId")));
  }
}

TEST(Defaults, UserTemplatesReplaceBuiltinsByNameAndTakeIdsInOrder) {
  TcflowConfig c = Resolve(R"(
    template { name: "small" family: IPV4 ie: "octetDeltaCount" }
    template { name: "ipv6" family: IPV6 template_id: 257 ie: "packetDeltaCount" })");
  ASSERT_EQ(c.template__size(), 3);
  EXPECT_EQ(c.template_(0).name(), "small");
  EXPECT_EQ(c.template_(0).template_id(), 256u);
  EXPECT_EQ(c.template_(1).name(), "ipv6");
  EXPECT_THAT(c.template_(1).ie(), ElementsAre("packetDeltaCount"));
  EXPECT_EQ(c.template_(2).name(), "ipv4");  // the built-in, after the user's
  EXPECT_EQ(c.template_(2).template_id(), 258u);
}

TEST(View, ThreeLineConfig) {
  LoadResult r = Load(R"(interfaces { include: "eth0" include: "eth1" }
collector { address: "192.0.2.10" }
)");
  ASSERT_THAT(ErrorLines(r), IsEmpty());
  const Config& c = *r.config;
  ASSERT_EQ(c.interfaces.size(), 1u);
  EXPECT_THAT(c.interfaces[0].include, ElementsAre("eth0", "eth1"));
  EXPECT_FALSE(c.interfaces[0].all_but_loopback);
  EXPECT_TRUE(c.interfaces[0].ingress);
  EXPECT_TRUE(c.interfaces[0].egress);
  EXPECT_EQ(c.tc_priority, 31985);
  EXPECT_EQ(c.tc_handle, 0x7cf1u);
  EXPECT_TRUE(c.reattach);
  EXPECT_FALSE(c.stay_attached_on_exit);
  EXPECT_TRUE(c.key_vlan);
  EXPECT_FALSE(c.key_mark);
  EXPECT_EQ(c.slots_per_half, 65536u);
  EXPECT_EQ(c.drain_interval, absl::Seconds(1));
  EXPECT_EQ(c.idle_timeout, absl::Seconds(15));
  EXPECT_EQ(c.active_timeout, absl::Seconds(60));
  EXPECT_TRUE(c.tcp_end_on_fin_or_rst);
  EXPECT_EQ(c.tcp_end_linger, absl::Seconds(2));
  EXPECT_EQ(c.max_flows, 1048576u);

  ASSERT_EQ(c.collectors.size(), 1u);
  const CollectorView& k = c.collectors[0];
  EXPECT_EQ(k.name, "192.0.2.10:4739/udp");
  ASSERT_TRUE(k.ip.has_value());
  EXPECT_EQ(k.ip->family, 4);
  EXPECT_EQ(k.port, 4739);
  EXPECT_FALSE(k.tcp);
  EXPECT_EQ(k.mtu, 1500u);
  EXPECT_EQ(k.template_refresh, absl::Seconds(60));
  EXPECT_EQ(k.observation_domain_id, 1u);
  EXPECT_TRUE(k.exporter_reliability && k.metering_statistics && k.interface_table);

  ASSERT_EQ(c.templates.size(), 2u);
  ASSERT_GE(k.ipv4_template, 0);
  ASSERT_GE(k.ipv6_template, 0);
  const TemplateView& v4 = c.templates[k.ipv4_template];
  const TemplateView& v6 = c.templates[k.ipv6_template];
  EXPECT_EQ(v4.name, "ipv4");
  EXPECT_EQ(v4.template_id, 256);
  EXPECT_EQ(v4.ip_version, 4);
  EXPECT_EQ(v4.elements.size(), 21u);
  EXPECT_EQ(v4.record_length, 70u);
  EXPECT_EQ(v6.template_id, 257);
  EXPECT_EQ(v6.ip_version, 6);
  EXPECT_EQ(v6.record_length, 102u);
  EXPECT_EQ(v6.elements[2]->id, 27);  // sourceIPv6Address

  EXPECT_TRUE(c.json_log_path.empty());
  EXPECT_TRUE(c.metrics_enabled);
  EXPECT_EQ(c.metrics_listen.ip.ToString(), "127.0.0.1");
  EXPECT_EQ(c.metrics_listen.port, 9739);
  EXPECT_EQ(c.control_socket, "/run/tcflow/control.sock");
  EXPECT_EQ(c.bpffs_pin_path, "/sys/fs/bpf/tcflow");
  EXPECT_TRUE(c.ndp_events);
  EXPECT_EQ(c.ext_chain_alert_depth, 4u);
}

TEST(View, CollectorOptions) {
  LoadResult r = Load(R"(
    collector { address: "fe80::1%eth0" transport: TCP port: 4740 observation_domain_id: 0
                templates: "ipv6" options_records { interface_table: false } }
    metrics { enabled: false }
    events { ext_chain_alert_depth: 0 ndp: false })");
  ASSERT_THAT(ErrorLines(r), IsEmpty());
  const CollectorView& k = r.config->collectors[0];
  EXPECT_EQ(k.name, "[fe80::1%eth0]:4740/tcp");
  ASSERT_TRUE(k.ip.has_value());
  EXPECT_EQ(k.ip->family, 6);
  EXPECT_EQ(k.ip->zone, "eth0");
  EXPECT_TRUE(k.tcp);
  EXPECT_EQ(k.mtu, 0u);
  EXPECT_EQ(k.send_queue_bytes, 4u << 20);
  EXPECT_EQ(k.observation_domain_id, 0u);
  EXPECT_EQ(k.ipv4_template, -1);
  EXPECT_GE(k.ipv6_template, 0);
  EXPECT_TRUE(k.exporter_reliability);
  EXPECT_FALSE(k.interface_table);
  EXPECT_FALSE(r.config->metrics_enabled);
  EXPECT_FALSE(r.config->ndp_events);
  EXPECT_EQ(r.config->ext_chain_alert_depth, 0u);
}

TEST(View, InterfaceSelectionMatches) {
  LoadResult r = Load(R"(
    interfaces { all_but_loopback: true exclude: "veth*" exclude: "docker0" }
    interfaces { netns: "blue" include: "eth*" include: "bond[0-9]" exclude: "eth0.4*"
                 direction: EGRESS }
    json_log { path: "/var/log/flows.jsonl" })");
  ASSERT_THAT(ErrorLines(r), IsEmpty());
  const InterfaceSelectionView& all = r.config->interfaces[0];
  EXPECT_TRUE(all.Matches("eth0", false));
  EXPECT_TRUE(all.Matches("wg0", false));
  EXPECT_FALSE(all.Matches("lo", true));
  EXPECT_FALSE(all.Matches("veth1234", false));
  EXPECT_FALSE(all.Matches("docker0", false));
  const InterfaceSelectionView& blue = r.config->interfaces[1];
  EXPECT_EQ(blue.netns, "blue");
  EXPECT_FALSE(blue.ingress);
  EXPECT_TRUE(blue.egress);
  EXPECT_TRUE(blue.Matches("eth0", false));
  EXPECT_TRUE(blue.Matches("eth0.100", false));
  EXPECT_FALSE(blue.Matches("eth0.400", false));
  EXPECT_TRUE(blue.Matches("bond3", false));
  EXPECT_FALSE(blue.Matches("bond10", false));
  EXPECT_FALSE(blue.Matches("wlan0", false));
  EXPECT_EQ(r.config->json_log_path, "/var/log/flows.jsonl");
}

TEST(Errors, ColumnsCountBytesNotTabStops) {
  // protobuf expands a tab to the next multiple of 8; editors count it as one byte.
  LoadResult r = Load("\tcollector {\tport: 0 address: \"192.0.2.1\" }\n\tcolector {}\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("test.conf:2:2: unknown field \"colector\" in TcflowConfig (did you "
                          "mean \"collector\"?)"));
  r = Load("\tcollector {\tport: 0 address: \"192.0.2.1\" }\n");
  EXPECT_THAT(ErrorLines(r), ElementsAre("test.conf:1:14: collector[0].port: 0 is not a port"));
}

TEST(Errors, FieldsFilledByDefaultPointAtTheirBlock) {
  LoadResult r = Load("collector {\n  address: \"192.0.2.1\"\n}\ntable {\n  slots_per_half: 8\n}\n"
                      "flow_cache { max_flows: 4096 }\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("test.conf:5:3: table.slots_per_half: 8 is out of range (1024-4194304)"));
  r = Load("collector {\n  transport: TCP\n}\n");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("test.conf:1:1: collector[0].address: required (an IP address or a "
                          "host name)"));
}

TEST(Errors, EmptyConfigSaysWhatIsMissing) {
  EXPECT_THAT(ErrorLines(Load("")),
              ElementsAre("test.conf: nothing to export to: add a collector { address: ... } "
                          "or a json_log { path: ... }"));
  EXPECT_THAT(ErrorLines(Load("# only a comment\n")), ::testing::SizeIs(1));
}

TEST(Errors, OversizedAndBinaryInput) {
  std::string big(kMaxConfigBytes, ' ');
  big += "x";
  EXPECT_THAT(ErrorLines(Load(big)),
              ElementsAre(absl::StrCat("test.conf: larger than ", kMaxConfigBytes,
                                       " bytes: not a tcflow config")));
  LoadResult r = Load(std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10));
  ASSERT_FALSE(r.ok());
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_GT(r.errors[0].column, 0);
}

TEST(LoadFile, ReportsFileProblems) {
  LoadResult r = LoadConfigFile("/nonexistent/tcflow.conf");
  EXPECT_THAT(ErrorLines(r),
              ElementsAre("/nonexistent/tcflow.conf: No such file or directory"));
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = tmp != nullptr ? tmp : "/tmp";
  r = LoadConfigFile(dir);
  EXPECT_THAT(ErrorLines(r), ElementsAre(dir + ": is a directory, not a config file"));
  std::string path = dir + "/config_test_" + std::to_string(getpid()) + ".conf";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("collector { address: \"192.0.2.1\" port: 70000 }\n", f);
  std::fclose(f);
  r = LoadConfigFile(path);
  EXPECT_THAT(ErrorLines(r), ElementsAre(path + ":1:34: collector[0].port: 70000 is not a port"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tcflow::config
