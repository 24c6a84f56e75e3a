// The fixture of the tests that drive the in-process dataplane
// (tests/harness) with golden case 003's node and NodePort service
// (capture_test, trace_test): one dataplane per test binary, case pcaps sent
// through worker 0.
#pragma once

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/stats_abi.h"
#include "dataplane/runtime/stats_region.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/harness/test_eal.h"

namespace np::test {

using Packet = std::vector<uint8_t>;

inline const std::filesystem::path kNodePortCase =
    std::filesystem::path(NP_PCAP_CASES) / "003_nodeport_dnat_snat_and_reply";

// Every packet of a pcap file, as captured.
inline std::vector<Packet> ReadPcap(const std::filesystem::path& path) {
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

class NodePortCaseTest : public ::testing::Test {
 protected:
  // For the derived fixture's SetUpTestSuite: the EAL (file prefix
  // `name` + pid) and the dataplane (shm instance `instance_prefix` + pid),
  // with case 003's services published.
  static void Start(const std::string& name, const std::string& instance_prefix) {
    ASSERT_TRUE(harness::InitTestEal(name, "np-" + name + "-" + std::to_string(getpid()))) << "rte_eal_init failed";
    harness::InProcessOptions options;
    options.mbufs = 8191;
    options.ring_size = 2048;
    options.instance_prefix = instance_prefix;
    dataplane_ = new harness::InProcessDataplane(options);
    ASSERT_TRUE(dataplane_->Setup(kNodePortCase / "node.yaml")) << dataplane_->error();
    ASSERT_TRUE(dataplane_->PublishServices(kNodePortCase / "manifests")) << dataplane_->error();
    dataplane_->DrainAndFree();
  }
  static void TearDownTestSuite() {
    delete dataplane_;
    dataplane_ = nullptr;
  }

  // Sends every packet of a case pcap on `port`, `repeat` times, then frees
  // what the dataplane transmitted.
  static void Send(const std::string& port, const std::string& file, int repeat = 1) {
    const harness::RingPort* ring_port = dataplane_->PortNamed(port);
    ASSERT_NE(ring_port, nullptr);
    const std::vector<Packet> packets = ReadPcap(kNodePortCase / file);
    for (int i = 0; i < repeat; ++i) {
      for (const Packet& packet : packets) {
        rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane_->shared().pool);
        ASSERT_NE(mbuf, nullptr);
        std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(packet.size())), packet.data(), packet.size());
        dataplane_->Process(0, dataplane_->SlotOf(*ring_port), &mbuf, 1);
      }
      if (i % 256 == 255) dataplane_->DrainAndFree();
    }
    dataplane_->DrainAndFree();
  }

  // The stats port slot of the node config's port `name`.
  static uint32_t SlotNamed(const std::string& name) {
    const stats::StatsHeader& stats = dataplane_->stats().header();
    for (uint32_t slot = 0; slot < stats::kMaxPorts; ++slot)
      if (stats.ports[slot].in_use.load() != 0 && name == stats.ports[slot].name) return slot;
    ADD_FAILURE() << "no port " << name;
    return 0;
  }

  static inline harness::InProcessDataplane* dataplane_ = nullptr;
};

}  // namespace np::test
