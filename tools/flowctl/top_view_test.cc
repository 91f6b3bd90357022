#include "tools/flowctl/top_view.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace tcflow::flowctl {
namespace {

// A reply row as tcflowd writes it (flow object as in the flow log, plus the window).
std::string Row(const std::string& ifname, const std::string& dir, int v, const std::string& proto,
                const std::string& src, int sport, const std::string& dst, int dport,
                uint64_t packets, uint64_t bytes, uint64_t wp, uint64_t wb,
                const std::string& extra = "") {
  return absl::StrCat(R"({"flow":{"ifindex":2,"ifname":")", ifname, R"(","direction":")", dir,
                      R"(","ip_version":)", v, R"(,"protocol":)", proto == "udp" ? 17 : 58,
                      R"(,"protocol_name":")", proto, R"(","src":")", src, R"(","dst":")", dst,
                      R"(","src_port":)", sport, R"(,"dst_port":)", dport, extra,
                      R"(,"packets":)", packets, R"(,"bytes":)", bytes,
                      R"(},"window_packets":)", wp, R"(,"window_bytes":)", wb, "}");
}

std::string Reply(int64_t mono_ms, uint64_t kpackets, uint64_t kbytes, const std::string& ranked,
                  const std::string& window, const std::vector<std::string>& rows) {
  return absl::StrCat(R"({"uptime_s":3725.5,"mono_ms":)", mono_ms,
                      R"(,"cache_flows":1234,"table":{"slots_per_half":4096,"used_last_drain":1024,"max_used":2048},)",
                      R"("kernel":{"packets":)", kpackets, R"(,"bytes":)", kbytes,
                      R"(},"sort":"bytes","ranked_by":")", ranked, R"(")", window,
                      R"(,"matched_flows":1234,"active_flows":2,"flows":[)",
                      absl::StrJoin(rows, ","), "]}");
}

TopFrame Parse(const std::string& text, const TopFrame* previous) {
  auto v = control::ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  auto f = ParseTopReply(*v, previous);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : TopFrame{};
}

const std::string kFirst =
    Reply(10'000, 1000, 500'000, "total", "",
          {Row("r1", "ingress", 4, "udp", "10.61.1.1", 40001, "10.61.2.1", 6001, 50, 6400, 0, 0),
           Row("r2", "egress", 6, "udp", "fd61:1::1", 40003, "fd61:2::1", 6003, 10, 1480, 0, 0)});
const std::string kSecond =
    Reply(12'000, 3000, 1'500'000, "rate", R"(,"window_ms":2000)",
          {Row("r1", "ingress", 4, "udp", "10.61.1.1", 40001, "10.61.2.1", 6001, 250, 32000, 200,
               25600),
           Row("r2", "egress", 6, "udp", "fd61:1::1", 40003, "fd61:2::1", 6003, 10, 1480, 0, 0)});

TEST(TopViewTest, FirstFrameHasNoRates) {
  TopFrame f = Parse(kFirst, nullptr);
  ASSERT_EQ(f.flows.size(), 2u);
  EXPECT_FALSE(f.flows[0].pps.has_value());
  EXPECT_FALSE(f.total_pps.has_value());
  EXPECT_FALSE(f.ranked_by_rate);
  EXPECT_EQ(f.flows[0].packets, 50u);
  EXPECT_EQ(f.flows[1].ip_version, 6);
  EXPECT_EQ(f.uptime_s, 3725.5);
  std::string table = RenderTopTable(f, {});
  EXPECT_NE(table.find("by total bytes"), std::string::npos) << table;
  EXPECT_NE(table.find("now - pkt/s - bit/s"), std::string::npos) << table;
}

