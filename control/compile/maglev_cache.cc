#include "control/compile/maglev_cache.h"

#include <functional>

#include "common/flow_hash.h"
#include "common/maglev.h"

namespace np::compile {

std::shared_ptr<const std::vector<uint32_t>> MaglevCache::Table(const std::vector<std::string>& backend_keys,
                                                                uint32_t table_size, uint32_t seed) {
  uint64_t hash = MixBits((static_cast<uint64_t>(seed) << 32) | table_size);
  for (const std::string& key : backend_keys) hash = MixBits(hash ^ std::hash<std::string>{}(key));
  {
    std::lock_guard lock(mutex_);
    if (auto found = tables_.find(hash); found != tables_.end()) {
      Cached& cached = found->second;
      if (cached.table_size == table_size && cached.seed == seed && cached.backend_keys == backend_keys) {
        ++hits_;
        cached.used_in = compile_;
        return cached.table;
      }
    }
    ++builds_;
  }
  // Built unlocked: building is most of a compile, and other threads compile too.
  auto table = std::make_shared<const std::vector<uint32_t>>(BuildMaglevTable(backend_keys, table_size, seed));
  std::lock_guard lock(mutex_);
  // A colliding entry of this compile stays; the loser is returned uncached.
  auto [found, inserted] = tables_.try_emplace(hash);
  if (inserted || found->second.used_in != compile_)
    found->second = Cached{backend_keys, table_size, seed, table, compile_};
  return table;
}

void MaglevCache::EndCompile() {
  std::lock_guard lock(mutex_);
  std::erase_if(tables_, [&](const auto& entry) { return entry.second.used_in != compile_; });
  ++compile_;
}

size_t MaglevCache::size() const {
  std::lock_guard lock(mutex_);
  return tables_.size();
}
uint64_t MaglevCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}
uint64_t MaglevCache::builds() const {
  std::lock_guard lock(mutex_);
  return builds_;
}

}  // namespace np::compile
