// Identifiers that stay the same across restarts and on every node: derived
// from names, never from positions in a list.
#pragma once

#include <cstdint>
#include <string_view>

namespace np {

constexpr uint32_t Fnv1a32(std::string_view text) {
  uint32_t hash = 0x811c9dc5u;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x01000193u;
  }
  return hash;
}

}  // namespace np
