// Issue 3: "Manifests are applied incrementally where that matters for
// speed, but the result is always identical to a full recompile."
//
// ServicesModel::Update recompiles only the Services, EndpointSlices and
// Pods a change names. Random sequences of watch-like changes (Services
// added, removed, retyped, ports renamed; slices moved between Services,
// endpoints added, made not ready, moved to this node; hostPort pods; two
// Services contending for one LoadBalancer IP) must leave the model with
// exactly the image a fresh CompileServices of the same objects gives (told
// the IDs the model kept), and the delta against the base must turn the
// base into that image.
#include "control/compile/services_compiler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "control/config/stable_id.h"
#include "control/k8s/ip.h"
#include "tests/common/test_node.h"

namespace np::compile {
namespace {

using k8s::NamespacedName;

NodeImage TestNode() { return np::testing::NodeA(); }

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

class RandomCluster {
 public:
  explicit RandomCluster(uint32_t seed) : random_(seed) {}

  // `services` Services with a slice each, some contending for one LoadBalancer IP.
  ServicesChanges Populate(k8s::ClusterState& state, int services) {
    ServicesChanges changes;
    for (int i = 0; i < services; ++i) {
      const NamespacedName service_id{"ns", "svc-" + std::to_string(i)};
      const NamespacedName slice_id{"ns", "slice-" + std::to_string(i)};
      state.services[service_id] = MakeService(i);
      state.endpoint_slices[slice_id] = MakeSlice(slice_id, i);
      changes.services.insert(service_id);
      changes.endpoint_slices.insert(slice_id);
    }
    return changes;
  }

  // One random edit; returns what a watch would report.
  ServicesChanges Edit(k8s::ClusterState& state) {
    ServicesChanges changes;
    const int what = static_cast<int>(random_() % 6);
    const int i = static_cast<int>(random_() % 12);
    const NamespacedName service_id{"ns", "svc-" + std::to_string(i)};
    const NamespacedName slice_id{"ns", "slice-" + std::to_string(random_() % 16)};
    if (what == 0) {  // a Service added, changed or removed
      if (random_() % 4 == 0) state.services.erase(service_id);
      else state.services[service_id] = MakeService(i);
      changes.services.insert(service_id);
    } else if (what <= 3) {  // a slice changed (or moved to another Service, or removed)
      if (random_() % 6 == 0) state.endpoint_slices.erase(slice_id);
      else state.endpoint_slices[slice_id] = MakeSlice(slice_id, static_cast<int>(random_() % 12));
      changes.endpoint_slices.insert(slice_id);
    } else if (what == 4) {  // a pod with a hostPort comes or goes
      const NamespacedName pod_id{"ns", "pod-" + std::to_string(random_() % 4)};
      if (random_() % 3 == 0) state.pods.erase(pod_id);
      else state.pods[pod_id] = MakePod(pod_id);
      changes.pods.insert(pod_id);
    } else {  // an endpoint flips readiness in place
      auto slice = state.endpoint_slices.find(slice_id);
      if (slice != state.endpoint_slices.end() && !slice->second.endpoints.empty()) {
        k8s::Endpoint& endpoint = slice->second.endpoints[random_() % slice->second.endpoints.size()];
        endpoint.ready = !endpoint.ready.value_or(true);
        changes.endpoint_slices.insert(slice_id);
      }
    }
    return changes;
  }

