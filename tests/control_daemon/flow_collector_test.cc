// The flow collector (control/flows/collector.h) against a flows region this
// test creates and fills with Ring::Push, as the dataplane would: joining
// start/end by flow id, identities, the traffic map, ring wrap and drops, a
// dataplane restart (new boot epoch), and the files npctl reads.
#include "control/flows/collector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/shm_file.h"
#include "control/cli/format_flows.h"
#include "control/k8s/ip.h"
#include "control/k8s/loader.h"

namespace np::flows {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint32_t kRedisServicePort = 7;

uint32_t Ip(const char* text) { return k8s::ParseIp(text)->v4; }

class FlowCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    instance_ = "flowtest" + std::to_string(getpid());
    run_dir_ = std::filesystem::temp_directory_path() / ("np-flows-" + instance_);
    std::filesystem::remove_all(run_dir_);
    CreateRegion(/*boot_epoch=*/1);
    Result<k8s::LoadResult> loaded = k8s::LoadManifestDirectory(NP_CONFIG_DIR "/voting-app");
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    resolver_ = std::make_shared<IdentityResolver>(loaded->state, NodeIdentity{"node-a", {Ip("192.168.100.10")}},
                                                   std::map<uint32_t, std::string>{{kRedisServicePort, "voting-app/redis:redis"}});
  }
  void TearDown() override {
    region_ = SharedMemoryFile();
    SharedMemoryFile::Remove(ShmName(instance_, "flows"));
    std::filesystem::remove_all(run_dir_);
  }

  void CreateRegion(uint64_t boot_epoch) {
    region_ = SharedMemoryFile();
    SharedMemoryFile::Remove(ShmName(instance_, "flows"));
    bool created = false;
    Result<SharedMemoryFile> file = SharedMemoryFile::OpenOrCreate(ShmName(instance_, "flows"), sizeof(FlowsHeader), &created);
    ASSERT_TRUE(file.ok()) << file.error().message;
    region_ = std::move(*file);
    FlowsHeader& header = this->header();
    header.magic = kFlowsMagic;
    header.version_major = kFlowsVersionMajor;
    header.version_minor = kFlowsVersionMinor;
    header.producer_count = 2;
    header.ring_records = kRingRecords;
    header.boot_epoch = boot_epoch;
  }
  FlowsHeader& header() { return *reinterpret_cast<FlowsHeader*>(region_.data()); }

  std::unique_ptr<FlowCollector> MakeCollector() {
    FlowCollectorOptions options{instance_, run_dir_};
    options.map_interval_ns = 0;  // write the map on every poll that changed it
    options.reattach_check_ns = kSecond;
    auto collector = std::make_unique<FlowCollector>(options);
    collector->SetResolver(resolver_);
    return collector;
  }

  // vote pod (src) -> redis ClusterIP, DNATed to the redis pod.
  static FlowRecord VoteToRedis(FlowEvent event, uint64_t flow_id, uint16_t src_port, uint64_t time_ns) {
    FlowRecord record{};
    record.flow_id = flow_id;
    record.start_ns = 100 * kSecond;
    record.time_ns = time_ns;
    record.original_src_ip = Ip("10.244.1.11");
    record.original_src_port = src_port;
    record.original_dst_ip = Ip("10.96.0.13");
    record.original_dst_port = 6379;
    record.reply_src_ip = Ip("10.244.1.14");
    record.reply_src_port = 6379;
    record.reply_dst_ip = Ip("10.244.1.11");
    record.reply_dst_port = src_port;
    record.protocol = 6;
    record.event = static_cast<uint8_t>(event);
    record.verdict = static_cast<uint8_t>(Verdict::kAllowed);
    record.service_port_id = kRedisServicePort;
    record.packets[0] = 3;
    record.packets[1] = 2;
    record.bytes[0] = 180;
    record.bytes[1] = 120;
    return record;
  }

  std::vector<FlowLogEntry> LogEvents() {
    Result<std::vector<FlowLogEntry>> events = cli::ReadFlowLog(FlowLogPath(run_dir_, instance_));
    EXPECT_TRUE(events.ok()) << events.error().message;
    return events.ok() ? *events : std::vector<FlowLogEntry>{};
  }

  std::string instance_;
  std::filesystem::path run_dir_;
  SharedMemoryFile region_;
  std::shared_ptr<IdentityResolver> resolver_;
};

