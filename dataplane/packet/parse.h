// Packet parsing for the fast path: Ethernet (+ one 802.1Q tag), ARP, IPv4
// with TCP/UDP/SCTP/ICMP (and the header quoted inside ICMP errors), IPv6
// parsed far enough to count it.
//
// Contract: Parse never reads data[length] or beyond, whatever the bytes;
// it allocates nothing and throws nothing. Every address and port in
// PacketMeta is in host byte order; every offset is from data[0].
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "dataplane/packet/headers.h"

namespace np {

enum class ParseResult : uint8_t {
  kOk = 0,                 // IPv4 or ARP: meta is complete
  kTruncated,              // the frame ends inside a header
  kUnsupportedEtherType,   // not IPv4 / ARP / IPv6
  kUnsupportedVlanStack,   // QinQ (0x88a8 / 0x9100) or a second 802.1Q tag
  kBadArp,                 // not Ethernet/IPv4 ARP
  kBadIpHeader,            // version or header length wrong
  kBadIpLength,            // total length < header, or beyond the frame
  kBadFragment,            // ping-of-death size, or TCP offset-1 overlap (RFC 1858)
  kBadL4,                  // L4 header missing from a first fragment, bad TCP offset, bad UDP length
  kBadIcmpError,           // ICMP error quoting less than an IP header + 8 bytes
  kBadIpv6ExtensionChain,  // too many / truncated extension headers
  kIpv6,                   // IPv6 parsed (meta filled) but not forwarded yet: count and drop
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(ParseResult::kCount)>
    kParseResultNames = {
        "ok",           "truncated",        "unsupported_ethertype", "unsupported_vlan_stack",
        "bad_arp",      "bad_ip_header",    "bad_ip_length",         "bad_fragment",
        "bad_l4",       "bad_icmp_error",   "bad_ipv6_ext_chain",    "ipv6",
};

inline constexpr std::string_view ParseResultName(ParseResult result) {
  auto index = static_cast<size_t>(result);
  return index < kParseResultNames.size() ? kParseResultNames[index] : "unknown";
}

struct ArpMeta {
  uint16_t opcode;  // kArpOpRequest / kArpOpReply
  MacAddress sender_mac;
  MacAddress target_mac;
  uint32_t sender_ip;
  uint32_t target_ip;
};

// The IPv4 header (and L4 start) quoted in an ICMP error, i.e. the packet
// that caused it, as it left its sender: the tuple conntrack must look up in
// the reverse direction.
struct IcmpInnerMeta {
  uint16_t ip_offset;        // inner IPv4 header
  uint16_t l4_offset;        // inner L4 header
  uint16_t l4_available;     // quoted L4 bytes actually present (>= 8 when has_l4)
  uint8_t ip_header_length;
  uint8_t protocol;
  uint32_t src_ip;
  uint32_t dst_ip;
  uint16_t src_port;         // TCP/UDP/SCTP; ICMP echo: identifier (both ports)
  uint16_t dst_port;
  uint8_t icmp_type;         // when protocol is ICMP
  bool has_l4;               // inner is a first fragment: ports are valid
};

struct PacketMeta {
  // L2
  uint16_t ethertype;        // after the VLAN tag
  uint16_t vlan_id;          // 12 bits, valid when has_vlan
  uint8_t vlan_pcp;
  bool has_vlan;

  // L3
  uint16_t l3_offset;
  uint16_t l4_offset;        // IPv4: l3 + header length; IPv6: after the extension chain
  uint16_t ip_header_length; // IPv4 incl. options; IPv6: 40 + extension headers
  uint16_t ip_total_length;  // IPv4 total length; IPv6: 40 + payload length
  uint32_t frame_length;     // l3_offset + ip_total_length: trim the mbuf to this (drops L2 padding)
  uint32_t src_ip;           // IPv4 only
  uint32_t dst_ip;
  uint8_t protocol;          // IPv4 protocol / IPv6 final next header
  uint8_t ttl;               // TTL / hop limit
  uint8_t tos;
  bool has_ip_options;
  uint16_t ip_id;            // IPv6: low 16 bits of the fragment header's id
  bool dont_fragment;
  bool is_fragment;          // more_fragments or frag_offset_bytes != 0
  bool more_fragments;
  bool first_fragment;       // is_fragment && frag_offset_bytes == 0
  uint16_t frag_offset_bytes;

  // L4 (has_l4: header present and complete, i.e. not a non-first fragment)
  bool has_l4;
  uint8_t tcp_flags;
  uint16_t src_port;         // TCP/UDP/SCTP; ICMP echo: identifier in both ports
  uint16_t dst_port;
  uint8_t icmp_type;
  uint8_t icmp_code;
  uint16_t icmp_id;          // echo / echo reply
  bool is_icmp_error;        // types 3, 4, 5, 11, 12: `inner` is valid
  IcmpInnerMeta inner;

  ArpMeta arp;               // ethertype == kEtherTypeArp
};

ParseResult Parse(const uint8_t* data, uint32_t length, PacketMeta& meta);

}  // namespace np
