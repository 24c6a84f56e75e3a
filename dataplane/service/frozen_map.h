// An immutable open-addressing hash map for table snapshots: built once by
// the loader off the fast path, then only read by workers (no locks, no
// allocation, one or two cache lines per lookup). Keys are 64-bit words.
#pragma once

#include <bit>
#include <cstdint>
#include <vector>

#include "common/flow_hash.h"

namespace np {

template <class Value>
class FrozenMap {
 public:
  FrozenMap() : mask_(0), slots_(1) {}

  explicit FrozenMap(const std::vector<std::pair<uint64_t, Value>>& entries) {
    const size_t capacity = std::bit_ceil(entries.size() * 2 + 2);
    mask_ = capacity - 1;
    slots_.assign(capacity, Slot{});
    for (const auto& [key, value] : entries) {
      size_t index = MixBits(key) & mask_;
      while (slots_[index].used && slots_[index].key != key) index = (index + 1) & mask_;
      slots_[index] = Slot{key, value, true};  // a duplicate key keeps the last value
    }
  }

  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (const Slot& slot : slots_)
      if (slot.used) visit(slot.key, slot.value);
  }

  const Value* Find(uint64_t key) const {
    size_t index = MixBits(key) & mask_;
    for (;;) {
      const Slot& slot = slots_[index];
      if (!slot.used) return nullptr;
      if (slot.key == key) return &slot.value;
      index = (index + 1) & mask_;
    }
  }

 private:
  struct Slot {
    uint64_t key = 0;
    Value value{};
    bool used = false;
  };
  size_t mask_;
  std::vector<Slot> slots_;
};

}  // namespace np
