// Flow records from the real pipeline: the loader and one worker of the
// in-process dataplane (tests/harness) over net_ring ports, packets built
// by tests/packet/packet_builder.h, records read back from the flows region.
//
// One dataplane for the whole suite (its net_ring devices cannot be created
// twice in a process): each test uses its own client ports and drains the
// rings first.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/flow_abi.h"
#include "common/stats_abi.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_region.h"
#include "dataplane/flows/sweep_reporter.h"
#include "dataplane/runtime/loader.h"
#include "tests/flows/flows_fixture.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/harness/test_eal.h"
#include "tests/packet/packet_builder.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using flows::EndReason;
using flows::FlowEvent;
using flows::FlowRecord;
using flows::Verdict;
using test::Ip;
using test::PacketBuilder;

// A client pod, a web pod behind a ClusterIP (test::kWebService), and a
// policy admitting only the client to the web pod on TCP 8080.
const std::string kManifests = std::string(test::kWebService) + R"(---
apiVersion: v1
kind: Pod
metadata: {name: poda, namespace: default, labels: {app: client}}
spec:
  nodeName: node-a
  containers: [{name: main, ports: [{containerPort: 5000}]}]
status: {phase: Running, podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: podb, namespace: default, labels: {app: web}}
spec:
  nodeName: node-a
  containers: [{name: main, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 10.244.1.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 8080}]
)";

constexpr const char* kAuditedNamespace = R"(---
apiVersion: v1
kind: Namespace
metadata:
  name: default
  annotations: {nodeplane.io/policy-audit: "true"}
)";

// A UDP Service whose only backend moves from poda (not isolated) to a pod elsewhere.
std::string DnsService(const std::string& backend, const std::string& node) {
  return R"(---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.53
  clusterIPs: [10.96.0.53]
  ports: [{name: dns, port: 53, protocol: UDP, targetPort: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-xyz, namespace: default, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
endpoints:
- addresses: [)" + backend + R"(]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: )" + node + R"(
ports: [{name: dns, port: 5353, protocol: UDP}]
)";
}

// poda isolated for ingress, nothing allowed.
constexpr const char* kClientIsolated = R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-deny-ingress, namespace: default}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Ingress]
)";

void EnsureEal() {
  static const bool started =
      harness::InitTestEal("flow_records_test", "np-flows-test-" + std::to_string(getpid()));
  ASSERT_TRUE(started) << "rte_eal_init failed";
}

class FlowRecords : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    directory_ = fs::temp_directory_path() / ("np-flows-test-" + std::to_string(getpid()));
    fs::create_directories(directory_ / "manifests");
    fs::create_directories(directory_ / "audited");
    fs::create_directories(directory_ / "client-isolated");
    fs::create_directories(directory_ / "dns-here");
    fs::create_directories(directory_ / "dns-moved");
    std::ofstream(directory_ / "node.yaml") << test::FlowsNodeYaml("maglevSeed: 7");
    std::ofstream(directory_ / "manifests" / "all.yaml") << kManifests;
    std::ofstream(directory_ / "audited" / "all.yaml") << kManifests << kAuditedNamespace;
    std::ofstream(directory_ / "client-isolated" / "all.yaml") << kManifests << kClientIsolated;
    std::ofstream(directory_ / "dns-here" / "all.yaml") << kManifests << DnsService("10.244.1.11", "node-a");
    std::ofstream(directory_ / "dns-moved" / "all.yaml") << kManifests << DnsService("10.244.2.30", "node-b");
  }
  static void TearDownTestSuite() {
    dataplane_.reset();
    fs::remove_all(directory_);
  }

  void SetUp() override {
    EnsureEal();
    if (!dataplane_) {
      dataplane_ = std::make_unique<harness::InProcessDataplane>();
      ASSERT_TRUE(dataplane_->Setup(directory_ / "node.yaml")) << dataplane_->error();
    }
    ASSERT_TRUE(dataplane_->PublishServices(directory_ / "manifests")) << dataplane_->error();
    // Each test starts from an empty table and empty rings.
    SweepAll(now_s_ + 1000000);
    dataplane_->shared().now_s.store(now_s_, std::memory_order_relaxed);
    dataplane_->DrainAndFree();
    Records(0);
    Records(1);
  }

  void Send(const std::string& port, const test::Bytes& frame) { test::SendFrame(*dataplane_, port, frame); }

  // How many frames `port` transmitted (then freed).
  uint32_t Transmitted(const std::string& port) {
    uint32_t count = 0;
    dataplane_->DrainTx(*dataplane_->PortNamed(port), [&](rte_mbuf* mbuf) {
      ++count;
      rte_pktmbuf_free(mbuf);
    });
    return count;
  }

  // Everything producer `ring` wrote since the last call (0: worker 0, 1: loader).
  std::vector<FlowRecord> Records(uint32_t ring) {
    std::vector<FlowRecord> records(flows::kRingRecords);
    const uint32_t count = dataplane_->flows().ring(ring).Pop(records.data(), flows::kRingRecords);
    records.resize(count);
    return records;
  }

  // Runs the sweeper over the whole table at `now_s`.
  void SweepAll(uint32_t now_s) {
    for (uint32_t pass = 0; pass * 4096 < dataplane_->conntrack().pool_size() + 4096; ++pass)
      dataplane_->loader().SweepConnections(now_s);
  }

  static test::Bytes Tcp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags) {
    return PacketBuilder().Eth().IPv4(src, dst).Tcp(sport, dport, flags).Build();
  }

  static inline fs::path directory_;
  static inline std::unique_ptr<harness::InProcessDataplane> dataplane_;
  static constexpr uint32_t now_s_ = 1000;
};

