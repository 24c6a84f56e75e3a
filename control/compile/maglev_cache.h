// Maglev tables the services compiler built before, reused while their
// inputs (backend keys in order, table size, seed) stay the same. Building
// a table is most of a services compile (1000 services: ~45 of ~65 ms), and
// an endpoint change alters one service's tables, so a reload that keeps
// this cache rebuilds only the tables whose backends changed.
//
// Owned by whoever compiles repeatedly (the reload pipeline); tables not
// used since the previous EndCompile() are evicted by the next one: Rebuild
// calls it, and ServicesModel::Update once the cache holds more than two
// tables per port (kMaglevCacheSlack). Table() may be called from several
// compiling threads at once (tables are built outside the lock);
// EndCompile() only when none is. Evicted tables are freed on a thread of
// their own: a full resync evicts every table of the round before (10k
// Services: ~5 ms of frees), and the publish and apply that follow it are
// single-threaded, so the frees run beside them instead of before them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/maglev.h"

namespace np::compile {

class MaglevCache {
 public:
  MaglevCache() = default;
  MaglevCache(const MaglevCache&) = delete;
  MaglevCache& operator=(const MaglevCache&) = delete;
  ~MaglevCache();  // waits for the evicted tables to be freed

  std::shared_ptr<const std::vector<uint32_t>> Table(const std::vector<MaglevKey>& backend_keys,
                                                     uint32_t table_size, uint32_t seed);
  // Drops the tables that no Table() call asked for since the previous EndCompile().
  void EndCompile();

  size_t size() const;
  uint64_t hits() const;
  uint64_t builds() const;

 private:
  // Keyed by a hash of the inputs; the inputs are kept to confirm a hit.
  struct Cached {
    std::vector<MaglevKey> keys;
    uint32_t table_size = 0;
    uint32_t seed = 0;
    std::shared_ptr<const std::vector<uint32_t>> table;
    uint64_t used_in = 0;
  };
  // Sharded by hash: compiling threads look up a table each ~10 us, and one
  // lock made them wait on each other (futex sleeps) in a full resync.
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<uint64_t, Cached> tables;
    uint64_t hits = 0;
    uint64_t builds = 0;
  };
  static constexpr size_t kShards = 64;
  Shard& ShardOf(uint64_t hash) { return shards_[hash % kShards]; }
  template <class Pick>
  uint64_t SumOverShards(Pick pick) const;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> compile_{1};
  std::jthread reclaimer_;  // frees the last EndCompile's evictions
};

}  // namespace np::compile
