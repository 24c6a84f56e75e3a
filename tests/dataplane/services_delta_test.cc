// Issue 3: "a single endpoint change must not rewrite or re-validate
// everything". The dataplane's side of the services delta: ServiceTables
// derived from a base image by cumulative deltas describe exactly the
// state ApplyServicesDelta() gives, share what did not change, refuse a
// delta that does not fit, and ServicesUpdater takes sections from a real
// tables region in the right order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "common/shm_region.h"
#include "dataplane/service/service_tables.h"
#include "dataplane/service/services_updater.h"

namespace np {
namespace {

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

// A service port with `backends` backends (addresses from `seed`), a
// ClusterIP frontend and, for odd ids, a LoadBalancer frontend.
void AddPort(ServicesImage& image, uint32_t id, uint32_t backends, uint32_t seed) {
  abi::ServicePortRecord record{};
  record.id = id;
  record.protocol = abi::kProtoTcp;
  record.backend_first = static_cast<uint32_t>(image.backends.size());
  record.backend_count = backends;
  for (uint32_t b = 0; b < backends; ++b)
    image.backends.push_back(abi::BackendRecord{Ip(10, 244, seed % 200, 1 + b), static_cast<uint16_t>(8000 + seed % 7),
                                                static_cast<uint8_t>(b == 0 ? abi::kBackendLocal : 0), 0});
  if (backends > 0) {
    record.maglev_first = static_cast<uint32_t>(image.maglev.size());
    record.maglev_size = 7;
    for (uint32_t slot = 0; slot < 7; ++slot) image.maglev.push_back((slot + seed) % backends);
    record.local_maglev_first = static_cast<uint32_t>(image.maglev.size());
    record.local_maglev_size = 7;
    for (uint32_t slot = 0; slot < 7; ++slot) image.maglev.push_back(0);
  }
  const uint32_t index = static_cast<uint32_t>(image.service_ports.size());
  image.frontends.push_back(abi::FrontendRecord{Ip(10, 96, id >> 8, id & 0xff), 80, abi::kProtoTcp,
                                                abi::FrontendKind::kClusterIP, index});
  if (id % 2)
    image.frontends.push_back(abi::FrontendRecord{Ip(192, 168, 100, id % 250), static_cast<uint16_t>(id), abi::kProtoTcp,
                                                  abi::FrontendKind::kLoadBalancer, index});
  image.service_ports.push_back(record);
  image.service_port_names.push_back("ns/svc-" + std::to_string(id) + ":http");
}

ServicesImage Canonical(ServicesImage image) {
  image = SortedById(image);
  image.generation = 0;
  return image;
}

void ExpectSameState(const ServicesImage& a, const ServicesImage& b, const std::string& context) {
  EXPECT_TRUE(EncodeServicesSection(Canonical(a)) == EncodeServicesSection(Canonical(b))) << context;
}

// Every frontend of `image` is found and leads to its port's backends.
void ExpectLookups(const ServiceTables& tables, const ServicesImage& image, const std::string& context) {
  for (const abi::FrontendRecord& frontend : image.frontends) {
    const abi::ServicePortRecord& expected = image.service_ports[frontend.service_port_index];
    const abi::FrontendRecord* found = tables.FindFrontend(frontend.ipv4, frontend.port, frontend.protocol);
    ASSERT_NE(found, nullptr) << context;
    EXPECT_EQ(tables.service_port(found->service_port_index).id, expected.id) << context;
    for (uint32_t b = expected.backend_first; b < expected.backend_first + expected.backend_count; ++b)
      EXPECT_TRUE(tables.HasBackend(expected.id, image.backends[b].ipv4, image.backends[b].port)) << context;
    const abi::BackendRecord* picked = tables.PickBackend(found->service_port_index, 12345, false);
    EXPECT_EQ(picked != nullptr, expected.backend_count > 0) << context;
  }
  EXPECT_EQ(tables.service_port_count(), image.service_ports.size()) << context;
}

TEST(ServicesDelta, CumulativeDeltasGiveTheStateApplyServicesDeltaDescribes) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    std::mt19937 random(seed);
    ServicesImage base;
    base.generation = 7;
    std::vector<uint32_t> base_ids;
    for (uint32_t id = 1; id <= 60; ++id) {
      AddPort(base, id, random() % 4, random());
      base_ids.push_back(id);
    }
    std::unique_ptr<ServiceTables> tables = ServiceTables::FromImage(base, CounterSlotHooks{});
    ExpectLookups(*tables, base, "base");
    // The delta in force: id -> its version (seed), or removed.
    std::map<uint32_t, std::pair<uint32_t, uint32_t>> changed;  // id -> (backends, seed)
    std::set<uint32_t> removed;
    std::set<uint32_t> touched_before;  // ids the previous delta named
    for (uint64_t step = 1; step <= 40; ++step) {
      // Change, add, remove, or revert a port to its base version.
      for (int edit = 0; edit < 3; ++edit) {
        const uint32_t id = 1 + random() % 80;
        const int what = static_cast<int>(random() % 4);
        const bool in_base = id <= 60;
        if (what == 0 && in_base) {
          removed.insert(id);
          changed.erase(id);
        } else if (what == 1) {
          changed.erase(id);
          removed.erase(id);
        } else {
          changed[id] = {static_cast<uint32_t>(random() % 4), static_cast<uint32_t>(random())};
          removed.erase(id);
        }
      }
      ServicesDelta delta;
      delta.generation = step;
      delta.base_generation = 7;
      delta.base_service_ports = static_cast<uint32_t>(base.service_ports.size());
      for (const auto& [id, version] : changed) AddPort(delta.changed, id, version.first, version.second);
      delta.removed_ids.assign(removed.begin(), removed.end());
      const std::string context = "seed " + std::to_string(seed) + " step " + std::to_string(step);

      Result<ServicesImage> expected = ApplyServicesDelta(base, delta);
      ASSERT_TRUE(expected.ok()) << context << ": " << expected.error().message;
      // Through the encoding the dataplane reads.
      const std::vector<uint8_t> bytes = EncodeServicesDeltaSection(delta);
      Result<ServicesDelta> decoded = DecodeServicesDeltaSection(bytes.data(), bytes.size(), nullptr);
      ASSERT_TRUE(decoded.ok()) << context << ": " << decoded.error().message;
      auto next = tables->WithDelta(*decoded, CounterSlotHooks{});
      ASSERT_TRUE(next.ok()) << context << ": " << next.error().message;
      ExpectSameState((*next)->ToImage(), *expected, context);
      ExpectLookups(**next, *expected, context);
      EXPECT_EQ((*next)->version(), tables->version() + 1) << context;
      // What neither delta names is shared, not copied.
      for (uint32_t id : base_ids) {
        if (changed.count(id) || removed.count(id) || touched_before.count(id)) continue;
        auto before = tables->IndexOf(id), after = (*next)->IndexOf(id);
        ASSERT_TRUE(before && after) << context;
        EXPECT_EQ(tables->state(*before), (*next)->state(*after)) << context << ": port " << id << " was copied";
      }
      tables = std::move(next).value();
      touched_before = removed;
      for (const auto& [id, version] : changed) touched_before.insert(id);
    }
  }
}