TEST_F(FlowRecords, AClusterIpConnectionStartsWithBothTuplesAndEndsWithItsCountersAfterExpiry) {
  Send("poda", Tcp(Ip("10.244.1.11"), Ip("10.96.0.10"), 40000, 80, kTcpSyn));
  EXPECT_EQ(Transmitted("podb"), 1u);
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 8080, 40000, kTcpSyn | kTcpAck));
  EXPECT_EQ(Transmitted("poda"), 1u);

  const std::vector<FlowRecord> started = Records(0);
  ASSERT_EQ(started.size(), 1u);
  const FlowRecord& start = started[0];
  EXPECT_EQ(start.event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(start.original_src_ip, Ip("10.244.1.11"));
  EXPECT_EQ(start.original_dst_ip, Ip("10.96.0.10"));
  EXPECT_EQ(start.original_src_port, 40000);
  EXPECT_EQ(start.original_dst_port, 80);
  EXPECT_EQ(start.reply_src_ip, Ip("10.244.1.12"));
  EXPECT_EQ(start.reply_dst_ip, Ip("10.244.1.11"));
  EXPECT_EQ(start.reply_src_port, 8080);
  EXPECT_EQ(start.reply_dst_port, 40000);
  EXPECT_EQ(start.protocol, kProtocolTcp);
  EXPECT_NE(start.service_port_id, flows::kNoServicePort);
  EXPECT_EQ(start.nat_flags, ct::kNatDnat);
  EXPECT_EQ(start.verdict, static_cast<uint8_t>(Verdict::kAllowed));
  EXPECT_NE(start.ingress_rule, flows::kNoRule);
  EXPECT_GE(start.dst_identity, abi::kFirstPodIdentity);
  // (incarnation << 32) | index: a fresh table's first entry is flow 0, like a
  // denied flow; the event tells them apart.
  EXPECT_EQ(start.flow_id, dataplane_->conntrack().FlowId(static_cast<uint32_t>(start.flow_id)));
  EXPECT_NE(start.start_ns, 0u);
  EXPECT_EQ(start.packets[0], 1u);

  SweepAll(now_s_ + 200000);  // past every TCP timeout
  const std::vector<FlowRecord> ended = Records(1);
  ASSERT_EQ(ended.size(), 1u);
  const FlowRecord& end = ended[0];
  EXPECT_EQ(end.event, static_cast<uint8_t>(FlowEvent::kEnd));
  EXPECT_EQ(end.end_reason, static_cast<uint8_t>(EndReason::kExpired));
  EXPECT_EQ(end.flow_id, start.flow_id);
  EXPECT_EQ(end.start_ns, start.start_ns);
  EXPECT_EQ(end.service_port_id, start.service_port_id);
  EXPECT_EQ(end.packets[0], 1u);
  EXPECT_EQ(end.packets[1], 1u);
  EXPECT_GT(end.bytes[0], 0u);
  EXPECT_GT(end.bytes[1], 0u);
  EXPECT_EQ(end.producer, 1u);
}

