// Maglev table population (Eisenbud et al., NSDI 2016, section 3.4).
//
// Every backend owns a permutation of the table's slots derived from two
// hashes of its key; backends take turns claiming their next free preferred
// slot until the table is full. Turn-taking keeps every backend's share
// within one slot of M/N; the permutations depend only on the key and the
// seed, so every node builds the same table and a backend change moves few
// slots.
#include "common/maglev.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <string_view>

#include "common/flow_hash.h"

namespace np {
namespace {

// Turn-taking gives each of N backends floor(M/N) or ceil(M/N) slots: with
// r = M mod N (r > 0) the shares are off an even M/N by (N - r) / M and by
// r / M. The bound is 1%, and "M >= 100 N" (the usual rule, e.g.
// Cilium's) meets it with room to spare; each size below is instead the
// smallest prime that meets it for every backend count of its step
// (tests/control/maglev_test.cc checks every count exhaustively). That is
// 23-40% fewer slots for 3 to 40 backends: less population work on a
// resync, smaller images. One size serves a whole step of backend counts,
// so adding or removing a backend within a step keeps the table size and
// Maglev's minimal disruption. The last size caps one service port's
// memory (2-byte entries: 246 KiB) and rebuild time; past 1310 backends
// the shares drift beyond 1%.
struct TableStep {
  uint32_t max_backends;
  uint32_t size;
};
constexpr std::array<TableStep, 10> kTableSteps = {{{2, 251},
                                                    {5, 307},
                                                    {10, 727},
                                                    {20, 1433},
                                                    {40, 3137},
                                                    {81, 6907},
                                                    {163, 14771},
                                                    {327, 30703},
                                                    {655, 62347},
                                                    {1310, 125863}}};

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// FNV-1a over bytes, so the result does not depend on the host's endianness.
uint64_t Fnv1a64(std::string_view text, uint64_t basis) {
  uint64_t hash = basis;
  for (unsigned char byte : text) {
    hash ^= byte;
    hash *= kFnvPrime;
  }
  return hash;
}

// Two hashes that are independent of each other (different bases) and of
// the seed's bit pattern (the seed goes through the mixer first).
uint64_t OffsetHash(std::string_view key, uint32_t seed) {
  return MixBits(Fnv1a64(key, kFnvOffsetBasis ^ MixBits(seed ^ 0x6f66667365740000ULL)));
}
uint64_t SkipHash(std::string_view key, uint32_t seed) {
  return MixBits(Fnv1a64(key, kFnvOffsetBasis ^ MixBits(seed ^ 0x736b697000000000ULL)));
}

}  // namespace

uint32_t MaglevTableSize(uint32_t backend_count) {
  for (const TableStep& step : kTableSteps)
    if (backend_count <= step.max_backends) return step.size;
  return kTableSteps.back().size;
}

std::vector<uint32_t> BuildMaglevTable(const std::vector<std::string>& backend_keys,
                                       uint32_t table_size, uint32_t seed) {
  const size_t backend_count = backend_keys.size();
  if (backend_count == 0 || table_size == 0) return {};

  // Population order follows the sorted keys, so the caller's order does
  // not change the table; results are mapped back to the caller's indices.
  std::vector<uint32_t> by_key(backend_count);
  std::iota(by_key.begin(), by_key.end(), 0u);
  std::stable_sort(by_key.begin(), by_key.end(), [&](uint32_t a, uint32_t b) {
    return backend_keys[a] < backend_keys[b];
  });

  // permutation[j] of backend i = (offset + j * skip) mod M; keep the current
  // position instead of j to stay in 64-bit range without multiplying.
  std::vector<uint64_t> position(backend_count);
  std::vector<uint64_t> skip(backend_count);
  for (size_t rank = 0; rank < backend_count; ++rank) {
    const std::string& key = backend_keys[by_key[rank]];
    position[rank] = OffsetHash(key, seed) % table_size;
    skip[rank] = table_size > 1 ? SkipHash(key, seed) % (table_size - 1) + 1 : 1;
  }

  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> table(table_size, kEmpty);
  uint32_t filled = 0;
  while (true) {
    for (size_t rank = 0; rank < backend_count; ++rank) {
      // With a prime table_size each permutation visits every slot, so a free
      // one is found; a non-prime size could cycle, so fall back to probing.
      // position and stride are both below table_size: one conditional
      // subtraction replaces the modulo (a division per probe dominated).
      uint32_t steps = 0;
      uint64_t slot = position[rank];
      while (table[slot] != kEmpty) {
        slot += ++steps <= table_size ? skip[rank] : 1;
        if (slot >= table_size) slot -= table_size;
      }
      table[slot] = by_key[rank];
      slot += skip[rank];
      if (slot >= table_size) slot -= table_size;
      position[rank] = slot;
      if (++filled == table_size) return table;
    }
  }
}

}  // namespace np
