// Builders for the packets the dataplane originates on the slow path: ARP
// replies/requests/announcements and ICMP errors.
//
// Each writes a complete Ethernet frame (with an 802.1Q tag when vlan_id is
// non-zero) into `out`, and returns its length, or 0 when `capacity` is too
// small or the packet must not be sent. Frames shorter than the Ethernet
// minimum are zero-padded to 60 bytes: some virtual PMDs (tap, af_packet)
// do not pad. All addresses in host byte order.
#pragma once

#include <cstdint>

#include "dataplane/packet/headers.h"
#include "dataplane/packet/parse.h"

namespace np {

// Answer to an ARP request from (requester_mac, requester_ip) asking for
// our_ip, which we own at our_mac.
uint32_t BuildArpReply(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t our_ip,
                       const MacAddress& requester_mac, uint32_t requester_ip, uint16_t vlan_id);

// Broadcast "who has target_ip, tell our_ip" (next-hop resolution).
uint32_t BuildArpRequest(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t our_ip,
                         uint32_t target_ip, uint16_t vlan_id);

// Gratuitous ARP announcing that `ip` is now at our_mac (LoadBalancer VIP
// takeover): a broadcast request with sender IP == target IP (RFC 5227).
uint32_t BuildGratuitousArp(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t ip,
                            uint16_t vlan_id);

// ICMP error about `offending` (a frame that Parse() accepted as IPv4 into
// `meta`), sent from source_ip back to the offending packet's source. The
// Ethernet addresses are the offending frame's, swapped; its VLAN is kept.
// The message quotes the offending IP header (with options) and the first 8
// bytes of its payload (RFC 792; RFC 1812 4.3.2.3). `rest_of_header` fills
// bytes 4..7 (e.g. the next-hop MTU for "fragmentation needed" in its low
// 16 bits; 0 otherwise).
//
// Returns 0 for packets that must never trigger an ICMP error (RFC 1122
// 3.2.2, RFC 1812 4.3.2.7): ICMP errors, non-first fragments, L2 or IP
// broadcast/multicast, and sources that are not a unique host (0.0.0.0/8,
// 127/8, multicast, class E).
uint32_t BuildIcmpError(uint8_t* out, uint32_t capacity, const uint8_t* offending,
                        const PacketMeta& meta, uint32_t source_ip, uint8_t type, uint8_t code,
                        uint32_t rest_of_header);

// Type 3 code 3: the reply for a Service port without endpoints.
inline uint32_t BuildIcmpPortUnreachable(uint8_t* out, uint32_t capacity, const uint8_t* offending,
                                         const PacketMeta& meta, uint32_t source_ip) {
  return BuildIcmpError(out, capacity, offending, meta, source_ip, kIcmpDestUnreachable,
                        kIcmpCodePortUnreachable, 0);
}

// Length of the frame BuildIcmpError writes for `meta` (before the 60-byte
// padding), so callers can size buffers.
uint32_t IcmpErrorFrameLength(const PacketMeta& meta);

}  // namespace np
