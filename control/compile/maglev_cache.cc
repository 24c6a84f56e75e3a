#include "control/compile/maglev_cache.h"

#include <iterator>

#include "common/flow_hash.h"
#include "common/maglev.h"

namespace np::compile {

std::shared_ptr<const std::vector<uint32_t>> MaglevCache::Table(const std::vector<MaglevKey>& backend_keys,
                                                                uint32_t table_size, uint32_t seed) {
  uint64_t hash = MixBits((static_cast<uint64_t>(seed) << 32) | table_size);
  for (MaglevKey key : backend_keys) hash = MixBits(hash ^ key);
  const uint64_t compile = compile_.load(std::memory_order_relaxed);
  Shard& shard = ShardOf(hash);
  {
    std::lock_guard lock(shard.mutex);
    if (auto found = shard.tables.find(hash); found != shard.tables.end()) {
      Cached& cached = found->second;
      if (cached.table_size == table_size && cached.seed == seed && cached.keys == backend_keys) {
        ++shard.hits;
        cached.used_in = compile;
        return cached.table;
      }
    }
    ++shard.builds;
  }
  // Built unlocked: building is most of a compile, and other threads compile too.
  auto table = std::make_shared<const std::vector<uint32_t>>(BuildMaglevTable(backend_keys, table_size, seed));
  std::lock_guard lock(shard.mutex);
  // A colliding entry of this compile stays; the loser is returned uncached.
  auto [found, inserted] = shard.tables.try_emplace(hash);
  if (inserted || found->second.used_in != compile)
    found->second = Cached{backend_keys, table_size, seed, table, compile};
  return table;
}

MaglevCache::~MaglevCache() = default;  // reclaimer_ joins

void MaglevCache::EndCompile() {
  const uint64_t compile = compile_.load(std::memory_order_relaxed);
  // Unlinked here, freed by the reclaimer: nodes own their tables.
  using Node = std::unordered_map<uint64_t, Cached>::node_type;
  std::vector<Node> evicted;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (auto it = shard.tables.begin(); it != shard.tables.end();) {
      auto next = std::next(it);
      if (it->second.used_in != compile) evicted.push_back(shard.tables.extract(it));
      it = next;
    }
  }
  compile_.store(compile + 1, std::memory_order_relaxed);
  if (evicted.empty()) return;
  if (reclaimer_.joinable()) reclaimer_.join();
  reclaimer_ = std::jthread([evicted = std::move(evicted)]() mutable { evicted.clear(); });
}

template <class Pick>
uint64_t MaglevCache::SumOverShards(Pick pick) const {
  uint64_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += pick(shard);
  }
  return total;
}

size_t MaglevCache::size() const {
  return SumOverShards([](const Shard& shard) { return shard.tables.size(); });
}
uint64_t MaglevCache::hits() const {
  return SumOverShards([](const Shard& shard) { return shard.hits; });
}
uint64_t MaglevCache::builds() const {
  return SumOverShards([](const Shard& shard) { return shard.builds; });
}

}  // namespace np::compile