TEST_F(FlowCollectorTest, JoinsStartAndEndByFlowIdWithWorkloadIdentities) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 42, 40000, 100 * kSecond)));
  EXPECT_EQ(collector.Poll(101 * kSecond), 1u);
  EXPECT_EQ(collector.Metrics().active, 1u);
  EXPECT_EQ(header().consumer_heartbeat_ns.load(), 101 * kSecond);

  FlowRecord end = VoteToRedis(FlowEvent::kEnd, 42, 40000, 105 * kSecond);
  end.end_reason = static_cast<uint8_t>(EndReason::kExpired);
  end.packets[0] = 10;
  ASSERT_TRUE(header().rings[1].Push(end));  // the main lcore's ring reports the end
  EXPECT_EQ(collector.Poll(106 * kSecond), 1u);
  EXPECT_EQ(collector.Metrics().active, 0u);

  const std::vector<FlowLogEntry> events = LogEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "start");
  EXPECT_EQ(events[1].event, "end");
  EXPECT_EQ(events[1].end_reason, "expired");
  EXPECT_EQ(events[1].packets[0], 10u);
  EXPECT_EQ(events[1].client.Label(), "voting-app/vote");
  EXPECT_EQ(events[1].client.workload_kind, "Deployment");
  EXPECT_EQ(events[1].client.pod, "vote-5d8f7c9b6-4hx2z");
  EXPECT_EQ(events[1].server.Label(), "voting-app/redis");
  EXPECT_EQ(events[1].backend_port, 6379);
  EXPECT_EQ(events[1].dst_ip, "10.96.0.13");
  EXPECT_EQ(events[1].service, "voting-app/redis:redis");
  EXPECT_EQ(cli::LatestPerFlow(events).size(), 1u);

  const TrafficMapFile map = collector.Map();
  ASSERT_EQ(map.edges.size(), 1u);
  EXPECT_EQ(map.edges[0].connections, 1u);  // the end does not count a second connection
  EXPECT_EQ(map.edges[0].last_seen_ns, 105 * kSecond);
  const FlowMetrics metrics = collector.Metrics();
  EXPECT_EQ((metrics.flows_total.at({"allowed", "voting-app", "vote", "voting-app", "redis"})), 1u);

  // The map file npctl reads says the same.
  std::ifstream in(TrafficMapPath(run_dir_, instance_));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<TrafficMapFile> parsed = ParseTrafficMapJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->edges.size(), 1u);
  EXPECT_EQ(parsed->edges[0].client.pod_labels, (std::map<std::string, std::string>{{"app", "vote"}}));
  EXPECT_EQ(parsed->edges[0].services, (std::set<std::string>{"voting-app/redis:redis"}));
}

TEST_F(FlowCollectorTest, ExternalClientsAreCidrsAndDenialsAreEdgesThatDidNotPass) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  FlowRecord user = VoteToRedis(FlowEvent::kStart, 7, 50000, 100 * kSecond);
  user.original_src_ip = Ip("192.168.100.1");
  user.original_dst_ip = Ip("192.168.100.200");
  user.original_dst_port = 80;
  user.reply_src_ip = Ip("10.244.1.10");
  user.reply_src_port = 80;
  user.service_port_id = kNoServicePort;
  ASSERT_TRUE(header().rings[0].Push(user));
  FlowRecord denied = VoteToRedis(FlowEvent::kDenied, 0, 40001, 100 * kSecond);
  denied.original_dst_ip = Ip("10.244.1.15");
  denied.original_dst_port = 5432;
  denied.reply_src_ip = 0;  // no conntrack entry, no reply tuple
  denied.verdict = static_cast<uint8_t>(Verdict::kDenied);
  denied.service_port_id = kNoServicePort;
  ASSERT_TRUE(header().rings[0].Push(denied));
  collector.Poll(101 * kSecond);
  const TrafficMapFile map = collector.Map();
  ASSERT_EQ(map.edges.size(), 2u);
  EXPECT_EQ(map.edges[0].client.Label(), "external 192.168.100.1/32");
  EXPECT_EQ(map.edges[0].server.Label(), "ingress-nginx/ingress-nginx-controller");
  EXPECT_EQ(map.edges[0].port, 80);
  EXPECT_TRUE(map.edges[0].Passed());
  EXPECT_EQ(map.edges[1].server.Label(), "voting-app/db");
  // Metrics name every external client "external": bounded label values.
  EXPECT_EQ(collector.Metrics().flows_total.count({"allowed", "", "external", "ingress-nginx", "ingress-nginx-controller"}), 1u);
  EXPECT_EQ(map.edges[1].port, 5432);
  EXPECT_FALSE(map.edges[1].Passed());
}

