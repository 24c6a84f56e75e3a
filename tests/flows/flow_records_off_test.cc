// flowRecords: false is today's behaviour: plain pod-to-pod flows get no
// conntrack entry, and nothing is written to the flows region, not even for
// the flows that are tracked (a Service's).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/flow_abi.h"
#include "common/stats_abi.h"
#include "dataplane/flows/flow_region.h"
#include "tests/flows/flows_fixture.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/harness/test_eal.h"
#include "tests/packet/packet_builder.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using test::Ip;
using test::PacketBuilder;

TEST(FlowRecordsOff, PlainFlowsAreNotTrackedAndNothingIsRecorded) {
  const std::string prefix = "np-flows-off-test-" + std::to_string(getpid());
  ASSERT_TRUE(harness::InitTestEal("flow_records_off_test", prefix)) << "rte_eal_init failed";

  const fs::path directory = fs::temp_directory_path() / prefix;
  fs::create_directories(directory / "manifests");
  std::ofstream(directory / "node.yaml") << test::FlowsNodeYaml("flowRecords: false");
  std::ofstream(directory / "manifests" / "all.yaml") << test::kWebService;
  {
    harness::InProcessDataplane dataplane;
    ASSERT_TRUE(dataplane.Setup(directory / "node.yaml")) << dataplane.error();
    ASSERT_TRUE(dataplane.PublishServices(directory / "manifests")) << dataplane.error();
    dataplane.shared().now_s.store(1000);
    auto send = [&](const std::string& port, const test::Bytes& frame) { test::SendFrame(dataplane, port, frame); };
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
