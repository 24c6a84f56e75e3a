// Prometheus metrics: the text format (pure), the stats collector over a
// stats header in memory, the latency and busy-ratio trackers, and the
// HTTP endpoint over 127.0.0.1 (server alone, then the whole watch loop).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "control/daemon/health_server.h"
#include "control/daemon/metrics.h"
#include "tests/control_daemon/test_support.h"
#include "control/daemon/metrics_collect.h"
#include "tests/control_daemon/watch_harness.h"

namespace np::daemon {
namespace {

using np::testing::HttpBody;
using np::testing::HttpGet;

using ::testing::HasSubstr;
using ::testing::Not;

// Every line is a HELP/TYPE comment or a sample of the family last typed;
// no family appears twice; names follow the Prometheus rules.
void ExpectWellFormed(const std::string& text) {
  static const std::regex help(R"(# HELP (nodeplane_[a-z0-9_]+) .+)");
  static const std::regex type(R"(# TYPE (nodeplane_[a-z0-9_]+) (counter|gauge|histogram))");
  static const std::regex sample(
      R"re((nodeplane_[a-z0-9_]+)(\{([a-z_]+="([^"\\]|\\.)*")(,[a-z_]+="([^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN))re");
  std::istringstream in(text);
  std::string line, family, family_type;
  std::set<std::string> seen;
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');
  while (std::getline(in, line)) {
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      family = match[1];
      EXPECT_TRUE(seen.insert(family).second) << "family twice: " << family;
    } else if (std::regex_match(line, match, type)) {
      EXPECT_EQ(match[1], family) << "TYPE without HELP: " << line;
      family_type = match[2];
    } else if (std::regex_match(line, match, sample)) {
      const std::string name = match[1];
      if (family_type == "histogram")
        EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" || name == family + "_count") << line;
      else
        EXPECT_EQ(name, family) << line;
    } else {
      ADD_FAILURE() << "not exposition format: \"" << line << "\"";
    }
  }
}

MetricsSnapshot SampleSnapshot() {
  MetricsSnapshot s;
  s.stats_available = true;
  s.ports = {PortMetrics{"uplink", true, 10, 1000, 9, 900, 1}, PortMetrics{"pod-\"x\"", false, 0, 0, 0, 0, 0}};
  ServicePortMetrics web = SplitServicePort("default/web:http");
  web.packets = 5;
  web.bytes = 500;
  web.connections = 2;
  web.no_endpoint_rejects = 1;
  s.service_ports = {web};
  s.lcores = {LcoreMetrics{1, 100, 25, 250, 1000, 0.25}};
  s.drops[static_cast<size_t>(stats::DropReason::kNoRoute)] = 7;
  s.conntrack = ConntrackMetrics{3, 16384, 4, 30, 1, 2};
  SectionMetrics services{"services", 5, 4, 0, {}};
  services.apply_latency.Observe(0.0003);
  services.apply_latency.Observe(0.002);
  services.apply_latency.Observe(30);
  s.sections = {SectionMetrics{"node", 1, 1, 0, {}}, services};
  s.dataplane_up = true;
  s.heartbeat_age_seconds = 0.5;
  s.boot_time_seconds = 1714644000.123;
  return s;
}

TEST(MetricsFormat, FamiliesSamplesAndLabels) {
  const std::string text = FormatMetrics(SampleSnapshot());
  ExpectWellFormed(text);
  EXPECT_THAT(text, HasSubstr("# HELP nodeplane_port_rx_packets_total Packets received on the port.\n"
                              "# TYPE nodeplane_port_rx_packets_total counter\n"
                              "nodeplane_port_rx_packets_total{port=\"uplink\"} 10\n"
                              "nodeplane_port_rx_packets_total{port=\"pod-\\\"x\\\"\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_port_tx_dropped_packets_total{port=\"uplink\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_port_up{port=\"uplink\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_service_packets_total{namespace=\"default\",service=\"web\",port=\"http\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_service_bytes_total{namespace=\"default\",service=\"web\",port=\"http\"} 500\n"));
  EXPECT_THAT(text,
              HasSubstr("nodeplane_service_connections_total{namespace=\"default\",service=\"web\",port=\"http\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_service_no_endpoint_rejects_total{namespace=\"default\",service=\"web\","
                              "port=\"http\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_drops_total{reason=\"no_route\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_drops_total{reason=\"parse_error\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nodeplane_conntrack_entries gauge\nnodeplane_conntrack_entries 3\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_conntrack_capacity 16384\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nodeplane_conntrack_table_full_total counter\nnodeplane_conntrack_table_full_total 4\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_published_generation{section=\"services\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_applied_generation{section=\"services\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_refused_generation{section=\"node\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_lcore_busy_ratio{lcore=\"1\"} 0.25\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_lcore_busy_cycles_total{lcore=\"1\"} 250\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_dataplane_up 1\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_dataplane_boot_time_seconds 1714644000.123\n"));
  // Histogram: cumulative buckets, +Inf = count, sum.
  EXPECT_THAT(text, HasSubstr("# TYPE nodeplane_table_apply_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"0.0001\"} 0\n"
                              "nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"0.00025\"} 0\n"
                              "nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"0.0005\"} 1\n"
                              "nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"0.001\"} 1\n"
                              "nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"0.0025\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"5\"} 2\n"
                              "nodeplane_table_apply_latency_seconds_bucket{section=\"services\",le=\"+Inf\"} 3\n"
                              "nodeplane_table_apply_latency_seconds_sum{section=\"services\"} 30.0023\n"
                              "nodeplane_table_apply_latency_seconds_count{section=\"services\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_table_apply_latency_seconds_count{section=\"node\"} 0\n"));
}

TEST(MetricsFormat, WithoutADataplaneOnlyControlPlaneFamilies) {
  MetricsSnapshot s;
  s.sections = {SectionMetrics{"node", 0, 0, 0, {}}, SectionMetrics{"services", 0, 0, 0, {}}};
  const std::string text = FormatMetrics(s);
  ExpectWellFormed(text);
  EXPECT_THAT(text, HasSubstr("nodeplane_dataplane_up 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("nodeplane_port_")));
  EXPECT_THAT(text, Not(HasSubstr("nodeplane_conntrack_")));
  EXPECT_THAT(text, Not(HasSubstr("heartbeat_age")));
}

TEST(MetricsFormat, FlowFamiliesPerWorkloadPairOnlyWhenTheFlowsRegionIsAttached) {
  MetricsSnapshot s;
  EXPECT_THAT(FormatMetrics(s), Not(HasSubstr("nodeplane_flow")));
  s.flows = FlowCollectorMetrics{{FlowPairMetrics{"allowed", "voting-app", "vote", "voting-app", "redis", 12},
                                  FlowPairMetrics{"denied", "voting-app", "vote", "voting-app", "db", 1}},
                                 40, 3, 2};
  const std::string text = FormatMetrics(s);
  ExpectWellFormed(text);
  EXPECT_THAT(text, HasSubstr("# TYPE nodeplane_flows_total counter\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_flows_total{verdict=\"allowed\",src_namespace=\"voting-app\","
                              "src_workload=\"vote\",dst_namespace=\"voting-app\",dst_workload=\"redis\"} 12\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_flow_records_total 40\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_flow_records_dropped_total 3\n"));
  EXPECT_THAT(text, HasSubstr("nodeplane_flows_active 2\n"));
}

TEST(MetricsFormat, Escaping) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(1e300 * 1e300), "+Inf");
  EXPECT_EQ(FormatSampleValue(-1e300 * 1e300), "-Inf");
  EXPECT_EQ(FormatSampleValue(2), "2");
  const ServicePortMetrics split = SplitServicePort("kube-system/kube-dns:dns-tcp");
  EXPECT_EQ(split.namespace_, "kube-system");
  EXPECT_EQ(split.service, "kube-dns");
  EXPECT_EQ(split.port, "dns-tcp");
  EXPECT_EQ(SplitServicePort("odd").service, "odd");
}

TEST(MetricsCollect, SumsLcoreBlocksAndNamesServicesById) {
  auto stats = std::make_unique<stats::StatsHeader>();
  stats->lcore_count = 2;
  stats->worker_lcores[0] = 1;
  stats->worker_lcores[1] = 2;
  stats->ports[3].id = 7;
  std::strcpy(stats->ports[3].name, "uplink");
  stats->ports[3].state = 1;
  stats->ports[3].in_use = 1;
  stats->service_ports[0].id = 40;
  std::strcpy(stats->service_ports[0].name, "default/trunc");  // what a slot holds: maybe truncated
  stats->service_ports[0].in_use = 1;
  stats->service_ports[1].id = 41;
  std::strcpy(stats->service_ports[1].name, "ns/other:53");
  stats->service_ports[1].in_use = 1;
  for (uint32_t block = 0; block < 2; ++block) {
    stats::LcoreCounters& lcore = stats->lcores[block];
    lcore.ports[3].rx_packets = 10 + block;
    lcore.ports[3].tx_bytes = 100;
    lcore.service_ports[0].packets = 5;
    lcore.service_ports[1].new_connections = 1;
    lcore.drops[static_cast<size_t>(stats::DropReason::kConntrackFull)] = 3;
    lcore.busy_cycles = 10 * (block + 1);
    lcore.total_cycles = 100;
  }
  stats->lcores[2].drops[0] = 1000;  // beyond lcore_count: not summed
  MetricsSnapshot snapshot;
  ASSERT_TRUE(CollectStatsMetrics(*stats, {{40, "default/a-long-service-name:http"}}, snapshot));
  ASSERT_EQ(snapshot.ports.size(), 1u);
  EXPECT_EQ(snapshot.ports[0].name, "uplink");
  EXPECT_TRUE(snapshot.ports[0].up);
  EXPECT_EQ(snapshot.ports[0].rx_packets, 21u);
  EXPECT_EQ(snapshot.ports[0].tx_bytes, 200u);
  ASSERT_EQ(snapshot.service_ports.size(), 2u);
  EXPECT_EQ(snapshot.service_ports[0].service, "a-long-service-name");
  EXPECT_EQ(snapshot.service_ports[0].packets, 10u);
  EXPECT_EQ(snapshot.service_ports[1].namespace_, "ns");
  EXPECT_EQ(snapshot.service_ports[1].port, "53");
  EXPECT_EQ(snapshot.service_ports[1].connections, 2u);
  EXPECT_EQ(snapshot.drops[static_cast<size_t>(stats::DropReason::kConntrackFull)], 6u);
  EXPECT_EQ(snapshot.drops[0], 0u);
  ASSERT_EQ(snapshot.lcores.size(), 2u);
  EXPECT_EQ(snapshot.lcores[1].lcore, 2u);

  BusyRatioTracker busy;
  busy.Update(snapshot.lcores);
  EXPECT_DOUBLE_EQ(snapshot.lcores[0].busy_ratio, 0.1);  // first: since start
  snapshot.lcores[0].busy_cycles += 90;                  // then: over the interval
  snapshot.lcores[0].total_cycles += 100;
  busy.Update(snapshot.lcores);
  EXPECT_DOUBLE_EQ(snapshot.lcores[0].busy_ratio, 0.9);
}

TEST(ApplyLatency, FromPublicationToTheDataplanesApplyTime) {
  ApplyLatencyTracker tracker;
  tracker.OnRegionState(abi::SectionKind::kServices, 3, 5'000'000);  // nothing pending: ignored
  EXPECT_EQ(tracker.Latency(abi::SectionKind::kServices).count, 0u);
  tracker.OnPublished(abi::SectionKind::kServices, 4, 1'000'000'000);
  tracker.OnRegionState(abi::SectionKind::kServices, 3, 1'000'500'000);  // older generation: still pending
  EXPECT_EQ(tracker.Latency(abi::SectionKind::kServices).count, 0u);
  tracker.OnRegionState(abi::SectionKind::kServices, 4, 1'002'000'000);
  tracker.OnRegionState(abi::SectionKind::kServices, 4, 1'002'000'000);  // once per generation
  const Histogram latency = tracker.Latency(abi::SectionKind::kServices);
  EXPECT_EQ(latency.count, 1u);
  EXPECT_DOUBLE_EQ(latency.sum, 0.002);
  EXPECT_EQ(latency.buckets[4], 1u);  // le 0.0025
  EXPECT_EQ(tracker.Latency(abi::SectionKind::kNode).count, 0u);
}

TEST(MetricsServer, ServesTheTextFormatOverHttp) {
  HealthServer server(HealthServerOptions{"127.0.0.1", [](const std::string&) {}});
  int renders = 0;
  server.SetMetrics("127.0.0.1", 0, [&renders] {
    ++renders;
    return FormatMetrics(SampleSnapshot());
  });
  ASSERT_TRUE(server.Start().ok());
  const uint16_t port = server.MetricsPort();
  ASSERT_NE(port, 0);
  const std::string response = HttpGet(port, "/metrics");
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_EQ(HttpBody(response), FormatMetrics(SampleSnapshot()));
  EXPECT_EQ(renders, 1);
  EXPECT_THAT(HttpGet(port, "/other"), ::testing::StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(HttpGet(port, "/metrics?x=1"), ::testing::StartsWith("HTTP/1.1 200"));
}

TEST(MetricsServer, ABodyLargerThanTheSocketBufferArrivesWhole) {
  HealthServer server(HealthServerOptions{"127.0.0.1", [](const std::string&) {}});
  std::string big;
  for (int i = 0; big.size() < 8 * 1024 * 1024; ++i) big += "nodeplane_x{i=\"" + std::to_string(i) + "\"} 1\n";
  server.SetMetrics("127.0.0.1", 0, [&big] { return big; });
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(HttpBody(HttpGet(server.MetricsPort(), "/metrics")), big);
}

TEST(MetricsServer, TheWatchLoopServesGenerationsLatencyAndTheCollectorsPart) {
  np::testing::WatchHarness harness;
  int collections = 0;
  harness.Start([&collections](const ServicePortNames& names, MetricsSnapshot& snapshot) {
    ++collections;
    snapshot.stats_available = true;
    for (const auto& [id, name] : names) snapshot.service_ports.push_back(SplitServicePort(name));
    snapshot.conntrack = ConntrackMetrics{1, 2, 3, 4, 5, 6};
    return true;
  });
  std::optional<ControlRecord> record = harness.WaitStarted();
  ASSERT_TRUE(record);
  const uint16_t port = static_cast<uint16_t>(std::stoi(record->metrics.substr(record->metrics.rfind(':') + 1)));
  std::string body;
  // The loop records the latency once it sees the apply (next loop turn).
  for (int i = 0; i < 400; ++i) {
    body = HttpBody(HttpGet(port, "/metrics"));
    if (body.find("nodeplane_table_apply_latency_seconds_count{section=\"services\"} 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ExpectWellFormed(body);
  EXPECT_THAT(body, HasSubstr("nodeplane_table_published_generation{section=\"services\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("nodeplane_table_applied_generation{section=\"services\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("nodeplane_table_applied_generation{section=\"node\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("nodeplane_table_apply_latency_seconds_count{section=\"services\"} 1\n"));
  EXPECT_THAT(body, HasSubstr("nodeplane_dataplane_up 1\n"));
  EXPECT_THAT(body, HasSubstr("service=\"vote\",port=\"http\"} 0\n")) << "names from the compiled services";
  EXPECT_THAT(body, HasSubstr("nodeplane_conntrack_table_full_total 3\n"));
  EXPECT_GE(collections, 1);
}

}  // namespace
}  // namespace np::daemon