// Two snapshots: row rates are the window's counts over its length, the header's the
// kernel totals between the frames.
TEST(TopViewTest, SecondFrameRates) {
  TopFrame first = Parse(kFirst, nullptr);
  TopFrame second = Parse(kSecond, &first);
  ASSERT_EQ(second.flows.size(), 2u);
  ASSERT_TRUE(second.flows[0].pps.has_value());
  EXPECT_DOUBLE_EQ(*second.flows[0].pps, 100.0);          // 200 packets / 2 s
  EXPECT_DOUBLE_EQ(*second.flows[0].bps, 25600 * 8 / 2.0);  // 102400 bit/s
  EXPECT_DOUBLE_EQ(*second.flows[1].pps, 0.0);
  EXPECT_DOUBLE_EQ(*second.total_pps, 1000.0);      // 2000 packets in 2 s
  EXPECT_DOUBLE_EQ(*second.total_bps, 4'000'000.0);  // 1 MB in 2 s
  EXPECT_TRUE(second.ranked_by_rate);

  const std::string table = RenderTopTable(second, {});
  std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 7u) << table;
  EXPECT_EQ(lines[0], "tcflowd up 1h02m | 1234 flows cached | table 25.0% (peak 50.0%) of 4096 slots");
  EXPECT_EQ(lines[1], "total 3000 pkts 1.5M bytes | now 1.0k pkt/s 4.0M bit/s");
  EXPECT_EQ(lines[2], "top 20 by byte rate over 2.00s: 2 of 1234 flows active");
  EXPECT_EQ(lines[3], "");
  EXPECT_EQ(lines[4],
            "IFACE DIR PROTO SRC               DST              "
            "   PKTS   BYTES  PKT/S  BIT/S");
  EXPECT_EQ(lines[5],
            "r1    in  udp   10.61.1.1:40001   10.61.2.1:6001   "
            "    250   32000    100 102.4k");
  EXPECT_EQ(lines[6],
            "r2    out udp   [fd61:1::1]:40003 [fd61:2::1]:6003 "
            "     10    1480    0.0    0.0");
}

// A daemon restart between frames (its clock went back): no header rates, no negatives.
TEST(TopViewTest, RestartedDaemonGivesNoTotalRate) {
  TopFrame first = Parse(kSecond, nullptr);
  TopFrame second = Parse(kFirst, &first);
  EXPECT_FALSE(second.total_pps.has_value());
}

