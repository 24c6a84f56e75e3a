// Maglev table population (Eisenbud et al., NSDI 2016, section 3.4).
//
// Every backend owns a permutation of the table's slots derived from two
// hashes of its key (its address and port); backends take turns claiming
// their next free preferred slot until the table is full. Turn-taking keeps
// every backend's share within one slot of M/N; the permutations depend only
// on the key and the seed, so every node builds the same table and a backend
// change moves few slots.
#include "common/maglev.h"

#include <algorithm>
#include <array>
#include <bit>
#include <numeric>
#include <span>

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

// Two hashes of a key that are independent of each other (different
// constants) and of the seed's bit pattern (the seed goes through the mixer
// first). Keys are hashed as numbers, so the result does not depend on the
// host's endianness.
uint64_t OffsetHash(MaglevKey key, uint32_t seed) { return MixBits(key ^ MixBits(seed ^ 0x6f66667365740000ULL)); }
uint64_t SkipHash(MaglevKey key, uint32_t seed) { return MixBits(key ^ MixBits(seed ^ 0x736b697000000000ULL)); }

}  // namespace

uint32_t MaglevTableSize(uint32_t backend_count) {
  for (const TableStep& step : kTableSteps)
    if (backend_count <= step.max_backends) return step.size;
  return kTableSteps.back().size;
}

MaglevPermutation MaglevPermutationOf(MaglevKey backend_key, uint32_t table_size, uint32_t seed) {
  if (table_size <= 1) return {0, table_size == 1 ? 1u : 0u};
  return {OffsetHash(backend_key, seed) % table_size, SkipHash(backend_key, seed) % (table_size - 1) + 1};
}

namespace {

constexpr uint32_t kEmpty = UINT32_MAX;  // entries are backend indices below 2^31: bit 31 marks a free slot
constexpr uint32_t kMaxLookahead = 16;

// A backend's walk along its permutation: slot j is (offset + j * skip) mod M.
struct Walk {
  uint64_t position;                    // the next slot it prefers
  uint64_t stride[kMaxLookahead + 1];   // stride[i] = i * skip mod M
};

uint64_t Wrapped(uint64_t slot, uint64_t table_size) {  // slot < 2 * table_size
  return slot - (table_size & (0 - static_cast<uint64_t>(slot >= table_size)));
}

// Bit i set when the walk's i-th next slot from `first` is free. Branch-free:
// which of a few candidates is free is a coin toss the predictor cannot
// learn, and a mispredicted probe-loop exit per claim was most of the cost
// of a table (perf/RESULTS.md, "Maglev population and table sizes").
// `table` holds 2 * table_size slots, the second half mirroring the first,
// so that a candidate first + stride[i] (< 2 * table_size) needs no wrap.
template <uint32_t kLookahead>
uint32_t FreeAmong(const uint32_t* table, uint64_t first, const Walk& walk) {
  uint32_t free = 0;
#pragma GCC unroll 16
  for (uint32_t i = 0; i < kLookahead; ++i) free |= (table[first + walk.stride[i]] >> 31) << i;
  return free;
}

// The first free slot along the walk, as the paper's one-probe-at-a-time
// loop finds it, looking at kLookahead candidates at once. A non-prime size
// can have a walk that never reaches a free slot: after table_size probes
// the walk continues one slot at a time, as a probe loop would.
template <uint32_t kLookahead>
uint64_t NextFree(const uint32_t* table, const Walk& walk, uint64_t table_size) {
  uint64_t first = walk.position;
  uint64_t probed = 0;
  for (;;) {
    if (probed + kLookahead > table_size) [[unlikely]] {
      uint64_t slot = first;
      while (table[slot] != kEmpty) {
        slot += ++probed <= table_size ? walk.stride[1] : 1;
        slot = Wrapped(slot, table_size);
      }
      return slot;
    }
    if (const uint32_t free = FreeAmong<kLookahead>(table, first, walk); free != 0)
      return Wrapped(first + walk.stride[std::countr_zero(free)], table_size);
    probed += kLookahead;
    first = Wrapped(first + walk.stride[kLookahead], table_size);
  }
}

// Backends take turns; each claims the first free slot of its walk.
struct Population {
  uint64_t table_size;
  uint32_t* table;  // mirrored: 2 * table_size slots (FreeAmong)
  std::span<Walk> walks;
  const std::vector<uint32_t>& by_key;
  uint64_t filled = 0;
  size_t rank = 0;

