// The flow hash that picks a Maglev slot. Every node must compute the same
// value for the same flow (ECMP may send a flow's packets to any node), so it
// depends only on the tuple and the configured seed, never on the CPU or RSS.
#pragma once

#include <cstdint>

namespace np {

inline constexpr uint64_t MixBits(uint64_t value) {  // murmur3's 64-bit finalizer
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

inline constexpr uint64_t FlowHash(uint32_t src_ip, uint16_t src_port, uint32_t dst_ip,
                                   uint16_t dst_port, uint8_t protocol, uint32_t seed) {
  uint64_t a = (static_cast<uint64_t>(src_ip) << 32) | dst_ip;
  uint64_t b = (static_cast<uint64_t>(src_port) << 48) | (static_cast<uint64_t>(dst_port) << 32) |
               (static_cast<uint64_t>(protocol) << 24) | 0x5a5a5aULL;
  return MixBits(a ^ MixBits(b ^ seed));
}

// sessionAffinity ClientIP: the choice depends on the client address only.
inline constexpr uint64_t ClientHash(uint32_t src_ip, uint32_t seed) {
  return MixBits((static_cast<uint64_t>(src_ip) << 32) ^ seed ^ 0x9e3779b97f4a7c15ULL);
}

}  // namespace np
