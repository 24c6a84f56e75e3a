#include "dataplane/policy/address_map.h"

namespace np::policy {

AddressMap::Bucket AddressMap::EmptyBucket() {
  Bucket bucket{};
  for (uint32_t& key : bucket.keys) key = kEmpty;
  return bucket;
}

AddressMap::AddressMap(const std::vector<std::pair<uint32_t, AddressInfo>>& entries) {
  // Two to two and a half entries per bucket of five to begin with.
  for (size_t count = std::bit_ceil(entries.size() * 2 / 5 + 1);; count *= 2)
    if (Place(entries, count)) return;
}

bool AddressMap::Place(const std::vector<std::pair<uint32_t, AddressInfo>>& entries, size_t bucket_count) {
  mask_ = bucket_count - 1;
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