TEST_F(FlowCollectorTest, RetriesOfADeniedConnectionAreOneAttempt) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  FlowRecord denied = VoteToRedis(FlowEvent::kDenied, 0, 40001, 100 * kSecond);
  denied.verdict = static_cast<uint8_t>(Verdict::kDenied);
  for (uint64_t retry_s : {100, 101, 103, 107}) {  // SYN retransmits: same tuple
    denied.time_ns = retry_s * kSecond;
    ASSERT_TRUE(header().rings[0].Push(denied));
  }
  denied.time_ns = 130 * kSecond;  // past the retry window: a new attempt
  ASSERT_TRUE(header().rings[0].Push(denied));
  denied.original_src_port = 40002;  // another connection
  ASSERT_TRUE(header().rings[0].Push(denied));
  collector.Poll(131 * kSecond);
  ASSERT_EQ(collector.Map().edges.size(), 1u);
  EXPECT_EQ(collector.Map().edges[0].connections, 3u);
  EXPECT_EQ(LogEvents().size(), 3u);
}

TEST_F(FlowCollectorTest, ManyConnectionsOfOneWorkloadPairAreOneEdgeAcrossRingWrap) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  uint64_t flow_id = 1;
  for (int round = 0; round < 3; ++round) {  // 3 x 6000 records: the ring (8192) wraps
    for (int i = 0; i < 3000; ++i, ++flow_id) {
      ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, flow_id, 1024 + flow_id % 60000, 100 * kSecond)));
      ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kEnd, flow_id, 1024 + flow_id % 60000, 101 * kSecond)));
    }
    collector.Poll((110 + round) * kSecond);
  }
  const TrafficMapFile map = collector.Map();
  ASSERT_EQ(map.edges.size(), 1u);
  EXPECT_EQ(map.edges[0].connections, 9000u);
  EXPECT_EQ(collector.Metrics().records, 18000u);
  EXPECT_EQ(collector.Metrics().active, 0u);
  EXPECT_EQ(collector.Metrics().records_dropped, 0u);
}

TEST_F(FlowCollectorTest, RecordsAFullRingRefusedAreCountedAsDropped) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  for (uint32_t i = 0; i < kRingRecords + 10; ++i)
    header().rings[0].Push(VoteToRedis(FlowEvent::kStart, i + 1, 2000, 100 * kSecond));
  collector.Poll(101 * kSecond);
  EXPECT_EQ(collector.Metrics().records, kRingRecords);
  EXPECT_EQ(collector.Metrics().records_dropped, 10u);
  EXPECT_EQ(collector.Map().records_dropped, 10u);
}

TEST_F(FlowCollectorTest, ReattachesWhenTheDataplaneRestartsWithANewBootEpoch) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3000, 100 * kSecond)));
  collector.Poll(100 * kSecond);
  EXPECT_EQ(collector.Metrics().active, 1u);

  CreateRegion(/*boot_epoch=*/2);  // a new file: the old mapping would never see new records
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3001, 102 * kSecond)));
  collector.Poll(102 * kSecond);
  EXPECT_EQ(collector.Metrics().active, 1u);  // the old boot's connection is forgotten, the new one tracked
  EXPECT_EQ(collector.Map().edges.at(0).connections, 2u);
  EXPECT_EQ(header().consumer_heartbeat_ns.load(), 102 * kSecond);
  const std::vector<std::string> log = collector.TakeLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_THAT(log[1], ::testing::HasSubstr("restarted"));
  // The forgotten connection is closed in the flow log, so npctl flows does not show it live forever.
  const std::vector<FlowLogEntry> events = LogEvents();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].event, "end");
  EXPECT_EQ(events[1].end_reason, "dataplane-restart");
  EXPECT_EQ(events[1].flow_id, 1u);
}

