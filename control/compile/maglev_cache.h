// Maglev tables the services compiler built before, reused while their
// inputs (backend keys in order, table size, seed) stay the same. Building
// a table is most of a services compile (1000 services: ~45 of ~65 ms), and
// an endpoint change alters one service's tables, so a reload that keeps
// this cache rebuilds only the tables whose backends changed.
//
// Owned by whoever compiles repeatedly (the reload pipeline); tables not
// used by the latest compile are evicted by EndCompile(), so the cache holds
// one generation's tables at most. Table() may be called from several
// compiling threads at once (tables are built outside the lock);
// EndCompile() only when none is.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace np::compile {

class MaglevCache {
 public:
  std::shared_ptr<const std::vector<uint32_t>> Table(const std::vector<std::string>& backend_keys,
                                                     uint32_t table_size, uint32_t seed);
  // Drops the tables that no Table() call asked for since the previous EndCompile().
  void EndCompile();

  size_t size() const;
  uint64_t hits() const;
  uint64_t builds() const;

 private:
  // Keyed by a hash of the inputs (copying and comparing the key strings
  // was a third of a lookup); the inputs are kept to confirm a hit.
  struct Cached {
    std::vector<std::string> backend_keys;
    uint32_t table_size = 0;
    uint32_t seed = 0;
    std::shared_ptr<const std::vector<uint32_t>> table;
    uint64_t used_in = 0;
  };
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Cached> tables_;
  uint64_t compile_ = 1;
  uint64_t hits_ = 0;
  uint64_t builds_ = 0;
};

}  // namespace np::compile