TEST(TopViewTest, Endpoints) {
  struct Case {
    std::string address;
    int version, port;
    size_t width;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"10.0.0.1", 4, 53, 40, "10.0.0.1:53"},
      {"2001:db8::1", 6, 443, 40, "[2001:db8::1]:443"},
      {"2001:db8::1", 6, -1, 40, "2001:db8::1"},
      // Too long: the middle of the address goes, port and brackets stay.
      {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", 6, 443, 20, "[2001:db~eeee:1]:443"},
      {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", 6, 443, 12, "[200~:1]:443"},
      {"192.168.100.200", 4, 65535, 16, "192.1~.200:65535"},
      // Not even the port fits: cut.
      {"192.168.100.200", 4, 65535, 8, "192.168."},
  };
  for (const Case& c : cases) {
    const std::string got = FormatEndpoint(c.address, c.version, c.port, c.width);
    EXPECT_EQ(got, c.want) << c.address << " in " << c.width;
    EXPECT_LE(got.size(), c.width);
  }
}

TEST(TopViewTest, CompactCount) {
  EXPECT_EQ(CompactCount(0, 7), "0");
  EXPECT_EQ(CompactCount(9999999, 7), "9999999");
  EXPECT_EQ(CompactCount(12345678, 7), "12.3M");
  EXPECT_EQ(CompactCount(1500000, 6), "1.5M");
  EXPECT_EQ(CompactCount(999999, 5), "1.0M");
  EXPECT_EQ(CompactCount(123456789012.0, 4), "123G");
  EXPECT_EQ(FormatUptime(12), "12s");
  EXPECT_EQ(FormatUptime(247), "4m07s");
  EXPECT_EQ(FormatUptime(7500), "2h05m");
  EXPECT_EQ(FormatUptime(3 * 86400 + 4 * 3600 + 59), "3d04h");
}

// Narrow terminals: every line fits; IPv6 endpoints are shortened in the middle.
TEST(TopViewTest, FitsTheWidth) {
  TopFrame first = Parse(kFirst, nullptr);
  TopFrame f = Parse(
      Reply(12'000, 3000, 1'500'000, "rate", R"(,"window_ms":1000)",
            {Row("enp3s0f1np1", "ingress", 6, "udp", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", 40001,
                 "2001:db8:1111:2222:3333:4444:5555:6666", 443, 123456789, 98765432109, 1000,
                 1500000)}),
      &first);
  for (int width : {60, 72, 80, 100, 132}) {
    TopRenderOptions o;
    o.width = width;
    const std::string table = RenderTopTable(f, o);
    for (absl::string_view line : absl::StrSplit(table, '\n')) {
      EXPECT_LE(line.size(), static_cast<size_t>(width)) << line;
    }
    if (width == 80) {
      std::vector<std::string> lines = absl::StrSplit(table, '\n');
      EXPECT_EQ(lines[5],
                "enp3s0f1n~ in  udp   [200~:1]:40001 [2001~666]:443  "
                "123.5M   98.8G   1.0k  12.0M")
          << table;
    }
  }
  // Wide: nothing shortened.
  TopRenderOptions wide;
  wide.width = 200;
  const std::string table = RenderTopTable(f, wide);
  EXPECT_NE(table.find("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:40001"), std::string::npos) << table;
  EXPECT_NE(table.find("[2001:db8:1111:2222:3333:4444:5555:6666]:443"), std::string::npos);
}

TEST(TopViewTest, FiltersAndIcmpInTheTable) {
  TopFrame f = Parse(
      Reply(12'000, 10, 1000, "total", "",
            {Row("r1", "ingress", 6, "ipv6-icmp", "fe80::1", 0, "ff02::1:ff00:1", 34560, 3, 216,
                 0, 0, R"(,"icmp_type":135,"icmp_code":0)")}),
      nullptr);
  ASSERT_EQ(f.flows.size(), 1u);
  EXPECT_EQ(f.flows[0].icmp_type, 135);
  TopRenderOptions o;
  o.n = 5;
  o.ipv6_only = true;
  o.interface = "r1";
  const std::string table = RenderTopTable(f, o);
  EXPECT_NE(table.find("top 5 by total bytes, IPv6 only, on r1 of 1234 flows"), std::string::npos)
      << table;
  EXPECT_NE(table.find("icmp6 fe80::1"), std::string::npos) << table;
  EXPECT_NE(table.find("ff02::1:ff00:1 135/0"), std::string::npos) << table;
}

TEST(TopViewTest, Json) {
  TopFrame first = Parse(kFirst, nullptr);
  TopFrame second = Parse(kSecond, &first);
  auto j = control::ParseJson(RenderTopJson(second));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->GetString("ranked_by"), "rate");
  EXPECT_EQ(j->GetInt("window_ms"), 2000);
  const auto& rows = j->Find("flows")->items();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].GetUint("packets"), 250u);
  EXPECT_EQ(rows[0].GetUint("bytes"), 32000u);
  EXPECT_EQ(rows[0].GetString("src"), "10.61.1.1");
  EXPECT_EQ(rows[0].GetUint("dst_port"), 6001u);
  EXPECT_EQ(rows[0].Find("pps")->AsDouble(), 100.0);
  EXPECT_EQ(rows[1].GetString("dst"), "fd61:2::1");
  auto j1 = control::ParseJson(RenderTopJson(first));
  ASSERT_TRUE(j1.ok());
  EXPECT_TRUE(j1->Find("window_ms")->is_null());
  EXPECT_TRUE(j1->Find("flows")->items()[0].Find("pps")->is_null());
}

TEST(TopViewTest, BadReply) {
  auto v = control::ParseJson(R"({"uptime_s":1})");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(ParseTopReply(*v, nullptr).ok());
}

}  // namespace
}  // namespace tcflow::flowctl
