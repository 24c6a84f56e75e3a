#include <gtest/gtest.h>

#include "dataplane/service/frozen_map.h"

#include <thread>

#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/route/node_tables.h"
#include "dataplane/service/service_tables.h"

namespace np {
namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

TEST(NeighborTable, LearnsUpdatesAndAges) {
  NeighborTable table(64);
  NeighborBinding binding;
  EXPECT_FALSE(table.Lookup(Ip(10, 0, 0, 1), binding));
  ASSERT_TRUE(table.Learn(Ip(10, 0, 0, 1), 0x02aabbccddeeULL, 3, 100));
  ASSERT_TRUE(table.Lookup(Ip(10, 0, 0, 1), binding));
  EXPECT_EQ(binding.mac, 0x02aabbccddeeULL);
  EXPECT_EQ(binding.dpdk_port, 3);
  table.Learn(Ip(10, 0, 0, 1), 0x02aabbccdd00ULL, 4, 150);  // moved
  ASSERT_TRUE(table.Lookup(Ip(10, 0, 0, 1), binding));
  EXPECT_EQ(binding.dpdk_port, 4);
  EXPECT_EQ(table.Age(200, 100), 0u);
  EXPECT_EQ(table.Age(400, 100), 1u);
  EXPECT_FALSE(table.Lookup(Ip(10, 0, 0, 1), binding));
}

TEST(NeighborTable, AgedSlotsAreReusedWhenTheProbeWindowIsFull) {
  NeighborTable table(16);
  for (uint32_t i = 1; i <= 16; ++i) ASSERT_TRUE(table.Learn(Ip(10, 0, 1, i), i, 0, 1));
  EXPECT_FALSE(table.Learn(Ip(10, 0, 2, 1), 99, 0, 1));  // full, nothing aged
  table.Age(1000, 10);
  EXPECT_TRUE(table.Learn(Ip(10, 0, 2, 1), 99, 0, 1000));
  NeighborBinding binding;
  EXPECT_TRUE(table.Lookup(Ip(10, 0, 2, 1), binding));
}

TEST(NeighborTable, ConcurrentLearnersAndReadersSeeWholeBindings) {
  NeighborTable table(1024);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    NeighborBinding binding;
    while (!stop.load()) {
      for (uint32_t i = 0; i < 256; ++i)
        if (table.Lookup(Ip(10, 1, 0, i), binding)) {
          ASSERT_EQ(binding.mac & 0xffff, binding.dpdk_port);
        }
    }
  });
  for (int round = 0; round < 200; ++round)
    for (uint32_t i = 0; i < 256; ++i) table.Learn(Ip(10, 1, 0, i), (static_cast<uint64_t>(round) << 16) | i, static_cast<uint16_t>(i), round);
  stop = true;
  reader.join();
}

TEST(FrozenMap, FindsEveryKeyIncludingTheLargestAndNothingElse) {
  // The largest key marks empty slots, so it is kept beside them.
  std::vector<std::pair<uint32_t, uint64_t>> entries;
  for (uint32_t i = 0; i < 1000; ++i) entries.emplace_back(i * 2654435761u, i);
  entries.emplace_back(UINT32_MAX, 4242);
  entries.emplace_back(7u * 2654435761u, 77);  // a duplicate key keeps the last value
  const FrozenMap<uint64_t, uint32_t> map(entries);
  for (uint32_t i = 0; i < 1000; ++i) {
    const uint64_t* found = map.Find(i * 2654435761u);
    ASSERT_NE(found, nullptr) << i;
    EXPECT_EQ(*found, i == 7 ? 77u : i);
  }
  ASSERT_NE(map.Find(UINT32_MAX), nullptr);
  EXPECT_EQ(*map.Find(UINT32_MAX), 4242u);
  EXPECT_EQ(map.Find(1), nullptr);
  size_t visited = 0;
  map.ForEach([&](uint32_t, uint64_t) { ++visited; });
  EXPECT_EQ(visited, 1001u);
  const FrozenMap<uint64_t, uint32_t> empty;
  EXPECT_EQ(empty.Find(UINT32_MAX), nullptr);
  EXPECT_EQ(empty.Find(0), nullptr);
}

ServicesImage TwoBackendService() {
  ServicesImage image;
  image.generation = 5;
  abi::ServicePortRecord sp{};
  sp.id = 77;
  sp.protocol = abi::kProtoTcp;
  sp.backend_first = 0;
  sp.backend_count = 2;
  sp.maglev_first = 0;
  sp.maglev_size = 5;
  sp.local_maglev_first = 5;
  sp.local_maglev_size = 3;
  sp.source_range_first = 0;
  sp.source_range_count = 1;
  image.service_ports.push_back(sp);
  image.service_port_names.push_back("default/web:http");
  image.frontends.push_back({Ip(10, 96, 0, 10), 80, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 0});
  image.frontends.push_back({Ip(192, 168, 100, 200), 80, abi::kProtoTcp, abi::FrontendKind::kLoadBalancer, 0});
  image.backends.push_back({Ip(10, 244, 1, 11), 8080, abi::kBackendLocal, 0});
  image.backends.push_back({Ip(10, 244, 2, 11), 8080, 0, 0});
  image.maglev = {0, 1, 0, 1, 1, /* local */ 0, 0, 0};
  image.source_ranges.push_back({Ip(192, 168, 0, 0), 16, {}});
  return image;
}

