// Issue 3: when the control plane sends a services delta and when a full
// services section (services_sync.h), over a real tables region.
#include "control/daemon/services_sync.h"

#include <gtest/gtest.h>

#include "tests/common/test_node.h"
#include "tests/control_daemon/test_support.h"

namespace np::daemon {
namespace {

constexpr abi::SectionKind kServices = abi::SectionKind::kServices;
constexpr abi::SectionKind kDelta = abi::SectionKind::kServicesDelta;

NodeImage Node() { return np::testing::NodeA(); }

void AddService(k8s::ClusterState& state, int i, int endpoints) {
  k8s::Service service;
  service.meta.name = "svc-" + std::to_string(i);
  service.meta.namespace_ = "ns";
  service.cluster_ips = {k8s::IpAddress{false, 0x0a600000u + static_cast<uint32_t>(i), {}}};
  k8s::ServicePort port;
  port.name = "http";
  port.port = 80;
  service.ports = {port};
  state.services[{"ns", service.meta.name}] = service;
  k8s::EndpointSlice slice;
  slice.meta.name = service.meta.name + "-x";
  slice.meta.namespace_ = "ns";
  slice.meta.labels = {{k8s::kServiceNameLabel, service.meta.name}};
  for (int e = 0; e < endpoints; ++e) {
    k8s::Endpoint endpoint;
    endpoint.ip_addresses = {k8s::IpAddress{false, 0x0af40000u + static_cast<uint32_t>(i * 16 + e), {}}};
    endpoint.ready = true;
    slice.endpoints.push_back(endpoint);
  }
  slice.ports = {k8s::EndpointPort{"http", 8080, k8s::Protocol::kTCP}};
  state.endpoint_slices[{"ns", slice.meta.name}] = slice;
}

compile::ServicesChanges SliceChanged(int i) {
  compile::ServicesChanges changes;
  changes.endpoint_slices.insert({"ns", "svc-" + std::to_string(i) + "-x"});
  return changes;
}

class ServicesSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto region = TablesRegion::OpenOrCreate(instance_.name(), DefaultRegionLayout());
    ASSERT_TRUE(region.ok()) << region.error().message;
    region_.emplace(std::move(region).value());
    for (int i = 0; i < 100; ++i) AddService(state_, i, 3);
  }
  ServicesSync::Outcome Sync(ServicesSync& sync, const compile::ServicesChanges* changes) {
    auto outcome = sync.Sync(state_, Node(), changes, nullptr);
    EXPECT_TRUE(outcome.ok()) << outcome.error().message;
    return outcome.ok() ? *outcome : ServicesSync::Outcome{};
  }
  // Service i gets `endpoints` endpoints, and its slice change is synced.
  ServicesSync::Outcome SyncService(ServicesSync& sync, int i, int endpoints) {
    AddService(state_, i, endpoints);
    const compile::ServicesChanges changes = SliceChanged(i);
    return Sync(sync, &changes);
  }
  // The state the region describes equals a full compile of state_.
  void ExpectRegionHoldsState(const ServicesSync& sync) {
    std::optional<ServicesImage> published = ReadPublishedServicesState(*region_);
    ASSERT_TRUE(published.has_value());
    ServicesImage expected = sync.Image();
    ServicesImage got = SortedById(*published);
    expected = SortedById(expected);
    got.generation = expected.generation = 0;
    EXPECT_TRUE(EncodeServicesSection(got) == EncodeServicesSection(expected));
  }

  np::testing::UniqueInstance instance_;
  std::optional<TablesRegion> region_;
  k8s::ClusterState state_;
};

TEST_F(ServicesSyncTest, OneChangeIsADeltaManyChangesAFullSection) {
  SectionPublisher publisher(*region_);
  ServicesSync sync(publisher, {});
  EXPECT_EQ(Sync(sync, nullptr).kind, kServices);  // the first publication is a base
  ServicesSync::Outcome one = SyncService(sync, 5, 2);
  EXPECT_EQ(one.kind, kDelta);
  EXPECT_TRUE(one.published);
  EXPECT_EQ(one.delta_ports, 1u);
  ExpectRegionHoldsState(sync);
  // Cumulative: a second change carries the first one too.
  EXPECT_EQ(SyncService(sync, 6, 1).delta_ports, 2u);
  ExpectRegionHoldsState(sync);
  // Past max(64, Services/32) changed ports: a full section, the new base.
  compile::ServicesChanges many;
  for (int i = 0; i < 100; ++i) {
    AddService(state_, i, 4);
    many.endpoint_slices.merge(SliceChanged(i).endpoint_slices);
  }
  ServicesSync::Outcome full = Sync(sync, &many);
  EXPECT_EQ(full.kind, kServices);
  EXPECT_EQ(full.generation, 2u);
  ExpectRegionHoldsState(sync);
  // Nothing changed: nothing published.
  compile::ServicesChanges none;
  EXPECT_FALSE(Sync(sync, &none).published);
}

TEST_F(ServicesSyncTest, ARefusedDeltaIsFollowedByAFullSectionThenDeltasAgain) {
  SectionPublisher publisher(*region_);
  ServicesSync sync(publisher, {});
  Sync(sync, nullptr);
  ServicesSync::Outcome delta = SyncService(sync, 7, 1);
  ASSERT_EQ(delta.kind, kDelta);
  region_->ReportRefused(kDelta, delta.generation, "test: out of memory");
  EXPECT_EQ(SyncService(sync, 8, 1).kind, kServices);
  EXPECT_EQ(SyncService(sync, 9, 1).kind, kDelta);
  ExpectRegionHoldsState(sync);
}

TEST_F(ServicesSyncTest, ARestartedControlPlaneContinuesTheDeltaOfItsBase) {
  {
    SectionPublisher publisher(*region_);
    ServicesSync sync(publisher, {});
    Sync(sync, nullptr);
    ASSERT_EQ(SyncService(sync, 3, 1).kind, kDelta);
  }
  SectionPublisher publisher(*region_);
  std::optional<ServicesImage> published = ReadPublishedServicesState(*region_);
  ASSERT_TRUE(published.has_value());
  ServicesSync sync(publisher, compile::ServicePortIds(*published));
  ServicesSync::Outcome same = Sync(sync, nullptr);
  EXPECT_FALSE(same.published) << "the same state must not be republished after a restart";
  EXPECT_EQ(same.kind, kDelta);
  EXPECT_EQ(same.generation, 1u);
  // A dataplane restart: the publisher forgets, the next sync sends a full section.
  { np::testing::FakeDataplane dataplane(instance_.name()); }
  ASSERT_TRUE(publisher.CheckDataplaneRestart());
  compile::ServicesChanges none;
  ServicesSync::Outcome republished = Sync(sync, &none);
  EXPECT_EQ(republished.kind, kServices);
  EXPECT_TRUE(republished.published);
  ExpectRegionHoldsState(sync);
}

}  // namespace
}  // namespace np::daemon
