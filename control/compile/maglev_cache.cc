#include "control/compile/maglev_cache.h"

#include <functional>

#include "common/flow_hash.h"
#include "common/maglev.h"

namespace np::compile {

const std::vector<uint32_t>& MaglevCache::Table(const std::vector<std::string>& backend_keys, uint32_t table_size,
                                                uint32_t seed) {
  uint64_t hash = MixBits((static_cast<uint64_t>(seed) << 32) | table_size);
  for (const std::string& key : backend_keys) hash = MixBits(hash ^ std::hash<std::string>{}(key));
  auto [found, inserted] = tables_.try_emplace(hash);
  Cached& cached = found->second;
  if (inserted) {
    ++builds_;
    cached = Cached{backend_keys, table_size, seed, BuildMaglevTable(backend_keys, table_size, seed), 0};
  } else if (cached.table_size != table_size || cached.seed != seed || cached.backend_keys != backend_keys) {
    ++builds_;
    uncached_ = BuildMaglevTable(backend_keys, table_size, seed);
    return uncached_;
  } else {
    ++hits_;
  }
  cached.used_in = compile_;
  return cached.table;
}

void MaglevCache::EndCompile() {
  std::erase_if(tables_, [&](const auto& entry) { return entry.second.used_in != compile_; });
  ++compile_;
}

}  // namespace np::compile