TEST(ServiceTables, FrontendsBackendsAndOwnership) {
  const auto snapshot = ServiceTables::FromImage(TwoBackendService(), CounterSlotHooks{});
  const ServiceTables& tables = *snapshot;
  const abi::FrontendRecord* frontend = tables.FindFrontend(Ip(10, 96, 0, 10), 80, abi::kProtoTcp);
  ASSERT_NE(frontend, nullptr);
  EXPECT_EQ(frontend->kind, abi::FrontendKind::kClusterIP);
  EXPECT_EQ(tables.FindFrontend(Ip(10, 96, 0, 10), 81, abi::kProtoTcp), nullptr);
  EXPECT_EQ(tables.FindFrontend(Ip(10, 96, 0, 10), 80, abi::kProtoUdp), nullptr);
  EXPECT_EQ(tables.PickBackend(0, 1, false)->ipv4, Ip(10, 244, 2, 11));
  EXPECT_EQ(tables.PickBackend(0, 7, true)->ipv4, Ip(10, 244, 1, 11));  // local table only names the local backend
  EXPECT_TRUE(tables.HasBackend(77, Ip(10, 244, 2, 11), 8080));
  EXPECT_FALSE(tables.HasBackend(77, Ip(10, 244, 2, 11), 8081));
  EXPECT_FALSE(tables.HasBackend(78, Ip(10, 244, 2, 11), 8080));
  EXPECT_TRUE(tables.OwnsAddress(Ip(192, 168, 100, 200)));
  EXPECT_FALSE(tables.OwnsAddress(Ip(10, 96, 0, 10)));  // ClusterIPs are not answered by ARP
  EXPECT_TRUE(tables.SourceAllowed(0, Ip(192, 168, 3, 4)));
  EXPECT_FALSE(tables.SourceAllowed(0, Ip(172, 16, 0, 1)));
  EXPECT_EQ(tables.IndexOf(77), 0u);
  EXPECT_FALSE(tables.IndexOf(1).has_value());
}

TEST(NodeTables, RoutesPodsNodeAddressesPeersAndUplink) {
  NodeImage image;
  image.info.node_ipv4[0] = Ip(192, 168, 100, 10);
  image.info.node_ipv4_count = 1;
  image.info.pod_cidr = Ip(10, 244, 1, 0);
  image.info.pod_cidr_len = 24;
  image.info.cluster_cidr = Ip(10, 244, 0, 0);
  image.info.cluster_cidr_len = 16;
  image.info.uplink_gateway_ipv4 = Ip(192, 168, 100, 1);
  image.routes.push_back({Ip(10, 244, 2, 0), 24, {}, Ip(192, 168, 100, 11), 1});
  std::vector<PortRuntime> ports = {
      {1, 0, abi::PortRole::kUplink, 0, 0, 1, 1, 0, 1, 0},
      {2, 1, abi::PortRole::kPod, 0, Ip(10, 244, 1, 11), 1, 1, 1, 2, 0},
      {3, 2, abi::PortRole::kHost, 0, 0, 1, 1, 2, 3, 0},
  };
  NodeTables node(image, ports);
  EXPECT_EQ(node.Route(Ip(10, 244, 1, 11)).port_slot, 1);
  EXPECT_EQ(node.Route(Ip(10, 244, 1, 99)).port_slot, kNoSlot);  // our pod CIDR, no such pod
  EXPECT_EQ(node.Route(Ip(192, 168, 100, 10)).port_slot, 2);     // the node itself: host port
  const NextHop peer = node.Route(Ip(10, 244, 2, 5));
  EXPECT_EQ(peer.port_slot, 0);
  EXPECT_EQ(peer.ipv4, Ip(192, 168, 100, 11));
  const NextHop outside = node.Route(Ip(8, 8, 8, 8));
  EXPECT_EQ(outside.port_slot, 0);
  EXPECT_EQ(outside.ipv4, Ip(192, 168, 100, 1));
  EXPECT_TRUE(node.InCluster(Ip(10, 244, 7, 7)));
  EXPECT_FALSE(node.InCluster(Ip(192, 168, 100, 1)));
  EXPECT_EQ(node.SlotOfDpdkPort(2), 2);
}

}  // namespace
}  // namespace np