TEST(ServicesDelta, ADeltaThatDoesNotFitIsRefusedAndChangesNothing) {
  ServicesImage base;
  base.generation = 3;
  AddPort(base, 1, 2, 1);
  AddPort(base, 2, 2, 2);
  auto tables = ServiceTables::FromImage(base, CounterSlotHooks{});

  ServicesDelta steals;  // a new port claims port 1's ClusterIP frontend
  steals.generation = 1;
  steals.base_generation = 3;
  steals.base_service_ports = 2;
  AddPort(steals.changed, 9, 1, 9);
  steals.changed.frontends[0].ipv4 = Ip(10, 96, 0, 1);
  auto refused = tables->WithDelta(steals, CounterSlotHooks{});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("belongs to another service port"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(ApplyServicesDelta(base, steals).ok());

  ServicesDelta other_base = steals;
  other_base.changed = ServicesImage{};
  other_base.base_generation = 2;
  auto wrong = tables->WithDelta(other_base, CounterSlotHooks{});
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("applies to services generation 2"), std::string::npos) << wrong.error().message;
  ExpectLookups(*tables, base, "after the refusals");

  // The frontend moves when its owner is removed in the same delta.
  ServicesDelta moves = steals;
  moves.removed_ids = {1};
  auto moved = tables->WithDelta(moves, CounterSlotHooks{});
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ((*moved)->service_port((*moved)->FindFrontend(Ip(10, 96, 0, 1), 80, abi::kProtoTcp)->service_port_index).id, 9u);
}

TEST(ServicesDelta, DecodingRefusesDuplicateAndZeroIds) {
  ServicesDelta delta;
  delta.base_generation = 1;
  AddPort(delta.changed, 5, 1, 1);
  delta.removed_ids = {5};
  std::vector<uint8_t> bytes = EncodeServicesDeltaSection(delta);
  auto twice = DecodeServicesDeltaSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("changed or removed twice"), std::string::npos);
  delta.removed_ids = {0};
  bytes = EncodeServicesDeltaSection(delta);
  auto zero = DecodeServicesDeltaSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("id 0"), std::string::npos);
  delta.removed_ids = {};
  bytes = EncodeServicesDeltaSection(delta);
  bytes[bytes.size() - 1] ^= 1;
  const uint32_t crc = Crc32(bytes.data(), bytes.size()) ^ 1u;
  EXPECT_FALSE(DecodeServicesDeltaSection(bytes.data(), bytes.size(), &crc).ok());
}

