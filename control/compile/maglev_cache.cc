#include "control/compile/maglev_cache.h"

#include "common/maglev.h"

namespace np::compile {

const std::vector<uint32_t>& MaglevCache::Table(const std::vector<std::string>& backend_keys, uint32_t table_size,
                                                uint32_t seed) {
  Key key{backend_keys, table_size, seed};
  auto found = tables_.find(key);
  if (found == tables_.end()) {
    ++builds_;
    found = tables_.emplace(std::move(key), Cached{BuildMaglevTable(backend_keys, table_size, seed), 0}).first;
  } else {
    ++hits_;
  }
  found->second.used_in = compile_;
  return found->second.table;
}

void MaglevCache::EndCompile() {
  std::erase_if(tables_, [&](const auto& entry) { return entry.second.used_in != compile_; });
  ++compile_;
}

}  // namespace np::compile
