#include "dataplane/neighbor/neighbor_table.h"

#include <bit>

namespace np {

NeighborTable::NeighborTable(uint32_t capacity)
    : mask_(std::bit_ceil(capacity < kProbeWindow ? kProbeWindow : capacity) - 1),
      slots_(std::make_unique<Slot[]>(mask_ + 1)) {}

bool NeighborTable::Lookup(uint32_t ipv4, NeighborBinding& binding) const {
  const uint64_t key = ipv4 | (1ull << 32);
  for (uint32_t probe = 0; probe < kProbeWindow; ++probe) {
    const Slot& slot = slots_[(Home(ipv4) + probe) & mask_];
    const uint64_t seen = slot.key.load(std::memory_order_acquire);
    if (seen == 0) return false;
    if (seen == key) {
      const uint64_t word = slot.binding.load(std::memory_order_acquire);
      if (word == 0) return false;
      binding = Unpack(word);
      return true;
    }
  }
  return false;
}

bool NeighborTable::Learn(uint32_t ipv4, uint64_t mac, uint16_t dpdk_port, uint32_t now_s) {
  const uint64_t key = ipv4 | (1ull << 32);
  const uint64_t word = Pack(mac, dpdk_port);
  Slot* reusable = nullptr;
  for (uint32_t probe = 0; probe < kProbeWindow; ++probe) {
    Slot& slot = slots_[(Home(ipv4) + probe) & mask_];
    uint64_t seen = slot.key.load(std::memory_order_acquire);
    if (seen == key) {
      if (slot.binding.load(std::memory_order_relaxed) != word) slot.binding.store(word, std::memory_order_release);
      slot.last_seen_s.store(now_s, std::memory_order_relaxed);
      return true;
    }
    if (seen == 0) {
      if (slot.key.compare_exchange_strong(seen, key, std::memory_order_acq_rel)) {
        slot.binding.store(word, std::memory_order_release);
        slot.last_seen_s.store(now_s, std::memory_order_relaxed);
        return true;
      }
      if (seen == key) {  // another worker learned the same address first
        slot.binding.store(word, std::memory_order_release);
        return true;
      }
    }
    if (reusable == nullptr && slot.binding.load(std::memory_order_relaxed) == 0) reusable = &slot;
  }
  if (reusable == nullptr) return false;
  // Take over an aged slot: unresolved first, so no reader pairs the new
  // key with the old binding.
  uint64_t old_key = reusable->key.load(std::memory_order_acquire);
  if (!reusable->key.compare_exchange_strong(old_key, key, std::memory_order_acq_rel)) return false;
  reusable->binding.store(word, std::memory_order_release);
  reusable->last_seen_s.store(now_s, std::memory_order_relaxed);
  return true;
}

uint32_t NeighborTable::Age(uint32_t now_s, uint32_t timeout_s) {
  uint32_t aged = 0;
  for (uint32_t i = 0; i <= mask_; ++i) {
    Slot& slot = slots_[i];
    if (slot.binding.load(std::memory_order_relaxed) == 0) continue;
    if (now_s - slot.last_seen_s.load(std::memory_order_relaxed) > timeout_s) {
      slot.binding.store(0, std::memory_order_release);
      ++aged;
    }
  }
  return aged;
}

uint64_t NeighborTable::MacFromBytes(const uint8_t* bytes) {
  uint64_t mac = 0;
  for (int i = 0; i < 6; ++i) mac = (mac << 8) | bytes[i];
  return mac;
}


}  // namespace np