TEST_F(FlowRecords, AReusedTcpTupleEndsTheOldConnectionAndStartsANewOne) {
  Send("poda", Tcp(Ip("10.244.1.11"), Ip("10.96.0.10"), 40001, 80, kTcpSyn));
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 8080, 40001, kTcpRst | kTcpAck));
  Send("poda", Tcp(Ip("10.244.1.11"), Ip("10.96.0.10"), 40001, 80, kTcpSyn));
  const std::vector<FlowRecord> records = Records(0);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(records[1].event, static_cast<uint8_t>(FlowEvent::kEnd));
  EXPECT_EQ(records[1].end_reason, static_cast<uint8_t>(EndReason::kTcpReused));
  EXPECT_EQ(records[1].flow_id, records[0].flow_id);
  EXPECT_EQ(records[2].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_NE(records[2].flow_id, records[0].flow_id);
  SweepAll(now_s_ + 200000);
  Records(1);
  dataplane_->DrainAndFree();
}

TEST_F(FlowRecords, ADeniedConnectionIsRecordedWithItsIdentitiesAndNoRule) {
  const uint64_t denied_before = dataplane_->counters().policy_denied_packets.load();
  Send("uplink", Tcp(Ip("192.168.100.50"), Ip("10.244.1.12"), 50000, 8080, kTcpSyn));
  EXPECT_EQ(Transmitted("podb"), 0u);
  EXPECT_EQ(dataplane_->counters().policy_denied_packets.load(), denied_before + 1);
  const std::vector<FlowRecord> records = Records(0);
  ASSERT_EQ(records.size(), 1u);
  const FlowRecord& denied = records[0];
  EXPECT_EQ(denied.event, static_cast<uint8_t>(FlowEvent::kDenied));
  EXPECT_EQ(denied.verdict, static_cast<uint8_t>(Verdict::kDenied));
  EXPECT_EQ(denied.flow_id, 0u);
  EXPECT_EQ(denied.original_src_ip, Ip("192.168.100.50"));
  EXPECT_EQ(denied.original_dst_ip, Ip("10.244.1.12"));
  EXPECT_EQ(denied.original_dst_port, 8080);
  EXPECT_EQ(denied.ingress_rule, flows::kNoRule);
  EXPECT_EQ(denied.src_identity, abi::kIdentityWorld);
  EXPECT_GE(denied.dst_identity, abi::kFirstPodIdentity);
  EXPECT_NE(denied.policy_generation, 0u);
}

