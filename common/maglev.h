// Maglev consistent hashing (Eisenbud et al., NSDI 2016): slow-path table
// population. The dataplane only indexes the table: table[hash % size].
#pragma once

#include <cstdint>
#include <vector>

namespace np {

// The table size (a prime) for `backend_count` backends: the smallest that
// keeps every backend's share within 1% of even for every count of its step
// (up to 1310 backends; larger counts get the largest size).
uint32_t MaglevTableSize(uint32_t backend_count);

// A backend as every node names it, whatever its place in a list: its IPv4
// address and port (MaglevKeyOf). Hashed as a number, not as text: cheaper
// than formatting and hashing "10.244.1.11:8080" for each of a full
// resync's 100k backends.
using MaglevKey = uint64_t;
constexpr MaglevKey MaglevKeyOf(uint32_t ipv4, uint16_t port) { return (static_cast<uint64_t>(ipv4) << 16) | port; }

// The walk of one backend: its preferred slots in order are
// (offset + j * skip) mod table_size, j = 0, 1, ...; with a prime size, a
// permutation of every slot. 0 < skip < table_size (for sizes above 1).
struct MaglevPermutation {
  uint64_t offset;
  uint64_t skip;
};
MaglevPermutation MaglevPermutationOf(MaglevKey backend_key, uint32_t table_size, uint32_t seed);

// `backend_keys` identify backends independently of their order, so that
// every node builds the same table and removing one backend moves only ~1/N
// of the slots. Entry = index into backend_keys.
std::vector<uint32_t> BuildMaglevTable(const std::vector<MaglevKey>& backend_keys, uint32_t table_size,
                                       uint32_t seed);

}  // namespace np
