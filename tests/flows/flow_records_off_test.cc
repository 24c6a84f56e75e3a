// flowRecords: false is today's behaviour: plain pod-to-pod flows get no
// conntrack entry, and nothing is written to the flows region, not even for
// the flows that are tracked (a Service's).
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/flow_abi.h"
#include "common/stats_abi.h"
#include "dataplane/flows/flow_region.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/packet/packet_builder.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using test::Ip;
using test::PacketBuilder;

constexpr const char* kNodeYaml = R"(apiVersion: nodeplane.io/v1alpha1
kind: NodeConfig
node: {name: node-a, addresses: [192.168.100.10], podCIDR: 10.244.1.0/24, clusterCIDR: 10.244.0.0/16,
       serviceCIDR: 10.96.0.0/12}
dataplane: {conntrackCapacity: 4096, flowRecords: false}
ports:
  - {name: uplink, role: uplink, devargs: net_ring_uplink}
  - {name: poda, role: pod, devargs: net_ring_poda, podIP: 10.244.1.11, podMAC: "02:00:00:00:00:11"}
  - {name: podb, role: pod, devargs: net_ring_podb, podIP: 10.244.1.12, podMAC: "02:00:00:00:00:12"}
)";

constexpr const char* kManifests = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
  selector: {app: web}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abcde, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.244.1.12]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
ports: [{name: http, port: 8080, protocol: TCP}]
)";

TEST(FlowRecordsOff, PlainFlowsAreNotTrackedAndNothingIsRecorded) {
  const std::string prefix = "np-flows-off-test-" + std::to_string(getpid());
  std::vector<std::string> args = {"flow_records_off_test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                                   "--file-prefix", prefix, "-l", "0", "--log-level", "*:error"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);

  const fs::path directory = fs::temp_directory_path() / prefix;
  fs::create_directories(directory / "manifests");
  std::ofstream(directory / "node.yaml") << kNodeYaml;
  std::ofstream(directory / "manifests" / "all.yaml") << kManifests;
  {
    harness::InProcessDataplane dataplane;
    ASSERT_TRUE(dataplane.Setup(directory / "node.yaml")) << dataplane.error();
    ASSERT_TRUE(dataplane.PublishServices(directory / "manifests")) << dataplane.error();
    dataplane.shared().now_s.store(1000);
    auto send = [&](const std::string& port, const test::Bytes& frame) {
      rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane.shared().pool);
      ASSERT_NE(mbuf, nullptr);
      std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
      dataplane.Process(0, dataplane.SlotOf(*dataplane.PortNamed(port)), &mbuf, 1);
    };
    const uint64_t inserts_before = dataplane.counters().conntrack_inserts.load();
    send("podb", PacketBuilder().Eth().IPv4(Ip("10.244.1.12"), Ip("10.244.1.11")).Tcp(45000, 5000, kTcpSyn).Build());
    EXPECT_EQ(dataplane.counters().conntrack_inserts.load(), inserts_before);  // forwarded untracked
    send("poda", PacketBuilder().Eth().IPv4(Ip("10.244.1.11"), Ip("10.96.0.10")).Tcp(40000, 80, kTcpSyn).Build());
    EXPECT_EQ(dataplane.counters().conntrack_inserts.load(), inserts_before + 1);  // the Service is tracked
    EXPECT_EQ(dataplane.DrainAndFree(), 2u);
    EXPECT_EQ(dataplane.flows().ring(0).head.load(), 0u);
    EXPECT_EQ(dataplane.flows().ring(0).dropped.load(), 0u);
  }
  fs::remove_all(directory);
}

}  // namespace
}  // namespace np
