// A single-producer/single-consumer ring in shared memory, the one layout
// and the one push/pop logic of every ring the dataplane writes for another
// process: the flow record rings (flow_abi.h) and the trace and capture rings
// (debug_abi.h).
//
// Layout (offsets pinned by static_asserts below; part of both ABIs):
//     0  head     slots written so far          (producer)
//    64  tail     slots consumed so far         (consumer; its only write)
//   128  written  slots accepted                (producer)
//   136  dropped  slots refused: the ring was full (producer)
//   192  slots[kCapacity]
// head and tail run freely (never wrap in practice: 2^64 slots); the slot of
// position p is p & (kCapacity - 1).
//
// Never blocking: a producer that finds the ring full drops what it would
// have written and counts it. The producer publishes a slot by the release
// store of head, the consumer frees slots by the release store of tail; each
// side loads the other's counter with acquire. A file that starts as zeros
// is an empty ring.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace np {

template <typename T, uint32_t kCapacity>
struct alignas(64) SpscRing {
  static_assert(kCapacity != 0 && (kCapacity & (kCapacity - 1)) == 0, "a power of two");
  static_assert(std::is_trivially_copyable_v<T>);
  static constexpr uint32_t kSlots = kCapacity;

  std::atomic<uint64_t> head;
  uint8_t pad0[56];
  std::atomic<uint64_t> tail;
  uint8_t pad1[56];
  std::atomic<uint64_t> written;
  std::atomic<uint64_t> dropped;
  uint8_t pad2[48];
  T slots[kCapacity];

  // ---- producer side: one thread ----

  // True when a slot is free; false, with the drop counted, when full.
  bool HasRoom() {
    if (head.load(std::memory_order_relaxed) - tail.load(std::memory_order_acquire) < kCapacity) return true;
    dropped.store(dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  // The slot to fill in place, or nullptr (counted as dropped) when full.
  // Publish it with Commit once written.
  T* Reserve() { return HasRoom() ? &slots[head.load(std::memory_order_relaxed) & (kCapacity - 1)] : nullptr; }
  void Commit() {
    head.store(head.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    written.store(written.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Copies `item` in; false (and counted) when full.
  bool Push(const T& item) {
    T* slot = Reserve();
    if (slot == nullptr) return false;
    std::memcpy(slot, &item, sizeof(T));
    Commit();
    return true;
  }

  // ---- consumer side: one thread ----

  // Copies out up to `max` slots, oldest first, and frees them.
  uint32_t Pop(T* out, uint32_t max) {
    const uint64_t first = tail.load(std::memory_order_relaxed);
    const uint64_t last = head.load(std::memory_order_acquire);
    uint32_t count = 0;
    for (; count < max && first + count < last; ++count)
      std::memcpy(&out[count], &slots[(first + count) & (kCapacity - 1)], sizeof(T));
    tail.store(first + count, std::memory_order_release);
    return count;
  }
  // Calls fn(slot) for everything written, then frees it all.
  template <typename Fn>
  uint32_t Drain(Fn&& fn) {
    const uint64_t first = tail.load(std::memory_order_relaxed);
    const uint64_t last = head.load(std::memory_order_acquire);
    for (uint64_t i = first; i < last; ++i) fn(static_cast<const T&>(slots[i & (kCapacity - 1)]));
    tail.store(last, std::memory_order_release);
    return static_cast<uint32_t>(last - first);
  }
};

namespace spsc_ring_layout {
using Probe = SpscRing<uint64_t, 2>;
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<Probe> && std::is_trivially_destructible_v<Probe>);
static_assert(offsetof(Probe, head) == 0 && offsetof(Probe, tail) == 64 && offsetof(Probe, written) == 128 &&
              offsetof(Probe, dropped) == 136 && offsetof(Probe, slots) == 192);
}  // namespace spsc_ring_layout

}  // namespace np
