// IPv4 neighbours (ARP cache): IP → MAC and the DPDK port it sits behind.
//
// Workers learn from the ARP and IPv4 packets they receive and read entries
// for every packet they send, so the table is lock-free: a slot's key is
// claimed with compare-exchange, its MAC+port word is one 64-bit atomic, so
// a reader sees either the old or the new binding, never a torn one. Aged
// entries keep their key with a zero binding (unresolved) and may be taken
// over by a new address; keys are never removed, so probing stays correct.
// Capacity is fixed at start (node config), never allocated per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

namespace np {

struct NeighborBinding {
  uint64_t mac = 0;        // 48 bits, network order packed big-endian into the low bits
  uint16_t dpdk_port = 0;
};

class NeighborTable {
 public:
  explicit NeighborTable(uint32_t capacity);

  bool Lookup(uint32_t ipv4, NeighborBinding& binding) const;
  // Returns false when no slot is free within the probe window (counted).
  bool Learn(uint32_t ipv4, uint64_t mac, uint16_t dpdk_port, uint32_t now_s);
  // Main lcore: unresolves entries not refreshed within timeout_s.
  uint32_t Age(uint32_t now_s, uint32_t timeout_s);

  template <class Visit>
  void ForEach(Visit&& visit) const {
    for (uint32_t i = 0; i <= mask_; ++i) {
      const Slot& slot = slots_[i];
      const uint64_t key = slot.key.load(std::memory_order_acquire);
      const uint64_t binding = slot.binding.load(std::memory_order_acquire);
      if (key != 0 && binding != 0)
        visit(static_cast<uint32_t>(key), Unpack(binding), slot.last_seen_s.load(std::memory_order_relaxed));
    }
  }
  uint32_t capacity() const { return mask_ + 1; }

  static uint64_t MacFromBytes(const uint8_t* bytes);
  // Per packet on the fast path: one byte swap and a 6-byte copy.
  static void MacToBytes(uint64_t mac, uint8_t* bytes) {
    const uint64_t big_endian = __builtin_bswap64(mac << 16);
    std::memcpy(bytes, &big_endian, 6);
  }

 private:
  static constexpr uint32_t kProbeWindow = 16;
  struct Slot {
    std::atomic<uint64_t> key{0};      // ipv4 + 1<<32 (so that 0 means empty)
    std::atomic<uint64_t> binding{0};  // mac << 16 | port; 0 = unresolved
    std::atomic<uint32_t> last_seen_s{0};
  };
  static uint64_t Pack(uint64_t mac, uint16_t port) { return (mac << 16) | port; }
  static NeighborBinding Unpack(uint64_t word) {
    return NeighborBinding{word >> 16, static_cast<uint16_t>(word & 0xffff)};
  }
  uint32_t Home(uint32_t ipv4) const { return (ipv4 * 2654435761u) & mask_; }

  uint32_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace np
