// Interoperability: the same generated IPFIX messages (IPv4 and IPv6 flows with every
// element a flow can fill, options records, several messages, a template refresh) decoded
// by collectors we did not write, started here on loopback: tshark, nfdump's nfcapd,
// pmacct's nfacctd and libfixbuf's ipfixDump (on an RFC 5655 file). Field values must
// equal what was generated.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/memory_transport.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "daemon/ipfix/socket_address.h"
#include "daemon/ipfix/template.h"
#include "daemon/ipfix/udp_transport.h"
#include "gtest/gtest.h"
#include "tests/ipfix_test_support.h"

namespace tcflow::ipfix {
namespace {

using testsupport::Collector;
using testsupport::FreeUdpPort;
using testsupport::RunCommand;
using testsupport::TempDir;
using testsupport::WaitForUdpPort;

struct Generated {
  std::vector<std::vector<uint8_t>> messages;
  std::vector<FlowRecord> flows;  // in the order they were exported
  std::vector<InterfaceInfo> interfaces;
  int template_sends = 0;
  uint64_t loss_records = 0;
  uint64_t datagrams_sent = 0;
};

// Two batches, 31 s apart with a 30 s refresh: the second starts with the templates and
// options records again. The exporter is deterministic: the same clock and flows give the
// same bytes whatever the transport.
Generated Generate(std::unique_ptr<Transport> transport, absl::Time t0) {
  Generated g;
  ExporterOptions options;
  options.observation_domain_id = 77;
  options.exporting_process_id = 4242;
  options.template_refresh = absl::Seconds(30);
  options.ipv4_elements = AllFlowElementNames();
  options.ipv6_elements = AllFlowElementNames();
  auto e = Exporter::Create(options, std::move(transport));
  EXPECT_TRUE(e.ok());
  g.interfaces = {{2, "eth0", "uplink"}, {3, "eth1", "customer A"},
                  {4, "veth-ns1", "namespace ns1"}, {7, "br0", "bridge"}};
  (*e)->SetInterfaces(g.interfaces);
  MeteringStats m;
  m.packets_observed = 1234567;
  m.octets_observed = 987654321;
  m.flows_observed = 800;
  m.packets_ignored = 3;
  (*e)->SetMeteringStats(m);
  int64_t end_ms = absl::ToUnixMillis(t0) - 5000;
  for (int batch = 0; batch < 2; ++batch) {
    std::vector<FlowRecord> flows;
    for (int i = 0; i < 300; ++i) {
      uint64_t index = batch * 300 + i;
      flows.push_back(SyntheticFlow(index, index % 2 == 1, end_ms));
    }
    (*e)->Export(flows, t0 + absl::Seconds(31 * batch));
    for (int v6 = 0; v6 < 2; ++v6) {
      for (const FlowRecord& f : flows) {
        if (f.is_ipv6() == (v6 == 1)) g.flows.push_back(f);
      }
    }
  }
  g.template_sends = (*e)->stats().template_sends;
  g.loss_records = (*e)->stats().loss.records;
  if (auto* memory = dynamic_cast<MemoryTransport*>(&(*e)->transport())) {
    g.messages = memory->messages();
  }
  g.datagrams_sent = (*e)->transport().stats().messages_sent;
  return g;
}

absl::Time T0() {
  static const absl::Time t0 = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  return t0;
}

const Generated& Messages() {
  static const Generated* g =
      new Generated(Generate(std::make_unique<MemoryTransport>(1472, true), T0()));
  return *g;
}

// The same messages through the real UDP transport (sendmmsg, GSO runs) to a collector.
void ExportOverUdp(uint16_t port) {
  auto address = MakeSocketAddress("127.0.0.1", port);
  auto t = UdpTransport::Create(*address, UdpOptions());
  ASSERT_TRUE(t.ok()) << t.status();
  Generated sent = Generate(*std::move(t), T0());
  EXPECT_EQ(sent.loss_records, 0u);
  EXPECT_EQ(sent.datagrams_sent, Messages().messages.size());
}

TEST(IpfixInteropTest, GeneratedSetIsWhatTheTestsNeed) {
  const Generated& g = Messages();
  EXPECT_EQ(g.template_sends, 2);
  EXPECT_EQ(g.flows.size(), 600u);
  EXPECT_GT(g.messages.size(), 20u);
}

const InformationElement& Ie(const char* name) { return *FindInformationElementByName(name); }

std::string Expected(const FlowRecord& f, const char* name) {
  return ExpectedValueText(f, Ie(name));
}

// ---------------------------------------------------------------------------------------
// tshark, on a pcap of the messages as UDP datagrams to a port it is told is IPFIX.

void WritePcap(const std::string& path, const std::vector<std::vector<uint8_t>>& msgs,
               uint16_t port) {
  std::ofstream out(path, std::ios::binary);
  auto put32 = [&](uint32_t v) { out.write(reinterpret_cast<char*>(&v), 4); };
  auto put16 = [&](uint16_t v) { out.write(reinterpret_cast<char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(101);  // LINKTYPE_RAW: the packet starts with the IP header
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    uint16_t udp_len = 8 + m.size(), ip_len = 20 + udp_len;
    uint8_t hdr[28] = {0x45, 0, uint8_t(ip_len >> 8), uint8_t(ip_len), uint8_t(i >> 8),
                       uint8_t(i), 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
                       0x9c, 0x40, uint8_t(port >> 8), uint8_t(port), uint8_t(udp_len >> 8),
                       uint8_t(udp_len), 0, 0};
    uint32_t sum = 0;
    for (int w = 0; w < 20; w += 2) sum += hdr[w] << 8 | hdr[w + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    hdr[10] = ~sum >> 8;
    hdr[11] = ~sum & 0xff;
    put32(1700000000 + i);
    put32(0);
    put32(ip_len);
    put32(ip_len);
    out.write(reinterpret_cast<const char*>(hdr), sizeof(hdr));
    out.write(reinterpret_cast<const char*>(m.data()), m.size());
  }
}

int64_t ParseTsharkTime(const std::string& s) {
  // "Nov 21, 2026 23:34:15.122000000 UTC"
  absl::Time t;
  std::string err;
  std::string whole = s.substr(0, s.find('.'));
  EXPECT_TRUE(absl::ParseTime("%b %d, %Y %H:%M:%S", whole, absl::UTCTimeZone(), &t, &err))
      << s << ": " << err;
  int64_t ms = 0;
  if (s.find('.') != std::string::npos) {
    EXPECT_TRUE(absl::SimpleAtoi(s.substr(s.find('.') + 1, 3), &ms)) << s;
  }
  return absl::ToUnixMillis(t) + ms;
}

TEST(IpfixInteropTest, Tshark) {
  const Generated& g = Messages();
  TempDir dir("tshark");
  uint16_t port = FreeUdpPort();
  std::string pcap = dir.path() + "/ipfix.pcap";
  WritePcap(pcap, g.messages, port);
  std::string decode_as = absl::StrCat("-d udp.port==", port, ",cflow");

  // No malformed packet, no expert info of any severity.
  std::string expert =
      RunCommand(absl::StrCat("tshark -n -r ", pcap, " ", decode_as, " -q -z expert,note"));
  EXPECT_EQ(expert.find("Errors"), std::string::npos) << expert;
  EXPECT_EQ(expert.find("Warns"), std::string::npos) << expert;
  EXPECT_EQ(expert.find("Notes"), std::string::npos) << expert;
  std::string flagged = RunCommand(absl::StrCat("tshark -n -r ", pcap, " ", decode_as,
                                                " -Y '_ws.malformed || _ws.expert'"));
  EXPECT_EQ(flagged, "");

  struct Field {
    const char* tshark;
    const char* ie;  // compared with ExpectedValueText/ExpectedValue
  };
  const Field fields[] = {
      {"cflow.srcaddr", "sourceIPv4Address"},
      {"cflow.dstaddr", "destinationIPv4Address"},
      {"cflow.srcaddrv6", "sourceIPv6Address"},
      {"cflow.dstaddrv6", "destinationIPv6Address"},
      {"cflow.srcport", "sourceTransportPort"},
      {"cflow.dstport", "destinationTransportPort"},
      {"cflow.protocol", "protocolIdentifier"},
      {"cflow.octets", "octetDeltaCount"},
      {"cflow.packets", "packetDeltaCount"},
      {"cflow.tos", "ipClassOfService"},
      {"cflow.tcpflags", "tcpControlBits"},
      {"cflow.inputint", "ingressInterface"},
      {"cflow.outputint", "egressInterface"},
      {"cflow.ttl_min", "minimumTTL"},
      {"cflow.ttl_max", "maximumTTL"},
      {"cflow.frag_ident", "fragmentIdentification"},
      {"cflow.vlanid", "vlanId"},
      {"cflow.ip_version", "ipVersion"},
      {"cflow.direction", "flowDirection"},
      {"cflow.flow_end_reason", "flowEndReason"},
      {"cflow.ipv6flowlabel", "flowLabelIPv6"},
      {"cflow.ipv6_exthdr", "ipv6ExtensionHeaders"},
      {"cflow.icmp_type_code_ipv4", "icmpTypeCodeIPv4"},
      {"cflow.dot1q_vlan_id", "dot1qVlanId"},
      {"cflow.dot1q_customer_vlan_id", "dot1qCustomerVlanId"},
      {"cflow.abstimestart", "flowStartMilliseconds"},
      {"cflow.abstimeend", "flowEndMilliseconds"},
      {"cflow.icmp_ipv6_type", "icmpTypeCodeIPv6"},
      {"cflow.icmp_ipv6_code", "icmpTypeCodeIPv6"},
  };
  std::string cmd = absl::StrCat("tshark -n -r ", pcap, " ", decode_as,
                                 " -T fields -E occurrence=a -E aggregator=';' -E separator='|'");
  for (const Field& f : fields) absl::StrAppend(&cmd, " -e ", f.tshark);
  absl::StrAppend(&cmd, " -e cflow.if_name -e cflow.if_descr -e cflow.notsent_flows");
  std::string out = RunCommand(cmd);
  size_t n = sizeof(fields) / sizeof(fields[0]);
  std::vector<std::vector<std::string>> got(n);  // values from data packets
  std::vector<std::string> if_names, if_descrs, if_indexes;
  int packets = 0, options_packets = 0;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cols = absl::StrSplit(line, '|');
    ASSERT_EQ(cols.size(), n + 3) << line;
    ++packets;
    // Options records travel in messages of their own: a packet with octet counters is a
    // data packet, one with notSentFlowTotalCount an options packet.
    bool data = !cols[7].empty();
    if (!cols[n + 2].empty()) {
      ++options_packets;
      EXPECT_EQ(cols[n + 2], "0");
    }
    for (size_t i = 0; i < n; ++i) {
      if (cols[i].empty()) continue;
      std::vector<std::string> values = absl::StrSplit(cols[i], ';');
      if (data) {
        got[i].insert(got[i].end(), values.begin(), values.end());
      } else if (std::string(fields[i].ie) == "ingressInterface") {
        if_indexes.insert(if_indexes.end(), values.begin(), values.end());
      }
    }
    if (!cols[n].empty()) {
      for (auto v : absl::StrSplit(cols[n], ';')) if_names.emplace_back(v);
      for (auto v : absl::StrSplit(cols[n + 1], ';')) if_descrs.emplace_back(v);
    }
  }
  EXPECT_EQ(packets, static_cast<int>(g.messages.size()));
  EXPECT_EQ(options_packets, g.template_sends);
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(fields[i].tshark);
    const InformationElement& ie = Ie(fields[i].ie);
    std::vector<std::string> want;
    for (const FlowRecord& f : g.flows) {
      if (!AppliesToFamily(ie, f.key.ip_version)) continue;
      std::string tshark(fields[i].tshark);
      if (tshark == "cflow.icmp_ipv6_type") {
        want.push_back(absl::StrCat(ExpectedValue(f, ie) >> 8));
      } else if (tshark == "cflow.icmp_ipv6_code") {
        want.push_back(absl::StrCat(ExpectedValue(f, ie) & 0xff));
      } else {
        want.push_back(ExpectedValueText(f, ie));
      }
    }
    ASSERT_EQ(got[i].size(), want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      std::string v = got[i][k];
      if (ie.type == IeType::kDateTimeMilliseconds) {
        v = absl::StrCat(ParseTsharkTime(v));
      } else if (ie.type != IeType::kIpv4Address && ie.type != IeType::kIpv6Address) {
        v = absl::StrCat(std::strtoull(v.c_str(), nullptr, 0));  // "0x001b" for flags
      }
      ASSERT_EQ(v, want[k]) << "record " << k << " raw \"" << got[i][k] << "\"";
    }
  }
  // The interface table, once per template send.
  ASSERT_EQ(if_names.size(), g.interfaces.size() * g.template_sends);
  for (size_t k = 0; k < if_names.size(); ++k) {
    const InterfaceInfo& itf = g.interfaces[k % g.interfaces.size()];
    EXPECT_EQ(if_names[k], itf.name);
    EXPECT_EQ(if_descrs[k], itf.description);
    EXPECT_EQ(if_indexes[k], absl::StrCat(itf.ifindex));
  }
}

// ---------------------------------------------------------------------------------------
// nfdump's nfcapd: records, addresses, ports, counters, start/end times.

TEST(IpfixInteropTest, Nfcapd) {
  const Generated& g = Messages();
  TempDir dir("nfcapd");
  uint16_t port = FreeUdpPort();
  std::string data_dir = dir.path() + "/data";
  mkdir(data_dir.c_str(), 0755);
  {
    Collector nfcapd({"nfcapd", "-w", data_dir, "-b", "127.0.0.1", "-p", absl::StrCat(port)},
                     dir.path() + "/nfcapd.log");
    ASSERT_TRUE(WaitForUdpPort(port)) << nfcapd.Log();
    ExportOverUdp(port);
    absl::SleepFor(absl::Milliseconds(500));
    nfcapd.Stop();  // SIGTERM: nfcapd writes its file
    std::string log = nfcapd.Log();
    EXPECT_NE(log.find(absl::StrCat("Flows: ", g.flows.size(), ",")), std::string::npos) << log;
    // nfdump 1.7.1 leaves options records of templates it does not know (ours) out of its
    // sequence count, though RFC 7011 counts every data record: it syncs on the first
    // options message and reports one error after each later one (each template refresh).
    EXPECT_NE(log.find(absl::StrCat("Sequence Errors: ", g.template_sends - 1,
                                    ", Bad Packets: 0")),
              std::string::npos)
        << log;
  }
  std::string csv = RunCommand(absl::StrCat("TZ=UTC nfdump -R ", data_dir, " -o csv -q"));
  // ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,...
  std::map<std::string, std::vector<std::string>> rows;
  for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cols = absl::StrSplit(line, ',');
    if (cols.size() < 17 || cols[0] == "ts") continue;
    std::string key = absl::StrCat(cols[3], " ", cols[4], " ", cols[5], " ", cols[6]);
    EXPECT_EQ(rows.count(key), 0u) << key;
    rows[key] = cols;
  }
  ASSERT_EQ(rows.size(), g.flows.size()) << csv.substr(0, 2000);
  for (const FlowRecord& f : g.flows) {
    bool icmp = f.key.protocol == 1 || f.key.protocol == 58;
    // nfdump shows ICMP type*256+code as the destination port.
    std::string dport = icmp ? Expected(f, f.is_ipv6() ? "icmpTypeCodeIPv6" : "icmpTypeCodeIPv4")
                             : Expected(f, "destinationTransportPort");
    std::string key = absl::StrCat(SourceAddressText(f), " ", DestinationAddressText(f), " ",
                                   Expected(f, "sourceTransportPort"), " ", dport);
    auto it = rows.find(key);
    ASSERT_NE(it, rows.end()) << key;
    const std::vector<std::string>& c = it->second;
    auto secs = [](int64_t ms) {
      return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms),
                              absl::UTCTimeZone());
    };
    EXPECT_EQ(c[0], secs(f.start_ms)) << key;
    EXPECT_EQ(c[1], secs(f.end_ms)) << key;
    EXPECT_EQ(c[2], absl::StrFormat("%.3f", (f.end_ms - f.start_ms) / 1000.0)) << key;
    EXPECT_EQ(c[11], Expected(f, "packetDeltaCount")) << key;
    EXPECT_EQ(c[12], Expected(f, "octetDeltaCount")) << key;
    EXPECT_EQ(c[10], Expected(f, "ipClassOfService")) << key;
    EXPECT_EQ(c[15], Expected(f, "ingressInterface")) << key;
    EXPECT_EQ(c[16], Expected(f, "egressInterface")) << key;
  }
}

