// Wire formats as byte offsets plus unaligned-safe loads and stores.
//
// Packets sit in mbufs at arbitrary alignment (VLAN tags shift everything by
// 4 bytes), so headers are never reinterpret_cast to structs: every field is
// read with memcpy, which compiles to a single (unaligned) load on x86/arm64.
// Values returned by LoadBe* are in host byte order.
#pragma once

#include <cstdint>
#include <cstring>

namespace np {

inline uint16_t LoadBe16(const uint8_t* p) {
  uint16_t value;
  std::memcpy(&value, p, sizeof(value));
  return __builtin_bswap16(value);
}
inline uint32_t LoadBe32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
  return __builtin_bswap32(value);
}
inline void StoreBe16(uint8_t* p, uint16_t value) {
  value = __builtin_bswap16(value);
  std::memcpy(p, &value, sizeof(value));
}
inline void StoreBe32(uint8_t* p, uint32_t value) {
  value = __builtin_bswap32(value);
  std::memcpy(p, &value, sizeof(value));
}
// SCTP stores its CRC32c least significant byte first (RFC 4960 appendix B).
inline uint32_t LoadLe32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;  // little-endian hosts only (x86, arm64): see static_assert below
}
inline void StoreLe32(uint8_t* p, uint32_t value) { std::memcpy(p, &value, sizeof(value)); }
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "LoadLe32/StoreLe32 assume little-endian");

struct MacAddress {
  uint8_t bytes[6];
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
  bool IsGroup() const { return (bytes[0] & 1u) != 0; }  // multicast or broadcast
};
inline constexpr MacAddress kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
inline constexpr MacAddress kZeroMac{{0, 0, 0, 0, 0, 0}};

inline MacAddress LoadMac(const uint8_t* p) {
  MacAddress mac;
  std::memcpy(mac.bytes, p, sizeof(mac.bytes));
  return mac;
}
inline void StoreMac(uint8_t* p, const MacAddress& mac) { std::memcpy(p, mac.bytes, sizeof(mac.bytes)); }

// --- Ethernet / 802.1Q -----------------------------------------------------
inline constexpr uint32_t kEthDstOffset = 0;
inline constexpr uint32_t kEthSrcOffset = 6;
inline constexpr uint32_t kEthTypeOffset = 12;
inline constexpr uint32_t kEthHeaderLength = 14;
inline constexpr uint32_t kVlanTagLength = 4;      // TCI + inner ethertype
inline constexpr uint32_t kEthMinFrameLength = 60; // without FCS

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr uint16_t kEtherTypeQinQLegacy = 0x9100;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

// --- ARP (Ethernet / IPv4 only) ----------------------------------------------
inline constexpr uint32_t kArpHardwareTypeOffset = 0;
inline constexpr uint32_t kArpProtocolTypeOffset = 2;
inline constexpr uint32_t kArpHardwareLengthOffset = 4;
inline constexpr uint32_t kArpProtocolLengthOffset = 5;
inline constexpr uint32_t kArpOpcodeOffset = 6;
inline constexpr uint32_t kArpSenderMacOffset = 8;
inline constexpr uint32_t kArpSenderIpOffset = 14;
inline constexpr uint32_t kArpTargetMacOffset = 18;
inline constexpr uint32_t kArpTargetIpOffset = 24;
inline constexpr uint32_t kArpLength = 28;
inline constexpr uint16_t kArpHardwareEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

// --- IPv4 --------------------------------------------------------------------
inline constexpr uint32_t kIpv4VersionIhlOffset = 0;
inline constexpr uint32_t kIpv4TosOffset = 1;
inline constexpr uint32_t kIpv4TotalLengthOffset = 2;
inline constexpr uint32_t kIpv4IdOffset = 4;
inline constexpr uint32_t kIpv4FragmentOffset = 6;  // flags + offset word
inline constexpr uint32_t kIpv4TtlOffset = 8;
inline constexpr uint32_t kIpv4ProtocolOffset = 9;
inline constexpr uint32_t kIpv4ChecksumOffset = 10;
inline constexpr uint32_t kIpv4SrcOffset = 12;
inline constexpr uint32_t kIpv4DstOffset = 16;
inline constexpr uint32_t kIpv4MinHeaderLength = 20;
inline constexpr uint32_t kIpv4MaxHeaderLength = 60;
inline constexpr uint16_t kIpv4FlagDontFragment = 0x4000;
inline constexpr uint16_t kIpv4FlagMoreFragments = 0x2000;
inline constexpr uint16_t kIpv4FragmentOffsetMask = 0x1fff;  // in 8-byte units

