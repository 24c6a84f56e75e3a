// npctl's readers against real shared-memory regions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "control/cli/collect.h"
#include "control/daemon/section_publisher.h"
#include "dataplane/runtime/conntrack_memory.h"
#include "tests/control_daemon/test_support.h"

namespace np::cli {
namespace {

using ::testing::HasSubstr;

void Name(stats::SlotName& slot, uint32_t id, const char* name, uint32_t state = 0) {
  slot.id = id;
  std::strncpy(slot.name, name, stats::kNameLength - 1);
  slot.state.store(state);
  slot.in_use.store(1);
}

TEST(CollectCli, AMissingRegionSaysNodeplaneIsNotRunning) {
  np::testing::UniqueInstance instance;
  Result<TablesRegion> region = OpenTablesRegion(instance.name());
  ASSERT_FALSE(region.ok());
  EXPECT_EQ(region.error().message,
            "nodeplane is not running (no /dev/shm/nodeplane." + instance.name() + ".tables)");
}

TEST(CollectCli, SumsPerLcoreCountersThroughTheSlotDirectories) {
  np::testing::UniqueInstance instance;
  Result<StatsRegion> stats = StatsRegion::Create(instance.name());
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  stats::StatsHeader& header = stats->header();
  header.lcore_count = 2;
  header.worker_lcores[0] = 1;
  header.worker_lcores[1] = 2;
  Name(header.ports[0], 11, "vote-1", 0);
  Name(header.ports[1], 22, "uplink", 1);
  Name(header.service_ports[3], 1001, "vote/vote:http");
  for (uint32_t block = 0; block < 2; ++block) {
    header.lcores[block].ports[1].rx_packets = 10 + block;
    header.lcores[block].service_ports[3].packets = 100;
    header.lcores[block].service_ports[3].no_endpoint_rejects = block;
    header.lcores[block].drops[static_cast<size_t>(stats::DropReason::kNoRoute)] = 5;
    header.lcores[block].busy_cycles = 30;
    header.lcores[block].total_cycles = 100;
  }
  header.lcores[2].drops[0] = 1000;  // beyond lcore_count: not a worker, not summed

  Result<StatsRegion> opened = StatsRegion::Open(instance.name());
  ASSERT_TRUE(opened.ok());
  const std::vector<PortStatus> ports = CollectPorts(opened->header());
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0].name, "uplink");  // sorted by name
  EXPECT_TRUE(ports[0].link_up);
  EXPECT_EQ(ports[0].rx_packets, 21u);
  EXPECT_FALSE(ports[1].link_up);

  const auto services = CollectServiceCounters(opened->header());
  ASSERT_EQ(services.count(1001), 1u);
  EXPECT_EQ(services.at(1001).packets, 200u);
  EXPECT_EQ(services.at(1001).no_endpoint_rejects, 1u);

  const CountersView counters = CollectCounters(&opened->header(), nullptr);
  EXPECT_EQ(counters.drops[static_cast<size_t>(stats::DropReason::kNoRoute)], 10u);
  EXPECT_EQ(counters.drops[0], 0u);
  EXPECT_EQ(counters.rx_packets, 21u);  // what the ports say, in the same read as the counters
  EXPECT_FALSE(counters.conntrack);

  Result<TablesRegion> tables = TablesRegion::OpenOrCreate(instance.name(), DefaultRegionLayout());
  ASSERT_TRUE(tables.ok());
  const StatusView status = CollectStatus(instance.name(), *tables, &*opened);
  ASSERT_EQ(status.lcores.size(), 2u);
  EXPECT_EQ(status.lcores[1].lcore, 2u);
  EXPECT_EQ(status.lcores[1].busy_cycles, 30u);
  EXPECT_EQ(status.sections.size(), std::size(abi::kPublishedSections));
  EXPECT_EQ(status.sections[1].name, "services");
}

TEST(CollectCli, ReadsThePublishedServicesWithoutClaiming) {
  np::testing::UniqueInstance instance;
  Result<TablesRegion> region = TablesRegion::OpenOrCreate(instance.name(), DefaultRegionLayout());
  ASSERT_TRUE(region.ok());
  EXPECT_THAT(ReadPublishedServices(*region).error().message, HasSubstr("no services section has been published"));
  daemon::SectionPublisher publisher(*region);
  ServicesImage image;
  image.service_ports.push_back(abi::ServicePortRecord{});
  image.service_ports[0].id = 77;
  image.service_ports[0].name = abi::StringRef{0, 0};
  image.service_port_names.push_back("ns/svc:http");
  ASSERT_TRUE(publisher.PublishIfChanged(abi::SectionKind::kServices, EncodeServicesSection(image)).ok());
  Result<ServicesImage> read = ReadPublishedServices(*region);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->generation, 1u);
  ASSERT_EQ(read->service_port_names.size(), 1u);
  EXPECT_EQ(read->service_port_names[0], "ns/svc:http");
  EXPECT_EQ(region->section(abi::SectionKind::kServices).reader_slot.load(), abi::kNoReader);
}

TEST(CollectCli, ObservesTheConntrackTable) {
  np::testing::UniqueInstance instance;
  Result<ConntrackMemory> dataplane = ConntrackMemory::OpenOrCreate(instance.name(), 1024, ct::Timeouts{});
  ASSERT_TRUE(dataplane.ok()) << dataplane.error().message;
  const ct::FlowKey original{0xc0a86464, 0x0a600a0a, 40000, 80, ct::kProtoTcp};
  const ct::FlowKey reply{0x0af4010b, 0xc0a86464, 8080, 40000, ct::kProtoTcp};
  ct::EntryInit init;
  init.service_port_id = 1001;
  init.nat_flags = ct::kNatDnat;
  init.tcp_state = ct::TcpState::kSynSent;
  ASSERT_TRUE(dataplane->table().Insert(original, reply, init, 100).ok());

  Result<ConntrackMemory> observed = ConntrackMemory::Observe(instance.name());
  ASSERT_TRUE(observed.ok()) << observed.error().message;
  std::vector<ct::EntrySnapshot> entries;
  observed->table().ForEach([&](const ct::EntrySnapshot& entry) { entries.push_back(entry); });
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].reply, reply);
  EXPECT_EQ(entries[0].service_port_id, 1001u);
  const CountersView counters = CollectCounters(nullptr, &observed->table());
  ASSERT_TRUE(counters.conntrack);
  EXPECT_EQ(counters.conntrack->entries, 1u);
  EXPECT_EQ(counters.conntrack->inserts, 1u);
}

}  // namespace
}  // namespace np::cli
