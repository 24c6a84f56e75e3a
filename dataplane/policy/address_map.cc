#include "dataplane/policy/address_map.h"

#include <string>

namespace np::policy {

AddressMap::Bucket AddressMap::EmptyBucket() {
  Bucket bucket{};
  for (uint32_t& key : bucket.keys) key = kEmpty;
  return bucket;
}

Result<AddressMap> AddressMap::Build(const std::vector<std::pair<uint32_t, AddressInfo>>& entries) {
  // Two to two and a half entries per bucket of five to begin with, doubled
  // while some entry finds its home bucket and the next one full.
  const size_t most = 64 * (entries.size() + 1);
  AddressMap map;
  for (size_t count = std::bit_ceil(entries.size() * 2 / 5 + 2); count <= most; count *= 2)
    if (map.Place(entries, count)) return map;
  return MakeError("policy address map: " + std::to_string(entries.size()) +
                   " addresses crowd one pair of buckets even with " + std::to_string(most) + " buckets");
}

bool AddressMap::Place(const std::vector<std::pair<uint32_t, AddressInfo>>& entries, size_t bucket_count) {
  shift_ = 64 - std::countr_zero(bucket_count);
  buckets_.assign(bucket_count + 1, EmptyBucket());
  broadcast_.reset();
  for (const auto& [ipv4, info] : entries) {
    if (ipv4 == kEmpty) {
      broadcast_ = info;
      continue;
    }
    const size_t home = BucketOf(ipv4);
    bool placed = false;
    for (size_t at = home; at <= home + 1 && !placed; ++at) {
      Bucket& bucket = buckets_[at];
      for (uint32_t slot = 0; slot < kSlots && !placed; ++slot)
        if (bucket.keys[slot] == kEmpty || bucket.keys[slot] == ipv4) {
          bucket.keys[slot] = ipv4;
          bucket.values[slot] = info;
          if (at != home) buckets_[home].overflow = 1;
          placed = true;
        }
    }
    if (!placed) return false;
  }
  return true;
}

}  // namespace np::policy