inline constexpr uint8_t kProtocolIcmp = 1;
inline constexpr uint8_t kProtocolTcp = 6;
inline constexpr uint8_t kProtocolUdp = 17;
inline constexpr uint8_t kProtocolIcmpv6 = 58;
inline constexpr uint8_t kProtocolSctp = 132;

// --- IPv6 --------------------------------------------------------------------
inline constexpr uint32_t kIpv6PayloadLengthOffset = 4;
inline constexpr uint32_t kIpv6NextHeaderOffset = 6;
inline constexpr uint32_t kIpv6HopLimitOffset = 7;
inline constexpr uint32_t kIpv6SrcOffset = 8;
inline constexpr uint32_t kIpv6DstOffset = 24;
inline constexpr uint32_t kIpv6HeaderLength = 40;
inline constexpr uint8_t kIpv6HopByHop = 0;
inline constexpr uint8_t kIpv6Routing = 43;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr uint8_t kIpv6Esp = 50;
inline constexpr uint8_t kIpv6Auth = 51;
inline constexpr uint8_t kIpv6NoNext = 59;
inline constexpr uint8_t kIpv6DestOptions = 60;
inline constexpr uint8_t kIpv6Mobility = 135;
inline constexpr uint8_t kIpv6Hip = 139;
inline constexpr uint8_t kIpv6Shim6 = 140;
inline constexpr uint32_t kIpv6FragmentHeaderLength = 8;

// --- L4 ----------------------------------------------------------------------
inline constexpr uint32_t kL4SrcPortOffset = 0;  // TCP, UDP, SCTP
inline constexpr uint32_t kL4DstPortOffset = 2;
inline constexpr uint32_t kTcpDataOffsetOffset = 12;
inline constexpr uint32_t kTcpFlagsOffset = 13;
inline constexpr uint32_t kTcpChecksumOffset = 16;
inline constexpr uint32_t kTcpMinHeaderLength = 20;
inline constexpr uint32_t kUdpLengthOffset = 4;
inline constexpr uint32_t kUdpChecksumOffset = 6;
inline constexpr uint32_t kUdpHeaderLength = 8;
inline constexpr uint32_t kSctpChecksumOffset = 8;
inline constexpr uint32_t kSctpCommonHeaderLength = 12;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;

// --- ICMPv4 ------------------------------------------------------------------
inline constexpr uint32_t kIcmpTypeOffset = 0;
inline constexpr uint32_t kIcmpCodeOffset = 1;
inline constexpr uint32_t kIcmpChecksumOffset = 2;
inline constexpr uint32_t kIcmpIdOffset = 4;        // echo / echo reply
inline constexpr uint32_t kIcmpSequenceOffset = 6;
inline constexpr uint32_t kIcmpNextHopMtuOffset = 6; // dest unreachable, code 4
inline constexpr uint32_t kIcmpHeaderLength = 8;     // errors quote the datagram after this
inline constexpr uint32_t kIcmpErrorQuotedL4Bytes = 8;  // RFC 792: "first 64 bits"

inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpSourceQuench = 4;
inline constexpr uint8_t kIcmpRedirect = 5;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProblem = 12;

inline constexpr uint8_t kIcmpCodeNetUnreachable = 0;
inline constexpr uint8_t kIcmpCodeHostUnreachable = 1;
inline constexpr uint8_t kIcmpCodeProtocolUnreachable = 2;
inline constexpr uint8_t kIcmpCodePortUnreachable = 3;
inline constexpr uint8_t kIcmpCodeFragmentationNeeded = 4;
inline constexpr uint8_t kIcmpCodeAdminProhibited = 13;

inline constexpr bool IsIcmpError(uint8_t type) {
  return type == kIcmpDestUnreachable || type == kIcmpSourceQuench || type == kIcmpRedirect ||
         type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
}
inline constexpr bool IsIcmpEcho(uint8_t type) {
  return type == kIcmpEchoRequest || type == kIcmpEchoReply;
}

}  // namespace np