// ---------------------------------------------------------------------------------------
// pmacct's nfacctd with its print plugin.

TEST(IpfixInteropTest, Nfacctd) {
  const Generated& g = Messages();
  TempDir dir("nfacctd");
  uint16_t port = FreeUdpPort();
  std::string out_file = dir.path() + "/flows.csv";
  std::string conf = dir.path() + "/nfacctd.conf";
  {
    std::ofstream c(conf);
    c << "daemonize: false\n"
      << "nfacctd_ip: 127.0.0.1\n"
      << "nfacctd_port: " << port << "\n"
      << "plugins: print[p]\n"
      << "aggregate[p]: src_host, dst_host, src_port, dst_port, proto, tos, in_iface, "
         "out_iface, timestamp_start, timestamp_end\n"
      << "print_output[p]: csv\n"
      << "print_output_file[p]: " << out_file << "\n"
      << "print_output_file_append[p]: true\n"
      << "print_refresh_time[p]: 1\n"
      << "timestamps_since_epoch: true\n";
  }
  Collector nfacctd({"nfacctd", "-f", conf}, dir.path() + "/nfacctd.log");
  ASSERT_TRUE(WaitForUdpPort(port)) << nfacctd.Log();
  // nfacctd binds its socket before its plugin is ready to take flows: probe with one flow
  // of another observation domain until the plugin prints it, then send the real set.
  std::map<std::string, std::vector<std::string>> rows;
  const std::string probe_key = "192.0.2.250 192.0.2.251 9 9";
  auto read_rows = [&] {
    rows.clear();
    std::ifstream in(out_file);
    std::string line;
    // SRC_IP,DST_IP,SRC_PORT,DST_PORT,PROTOCOL,TOS,... (order from the header line)
    std::vector<std::string> header;
    while (std::getline(in, line)) {
      std::vector<std::string> cols = absl::StrSplit(line, ',');
      if (cols[0].empty() || !absl::ascii_isdigit(cols[0][0])) {
        header = cols;
        continue;
      }
      std::map<std::string, std::string> named;
      for (size_t i = 0; i < cols.size() && i < header.size(); ++i) named[header[i]] = cols[i];
      std::string key = absl::StrCat(named["SRC_IP"], " ", named["DST_IP"], " ",
                                     named["SRC_PORT"], " ", named["DST_PORT"]);
      rows[key] = {named["PACKETS"], named["BYTES"], named["TIMESTAMP_START"],
                   named["TIMESTAMP_END"], named["IN_IFACE"], named["OUT_IFACE"], named["TOS"]};
    }
  };
  {
    auto address = MakeSocketAddress("127.0.0.1", port);
    auto t = UdpTransport::Create(*address, UdpOptions());
    ASSERT_TRUE(t.ok());
    ExporterOptions o;
    o.observation_domain_id = 999;
    auto probe = Exporter::Create(o, *std::move(t));
    ASSERT_TRUE(probe.ok());
    auto flow = ParseFlowText("192.0.2.250 192.0.2.251 udp 9 9 1 100",
                              absl::ToUnixMillis(absl::Now()));
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline && !rows.count(probe_key)) {
      (*probe)->Export(*flow, absl::Now());
      absl::SleepFor(absl::Milliseconds(500));
      read_rows();
    }
    ASSERT_TRUE(rows.count(probe_key)) << nfacctd.Log();
  }
  ExportOverUdp(port);
  // Wait for the print plugin to write every flow (it writes each second).
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(500));
    read_rows();
    rows.erase(probe_key);
    if (rows.size() >= g.flows.size()) break;
  }
  nfacctd.Stop();
  std::string log = nfacctd.Log();
  EXPECT_EQ(log.find("malformed"), std::string::npos) << log;
  ASSERT_EQ(rows.size(), g.flows.size()) << log;
  for (const FlowRecord& f : g.flows) {
    bool icmp = f.key.protocol == 1 || f.key.protocol == 58;
    std::string key = absl::StrCat(SourceAddressText(f), " ", DestinationAddressText(f), " ",
                                   icmp ? "0" : Expected(f, "sourceTransportPort"), " ",
                                   icmp ? "0" : Expected(f, "destinationTransportPort"));
    auto it = rows.find(key);
    ASSERT_NE(it, rows.end()) << key;
    const std::vector<std::string>& c = it->second;
    EXPECT_EQ(c[0], Expected(f, "packetDeltaCount")) << key;
    EXPECT_EQ(c[1], Expected(f, "octetDeltaCount")) << key;
    EXPECT_EQ(c[2], absl::StrFormat("%d.%03d000", f.start_ms / 1000, f.start_ms % 1000)) << key;
    EXPECT_EQ(c[3], absl::StrFormat("%d.%03d000", f.end_ms / 1000, f.end_ms % 1000)) << key;
    EXPECT_EQ(c[4], Expected(f, "ingressInterface")) << key;
    EXPECT_EQ(c[5], Expected(f, "egressInterface")) << key;
    EXPECT_EQ(c[6], Expected(f, "ipClassOfService")) << key;
  }
}