TEST(ServicesDelta, CounterSlotsFollowPortsInAndOut) {
  std::map<uint32_t, int> assigned, released;
  CounterSlotHooks hooks;
  hooks.assign = [&](uint32_t id, const std::string&) { return static_cast<uint32_t>(++assigned[id] * 100 + id); };
  hooks.release = [&](uint32_t id) { ++released[id]; };
  ServicesImage base;
  base.generation = 1;
  AddPort(base, 1, 1, 1);
  AddPort(base, 2, 1, 2);
  auto tables = ServiceTables::FromImage(base, hooks);
  EXPECT_EQ(assigned, (std::map<uint32_t, int>{{1, 1}, {2, 1}}));

  ServicesDelta delta;
  delta.generation = 1;
  delta.base_generation = 1;
  delta.base_service_ports = 2;
  AddPort(delta.changed, 1, 2, 5);  // changed: keeps its slot
  AddPort(delta.changed, 3, 1, 3);  // added
  delta.removed_ids = {2};
  auto next = tables->WithDelta(delta, hooks);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(assigned, (std::map<uint32_t, int>{{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(released, (std::map<uint32_t, int>{{2, 1}}));
  EXPECT_EQ((*next)->counter_slot(*(*next)->IndexOf(1)), 101u);

  // The next delta no longer names 2 and 3: 2 comes back from the base, 3 goes.
  ServicesDelta reverted;
  reverted.generation = 2;
  reverted.base_generation = 1;
  reverted.base_service_ports = 2;
  auto back = (*next)->WithDelta(reverted, hooks);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(assigned[2], 2);
  EXPECT_EQ(released[3], 1);
  ExpectSameState((*back)->ToImage(), base, "reverted to the base");
  EXPECT_EQ((*back)->lost_addresses(), std::vector<uint32_t>{Ip(192, 168, 100, 3)});
}

// The region protocol: a delta waits for its base, a stale one is dropped,
// one that does not fit is refused with its reason while the tables stay.
TEST(ServicesUpdater, AppliesBasesAndDeltasInOrder) {
  const std::string instance = "np-test-delta-" + std::to_string(getpid());
  auto region = TablesRegion::OpenOrCreate(instance, DefaultRegionLayout());
  ASSERT_TRUE(region.ok()) << region.error().message;
  ServicesUpdater updater(*region);
  std::unique_ptr<ServiceTables> current;
  auto poll = [&]() -> bool {
    std::string refusal;
    auto update = updater.Poll(current.get(), CounterSlotHooks{}, &refusal);
    if (!update) return false;
    updater.ReportApplied(*update);
    current = std::move(update->tables);
    return true;
  };
  ServicesImage base;
  AddPort(base, 1, 1, 1);
  ServicesDelta delta;
  delta.base_generation = 2;  // names a base not published yet
  delta.base_service_ports = 1;
  AddPort(delta.changed, 2, 1, 2);
  ASSERT_TRUE(region->Publish(abi::SectionKind::kServices, EncodeServicesSection(base), 1).ok());
  ASSERT_TRUE(poll());
  ASSERT_TRUE(region->Publish(abi::SectionKind::kServicesDelta, EncodeServicesDeltaSection(delta), 1).ok());
  EXPECT_FALSE(poll()) << "a delta waits for its base";
  base.generation = 2;
  ASSERT_TRUE(region->Publish(abi::SectionKind::kServices, EncodeServicesSection(base), 2).ok());
  const uint32_t first_version = current->version();
  ASSERT_TRUE(poll());  // the base
  // Every snapshot gets a new version, a full one after a full one too:
  // conntrack entries stamped with the old one are revalidated.
  EXPECT_EQ(current->version(), first_version + 1);
  ASSERT_TRUE(poll());  // then the delta that waited for it
  EXPECT_EQ(region->AppliedGeneration(abi::SectionKind::kServicesDelta), 1u);
  EXPECT_EQ(current->service_port_count(), 2u);

  ServicesDelta stale = delta;
  stale.base_generation = 1;  // the base it names was replaced
  ASSERT_TRUE(region->Publish(abi::SectionKind::kServicesDelta, EncodeServicesDeltaSection(stale), 2).ok());
  const uint32_t version = current->version();
  EXPECT_FALSE(poll()) << "a delta against a replaced base is dropped";
  EXPECT_EQ(current->version(), version);

  ServicesDelta bad = delta;
  bad.base_service_ports = 5;  // does not fit the base
  ASSERT_TRUE(region->Publish(abi::SectionKind::kServicesDelta, EncodeServicesDeltaSection(bad), 3).ok());
  EXPECT_FALSE(poll());
  EXPECT_EQ(region->RefusedGeneration(abi::SectionKind::kServicesDelta), 3u);
  EXPECT_NE(region->RefusalReason(abi::SectionKind::kServicesDelta).find("expects 5 service ports"), std::string::npos)
      << region->RefusalReason(abi::SectionKind::kServicesDelta);
  EXPECT_EQ(current->service_port_count(), 2u);
  SharedMemoryFile::Remove(ShmName(instance, "tables"));
}

}  // namespace
}  // namespace np
