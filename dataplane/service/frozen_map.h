// An immutable open-addressing hash map for table snapshots: built once by
// the loader off the fast path, then only read by workers (no locks, no
// allocation, one or two cache lines per lookup). Keys are unsigned words
// (64-bit by default; 32 bits for IPv4 addresses).
//
// A slot is only its key and value: the largest key value marks an empty
// slot, and an entry with that key is kept beside the slots. Without a
// per-slot "used" flag an IPv4 -> 8-byte value slot is 12 bytes instead of
// 24. (The policy's address map, looked up beside rte_acl walks that sweep
// L1, has a bucketed layout of its own: dataplane/policy/address_map.h.)
#pragma once

#include <bit>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/flow_hash.h"

namespace np {

template <class Value, class Key = uint64_t>
class FrozenMap {
  static_assert(std::is_unsigned_v<Key>);

 public:
  FrozenMap() : mask_(0), slots_(1) {}

  template <class EntryKey>
  explicit FrozenMap(const std::vector<std::pair<EntryKey, Value>>& entries) {
    const size_t capacity = std::bit_ceil(entries.size() * 2 + 2);
    mask_ = capacity - 1;
    slots_.assign(capacity, Slot{});
    for (const auto& [entry_key, value] : entries) {
      const Key key = static_cast<Key>(entry_key);
      if (key == kEmpty) {
        largest_key_value_ = value;  // a duplicate key keeps the last value
        continue;
      }
      size_t index = MixBits(key) & mask_;
      while (slots_[index].key != kEmpty && slots_[index].key != key) index = (index + 1) & mask_;
      slots_[index] = Slot{key, value};
    }
  }

  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const Slot& slot : slots_)
      if (slot.key != kEmpty) visit(slot.key, slot.value);
    if (largest_key_value_) visit(kEmpty, *largest_key_value_);
  }

  const Value* Find(Key key) const {
    if (key == kEmpty) [[unlikely]]
      return largest_key_value_ ? &*largest_key_value_ : nullptr;
    size_t index = MixBits(key) & mask_;
    for (;;) {
      const Slot& slot = slots_[index];
      if (slot.key == key) return &slot.value;
      if (slot.key == kEmpty) return nullptr;
      index = (index + 1) & mask_;
    }
  }

 private:
  static constexpr Key kEmpty = std::numeric_limits<Key>::max();
  struct Slot {
    Key key = kEmpty;
    Value value{};
  };
  size_t mask_;
  std::vector<Slot> slots_;
  std::optional<Value> largest_key_value_;
};

}  // namespace np