// ---------------------------------------------------------------------------------------
// libfixbuf's ipfixDump on an RFC 5655 file of the same messages.

TEST(IpfixInteropTest, IpfixDump) {
  const Generated& g = Messages();
  TempDir dir("ipfixdump");
  std::string file = dir.path() + "/flows.ipfix";
  {
    std::ofstream out(file, std::ios::binary);
    for (const auto& m : g.messages) {
      out.write(reinterpret_cast<const char*>(m.data()), m.size());
    }
  }
  std::string dump = RunCommand(absl::StrCat("TZ=UTC ipfixDump --in ", file, " --out - 2>&1"));
  // Records: "--- data record N ---", "tid: X", then "(id) name : value" lines.
  struct Rec {
    int tid = 0;
    std::map<int, std::vector<std::string>> values;
  };
  std::vector<Rec> recs;
  bool in_data = false;
  for (absl::string_view line : absl::StrSplit(dump, '\n')) {
    absl::string_view s = absl::StripAsciiWhitespace(line);
    if (absl::StartsWith(s, "--- data record")) {
      recs.emplace_back();
      in_data = true;
      continue;
    }
    if (absl::StartsWith(s, "---") || absl::StartsWith(s, "***")) {
      in_data = false;
      continue;
    }
    if (!in_data) continue;
    if (absl::StartsWith(s, "count:")) {
      size_t p = s.find("tid:");
      ASSERT_NE(p, absl::string_view::npos);
      absl::string_view rest = absl::StripLeadingAsciiWhitespace(s.substr(p + 4));
      ASSERT_TRUE(absl::SimpleAtoi(rest.substr(0, rest.find(' ')), &recs.back().tid));
      continue;
    }
    if (absl::StartsWith(s, "(")) {
      int id = 0;
      ASSERT_TRUE(absl::SimpleAtoi(s.substr(1, s.find(')') - 1), &id)) << s;
      size_t colon = s.find(" : ");
      std::string value =
          colon == absl::string_view::npos ? "" : std::string(s.substr(colon + 3));
      recs.back().values[id].push_back(value);
    }
  }
  EXPECT_NE(dump.find(absl::StrCat(g.messages.size(), " Messages")), std::string::npos)
      << dump.substr(dump.size() > 500 ? dump.size() - 500 : 0);
  size_t flow_index = 0, interfaces = 0, reliability = 0, metering = 0;
  for (const Rec& r : recs) {
    if (r.tid == kIpv4TemplateId || r.tid == kIpv6TemplateId) {
      ASSERT_LT(flow_index, g.flows.size());
      const FlowRecord& f = g.flows[flow_index++];
      size_t fields = 0;
      for (const InformationElement& ie : AllInformationElements()) {
        if (!FlowSourceCanFill(ie) || !AppliesToFamily(ie, f.key.ip_version)) continue;
        ++fields;
        auto it = r.values.find(ie.id);
        ASSERT_NE(it, r.values.end()) << ie.name;
        std::string v = it->second[0];
        std::string want = ExpectedValueText(f, ie);
        if (ie.type == IeType::kIpv6Address) {
          in6_addr a;
          ASSERT_EQ(inet_pton(AF_INET6, v.c_str(), &a), 1) << v;
          char buf[INET6_ADDRSTRLEN];
          v = inet_ntop(AF_INET6, &a, buf, sizeof(buf));
        } else if (ie.type == IeType::kDateTimeMilliseconds) {
          want = absl::FormatTime("%Y-%m-%d %H:%M:%E3S",
                                  absl::FromUnixMillis(ExpectedValue(f, ie)),
                                  absl::UTCTimeZone());
        }
        ASSERT_EQ(v, want) << ie.name << " of flow " << flow_index - 1;
      }
      EXPECT_EQ(r.values.size(), fields);
    } else if (r.tid == kInterfaceTemplateId) {
      const InterfaceInfo& itf = g.interfaces[interfaces++ % g.interfaces.size()];
      EXPECT_EQ(r.values.at(10)[0], absl::StrCat(itf.ifindex));
      // ipfixDump shows strings as "(len: N) text".
      EXPECT_EQ(r.values.at(82)[0], absl::StrCat("(len: ", itf.name.size(), ") ", itf.name));
      EXPECT_EQ(r.values.at(83)[0],
                absl::StrCat("(len: ", itf.description.size(), ") ", itf.description));
    } else if (r.tid == kReliabilityTemplateId) {
      ++reliability;
      EXPECT_EQ(r.values.at(144)[0], "4242");
      EXPECT_EQ(r.values.at(166)[0], "0");
      EXPECT_EQ(r.values.at(167)[0], "0");
      EXPECT_EQ(r.values.at(168)[0], "0");
      EXPECT_EQ(r.values.at(323).size(), 2u);
    } else if (r.tid == kMeteringTemplateId) {
      ++metering;
      EXPECT_EQ(r.values.at(149)[0], "77");
      EXPECT_EQ(r.values.at(86)[0], "1234567");
      EXPECT_EQ(r.values.at(85)[0], "987654321");
      EXPECT_EQ(r.values.at(163)[0], "800");
      EXPECT_EQ(r.values.at(164)[0], "3");
    } else {
      ADD_FAILURE() << "record of template " << r.tid;
    }
  }
  EXPECT_EQ(flow_index, g.flows.size());
  EXPECT_EQ(interfaces, g.interfaces.size() * g.template_sends);
  EXPECT_EQ(reliability, static_cast<size_t>(g.template_sends));
  EXPECT_EQ(metering, static_cast<size_t>(g.template_sends));
}

}  // namespace
}  // namespace tcflow::ipfix