// The worker classifies a burst's new connections in one call (Service
// flows on the backend Maglev will pick): the verdicts, records and rule
// counters are those the same connections get one packet at a time.
TEST_F(FlowRecords, ABurstOfNewConnectionsGetsTheVerdictsTheyGetOneByOne) {
  const std::vector<test::Bytes> frames = {
      Tcp(Ip("192.168.100.50"), Ip("10.244.1.12"), 50001, 8080, kTcpSyn),  // world -> web: denied
      Tcp(Ip("192.168.100.50"), Ip("10.96.0.10"), 50002, 80, kTcpSyn),     // world -> web's ClusterIP: denied
      Tcp(Ip("192.168.100.51"), Ip("10.244.1.12"), 50003, 9090, kTcpSyn),  // wrong port: denied
      Tcp(Ip("192.168.100.52"), Ip("10.244.1.11"), 50004, 5000, kTcpSyn),  // to the client, not isolated
      Tcp(Ip("10.244.1.11"), Ip("10.96.0.10"), 50005, 80, kTcpSyn),        // the client through the ClusterIP
      Tcp(Ip("10.244.1.11"), Ip("10.244.1.12"), 50006, 8080, kTcpSyn),     // the client directly
  };
  auto run = [&](bool one_burst) {
    const uint64_t denied_before = dataplane_->counters().policy_denied_packets.load();
    const harness::RingPort* uplink = dataplane_->PortNamed("uplink");
    std::vector<rte_mbuf*> mbufs;
    for (const test::Bytes& frame : frames) {
      rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane_->shared().pool);
      std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
      mbufs.push_back(mbuf);
    }
    if (one_burst) {
      dataplane_->Process(0, dataplane_->SlotOf(*uplink), mbufs.data(), static_cast<uint16_t>(mbufs.size()));
    } else {
      for (rte_mbuf*& mbuf : mbufs) dataplane_->Process(0, dataplane_->SlotOf(*uplink), &mbuf, 1);
    }
    std::vector<std::string> outcome;
    for (const FlowRecord& record : Records(0))
      outcome.push_back(std::to_string(record.event) + "/" + std::to_string(record.verdict) + " " +
                        std::to_string(record.original_src_port) + " ingress rule " + std::to_string(record.ingress_rule));
    outcome.push_back("podb " + std::to_string(Transmitted("podb")) + ", poda " + std::to_string(Transmitted("poda")));
    outcome.push_back("denied " + std::to_string(dataplane_->counters().policy_denied_packets.load() - denied_before));
    SweepAll(now_s_ + 1000000);
    Records(0);
    Records(1);
    return outcome;
  };
  const std::vector<std::string> one_by_one = run(false);
  const std::vector<std::string> burst = run(true);
  EXPECT_EQ(burst, one_by_one);
  EXPECT_EQ(one_by_one.back(), "denied 3");
  EXPECT_EQ(one_by_one[one_by_one.size() - 2], "podb 2, poda 1");
}

TEST_F(FlowRecords, InAuditModeADeniedConnectionPassesAndIsRecordedAsWouldDeny) {
  ASSERT_TRUE(dataplane_->PublishServices(directory_ / "audited")) << dataplane_->error();
  const stats::LcoreCounters& counters = dataplane_->counters();
  const uint64_t would_deny_before = counters.policy_would_deny_connections.load();
  const uint64_t denied_before = counters.policy_denied_packets.load();
  Send("uplink", Tcp(Ip("192.168.100.50"), Ip("10.244.1.12"), 50001, 8080, kTcpSyn));
  EXPECT_EQ(Transmitted("podb"), 1u);
  // Tracked like an allowed connection: its reply passes.
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("192.168.100.50"), 8080, 50001, kTcpSyn | kTcpAck));
  EXPECT_EQ(counters.policy_would_deny_connections.load(), would_deny_before + 1);
  EXPECT_EQ(counters.policy_denied_packets.load(), denied_before);
  const uint64_t sequence = counters.policy_drop_sequence.load();
  EXPECT_TRUE(counters.policy_drops[sequence % stats::kPolicyDropSamples].flags & stats::kSampleWouldDeny);

  const std::vector<FlowRecord> records = Records(0);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(records[0].verdict, static_cast<uint8_t>(Verdict::kWouldDeny));
  EXPECT_EQ(records[0].ingress_rule, flows::kNoRule);

  // Without the annotation the same connection is denied again.
  ASSERT_TRUE(dataplane_->PublishServices(directory_ / "manifests")) << dataplane_->error();
  Send("uplink", Tcp(Ip("192.168.100.50"), Ip("10.244.1.12"), 50002, 8080, kTcpSyn));
  EXPECT_EQ(Transmitted("podb"), 0u);
  const std::vector<FlowRecord> after = Records(0);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].event, static_cast<uint8_t>(FlowEvent::kDenied));
  dataplane_->DrainAndFree();
}

TEST_F(FlowRecords, APlainPodToPodFlowIsTrackedAndRecorded) {
  // podb -> poda: neither end isolated in that direction, no NAT.
  const uint64_t inserts_before = dataplane_->counters().conntrack_inserts.load();
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 45000, 5000, kTcpSyn));
  EXPECT_EQ(Transmitted("poda"), 1u);
  EXPECT_EQ(dataplane_->counters().conntrack_inserts.load(), inserts_before + 1);
  const std::vector<FlowRecord> records = Records(0);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(records[0].verdict, static_cast<uint8_t>(Verdict::kNoPolicy));
  EXPECT_EQ(records[0].nat_flags, 0u);
  EXPECT_EQ(records[0].service_port_id, flows::kNoServicePort);
  EXPECT_EQ(records[0].reply_src_ip, Ip("10.244.1.11"));
  EXPECT_EQ(records[0].reply_dst_port, 45000);
}

