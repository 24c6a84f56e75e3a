// npctl's formatters: aligned tables and valid JSON from decoded data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "control/cli/format.h"
#include "control/cli/format_policy.h"
#include "control/cli/json_writer.h"
#include "control/cli/text_table.h"
#include "tests/control_daemon/json_check.h"

namespace np::cli {
namespace {

using ::testing::HasSubstr;
using np::testing::JsonChecker;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  return lines;
}

// A vote-app-like image: one LoadBalancer port with two backends (one local
// and terminating), one ClusterIP port without endpoints.
ServicesImage ExampleServices() {
  ServicesImage image;
  abi::ServicePortRecord vote{};
  vote.id = 1001;
  vote.protocol = abi::kProtoTcp;
  vote.flags = abi::kAffinityClientIP | abi::kExternalTrafficLocal;
  vote.affinity_timeout_s = 600;
  vote.backend_first = 0;
  vote.backend_count = 2;
  vote.health_check_node_port = 32001;
  abi::ServicePortRecord dns{};
  dns.id = 2002;
  dns.protocol = abi::kProtoUdp;
  image.service_ports = {vote, dns};
  image.service_port_names = {"vote/vote:http", "kube-system/kube-dns:dns"};
  image.frontends = {
      {0x0a600a0a, 80, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 0},
      {0xc0a8640a, 31000, abi::kProtoTcp, abi::FrontendKind::kNodePort, 0},
      {0xc0a864c8, 80, abi::kProtoTcp, abi::FrontendKind::kLoadBalancer, 0},
      {0x0a60000a, 53, abi::kProtoUdp, abi::FrontendKind::kClusterIP, 1},
  };
  image.backends = {{0x0af4010b, 8080, abi::kBackendLocal | abi::kBackendTerminating, 0}, {0x0af4020c, 8080, 0, 0}};
  return image;
}

TEST(TextTable, AlignsColumnsWithThreeSpaces) {
  TextTable table({"NAME", "PROTO", "X"});
  table.AddRow({"vote/vote:http", "TCP", "1"});
  table.AddRow({"a", "SCTP", ""});
  EXPECT_EQ(table.Render(),
            "NAME             PROTO   X\n"
            "vote/vote:http   TCP     1\n"
            "a                SCTP\n");
}

TEST(JsonWriter, EscapesAndNests) {
  JsonWriter json;
  json.BeginObject().Field("quote\"", "line\nbreak\x01").Key("list").BeginArray().Uint(1).Bool(false).Null();
  json.BeginObject().EndObject().EndArray().Key("ratio").Double(0.25).Key("nan").Double(0.0 / 0.0).EndObject();
  const std::string text = json.Finish();
  EXPECT_TRUE(JsonChecker::Valid(text)) << text;
  EXPECT_THAT(text, HasSubstr(R"("quote\"": "line\nbreak\u0001")"));
  EXPECT_THAT(text, HasSubstr(R"("nan": null)"));
}

TEST(JsonChecker, RejectsInvalidDocuments) {
  EXPECT_FALSE(JsonChecker::Valid("{\"a\": 1,}"));
  EXPECT_FALSE(JsonChecker::Valid("[1 2]"));
  EXPECT_FALSE(JsonChecker::Valid("{'a': 1}"));
  EXPECT_TRUE(JsonChecker::Valid("{\"a\": [1, -2.5e3, \"x\", true, null, {}]}"));
}

TEST(FormatServices, TableListsFrontendsFlagsAndCounters) {
  const std::string text = FormatServices(ExampleServices(), {{1001, ServiceCounterSums{1500, 3 << 20, 42, 0}}},
                                          OutputFormat::kTable);
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("NAME +PROTO +FRONTENDS +BACKENDS +FLAGS +PACKETS +BYTES +CONNECTIONS "
                                                "+NO-ENDPOINT"));
  EXPECT_THAT(lines[1], HasSubstr("vote/vote:http"));
  EXPECT_THAT(lines[1], HasSubstr("ClusterIP 10.96.10.10:80, NodePort 192.168.100.10:31000, LoadBalancer "
                                  "192.168.100.200:80"));
  EXPECT_THAT(lines[1], HasSubstr("affinity=600s,etp=Local,hc=32001"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex(".* 1500 +3.0Mi +42 +0"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex("kube-system/kube-dns:dns +UDP +ClusterIP 10.96.0.10:53 +0 +- +0 +0 +0 "
                                                "+0"));
  // Columns line up: every row's PROTO starts where the header's does.
  const size_t proto = lines[0].find("PROTO");
  EXPECT_EQ(lines[1].substr(proto, 3), "TCP");
  EXPECT_EQ(lines[2].substr(proto, 3), "UDP");
}

TEST(FormatServices, JsonIsValidAndComplete) {
  const std::string text = FormatServices(ExampleServices(), {{1001, ServiceCounterSums{1, 2, 3, 4}}}, OutputFormat::kJson);
  EXPECT_TRUE(JsonChecker::Valid(text)) << text;
  EXPECT_THAT(text, HasSubstr(R"("name": "vote/vote:http")"));
  EXPECT_THAT(text, HasSubstr(R"("type": "LoadBalancer")"));
  EXPECT_THAT(text, HasSubstr(R"("noEndpointRejects": 4)"));
  EXPECT_TRUE(JsonChecker::Valid(FormatServices(ServicesImage{}, {}, OutputFormat::kJson)));
}

TEST(FormatBackends, OneRowPerServicePortAndBackend) {
  const std::string text = FormatBackends(ExampleServices(), OutputFormat::kTable);
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("SERVICE +PROTO +BACKEND +LOCAL +TERMINATING"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex("vote/vote:http +TCP +10.244.1.11:8080 +yes +yes"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex("vote/vote:http +TCP +10.244.2.12:8080 +no +no"));
  const std::string json = FormatBackends(ExampleServices(), OutputFormat::kJson);
  EXPECT_TRUE(JsonChecker::Valid(json)) << json;
  EXPECT_THAT(json, HasSubstr(R"("terminating": true)"));
}

ct::EntrySnapshot ExampleEntry() {
  ct::EntrySnapshot entry;
  entry.original = ct::FlowKey{0xc0a86464, 0xc0a864c8, 40000, 80, ct::kProtoTcp};
  entry.reply = ct::FlowKey{0x0af4010b, 0xc0a86464, 8080, 40000, ct::kProtoTcp};
  entry.nat_flags = ct::kNatDnat;
  entry.service_port_id = 1001;
  entry.tcp_state = ct::TcpState::kEstablished;
  entry.seen_reply = true;
  entry.created_s = 1000;
  entry.last_seen_s = 1090;
  entry.timeout_s = 86400;
  entry.packets[0] = 10;
  entry.packets[1] = 8;
  entry.bytes[0] = 1000;
  entry.bytes[1] = 4096;
  return entry;
}

TEST(FormatConntrack, TableNamesServiceStateAndSummary) {
  ct::EntrySnapshot udp = ExampleEntry();
  udp.original.protocol = udp.reply.protocol = ct::kProtoUdp;
  udp.nat_flags = ct::kNatDnat | ct::kNatSnat;
  udp.origin_flags = ct::kHairpin;
  udp.seen_reply = false;
  udp.service_port_id = 777;  // not in the image
  udp.timeout_s = 30;
  ct::CtCounters counters;
  counters.entries = 2;
  counters.capacity = 262144;
  counters.inserts = 5;
  counters.early_drops = 1;
  const ServicesImage services = ExampleServices();
  const std::string text = FormatConntrack({ExampleEntry(), udp}, counters, &services, 1100, OutputFormat::kTable);
  const std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 5u) << text;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex(
                            "PROTO +ORIGINAL +REPLY +NAT +SERVICE +STATE +AGE +TIMEOUT +PACKETS +BYTES"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex("TCP +192.168.100.100:40000 -> 192.168.100.200:80 +10.244.1.11:8080 -> "
                                                "192.168.100.100:40000 +DNAT +vote/vote:http +ESTABLISHED +1m40s "
                                                "+23h59m +10/8 +1000/4.0Ki"));
  EXPECT_THAT(lines[2], ::testing::MatchesRegex("UDP .* DNAT\\+SNAT\\+hairpin +id:777 +UNREPLIED +1m40s +20s .*"));
  EXPECT_EQ(lines[4], "entries 2/262144, inserts 5, table_full 0, early_drops 1");

  const std::string json = FormatConntrack({ExampleEntry(), udp}, counters, nullptr, 1100, OutputFormat::kJson);
  EXPECT_TRUE(JsonChecker::Valid(json)) << json;
  EXPECT_THAT(json, HasSubstr(R"("service": "id:1001")"));
  EXPECT_THAT(json, HasSubstr(R"("timeoutSeconds": 86390)"));
}

StatusView ExampleStatus(uint64_t heartbeat_age_ns) {
  StatusView status;
  status.instance = "default";
  status.now_ns = 1714644000000000000ull;
  status.heartbeat_ns = status.now_ns - heartbeat_age_ns;
  status.boot_epoch_ns = status.now_ns - 3600'000'000'000ull;
  status.dataplane_pid = 4242;
  status.sections = {SectionStatus{"node", 3, 3, 0, "", status.now_ns - 2'000'000'000ull},
                     SectionStatus{"services", 7, 6, 7, "backend table too large", 0}};
  status.stats_available = true;
  status.ports = {PortStatus{"uplink", true}, PortStatus{"vote-1", false}};
  status.lcores = {LcoreStatus{1, 1000, 10, 250, 1000}};
  return status;
}

TEST(FormatStatus, ShowsGenerationsRefusalsLivenessPortsAndLcores) {
  const std::string text = FormatStatus(ExampleStatus(500'000'000ull), OutputFormat::kTable);
  EXPECT_THAT(text, HasSubstr("running, pid 4242"));
  EXPECT_THAT(text, ::testing::ContainsRegex("node +3 +3 +- +applied 2.0s ago"));
  EXPECT_THAT(text, ::testing::ContainsRegex("services +7 +6 +7 +refused: backend table too large"));
  EXPECT_THAT(text, ::testing::ContainsRegex("uplink +up"));
  EXPECT_THAT(text, ::testing::ContainsRegex("vote-1 +down"));
  EXPECT_THAT(text, ::testing::ContainsRegex("1 +1000 +25.0%"));

  const std::string stale = FormatStatus(ExampleStatus(5'000'000'000ull), OutputFormat::kTable);
  EXPECT_THAT(stale, HasSubstr("dataplane not running"));
  const std::string json = FormatStatus(ExampleStatus(5'000'000'000ull), OutputFormat::kJson);
  EXPECT_TRUE(JsonChecker::Valid(json)) << json;
  EXPECT_THAT(json, HasSubstr(R"("running": false)"));
  EXPECT_THAT(json, HasSubstr(R"("refusalReason": "backend table too large")"));
  EXPECT_THAT(json, HasSubstr(R"("busyRatio": 0.25)"));
}

TEST(FormatPortsAndCounters, TablesAndJson) {
  std::vector<PortStatus> ports = {PortStatus{"uplink", true, 10, 2048, 20, 1 << 20, 3}};
  EXPECT_THAT(Lines(FormatPorts(ports, OutputFormat::kTable)).at(1),
              ::testing::MatchesRegex("uplink +up +10 +2.0Ki +20 +1.0Mi +3"));
  EXPECT_TRUE(JsonChecker::Valid(FormatPorts(ports, OutputFormat::kJson)));

  CountersView counters;
  counters.drops[static_cast<size_t>(stats::DropReason::kNoEndpoints)] = 9;
  counters.arp_replies = 4;
  counters.rx_packets = 77;
  EXPECT_THAT(FormatCounters(counters, OutputFormat::kTable), ::testing::ContainsRegex("drop +no_endpoints +9"));
  EXPECT_THAT(FormatCounters(counters, OutputFormat::kTable), HasSubstr("conntrack table not attached"));
  counters.conntrack = ct::CtCounters{};
  counters.conntrack->table_full = 2;
  const std::string text = FormatCounters(counters, OutputFormat::kTable);
  EXPECT_THAT(text, ::testing::ContainsRegex("conntrack +table_full +2"));
  EXPECT_THAT(text, ::testing::ContainsRegex("datapath +arp_replies +4"));
  const std::string json = FormatCounters(counters, OutputFormat::kJson);
  EXPECT_TRUE(JsonChecker::Valid(json)) << json;
  EXPECT_THAT(json, HasSubstr(R"("no_endpoints": 9)"));
  EXPECT_THAT(json, HasSubstr(R"("rx_packets": 77)"));
  counters.policy_would_deny_connections = 5;
  EXPECT_THAT(FormatCounters(counters, OutputFormat::kTable),
              ::testing::ContainsRegex("datapath +policy_would_deny_connections +5"));
}

TEST(FormatPolicies, WouldDenyConnectionsAndSamples) {
  auto stats = std::make_unique<stats::StatsHeader>();
  stats->lcore_count = 2;
  stats->lcores[0].policy_would_deny_connections.store(2);
  stats->lcores[1].policy_would_deny_connections.store(3);
  EXPECT_EQ(CollectWouldDenyConnections(*stats), 5u);
  const std::vector<PolicyRuleRow> rows = {PolicyRuleRow{"shop/p", "ingress", 0, "TCP:80", 7}};
  EXPECT_THAT(FormatPolicyRules(rows, OutputFormat::kTable, 5u), HasSubstr("would-deny connections (audit mode): 5"));
  EXPECT_TRUE(JsonChecker::Valid(FormatPolicyRules(rows, OutputFormat::kJson, 5u)));

  stats::PolicyDropSample& sample = stats->lcores[0].policy_drops[1];
  sample.time_ns = 1;
  sample.protocol = 6;
  sample.reason = 4;  // policy::Reason::kDeniedIngress
  sample.flags = stats::kSampleWouldDeny;
  sample.sequence.store(1);
  const std::vector<PolicyDropRow> drops = CollectPolicyDrops(PolicyImage{}, *stats);
  ASSERT_EQ(drops.size(), 1u);
  EXPECT_EQ(drops[0].reason, "would-deny-ingress");
}

TEST(FormatHelpers, UnitsAndDurations) {
  EXPECT_EQ(FormatBytes(1023), "1023");
  EXPECT_EQ(FormatBytes(1536), "1.5Ki");
  EXPECT_EQ(FormatBytes(20ull << 20), "20Mi");
  EXPECT_EQ(FormatDuration(42), "42s");
  EXPECT_EQ(FormatDuration(303), "5m3s");
  EXPECT_EQ(FormatDuration(7800), "2h10m");
  EXPECT_EQ(FormatDuration(3 * 86400 + 4 * 3600), "3d4h");
  EXPECT_EQ(FormatIpv4(0xc0a8640a), "192.168.100.10");
}

}  // namespace
}  // namespace np::cli