TEST_F(FlowCollectorTest, ARestartedCollectorKeepsTheMapItWrote) {
  {
    std::unique_ptr<FlowCollector> first = MakeCollector();
    ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3000, 100 * kSecond)));
    first->Poll(100 * kSecond);
  }
  std::unique_ptr<FlowCollector> second = MakeCollector();
  ASSERT_EQ(second->Map().edges.size(), 1u);
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 2, 3001, 101 * kSecond)));
  // The end of the connection the first collector counted: not a new one.
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kEnd, 1, 3000, 101 * kSecond)));
  second->Poll(101 * kSecond);
  ASSERT_EQ(second->Map().edges.size(), 1u);
  EXPECT_EQ(second->Map().edges[0].connections, 2u);
}

TEST_F(FlowCollectorTest, NothingIsReadBeforeTheFirstResolver) {
  FlowCollector collector(FlowCollectorOptions{instance_, run_dir_});
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3000, 100 * kSecond)));
  EXPECT_EQ(collector.Poll(100 * kSecond), 0u);
  collector.SetResolver(resolver_);
  EXPECT_EQ(collector.Poll(100 * kSecond), 1u);
  EXPECT_EQ(collector.Map().edges.at(0).client.Label(), "voting-app/vote");
}

TEST_F(FlowCollectorTest, ARemovedFlowLogIsRecreatedAndAFullOneRotated) {
  FlowCollectorOptions options{instance_, run_dir_};
  options.log_max_bytes = 1000;  // two lines or so
  FlowCollector collector(options);
  collector.SetResolver(resolver_);
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3000, 100 * kSecond)));
  collector.Poll(100 * kSecond);
  std::filesystem::remove(FlowLogPath(run_dir_, instance_));
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kEnd, 1, 3000, 101 * kSecond)));
  collector.Poll(101 * kSecond);
  ASSERT_EQ(LogEvents().size(), 1u);
  EXPECT_EQ(LogEvents()[0].event, "end");
  for (uint64_t id = 2; id < 6; ++id)
    ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, id, 3000 + id, 102 * kSecond)));
  collector.Poll(102 * kSecond);
  EXPECT_TRUE(std::filesystem::exists(FlowLogPath(run_dir_, instance_).string() + ".1"));
  EXPECT_EQ(LogEvents().size(), 5u);  // the rotated file is read first, then the current one (none yet)
}

TEST_F(FlowCollectorTest, TheCollectorThreadDrainsWhileAProducerPushesAndMetricsAreRead) {
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  constexpr uint64_t kFlows = 20000;  // more than a ring holds: the thread must keep up
  {
    FlowCollectorThread thread(collector, std::chrono::milliseconds(5));
    std::thread producer([&] {
      for (uint64_t id = 1; id <= kFlows; ++id) {
        FlowRecord record = VoteToRedis(FlowEvent::kStart, id, static_cast<uint16_t>(1024 + id % 60000), 100 * kSecond);
        while (!header().rings[0].Push(record)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    for (int i = 0; i < 50 && collector.Metrics().records < kFlows; ++i) {
      (void)collector.Map();  // readers on another thread, as the metrics server and the watch loop
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    producer.join();
    for (int i = 0; i < 200 && collector.Metrics().records < kFlows; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(collector.Metrics().records, kFlows);
  EXPECT_EQ(collector.Metrics().active, kFlows);
  EXPECT_EQ(collector.Map().edges.at(0).connections, kFlows);
  EXPECT_NE(header().consumer_heartbeat_ns.load(), 0u);
}

TEST_F(FlowCollectorTest, ARegionOfAnotherAbiMajorIsNotReadAndSaysWhy) {
  header().version_major = kFlowsVersionMajor + 1;
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  ASSERT_TRUE(header().rings[0].Push(VoteToRedis(FlowEvent::kStart, 1, 3000, 100 * kSecond)));
  EXPECT_EQ(owned->Poll(100 * kSecond), 0u);
  EXPECT_EQ(owned->Poll(102 * kSecond), 0u);
  const std::vector<std::string> log = owned->TakeLog();
  ASSERT_EQ(log.size(), 1u);  // said once
  EXPECT_THAT(log[0], ::testing::HasSubstr("ABI major 2, this control plane reads 1"));
}

TEST_F(FlowCollectorTest, NoRegionYetMeansNothingReadAndNoError) {
  region_ = SharedMemoryFile();
  SharedMemoryFile::Remove(ShmName(instance_, "flows"));
  std::unique_ptr<FlowCollector> owned = MakeCollector();
  FlowCollector& collector = *owned;
  EXPECT_EQ(collector.Poll(100 * kSecond), 0u);
  EXPECT_FALSE(collector.Metrics().attached);
}

}  // namespace
}  // namespace np::flows
