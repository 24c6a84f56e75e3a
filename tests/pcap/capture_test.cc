// `npctl capture` end to end inside one process: the in-process dataplane
// (tests/harness) with case 003's node and NodePort service, a capture armed
// through the same functions npctl uses (control/cli/capture.h), the rings
// drained into pcap files that libpcap reads back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "control/cli/capture.h"
#include "dataplane/runtime/debug_region.h"
#include "tests/pcap/harness_fixture.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using test::Packet;
using test::ReadPcap;

const fs::path& kCase = test::kNodePortCase;

class CaptureTest : public test::NodePortCaseTest {
 protected:
  static void SetUpTestSuite() { Start("capture-test", "captest"); }
};

TEST_F(CaptureTest, PodPortShowsTheSynAfterDnatAndTheFilterKeepsOnlyIt) {
  debug::DebugHeader& header = dataplane_->debug().header();
  cli::CaptureRequest request;
  request.port_slot = SlotNamed("podb");
  auto sequence = cli::ArmCapture(header, request, 0, 0);
  ASSERT_TRUE(sequence) << sequence.error().message;
  EXPECT_FALSE(cli::ArmCapture(header, request, 0, 0)) << "a second capture must be refused";

  Send("podb", "podb_arp.pcap");  // rx: the pod's ARP for its gateway; tx: our reply
  Send("uplink", "syn.pcap");     // tx on podb: the SYN after DNAT and SNAT
  Send("poda", "poda_arp.pcap");  // another port: not captured
  dataplane_->DrainAndFree();

  const fs::path dir = fs::temp_directory_path() / ("np-capture-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto all = cli::PcapSink::Open(dir / "all.pcap", request.snaplen, "");
  auto web = cli::PcapSink::Open(dir / "web.pcap", request.snaplen, "tcp port 8080");
  ASSERT_TRUE(all && web);
  EXPECT_FALSE(cli::PcapSink::Open(dir / "bad.pcap", request.snaplen, "tcp port eighty")) << "a bad filter is an error";
  std::vector<uint8_t> directions;
  const uint64_t dropped = cli::DrainCapture(header, *sequence, [&](const debug::CaptureRecord& record) {
    directions.push_back(record.direction);
    all->Write(record);
    web->Write(record);
  });
  cli::DisarmCapture(header);
  all->Flush();
  web->Flush();
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(directions, (std::vector<uint8_t>{debug::kCaptureRx, debug::kCaptureTx, debug::kCaptureTx}));

  const std::vector<Packet> everything = ReadPcap(dir / "all.pcap");
  ASSERT_EQ(everything.size(), 3u);
  EXPECT_EQ(everything[0], ReadPcap(kCase / "podb_arp.pcap").at(0));
  EXPECT_EQ(everything[1], ReadPcap(kCase / "podb_arp_reply.pcap").at(0));
  const std::vector<Packet> filtered = ReadPcap(dir / "web.pcap");
  ASSERT_EQ(filtered.size(), 1u) << "the filter must drop the ARPs";
  EXPECT_EQ(filtered[0], ReadPcap(kCase / "syn_nat.pcap").at(0)) << "the SYN as sent to the pod, after NAT";
  fs::remove_all(dir);
}

TEST_F(CaptureTest, AFullRingDropsAndCountsWithoutStallingTheWorker) {
  debug::DebugHeader& header = dataplane_->debug().header();
  cli::CaptureRequest request;
  request.port_slot = SlotNamed("uplink");
  request.direction = debug::kCaptureRx;
  const uint64_t dropped_before = cli::DrainCapture(header, 0, [](const debug::CaptureRecord&) {});
  auto sequence = cli::ArmCapture(header, request, 0, 0);
  ASSERT_TRUE(sequence) << sequence.error().message;
  const uint64_t forwarded_before = dataplane_->counters(0).ports[SlotNamed("podb")].tx_packets.load();
  constexpr int kSent = debug::kCaptureRingPackets + 100;
  Send("uplink", "syn.pcap", kSent);  // nobody drains the capture ring meanwhile
  dataplane_->DrainAndFree();
  EXPECT_EQ(dataplane_->counters(0).ports[SlotNamed("podb")].tx_packets.load() - forwarded_before,
            static_cast<uint64_t>(kSent))
      << "every packet is still forwarded";
  uint64_t captured = 0;
  const uint64_t dropped = cli::DrainCapture(header, *sequence, [&](const debug::CaptureRecord&) { ++captured; });
  EXPECT_EQ(captured, debug::kCaptureRingPackets);
  EXPECT_EQ(dropped - dropped_before, 100u);

  // Disarmed: nothing more is copied.
  cli::DisarmCapture(header);
  Send("uplink", "syn.pcap", 3);
  dataplane_->DrainAndFree();
  captured = 0;
  cli::DrainCapture(header, *sequence, [&](const debug::CaptureRecord&) { ++captured; });
  EXPECT_EQ(captured, 0u);
}

}  // namespace
}  // namespace np
