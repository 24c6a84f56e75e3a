// `npctl capture` end to end inside one process: the in-process dataplane
// (tests/harness) with case 003's node and NodePort service, a capture armed
// through the same functions npctl uses (control/cli/capture.h), the rings
// drained into pcap files that libpcap reads back.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "control/cli/capture.h"
#include "common/stats_abi.h"
#include "dataplane/runtime/debug_region.h"
#include "dataplane/runtime/stats_region.h"
#include "tests/harness/in_process_dataplane.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using Packet = std::vector<uint8_t>;

const fs::path kCase = fs::path(NP_PCAP_CASES) / "003_nodeport_dnat_snat_and_reply";

std::vector<Packet> ReadPcap(const fs::path& path) {
  char error[PCAP_ERRBUF_SIZE];
  pcap_t* handle = pcap_open_offline(path.c_str(), error);
  EXPECT_NE(handle, nullptr) << path << ": " << error;
  std::vector<Packet> packets;
  if (handle == nullptr) return packets;
  pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  while (pcap_next_ex(handle, &header, &bytes) == 1) packets.emplace_back(bytes, bytes + header->caplen);
  pcap_close(handle);
  return packets;
}

class CaptureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string prefix = "np-capture-test-" + std::to_string(getpid());
    std::vector<std::string> args = {"capture_test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                                     "--file-prefix", prefix, "-l", "0", "--log-level", "*:error"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0);
    harness::InProcessOptions options;
    options.mbufs = 8191;
    options.ring_size = 2048;
    options.instance_prefix = "captest";
    dataplane_ = new harness::InProcessDataplane(options);
    ASSERT_TRUE(dataplane_->Setup(kCase / "node.yaml")) << dataplane_->error();
    ASSERT_TRUE(dataplane_->PublishServices(kCase / "manifests")) << dataplane_->error();
    dataplane_->DrainAndFree();
  }
  static void TearDownTestSuite() {
    delete dataplane_;
    dataplane_ = nullptr;
  }

  // Sends every packet of a case pcap on `port`, `repeat` times.
  static void Send(const std::string& port, const std::string& file, int repeat = 1) {
    const harness::RingPort* ring_port = dataplane_->PortNamed(port);
    ASSERT_NE(ring_port, nullptr);
    const std::vector<Packet> packets = ReadPcap(kCase / file);
    for (int i = 0; i < repeat; ++i) {
      for (const Packet& packet : packets) {
        rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane_->shared().pool);
        ASSERT_NE(mbuf, nullptr);
        std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(packet.size())), packet.data(), packet.size());
        dataplane_->Process(0, dataplane_->SlotOf(*ring_port), &mbuf, 1);
      }
      if (i % 256 == 255) dataplane_->DrainAndFree();
    }
  }

  static uint32_t SlotNamed(const std::string& name) {
    const stats::StatsHeader& stats = dataplane_->stats().header();
    for (uint32_t slot = 0; slot < stats::kMaxPorts; ++slot)
      if (stats.ports[slot].in_use.load() != 0 && name == stats.ports[slot].name) return slot;
    ADD_FAILURE() << "no port " << name;
    return 0;
  }

  static harness::InProcessDataplane* dataplane_;
};

harness::InProcessDataplane* CaptureTest::dataplane_ = nullptr;

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
