// The policy's IPv4 -> AddressInfo map: what a worker looks up twice per
// new flow (source and destination) before it classifies the flow.
// Immutable once built (PolicyTables::Build, off the fast path).
//
// Why not FrozenMap (dataplane/service/frozen_map.h): those lookups run
// between rte_acl walks that sweep L1, so at 10k policies nearly every
// lookup misses L1, and what it costs is the number of cache lines it
// touches and the branches it mispredicts. FrozenMap's linear probe loop
// mispredicts its exit on a good share of lookups and a probe can cross
// into a second line; a window of keys compared at once with the values
// in an array of their own fixed the branches but touched two lines per
// hit. Here one 64-byte bucket holds five keys and their values: a lookup
// compares the five keys at once (SSE) and reads the value from the same
// line. Measured in np-bench-acl, ns per new flow at 100 / 10k policies:
// FrozenMap 24.4 / 30.0; this map 24.0 / 27.6 with murmur3's finalizer as
// the hash, 22.8 / 26.2 with Fibonacci hashing (perf/acl/README.md, "The
// 1.15x target", step 4).
//
// Placement: an entry goes to its home bucket (Fibonacci hashing: the top
// bits of the address times 2^64/phi, which spreads runs of consecutive pod
// addresses evenly) or, when that is full, to the next one, and then the
// home bucket is marked so that a lookup looks there too (rare: a bucket
// holds at most 2.5 entries on average). A build that cannot place an
// entry in either doubles the bucket count and starts again, up to 64
// buckets per entry (beyond that, an Error). 255.255.255.255 marks an
// empty slot, so an entry for that address is kept beside the buckets.
#pragma once

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <bit>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "common/result.h"

namespace np::policy {

struct AddressInfo {
  uint32_t identity;
  uint8_t ip_flags;        // abi::IpEntryFlags (kIpLocalPod)
  uint8_t identity_flags;  // abi::IdentityFlags
  uint8_t acl_partition;   // its identity's AclPartitionOf (0 for addresses without a pod identity)
};

class AddressMap {
 public:
  static constexpr uint32_t kSlots = 5;  // per bucket: 5 x (4 + 8) bytes + the overflow mark = 64

  AddressMap() : buckets_(3, EmptyBucket()) {}
  // A duplicate address keeps its last entry. An Error only for a set of
  // addresses that crowds one pair of buckets however many there are (no
  // real cluster's: it takes addresses chosen against the hash).
  static Result<AddressMap> Build(const std::vector<std::pair<uint32_t, AddressInfo>>& entries);

  const AddressInfo* Find(uint32_t ipv4) const {
    if (ipv4 == kEmpty) [[unlikely]]
      return broadcast_ ? &*broadcast_ : nullptr;
    const Bucket* bucket = &buckets_[BucketOf(ipv4)];
    uint32_t match = Match(*bucket, ipv4);
    if (bucket->overflow != 0 && match == 0) [[unlikely]] {
      ++bucket;
      match = Match(*bucket, ipv4);
    }
    return match != 0 ? &bucket->values[std::countr_zero(match)] : nullptr;
  }

  size_t bucket_count() const { return size_t{1} << (64 - shift_); }

 private:
  static constexpr uint32_t kEmpty = 0xffffffffu;
  struct alignas(64) Bucket {
    uint32_t keys[kSlots];
    uint32_t overflow;  // an entry whose home is this bucket sits in the next one
    AddressInfo values[kSlots];
  };
  static_assert(sizeof(Bucket) == 64);

  static Bucket EmptyBucket();
  // Fibonacci hashing: the top bits of the address times 2^64 / phi.
  size_t BucketOf(uint32_t ipv4) const { return (uint64_t{ipv4} * 0x9e3779b97f4a7c15ull) >> shift_; }
  bool Place(const std::vector<std::pair<uint32_t, AddressInfo>>& entries, size_t bucket_count);

  // Bit i set: bucket.keys[i] == ipv4.
  static uint32_t Match(const Bucket& bucket, uint32_t ipv4) {
#if defined(__SSE2__)
    const __m128i first4 = _mm_cmpeq_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(bucket.keys)),
                                           _mm_set1_epi32(static_cast<int>(ipv4)));
    return static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(first4))) |
           static_cast<uint32_t>(bucket.keys[4] == ipv4) << 4;
#else
    uint32_t match = 0;
    for (uint32_t i = 0; i < kSlots; ++i) match |= static_cast<uint32_t>(bucket.keys[i] == ipv4) << i;
    return match;
#endif
  }

  uint32_t shift_ = 63;  // 64 - log2(bucket_count())
  std::vector<Bucket> buckets_;  // bucket_count() + 1: the last bucket's overflow has somewhere to go
  std::optional<AddressInfo> broadcast_;
};

}  // namespace np::policy