 private:
  k8s::Service MakeService(int i) {
    k8s::Service service;
    service.meta.name = "svc-" + std::to_string(i);
    service.meta.namespace_ = "ns";
    const int type = static_cast<int>(random_() % 3);
    service.type = type == 0 ? k8s::ServiceType::kClusterIP
                   : type == 1 ? k8s::ServiceType::kNodePort
                               : k8s::ServiceType::kLoadBalancer;
    service.cluster_ips = {k8s::IpAddress{false, Ip(10, 96, 0, static_cast<uint32_t>(1 + i)), {}}};
    const int ports = 1 + static_cast<int>(random_() % 2);
    for (int p = 0; p < ports; ++p) {
      k8s::ServicePort port;
      port.name = p == 0 ? "http" : (random_() % 2 ? "metrics" : "admin");
      port.port = static_cast<uint16_t>(80 + p);
      port.protocol = random_() % 4 == 0 ? k8s::Protocol::kUDP : k8s::Protocol::kTCP;
      port.node_port = service.type == k8s::ServiceType::kClusterIP ? 0 : static_cast<uint16_t>(30000 + i * 2 + p);
      service.ports.push_back(port);
    }
    // Now and then two LoadBalancer Services contend for one ingress IP.
    if (service.type == k8s::ServiceType::kLoadBalancer)
      service.load_balancer_ingress_ips = {
          k8s::IpAddress{false, random_() % 8 == 0 ? Ip(192, 168, 100, 250) : Ip(192, 168, 100, 100 + i), {}}};
    if (random_() % 5 == 0) service.external_traffic_policy = k8s::TrafficPolicy::kLocal;
    if (random_() % 6 == 0) {
      service.affinity_client_ip = true;
      service.affinity_timeout_s = 600;
    }
    return service;
  }

  k8s::EndpointSlice MakeSlice(const NamespacedName& id, int service) {
    k8s::EndpointSlice slice;
    slice.meta.name = id.name;
    slice.meta.namespace_ = id.namespace_;
    slice.meta.labels = {{k8s::kServiceNameLabel, "svc-" + std::to_string(service)}};
    const int endpoints = static_cast<int>(random_() % 5);
    for (int e = 0; e < endpoints; ++e) {
      k8s::Endpoint endpoint;
      const uint32_t address = Ip(10, 244, static_cast<uint32_t>(random_() % 3), static_cast<uint32_t>(1 + random_() % 40));
      endpoint.addresses = {k8s::Ipv4ToString(address)};
      endpoint.ip_addresses = {k8s::IpAddress{false, address, {}}};
      endpoint.ready = random_() % 5 != 0;
      endpoint.serving = true;
      endpoint.terminating = !*endpoint.ready;
      endpoint.node_name = random_() % 2 ? "node-a" : "node-b";
      slice.endpoints.push_back(endpoint);
    }
    slice.ports = {k8s::EndpointPort{"http", 8080, k8s::Protocol::kTCP},
                   k8s::EndpointPort{"metrics", 9090, k8s::Protocol::kTCP}};
    return slice;
  }

  k8s::Pod MakePod(const NamespacedName& id) {
    k8s::Pod pod;
    pod.meta.name = id.name;
    pod.meta.namespace_ = id.namespace_;
    pod.node_name = "node-a";
    pod.phase = "Running";
    const uint32_t address = Ip(10, 244, 1, static_cast<uint32_t>(100 + random_() % 20));
    pod.pod_ip = k8s::IpAddress{false, address, {}};
    k8s::Container container;
    container.ports.push_back(k8s::ContainerPort{"web", 8080, k8s::Protocol::kTCP,
                                                  static_cast<uint16_t>(random_() % 8 == 0 ? 30001 : 8443)});
    pod.containers = {container};
    return pod;
  }