  template <uint32_t kLookahead>
  void ClaimUntil(uint64_t until) {
    for (; filled < until; ++filled) {
      Walk& walk = walks[rank];
      const uint64_t slot = NextFree<kLookahead>(table, walk, table_size);
      table[slot] = table[slot + table_size] = by_key[rank];
      walk.position = Wrapped(slot + walk.stride[1], table_size);
      if (++rank == walks.size()) rank = 0;
    }
  }
};

// Scratch of the usual sizes lives on the stack: the same memory, still in
// L1/L2, table after table (fresh heap blocks made a table ~35% slower in a
// full resync than in a loop).
constexpr size_t kStackSlots = 2 * 3137;  // mirrored tables up to 40 backends
constexpr size_t kStackWalks = 40;

}  // namespace

std::vector<uint32_t> BuildMaglevTable(const std::vector<MaglevKey>& backend_keys, uint32_t table_size,
                                       uint32_t seed) {
  const size_t backend_count = backend_keys.size();
  if (backend_count == 0 || table_size == 0 || backend_count > (size_t{1} << 31)) return {};

  // Population order follows the sorted keys, so the caller's order does
  // not change the table; results are mapped back to the caller's indices.
  std::vector<uint32_t> by_key(backend_count);
  std::iota(by_key.begin(), by_key.end(), 0u);
  std::stable_sort(by_key.begin(), by_key.end(), [&](uint32_t a, uint32_t b) {
    return backend_keys[a] < backend_keys[b];
  });

  std::array<uint32_t, kStackSlots> stack_table;
  std::array<Walk, kStackWalks> stack_walks;
  std::vector<uint32_t> heap_table;
  std::vector<Walk> heap_walks;
  const size_t slots = 2 * size_t{table_size};
  uint32_t* table = stack_table.data();
  if (slots > kStackSlots) {
    heap_table.resize(slots);
    table = heap_table.data();
  }
  std::fill(table, table + slots, kEmpty);
  std::span<Walk> walks;
  if (backend_count <= kStackWalks) {
    walks = std::span<Walk>(stack_walks.data(), backend_count);
  } else {
    heap_walks.resize(backend_count);
    walks = heap_walks;
  }
  Population population{table_size, table, walks, by_key};
  for (size_t rank = 0; rank < backend_count; ++rank) {
    Walk& walk = population.walks[rank];
    const MaglevPermutation permutation = MaglevPermutationOf(backend_keys[by_key[rank]], table_size, seed);
    walk.position = permutation.offset;
    walk.stride[0] = 0;
    for (uint32_t i = 1; i <= kMaxLookahead; ++i)
      walk.stride[i] = Wrapped(walk.stride[i - 1] + permutation.skip, table_size);
  }
  // The fuller the table, the more candidates are worth looking at per
  // claim (thresholds tuned on 10 backends, checked on 3-40: perf/RESULTS.md,
  // "Maglev population and table sizes").
  const uint64_t size = table_size;
  population.ClaimUntil<1>(size / 10);
  population.ClaimUntil<2>(size * 6 / 16);
  population.ClaimUntil<4>(size * 11 / 16);
  population.ClaimUntil<8>(size * 14 / 16);
  population.ClaimUntil<16>(size);
  return std::vector<uint32_t>(table, table + table_size);
}

}  // namespace np