TEST_F(FlowRecords, APolicyChangeThatDeniesAnOpenConnectionEndsItAsCut) {
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 45002, 5000, kTcpSyn));
  Send("poda", Tcp(Ip("10.244.1.11"), Ip("10.244.1.12"), 5000, 45002, kTcpSyn | kTcpAck));
  const std::vector<FlowRecord> started = Records(0);
  ASSERT_EQ(started.size(), 1u);
  ASSERT_TRUE(dataplane_->PublishServices(directory_ / "client-isolated")) << dataplane_->error();
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 45002, 5000, kTcpAck));
  EXPECT_EQ(Transmitted("poda"), 1u);  // the SYN only: the ACK after the change was cut
  const std::vector<FlowRecord> ended = Records(0);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].event, static_cast<uint8_t>(FlowEvent::kEnd));
  EXPECT_EQ(ended[0].end_reason, static_cast<uint8_t>(EndReason::kPolicyCut));
  EXPECT_EQ(ended[0].flow_id, started[0].flow_id);
  EXPECT_EQ(ended[0].packets[0], 1u);
  EXPECT_EQ(ended[0].packets[1], 1u);
  dataplane_->DrainAndFree();
}

TEST_F(FlowRecords, AUdpFlowWhoseBackendLeftEndsAndStartsAgainOnTheNewBackend) {
  ASSERT_TRUE(dataplane_->PublishServices(directory_ / "dns-here")) << dataplane_->error();
  const test::Bytes query = PacketBuilder().Eth().IPv4(Ip("10.244.1.12"), Ip("10.96.0.53")).Udp(41000, 53).Build();
  Send("podb", query);
  const std::vector<FlowRecord> started = Records(0);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(started[0].reply_src_ip, Ip("10.244.1.11"));
  ASSERT_TRUE(dataplane_->PublishServices(directory_ / "dns-moved")) << dataplane_->error();
  Send("podb", query);
  const std::vector<FlowRecord> records = Records(0);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].event, static_cast<uint8_t>(FlowEvent::kEnd));
  EXPECT_EQ(records[0].end_reason, static_cast<uint8_t>(EndReason::kBackendGone));
  EXPECT_EQ(records[0].flow_id, started[0].flow_id);
  EXPECT_EQ(records[1].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(records[1].reply_src_ip, Ip("10.244.2.30"));
  EXPECT_EQ(records[1].original_dst_ip, Ip("10.96.0.53"));
  dataplane_->DrainAndFree();
}

TEST_F(FlowRecords, ALongConnectionGetsPeriodicUpdatesFromTheSweeper) {
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 45001, 5000, kTcpSyn));
  Send("poda", Tcp(Ip("10.244.1.11"), Ip("10.244.1.12"), 5000, 45001, kTcpSyn | kTcpAck));
  Send("podb", Tcp(Ip("10.244.1.12"), Ip("10.244.1.11"), 45001, 5000, kTcpAck));
  dataplane_->DrainAndFree();
  const std::vector<FlowRecord> started = Records(0);
  ASSERT_EQ(started.size(), 1u);
  SweepAll(now_s_ + 5);  // too early
  EXPECT_TRUE(Records(1).empty());
  SweepAll(now_s_ + flows::kUpdateIntervalSeconds + 1);
  const std::vector<FlowRecord> updates = Records(1);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].event, static_cast<uint8_t>(FlowEvent::kUpdate));
  EXPECT_EQ(updates[0].flow_id, started[0].flow_id);
  EXPECT_EQ(updates[0].packets[0], 2u);
  EXPECT_EQ(updates[0].packets[1], 1u);
  SweepAll(now_s_ + flows::kUpdateIntervalSeconds + 2);  // once per interval
  EXPECT_TRUE(Records(1).empty());
}

}  // namespace
}  // namespace np
