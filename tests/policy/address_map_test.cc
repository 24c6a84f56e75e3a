// The policy's IPv4 -> AddressInfo map (dataplane/policy/address_map.h):
// every address it was built from is found with its own entry, no other
// address is, and crowded buckets spill into the next one or grow the map.
#include "dataplane/policy/address_map.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include <bit>

namespace np::policy {
namespace {

AddressInfo Info(uint32_t identity) {
  return AddressInfo{identity, static_cast<uint8_t>(identity & 1), static_cast<uint8_t>(identity & 3),
                     static_cast<uint8_t>(identity % 64)};
}

void ExpectFound(const AddressMap& map, uint32_t ipv4, uint32_t identity) {
  const AddressInfo* found = map.Find(ipv4);
  ASSERT_NE(found, nullptr) << ipv4;
  EXPECT_EQ(found->identity, identity) << ipv4;
  EXPECT_EQ(found->ip_flags, Info(identity).ip_flags) << ipv4;
  EXPECT_EQ(found->identity_flags, Info(identity).identity_flags) << ipv4;
  EXPECT_EQ(found->acl_partition, Info(identity).acl_partition) << ipv4;
}

TEST(AddressMap, FindsEveryAddressIncludingBroadcastAndNothingElse) {
  std::vector<std::pair<uint32_t, AddressInfo>> entries;
  std::set<uint32_t> addresses;
  for (uint32_t i = 0; i < 5000; ++i) {  // pod addresses: dense runs in a few /24s, plus scattered ones
    const uint32_t ipv4 = i < 4000 ? 0x0af40100u + i : i * 2654435761u;
    entries.emplace_back(ipv4, Info(i + 100));
    addresses.insert(ipv4);
  }
  entries.emplace_back(0xffffffffu, Info(7));  // 255.255.255.255 marks empty slots: kept aside
  entries.emplace_back(0x0af40105u, Info(99));  // a duplicate keeps its last entry
  auto built = AddressMap::Build(entries);
  ASSERT_TRUE(built.ok()) << built.error().message;
  const AddressMap& map = *built;
  for (uint32_t i = 0; i < 5000; ++i) {
    const uint32_t ipv4 = i < 4000 ? 0x0af40100u + i : i * 2654435761u;
    ExpectFound(map, ipv4, ipv4 == 0x0af40105u ? 99 : i + 100);
  }
  ExpectFound(map, 0xffffffffu, 7);
  uint32_t misses = 0;
  for (uint32_t probe = 0x0a000000u; misses < 10000; ++probe)
    if (!addresses.count(probe)) {
      EXPECT_EQ(map.Find(probe), nullptr) << probe;
      ++misses;
    }
  EXPECT_EQ(AddressMap().Find(0), nullptr);
  EXPECT_EQ(AddressMap().Find(0xffffffffu), nullptr);
}

// Addresses whose home is one bucket: five fit it, five more spill into the
// next bucket (and are found there), an eleventh makes the map grow.
TEST(AddressMap, ACrowdedBucketSpillsIntoTheNextAndThenGrows) {
  auto same_home = [](size_t count, size_t buckets) {
    std::vector<std::pair<uint32_t, AddressInfo>> entries;
    for (uint32_t ipv4 = 1; entries.size() < count; ++ipv4)
      if (((uint64_t{ipv4} * 0x9e3779b97f4a7c15ull) >> (64 - std::countr_zero(buckets))) == 3)
        entries.emplace_back(ipv4, Info(ipv4));
    return entries;
  };
  // 10 entries -> 8 buckets to begin with (about two per bucket).
  const auto ten = same_home(2 * AddressMap::kSlots, 8);
  auto spilled_map = AddressMap::Build(ten);
  ASSERT_TRUE(spilled_map.ok());
  const AddressMap& spilled = *spilled_map;
  EXPECT_EQ(spilled.bucket_count(), 8u);
  for (const auto& [ipv4, info] : ten) ExpectFound(spilled, ipv4, info.identity);

  auto eleven = same_home(2 * AddressMap::kSlots + 1, 8);
  auto grown_map = AddressMap::Build(eleven);
  ASSERT_TRUE(grown_map.ok());
  const AddressMap& grown = *grown_map;
  EXPECT_GT(grown.bucket_count(), 8u);
  for (const auto& [ipv4, info] : eleven) ExpectFound(grown, ipv4, info.identity);
}

// Eleven addresses with the same top 10 bits of the hash share a home at
// every bucket count up to 1024: the map stops doubling (at 64 buckets per
// entry) and says why instead of growing without end.
TEST(AddressMap, AddressesChosenAgainstTheHashAreAnError) {
  std::vector<std::pair<uint32_t, AddressInfo>> entries;
  for (uint32_t ipv4 = 1; entries.size() <= 2 * AddressMap::kSlots; ++ipv4)
    if (((uint64_t{ipv4} * 0x9e3779b97f4a7c15ull) >> 54) == 0x155) entries.emplace_back(ipv4, Info(ipv4));
  auto built = AddressMap::Build(entries);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message.find("11 addresses crowd one pair of buckets"), std::string::npos)
      << built.error().message;
}

}  // namespace
}  // namespace np::policy