  std::mt19937 random_;
};

ServicesImage Canonical(ServicesImage image) {
  image = SortedById(image);
  image.generation = 0;
  return image;
}

TEST(ServicesModel, IncrementalUpdatesEqualAFullRecompile) {
  const NodeImage node = TestNode();
  int rebuilds = 0, updates = 0;
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    RandomCluster cluster(seed);
    k8s::ClusterState state;
    ServicesModel model;
    model.Rebuild(state, node, ServicesCompileOptions{});
    model.MarkBase(1);
    ServicesImage base = model.Compilation().image;
    base.generation = 1;
    for (int step = 0; step < 150; ++step) {
      const ServicesChanges changes = cluster.Edit(state);
      (model.Update(state, changes) ? updates : rebuilds)++;
      const std::string context = "seed " + std::to_string(seed) + " step " + std::to_string(step);
      const ServicesCompilation incremental = model.Compilation();
      const ServicesCompilation full = CompileServices(state, node, ServicesCompileOptions{model.Ids()});
      // Same content and order: the model assembles what the compiler would.
      ASSERT_TRUE(EncodeServicesSection(incremental.image) == EncodeServicesSection(full.image)) << context;
      EXPECT_EQ(incremental.warnings, full.warnings) << context;
      // The delta turns the base into the current state.
      ServicesDelta delta = model.Delta();
      delta.generation = 1;
      Result<ServicesImage> applied = ApplyServicesDelta(base, delta);
      ASSERT_TRUE(applied.ok()) << context << ": " << applied.error().message;
      ASSERT_TRUE(EncodeServicesSection(Canonical(*applied)) == EncodeServicesSection(Canonical(incremental.image)))
          << context;
      if (step % 40 == 39) {  // a new base now and then, as the sync publishes one
        model.MarkBase(static_cast<uint64_t>(step));
        base = incremental.image;
        base.generation = static_cast<uint64_t>(step);
        EXPECT_EQ(model.DeltaSize(), 0u);
      }
    }
  }
  // Both paths ran: most edits are incremental, contention forces rebuilds.
  EXPECT_GT(updates, 700);
  EXPECT_GT(rebuilds, 0);
}

TEST(ServicesModel, CompilingOnSeveralThreadsGivesTheOneThreadImage) {
  const NodeImage node = TestNode();
  RandomCluster cluster(11);
  k8s::ClusterState state;
  cluster.Populate(state, 2000);  // enough owners for every thread to take some
  ServicesModel one, many;
  one.Rebuild(state, node, ServicesCompileOptions{{}, 1});
  many.Rebuild(state, node, ServicesCompileOptions{{}, kMaxCompileThreads});
  auto expect_same = [&](const char* when) {
    const ServicesCompilation a = one.Compilation(), b = many.Compilation();
    ASSERT_EQ(a.image.service_ports.size(), b.image.service_ports.size()) << when;
    EXPECT_TRUE(EncodeServicesSection(a.image) == EncodeServicesSection(b.image)) << when;
    EXPECT_EQ(a.warnings, b.warnings) << when;
    EXPECT_EQ(one.maglev_tables_built(), many.maglev_tables_built()) << when;
    EXPECT_EQ(one.maglev_tables_reused(), many.maglev_tables_reused()) << when;
  };
  expect_same("rebuild");
  ASSERT_GT(one.service_port_count(), 2000u);
  // Every slice and Service replaced at once: the full-resync path of Update.
  const ServicesChanges everything = RandomCluster(12).Populate(state, 2000);
  one.Update(state, everything);
  many.Update(state, everything);
  expect_same("update of everything");
  const ServicesCompilation reference = CompileServices(state, node, ServicesCompileOptions{one.Ids(), 1});
  EXPECT_TRUE(EncodeServicesSection(reference.image) == EncodeServicesSection(many.Compilation().image));
}

// Four Services with a slice each, compiled once, on one thread.
struct SmallCluster {
  NodeImage node = TestNode();
  k8s::ClusterState state;
  ServicesModel model;
  SmallCluster() {
    RandomCluster(3).Populate(state, 4);
    model.Rebuild(state, node, ServicesCompileOptions{{}, 1});
  }
};

TEST(ServicesModel, APortRecompiledWithTheSameBackendsKeepsItsMaglevTables) {
  SmallCluster cluster;
  const NodeImage& node = cluster.node;
  k8s::ClusterState& state = cluster.state;
  ServicesModel& model = cluster.model;
  ASSERT_GT(model.maglev_tables_built(), 0u);
  EXPECT_EQ(model.maglev_tables_reused(), 0u);  // nothing compiled before
  const ServicesImage before = model.Compilation().image;

  // Every Service recompiled, no backend changed: every table is taken as it was.
  ServicesChanges everything;
  for (const auto& [id, service] : state.services) everything.services.insert(id);
  ASSERT_TRUE(model.Update(state, everything));
  EXPECT_EQ(model.maglev_tables_built(), 0u);
  EXPECT_GT(model.maglev_tables_reused(), 0u);
  EXPECT_TRUE(EncodeServicesSection(model.Compilation().image) == EncodeServicesSection(before));

  // A Rebuild (e.g. the node's addresses changed) takes them too.
  model.Rebuild(state, node, ServicesCompileOptions{model.Ids(), 1});
  EXPECT_EQ(model.maglev_tables_built(), 0u);

  // Another seed: every table is built again.
  NodeImage reseeded = node;
  reseeded.info.maglev_seed += 1;
  model.Rebuild(state, reseeded, ServicesCompileOptions{model.Ids(), 1});
  EXPECT_EQ(model.maglev_tables_reused(), 0u);
  EXPECT_GT(model.maglev_tables_built(), 0u);
}

TEST(ServicesModel, AnEndpointThatStopsBeingReadyGetsItsPortsTablesBuiltAgain) {
  SmallCluster cluster;
  const NodeImage& node = cluster.node;
  k8s::ClusterState& state = cluster.state;
  ServicesModel& model = cluster.model;
  // One endpoint of a slice with several turns not ready (serving,
  // terminating): it leaves the members, and the tables must follow.
  const NamespacedName slice_id{"ns", "slice-0"};
  k8s::EndpointSlice& slice = state.endpoint_slices.at(slice_id);
  slice.endpoints.resize(3);
  for (uint32_t i = 0; i < 3; ++i) {
    const uint32_t address = Ip(10, 245, 0, 1 + i);
    slice.endpoints[i].addresses = {k8s::Ipv4ToString(address)};
    slice.endpoints[i].ip_addresses = {k8s::IpAddress{false, address, {}}};
    slice.endpoints[i].ready = true;
  }
  ServicesChanges changes;
  changes.endpoint_slices.insert(slice_id);
  ASSERT_TRUE(model.Update(state, changes));
  slice.endpoints[0].ready = false;
  slice.endpoints[0].serving = true;
  slice.endpoints[0].terminating = true;
  ASSERT_TRUE(model.Update(state, changes));
  EXPECT_GT(model.maglev_tables_built(), 0u);
  const ServicesCompilation full = CompileServices(state, node, ServicesCompileOptions{model.Ids(), 1});
  EXPECT_TRUE(EncodeServicesSection(model.Compilation().image) == EncodeServicesSection(full.image));
}

TEST(ServicesModel, OneSliceChangeRecompilesOneServiceAndKeepsIds) {
  const NodeImage node = TestNode();
  k8s::ClusterState state;
  RandomCluster cluster(99);
  for (int i = 0; i < 200; ++i) cluster.Edit(state);
  ServicesModel model;
  model.Rebuild(state, node, ServicesCompileOptions{});
  model.MarkBase(1);
  const std::map<std::string, uint32_t> ids = model.Ids();
  // One endpoint of one slice becomes not ready.
  for (auto& [id, slice] : state.endpoint_slices) {
    if (slice.endpoints.empty()) continue;
    slice.endpoints[0].ready = !slice.endpoints[0].ready.value_or(true);
    ServicesChanges changes;
    changes.endpoint_slices.insert(id);
    ASSERT_TRUE(model.Update(state, changes) || model.Ids() == ids);
    break;
  }
  EXPECT_EQ(model.Ids(), ids);
  EXPECT_LE(model.Delta().changed.service_ports.size(), 2u);  // the slice's Service's ports at most
}

}  // namespace
}  // namespace np::compile
