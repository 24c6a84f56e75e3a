// Persistent (structurally shared) containers for table snapshots. A new
// snapshot copies a small spine of shared_ptrs and rebuilds only the chunks
// or shards an update touches, so one changed Service costs the same with
// ten Services or thirty thousand. Built and copied by the loader only;
// workers read them through plain loads (no reference counting on the fast
// path: the snapshot that owns them is kept alive by RCU).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "dataplane/service/frozen_map.h"

namespace np {

// A vector of T in chunks of kChunk; Set() copies one chunk at most.
template <class T, size_t kChunk = 64>
class PersistentVector {
 public:
  const T& operator[](size_t index) const { return (*chunks_[index / kChunk])[index % kChunk]; }
  size_t capacity() const { return chunks_.size() * kChunk; }

  void Set(size_t index, T value) {
    while (index >= capacity()) chunks_.push_back(std::make_shared<Chunk>());
    std::shared_ptr<Chunk>& chunk = chunks_[index / kChunk];
    // Shared with another snapshot: copy before writing. Only the loader
    // thread copies these pointers, so use_count() is exact here.
    if (chunk.use_count() > 1) chunk = std::make_shared<Chunk>(*chunk);
    (*chunk)[index % kChunk] = std::move(value);
  }

 private:
  using Chunk = std::array<T, kChunk>;
  std::vector<std::shared_ptr<Chunk>> chunks_;
};

// A FrozenMap split into 256 shards by the key's hash: an update rebuilds
// only the shards holding the keys it changes.
template <class Value>
class ShardedMap {
 public:
  ShardedMap() { shards_.fill(EmptyShard()); }

  const Value* Find(uint64_t key) const { return shards_[ShardOf(key)]->Find(key); }

  // Sets (value) or erases (nullopt) each key; later changes of a key win.
  void Update(const std::map<uint64_t, std::optional<Value>>& changes) {
    std::array<std::vector<std::pair<uint64_t, const std::optional<Value>*>>, kShards> by_shard;
    for (const auto& [key, value] : changes) by_shard[ShardOf(key)].emplace_back(key, &value);
    for (size_t shard = 0; shard < kShards; ++shard) {
      if (by_shard[shard].empty()) continue;
      std::map<uint64_t, Value> entries;
      shards_[shard]->ForEach([&](uint64_t key, const Value& value) { entries.emplace(key, value); });
      for (const auto& [key, value] : by_shard[shard]) {
        if (value->has_value())
          entries[key] = **value;
        else
          entries.erase(key);
      }
      shards_[shard] = entries.empty() ? EmptyShard()
                                       : std::make_shared<const FrozenMap<Value>>(
                                             std::vector<std::pair<uint64_t, Value>>(entries.begin(), entries.end()));
    }
  }

  // All at once (a full image): keys must be unique.
  static ShardedMap Build(const std::vector<std::pair<uint64_t, Value>>& entries) {
    std::array<std::vector<std::pair<uint64_t, Value>>, kShards> by_shard;
    for (const auto& entry : entries) by_shard[ShardOf(entry.first)].push_back(entry);
    ShardedMap map;
    for (size_t shard = 0; shard < kShards; ++shard)
      if (!by_shard[shard].empty()) map.shards_[shard] = std::make_shared<const FrozenMap<Value>>(by_shard[shard]);
    return map;
  }

  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const auto& shard : shards_) shard->ForEach(visit);
  }

 private:
  static constexpr size_t kShards = 256;
  // The top bits choose the shard; FrozenMap uses the low bits inside it.
  static size_t ShardOf(uint64_t key) { return static_cast<size_t>(MixBits(key) >> 56); }
  static const std::shared_ptr<const FrozenMap<Value>>& EmptyShard() {
    static const std::shared_ptr<const FrozenMap<Value>> empty = std::make_shared<const FrozenMap<Value>>();
    return empty;
  }
  std::array<std::shared_ptr<const FrozenMap<Value>>, kShards> shards_;
};

}  // namespace np
