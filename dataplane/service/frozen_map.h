// An immutable open-addressing hash map for table snapshots: built once by
// the loader off the fast path, then only read by workers (no locks, no
// allocation, no data-dependent branches). Keys are unsigned words (64-bit
// by default; 32 bits for IPv4 addresses).
//
// Layout: keys and values in two arrays. An entry sits within kWindow
// slots of its home slot (linear probing that never wraps: the arrays have
// kWindow - 1 slots past the last home); a build that cannot place an
// entry within its window doubles the capacity and starts again. A lookup
// compares the kWindow keys from the home slot all at once (SSE compares where
// the target has them) and reads the value of the
// matching slot: one or two cache lines of keys and one of values, and no
// probe loop whose exit the branch predictor has to guess. The probe loop
// this replaced mispredicted its exit on a large share of lookups: in the
// policy's address map of a 10k-policy cluster that made two lookups per
// new flow cost ~6 ns (perf/acl/README.md, "The address map").
//
// The largest key value marks an empty slot; an entry with that key is
// kept beside the arrays.
#pragma once

#if defined(__SSE4_1__)
#include <immintrin.h>
#endif

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
  static constexpr uint32_t kWindow = 8;

  FrozenMap() : mask_(0), keys_(kWindow, kEmpty), values_(kWindow) {}

  template <class EntryKey>
  explicit FrozenMap(const std::vector<std::pair<EntryKey, Value>>& entries) {
    for (size_t capacity = std::bit_ceil(entries.size() * 2 + 2);; capacity *= 2)
      if (Place(entries, capacity)) return;
  }

  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] != kEmpty) visit(keys_[i], values_[i]);
    if (largest_key_value_) visit(kEmpty, *largest_key_value_);
  }

  const Value* Find(Key key) const {
    if (key == kEmpty) [[unlikely]]
      return largest_key_value_ ? &*largest_key_value_ : nullptr;
    const size_t home = MixBits(key) & mask_;
    const uint32_t match = WindowMatch(keys_.data() + home, key);
    return match != 0 ? &values_[home + std::countr_zero(match)] : nullptr;
  }

  size_t capacity() const { return mask_ + 1; }  // home slots

 private:
  static constexpr Key kEmpty = std::numeric_limits<Key>::max();

  // Bit i set: window[i] == key.
  static uint32_t WindowMatch(const Key* window, Key key) {
#if defined(__SSE4_1__)
    if constexpr (sizeof(Key) == 4) {
      const __m128i needle = _mm_set1_epi32(static_cast<int>(key));
      const __m128i low = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(window)), needle);
      const __m128i high = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(window + 4)), needle);
      return static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(low)) |
                                   _mm_movemask_ps(_mm_castsi128_ps(high)) << 4);
    } else if constexpr (sizeof(Key) == 8) {
      const __m128i needle = _mm_set1_epi64x(static_cast<long long>(key));
      uint32_t match = 0;
      for (uint32_t i = 0; i < kWindow; i += 2)
        match |= static_cast<uint32_t>(_mm_movemask_pd(_mm_castsi128_pd(
                     _mm_cmpeq_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(window + i)), needle))))
                 << i;
      return match;
    }
#endif
    uint32_t match = 0;
    for (uint32_t i = 0; i < kWindow; ++i) match |= static_cast<uint32_t>(window[i] == key) << i;
    return match;
  }

  template <class EntryKey>
  bool Place(const std::vector<std::pair<EntryKey, Value>>& entries, size_t capacity) {
    mask_ = capacity - 1;
    keys_.assign(capacity + kWindow - 1, kEmpty);
    values_.assign(capacity + kWindow - 1, Value{});
    largest_key_value_.reset();
    for (const auto& [entry_key, value] : entries) {
      const Key key = static_cast<Key>(entry_key);
      if (key == kEmpty) {
        largest_key_value_ = value;  // a duplicate key keeps the last value
        continue;
      }
      const size_t home = MixBits(key) & mask_;
      size_t slot = home;
      while (slot < home + kWindow && keys_[slot] != kEmpty && keys_[slot] != key) ++slot;
      if (slot == home + kWindow) return false;
      keys_[slot] = key;
      values_[slot] = value;
    }
    return true;
  }

  size_t mask_ = 0;
  std::vector<Key> keys_;
  std::vector<Value> values_;
  std::optional<Value> largest_key_value_;
};

}  // namespace np
