// The conntrack key: one direction of a flow, host byte order.
//
// A connection is indexed under two keys, like Linux conntrack's
// tuplehash[2]: the original-direction tuple (as the first packet arrived)
// and the reply-direction tuple (what the answer looks like after NAT). For
// client→VIP:80 DNATed to backend:8080 the reply key is backend:8080→client;
// with SNAT to the node it is backend:8080→node_ip:snat_port.
//
// ICMP echo: the echo identifier goes into BOTH ports, so that Reversed()
// of a request key is the reply key (and SNAT of the identifier rewrites
// both). Other ICMP types are not tracked as flows of their own.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/flow_hash.h"

namespace np::ct {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

// Which of an entry's two keys a packet matched.
enum class Direction : uint8_t { kOriginal = 0, kReply = 1 };

struct FlowKey {
  uint32_t src_ip = 0;
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t protocol = 0;
  uint8_t zone = 0;       // reserved for overlapping address spaces; 0 today
  uint16_t reserved = 0;  // must be 0: it takes part in hashing and equality

  // The key of the other direction when no NAT applies.
  constexpr FlowKey Reversed() const {
    return FlowKey{dst_ip, src_ip, dst_port, src_port, protocol, zone, 0};
  }

  // Two 64-bit words: equality and hashing without per-field branches.
  uint64_t Word0() const {
    uint64_t word;
    std::memcpy(&word, this, sizeof(word));
    return word;
  }
  uint64_t Word1() const {
    uint64_t word;
    std::memcpy(&word, reinterpret_cast<const char*>(this) + 8, sizeof(word));
    return word;
  }

  friend bool operator==(const FlowKey& a, const FlowKey& b) {
    return ((a.Word0() ^ b.Word0()) | (a.Word1() ^ b.Word1())) == 0;
  }
};
static_assert(sizeof(FlowKey) == 16, "FlowKey is two words: keep it packed");

// Table hash: independent of the Maglev flow hash's seed so that the table
// layout never correlates with backend choice. The high 32 bits become the
// slot signature, the low bits pick the bucket.
inline uint64_t HashFlowKey(const FlowKey& key, uint64_t seed) {
  return MixBits(key.Word0() ^ MixBits(key.Word1() ^ seed));
}

}  // namespace np::ct
