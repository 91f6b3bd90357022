// `flowctl ipfix send-dummy` into `flowctl collect`, both as the operator runs them (the
// tcflow binary), over UDP and TCP; and `flowctl collect` surviving garbage.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"

namespace tcflow {
namespace {

using testsupport::Collector;

std::string Tcflow() {
  return absl::StrCat(getenv("TEST_SRCDIR"), "/", getenv("TEST_WORKSPACE"), "/tools/tcflow");
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

int CountData(const std::vector<std::string>& lines, const char* needle) {
  int n = 0;
  for (const std::string& l : lines) {
    if (absl::StrContains(l, "\"options\":false") && absl::StrContains(l, needle)) ++n;
  }
  return n;
}

// Waits until the collector's log says it listens.
bool WaitListening(const Collector& c) {
  for (int i = 0; i < 200; ++i) {
    if (absl::StrContains(c.Log(), "listening on")) return true;
    absl::SleepFor(absl::Milliseconds(25));
  }
  return false;
}

TEST(IpfixFlowctlTest, SendDummyIntoCollectOverUdpAndTcp) {
  for (const char* transport : {"udp", "tcp"}) {
    SCOPED_TRACE(transport);
    testsupport::TempDir dir("flowctl");
    uint16_t port = std::string(transport) == "udp" ? testsupport::FreeUdpPort()
                                                     : testsupport::FreeTcpPort();
    std::string out = dir.path() + "/collect.json";
    Collector collect({"/bin/sh", "-c",
                       absl::StrCat(Tcflow(), " flowctl collect --listen 127.0.0.1:", port,
                                    " --transport ", transport,
                                    " -o json --count 500 --duration 20 > ", out)},
                      dir.path() + "/collect.log");
    ASSERT_TRUE(WaitListening(collect)) << collect.Log();
    std::string sent = testsupport::RunCommand(
        absl::StrCat(Tcflow(), " flowctl ipfix send-dummy --collector 127.0.0.1:", port,
                     " --transport ", transport, " --count 500 --ipv6-percent 30 2>&1"));
    EXPECT_TRUE(absl::StartsWith(sent, "sent 500 flow records")) << sent;
    EXPECT_TRUE(absl::StrContains(sent, "not sent: 0 records")) << sent;
    for (int i = 0; i < 200 && CountData(Lines(testsupport::RunCommand("cat " + out)),
                                         "\"template\"") < 500; ++i) {
      absl::SleepFor(absl::Milliseconds(25));
    }
    std::vector<std::string> lines = Lines(testsupport::RunCommand("cat " + out));
    EXPECT_EQ(CountData(lines, "\"template\":256"), 350);
    EXPECT_EQ(CountData(lines, "\"template\":257"), 150);
    // Templates are learned and printed first; every record carries the default elements.
    ASSERT_FALSE(lines.empty());
    EXPECT_TRUE(absl::StrContains(lines[0], "\"template\":256,\"fields\":[")) << lines[0];
    for (const std::string& l : lines) {
      if (!absl::StrContains(l, "\"template\":256,\"options\":false")) continue;
      EXPECT_TRUE(absl::StrContains(l, "\"sourceIPv4Address\":\"10.")) << l;
      EXPECT_TRUE(absl::StrContains(l, "\"flowEndMilliseconds\":")) << l;
    }
  }
}

TEST(IpfixFlowctlTest, SendDummyFromAFlowFile) {
  testsupport::TempDir dir("flowctl_file");
  std::string flows = dir.path() + "/flows.txt";
  std::ofstream(flows) << "10.1.2.3 10.9.8.7 udp 5000 53 7 700 in=3 out=4\n"
                       << "2001:db8::5 2001:db8::6 tcp 40000 443 9 9000 flags=0x12\n";
  uint16_t port = testsupport::FreeUdpPort();
  std::string out = dir.path() + "/collect.txt";
  Collector collect({"/bin/sh", "-c",
                     absl::StrCat(Tcflow(), " flowctl collect --listen 127.0.0.1:", port,
                                  " --count 2 --duration 20 > ", out)},
                    dir.path() + "/collect.log");
  ASSERT_TRUE(WaitListening(collect)) << collect.Log();
  std::string sent = testsupport::RunCommand(absl::StrCat(
      Tcflow(), " flowctl ipfix send-dummy --collector 127.0.0.1:", port, " --flows ", flows));
  EXPECT_TRUE(absl::StartsWith(sent, "sent 2 flow records")) << sent;
  collect.Stop();
  std::string table = testsupport::RunCommand("cat " + out);
  EXPECT_TRUE(absl::StrContains(table, "sourceIPv4Address=10.1.2.3 destinationIPv4Address=10.9.8.7 "
                                       "sourceTransportPort=5000 destinationTransportPort=53"))
      << table;
  EXPECT_TRUE(absl::StrContains(table, "ingressInterface=3 egressInterface=4")) << table;
  EXPECT_TRUE(absl::StrContains(table, "octetDeltaCount=700 packetDeltaCount=7")) << table;
  EXPECT_TRUE(absl::StrContains(table, "sourceIPv6Address=2001:db8::5")) << table;
  EXPECT_TRUE(absl::StrContains(table, "tcpControlBits=18")) << table;

  // A bad flow file: one clear line, exit 1.
  std::ofstream(flows) << "10.1.2.3 10.9.8.7 udp 5000\n";
  std::string err = testsupport::RunCommand(absl::StrCat(
      Tcflow(), " flowctl ipfix send-dummy --collector 127.0.0.1:", port, " --flows ", flows,
      " 2>&1; echo rc=$?"));
  EXPECT_EQ(err, absl::StrCat(flows, ": line 1: expected SRC DST PROTO SPORT DPORT PACKETS "
                                     "BYTES [key=value ...]\nrc=1\n"));
}

TEST(IpfixFlowctlTest, CollectSurvivesGarbage) {
  testsupport::TempDir dir("flowctl_garbage");
  uint16_t port = testsupport::FreeUdpPort();
  std::string out = dir.path() + "/collect.txt";
  Collector collect({"/bin/sh", "-c",
                     absl::StrCat(Tcflow(), " flowctl collect --listen 127.0.0.1:", port,
                                  " --count 10 --duration 20 > ", out, " 2>", out, ".err")},
                    dir.path() + "/collect.log");
  ASSERT_TRUE(WaitListening(collect) ||
              absl::StrContains(testsupport::RunCommand("cat " + out + ".err"), "listening"));
  absl::SleepFor(absl::Milliseconds(300));
  std::vector<std::vector<uint8_t>> garbage = {
      {},
      {0x00, 0x0a},
      {0x00, 0x09, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {0x00, 0x0a, 0x00, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x00, 0x02, 0xff, 0xff},
  };
  testsupport::SendDatagrams(port, garbage);
  std::string sent = testsupport::RunCommand(
      absl::StrCat(Tcflow(), " flowctl ipfix send-dummy --collector 127.0.0.1:", port,
                   " --count 10"));
  EXPECT_TRUE(absl::StartsWith(sent, "sent 10 flow records")) << sent;
  for (int i = 0; i < 200; ++i) {
    if (Lines(testsupport::RunCommand("grep ' data 25' " + out)).size() >= 10) break;
    absl::SleepFor(absl::Milliseconds(25));
  }
  EXPECT_EQ(Lines(testsupport::RunCommand("grep ' data 25' " + out)).size(), 10u);
  std::string errors = testsupport::RunCommand("cat " + out + ".err");
  EXPECT_TRUE(absl::StrContains(errors, "malformed IPFIX message: 0 bytes, shorter than a "
                                        "message header")) << errors;
  EXPECT_TRUE(absl::StrContains(errors, "malformed IPFIX message: version 9, expected 10"))
      << errors;
  EXPECT_TRUE(absl::StrContains(errors, "malformed IPFIX message: set 2 at offset 16 has "
                                        "length 65535, 4 bytes left")) << errors;
}

}  // namespace
}  // namespace tcflow
