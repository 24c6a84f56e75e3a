// In-place NAT rewrites of IPv4 packets with incremental checksum updates.
//
// `meta` must come from Parse() of the same bytes (result kOk, IPv4). The
// current addresses and ports are read from the packet, not from meta, so
// several rewrites of one packet compose (meta is not updated).
//
// What each rewrite touches:
//   - IPv4 address + header checksum, always.
//   - TCP/UDP: port + checksum (pseudo-header covers the address). A UDP
//     checksum of 0 ("none") stays 0; a computed 0 becomes 0xffff.
//   - SCTP: port, then the CRC32c over the whole SCTP packet is recomputed
//     (addresses are not covered by it, ports are).
//   - ICMP echo/echo reply: the identifier acts as the port (Parse puts it in
//     both src_port and dst_port), ICMP checksum updated.
//   - Non-first fragments: address only (the L4 header, and the checksum that
//     covers the pseudo-header, travel in the first fragment).
//   - ICMP errors: outer address only; the quoted datagram is rewritten by
//     RewriteIcmpErrorInner.
#pragma once

#include <cstdint>

#include "dataplane/packet/parse.h"

namespace np {

// Return false, leaving the packet untouched, when the rewrite cannot be
// done consistently: not IPv4, or an SCTP port change on a fragmented packet
// (its CRC32c covers fragments we do not hold). The caller drops and counts.
bool RewriteSource(uint8_t* data, const PacketMeta& meta, uint32_t new_ip, uint16_t new_port);
bool RewriteDestination(uint8_t* data, const PacketMeta& meta, uint32_t new_ip, uint16_t new_port);
// Both at once (SNAT + DNAT: hairpin, externalTrafficPolicy Cluster): one
// SCTP CRC computation instead of two.
bool RewriteSourceAndDestination(uint8_t* data, const PacketMeta& meta, uint32_t new_src_ip,
                                 uint16_t new_src_port, uint32_t new_dst_ip, uint16_t new_dst_port);

// Rewrites the datagram quoted in an ICMP error (meta.is_icmp_error) to the
// given tuple: inner addresses + inner IP checksum, inner ports (ICMP echo:
// identifier; new_src_port is used, or new_dst_port if the source one is
// unchanged) and the inner L4 checksum when it was quoted (TCP needs 18
// quoted bytes; SCTP's CRC covers data that is not quoted and is left
// alone), and the outer ICMP checksum that covers all of it. The outer IP
// header is rewritten separately with RewriteSource/RewriteDestination.
// Returns false (untouched) when meta is not an IPv4 ICMP error.
bool RewriteIcmpErrorInner(uint8_t* data, const PacketMeta& meta, uint32_t new_src_ip,
                           uint16_t new_src_port, uint32_t new_dst_ip, uint16_t new_dst_port);

// Forwarding: returns false (untouched) when the TTL is already <= 1: the
// caller drops, and may answer with ICMP time exceeded.
bool DecrementTtl(uint8_t* data, const PacketMeta& meta);

}  // namespace np
