#include "dataplane/packet/build.h"

#include <cstring>

#include "dataplane/packet/checksum.h"

namespace np {
namespace {

constexpr uint8_t kDefaultTtl = 64;
// RFC 1812 5.3.2 / Linux: ICMP errors carry "internetwork control" precedence.
constexpr uint8_t kIcmpErrorTos = 0xc0;

// Writes Ethernet (+ 802.1Q when vlan_id != 0); returns the L3 offset.
uint32_t WriteEthernet(uint8_t* out, const MacAddress& dst, const MacAddress& src, uint16_t vlan_id,
                       uint16_t ethertype) {
  StoreMac(out + kEthDstOffset, dst);
  StoreMac(out + kEthSrcOffset, src);
  if (vlan_id == 0) {
    StoreBe16(out + kEthTypeOffset, ethertype);
    return kEthHeaderLength;
  }
  StoreBe16(out + kEthTypeOffset, kEtherTypeVlan);
  StoreBe16(out + kEthHeaderLength, vlan_id & 0x0fffu);
  StoreBe16(out + kEthHeaderLength + 2, ethertype);
  return kEthHeaderLength + kVlanTagLength;
}

uint32_t L2HeaderLength(uint16_t vlan_id) {
  return kEthHeaderLength + (vlan_id != 0 ? kVlanTagLength : 0);
}

// Zero-pads to the Ethernet minimum; `capacity` was checked against it.
uint32_t PadFrame(uint8_t* out, uint32_t length) {
  if (length >= kEthMinFrameLength) return length;
  std::memset(out + length, 0, kEthMinFrameLength - length);
  return kEthMinFrameLength;
}

uint32_t BuildArp(uint8_t* out, uint32_t capacity, const MacAddress& eth_dst, uint16_t opcode,
                  const MacAddress& sender_mac, uint32_t sender_ip, const MacAddress& target_mac,
                  uint32_t target_ip, uint16_t vlan_id) {
  if (capacity < kEthMinFrameLength) return 0;  // >= any ARP frame, tagged or not
  const uint32_t l3 = WriteEthernet(out, eth_dst, sender_mac, vlan_id, kEtherTypeArp);
  uint8_t* arp = out + l3;
  StoreBe16(arp + kArpHardwareTypeOffset, kArpHardwareEthernet);
  StoreBe16(arp + kArpProtocolTypeOffset, kEtherTypeIpv4);
  arp[kArpHardwareLengthOffset] = 6;
  arp[kArpProtocolLengthOffset] = 4;
  StoreBe16(arp + kArpOpcodeOffset, opcode);
  StoreMac(arp + kArpSenderMacOffset, sender_mac);
  StoreBe32(arp + kArpSenderIpOffset, sender_ip);
  StoreMac(arp + kArpTargetMacOffset, target_mac);
  StoreBe32(arp + kArpTargetIpOffset, target_ip);
  return PadFrame(out, l3 + kArpLength);
}

// RFC 1812 4.3.2.7: never answer a packet whose source is not one host.
bool IsUnicastHostSource(uint32_t ip) {
  const uint32_t first_octet = ip >> 24;
  return first_octet != 0 && first_octet != 127 && first_octet < 224;
}

bool IsUnicastDestination(uint32_t ip) {
  return ip != 0xffffffffu && (ip >> 28) != 0xe;  // limited broadcast, multicast
}

uint32_t QuotedLength(const PacketMeta& meta) {
  const uint32_t payload = meta.ip_total_length - meta.ip_header_length;
  return meta.ip_header_length + (payload < kIcmpErrorQuotedL4Bytes ? payload : kIcmpErrorQuotedL4Bytes);
}

}  // namespace

uint32_t BuildArpReply(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t our_ip,
                       const MacAddress& requester_mac, uint32_t requester_ip, uint16_t vlan_id) {
  return BuildArp(out, capacity, requester_mac, kArpOpReply, our_mac, our_ip, requester_mac,
                  requester_ip, vlan_id);
}

uint32_t BuildArpRequest(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t our_ip,
                         uint32_t target_ip, uint16_t vlan_id) {
  return BuildArp(out, capacity, kBroadcastMac, kArpOpRequest, our_mac, our_ip, kZeroMac, target_ip,
                  vlan_id);
}

uint32_t BuildGratuitousArp(uint8_t* out, uint32_t capacity, const MacAddress& our_mac, uint32_t ip,
                            uint16_t vlan_id) {
  return BuildArp(out, capacity, kBroadcastMac, kArpOpRequest, our_mac, ip, kZeroMac, ip, vlan_id);
}

uint32_t IcmpErrorFrameLength(const PacketMeta& meta) {
  return L2HeaderLength(meta.has_vlan ? meta.vlan_id : 0) + kIpv4MinHeaderLength +
         kIcmpHeaderLength + QuotedLength(meta);
}

uint32_t BuildIcmpError(uint8_t* out, uint32_t capacity, const uint8_t* offending,
                        const PacketMeta& meta, uint32_t source_ip, uint8_t type, uint8_t code,
                        uint32_t rest_of_header) {
  if (meta.ethertype != kEtherTypeIpv4) return 0;
  if (meta.is_icmp_error || meta.frag_offset_bytes != 0) return 0;
  if (LoadMac(offending + kEthDstOffset).IsGroup()) return 0;
  if (!IsUnicastHostSource(meta.src_ip) || !IsUnicastDestination(meta.dst_ip)) return 0;

  const uint32_t frame_length = IcmpErrorFrameLength(meta);
  if (capacity < frame_length || capacity < kEthMinFrameLength) return 0;

  // A VLAN id of 0 (priority tag) is answered untagged.
  const uint16_t vlan_id = meta.has_vlan ? meta.vlan_id : 0;
  const uint32_t l3 = WriteEthernet(out, LoadMac(offending + kEthSrcOffset),
                                    LoadMac(offending + kEthDstOffset), vlan_id, kEtherTypeIpv4);
  const uint32_t quoted = QuotedLength(meta);
  const uint32_t icmp_length = kIcmpHeaderLength + quoted;
  uint8_t* ip = out + l3;
  ip[kIpv4VersionIhlOffset] = 0x45;
  ip[kIpv4TosOffset] = kIcmpErrorTos;
  StoreBe16(ip + kIpv4TotalLengthOffset, static_cast<uint16_t>(kIpv4MinHeaderLength + icmp_length));
  StoreBe16(ip + kIpv4IdOffset, 0);
  StoreBe16(ip + kIpv4FragmentOffset, 0);
  ip[kIpv4TtlOffset] = kDefaultTtl;
  ip[kIpv4ProtocolOffset] = kProtocolIcmp;
  StoreBe16(ip + kIpv4ChecksumOffset, 0);
  StoreBe32(ip + kIpv4SrcOffset, source_ip);
  StoreBe32(ip + kIpv4DstOffset, meta.src_ip);
  StoreBe16(ip + kIpv4ChecksumOffset, Ipv4HeaderChecksum(ip, kIpv4MinHeaderLength));

  uint8_t* icmp = ip + kIpv4MinHeaderLength;
  icmp[kIcmpTypeOffset] = type;
  icmp[kIcmpCodeOffset] = code;
  StoreBe16(icmp + kIcmpChecksumOffset, 0);
  StoreBe32(icmp + 4, rest_of_header);
  std::memcpy(icmp + kIcmpHeaderLength, offending + meta.l3_offset, quoted);
  StoreBe16(icmp + kIcmpChecksumOffset, IcmpChecksum(icmp, icmp_length));
  return PadFrame(out, frame_length);
}

}  // namespace np
