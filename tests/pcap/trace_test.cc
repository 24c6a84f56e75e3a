// npctl trace's pieces beyond the golden walks (cases 014/015): the filter
// parser, the packet limit, ARP steps, JSON output and a full trace ring,
// through the in-process dataplane with case 003's node and NodePort service.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/stats_abi.h"
#include "control/cli/trace.h"
#include "dataplane/runtime/debug_region.h"
#include "tests/pcap/harness_fixture.h"

namespace np {
namespace {

TEST(TraceFilter, BadInputIsAClearError) {
  EXPECT_FALSE(cli::ParseTraceFilter("", "", ""));
  EXPECT_FALSE(cli::ParseTraceFilter("300.1.1.1", "", ""));
  EXPECT_FALSE(cli::ParseTraceFilter("10.0.0.1:0", "", ""));
  EXPECT_FALSE(cli::ParseTraceFilter("10.0.0.1:70000", "", ""));
  EXPECT_FALSE(cli::ParseTraceFilter("10.0.0.1:http", "", ""));
  EXPECT_FALSE(cli::ParseTraceFilter("10.0.0.1", "", "gre"));
  auto good = cli::ParseTraceFilter("10.0.0.1:40000", "192.168.100.10:30080", "udp");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->filter.src_ip, 0x0a000001u);
  EXPECT_EQ(good->filter.src_port, 40000);
  EXPECT_EQ(good->filter.dst_port, 30080);
  EXPECT_EQ(good->filter.protocol, 17);
}

class TraceTest : public test::NodePortCaseTest {
 protected:
  static void SetUpTestSuite() { Start("trace-test", "trctest"); }

  // Arms, runs `traffic`, collects and disarms; returns the packets traced.
  template <typename Fn>
  static std::map<uint32_t, cli::TracedPacket> Trace(const std::string& src, const std::string& dst,
                                                     uint32_t max_packets, Fn&& traffic, uint64_t* lost = nullptr) {
    debug::DebugHeader& header = dataplane_->debug().header();
    auto request = cli::ParseTraceFilter(src, dst, "");
    EXPECT_TRUE(request);
    request->max_packets = max_packets;
    auto sequence = cli::ArmTrace(header, *request, 0, 0);
    EXPECT_TRUE(sequence);
    std::map<uint32_t, cli::TracedPacket> none;
    const uint64_t lost_before = cli::CollectTrace(header, 0, none);
    traffic();
    std::map<uint32_t, cli::TracedPacket> packets;
    const uint64_t lost_after = cli::CollectTrace(header, *sequence, packets);
    cli::DisarmTrace(header);
    if (lost != nullptr) *lost = lost_after - lost_before;
    return packets;
  }

  static std::string Text(const std::map<uint32_t, cli::TracedPacket>& packets) {
    return cli::FormatTraceText(packets, cli::TraceNamesFromStats(dataplane_->stats().header()));
  }
};

TEST_F(TraceTest, ArpForTheGatewayIsTracedAndAnswered) {
  const auto packets = Trace("10.244.1.12", "", 10, [] { Send("podb", "podb_arp.pcap"); });
  EXPECT_EQ(Text(packets),
            "packet 1  arp 10.244.1.12 → 10.244.1.1  rx podb (worker 0)\n"
            "  arp        who-has 10.244.1.1 tell 10.244.1.12\n"
            "  arp        answered on podb\n");
}

TEST_F(TraceTest, TheLimitCountsPacketsOfBothDirections) {
  Send("podb", "podb_arp.pcap");  // the pod's MAC, for the SYN's tx
  const auto packets = Trace("192.168.100.1", "192.168.100.10:30080", 1, [] {
    Send("uplink", "syn.pcap");
    Send("podb", "synack.pcap");
  });
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_NE(Text(packets).find("packet 1  tcp 192.168.100.1:50000 → 192.168.100.10:30080 [S]  rx uplink"),
            std::string::npos)
      << Text(packets);
}

TEST_F(TraceTest, JsonHasTheSameSteps) {
  const auto packets = Trace("192.168.100.1", "", 2, [] { Send("uplink", "syn.pcap"); });
  const std::string json = cli::FormatTraceJson(packets, cli::TraceNamesFromStats(dataplane_->stats().header()));
  EXPECT_EQ(json.front(), '[');
  EXPECT_NE(json.find("\"packet\": 1"), std::string::npos) << json;
  EXPECT_NE(json.find("\"step\": \"conntrack\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"step\": \"tx\""), std::string::npos) << json;
}

TEST_F(TraceTest, AFullRingLosesStepsWithoutStallingTheWorker) {
  Send("podb", "podb_arp.pcap");
  const uint32_t podb_slot = SlotNamed("podb");
  const uint64_t forwarded_before = dataplane_->counters(0).ports[podb_slot].tx_packets.load();
  constexpr int kPackets = 600;  // three steps or more each: more than kTraceRingSteps
  uint64_t lost = 0;
  const auto packets = Trace("192.168.100.1", "", kPackets, [] { Send("uplink", "syn.pcap", kPackets); }, &lost);
  EXPECT_EQ(dataplane_->counters(0).ports[podb_slot].tx_packets.load() - forwarded_before,
            static_cast<uint64_t>(kPackets));
  EXPECT_GT(lost, 0u);
  size_t steps = 0;
  for (const auto& [number, packet] : packets) steps += packet.steps.size();
  EXPECT_EQ(steps, debug::kTraceRingSteps);
}

}  // namespace
}  // namespace np
