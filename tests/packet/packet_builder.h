// A tiny Katran-style packet builder for tests: describe a frame layer by
// layer, Build() serializes it and fills every length and checksum.
//
//   auto frame = PacketBuilder().Eth().Vlan(100).IPv4(Ip("10.0.0.1"), Ip("10.96.0.10"))
//                    .Tcp(40000, 80, kTcpSyn).Payload("hello").Build();
//
// Checksums are computed here with deliberately naive code (16-bit loop,
// bitwise CRC32c), independent of dataplane/packet/checksum.cc, so tests
// cross-check the fast-path implementation. Header-only, no DPDK.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/packet/headers.h"

namespace np::test {

using Bytes = std::vector<uint8_t>;

inline uint32_t Ip(std::string_view dotted) {
  uint32_t value = 0;
  uint32_t octet = 0;
  for (char c : dotted) {
    if (c == '.') {
      value = (value << 8) | octet;
      octet = 0;
    } else {
      octet = octet * 10 + static_cast<uint32_t>(c - '0');
    }
  }
  return (value << 8) | octet;
}

inline MacAddress Mac(uint8_t last) { return MacAddress{{0x02, 0, 0, 0, 0, last}}; }

// --- Independent reference checksums ------------------------------------------

inline uint32_t NaiveSum(const uint8_t* data, size_t length, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < length; i += 2) sum += (static_cast<uint32_t>(data[i]) << 8) | data[i + 1];
  if (length & 1) sum += static_cast<uint32_t>(data[length - 1]) << 8;
  return sum;
}
inline uint16_t NaiveFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
// Checksum of [data, data+length) with the 16-bit field at `field` zeroed.
inline uint16_t NaiveChecksum(const uint8_t* data, size_t length, size_t field, uint32_t initial = 0) {
  Bytes copy(data, data + length);
  if (field + 1 < copy.size()) copy[field] = copy[field + 1] = 0;
  return NaiveFinish(NaiveSum(copy.data(), copy.size(), initial));
}
inline uint32_t NaivePseudoIpv4(uint32_t src, uint32_t dst, uint8_t protocol, uint32_t length) {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + length;
}
inline uint32_t NaiveCrc32c(const uint8_t* data, size_t length) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct Ipv4Options {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  bool dont_fragment = false;
  bool more_fragments = false;
  uint16_t frag_offset_bytes = 0;  // multiple of 8
  Bytes options;                   // padded to 4 bytes by the caller
  int protocol = -1;               // -1: from the next layer
  int total_length = -1;           // -1: computed
};

struct L4Options {
  bool zero_checksum = false;  // UDP "no checksum"
  int checksum = -1;           // force a value (e.g. a wrong one)
  uint32_t seq = 1;
  uint32_t ack = 0;
  Bytes tcp_options;           // multiple of 4
};

class PacketBuilder {
 public:
  PacketBuilder& Eth(MacAddress src = Mac(1), MacAddress dst = Mac(2), int ethertype = -1) {
    Layer layer(Kind::kEth);
    layer.bytes.resize(kEthHeaderLength);
    StoreMac(layer.bytes.data() + kEthDstOffset, dst);
    StoreMac(layer.bytes.data() + kEthSrcOffset, src);
    layer.number = ethertype;
    return Add(std::move(layer));
  }
  PacketBuilder& Vlan(uint16_t vlan_id, uint8_t pcp = 0, int ethertype = -1) {
    Layer layer(Kind::kVlan);
    layer.bytes.resize(kVlanTagLength);
    StoreBe16(layer.bytes.data(), static_cast<uint16_t>((pcp << 13) | (vlan_id & 0x0fff)));
    layer.number = ethertype;
    return Add(std::move(layer));
  }
  PacketBuilder& Arp(uint16_t opcode, MacAddress sender_mac, uint32_t sender_ip, MacAddress target_mac,
                     uint32_t target_ip) {
    Layer layer(Kind::kArp);
    layer.bytes.resize(kArpLength);
    uint8_t* arp = layer.bytes.data();
    StoreBe16(arp + kArpHardwareTypeOffset, 1);
    StoreBe16(arp + kArpProtocolTypeOffset, kEtherTypeIpv4);
    arp[kArpHardwareLengthOffset] = 6;
    arp[kArpProtocolLengthOffset] = 4;
    StoreBe16(arp + kArpOpcodeOffset, opcode);
    StoreMac(arp + kArpSenderMacOffset, sender_mac);
    StoreBe32(arp + kArpSenderIpOffset, sender_ip);
    StoreMac(arp + kArpTargetMacOffset, target_mac);
    StoreBe32(arp + kArpTargetIpOffset, target_ip);
    return Add(std::move(layer));
  }
  PacketBuilder& IPv4(uint32_t src, uint32_t dst, Ipv4Options options = {}) {
    Layer layer(Kind::kIpv4);
    const size_t header_length = kIpv4MinHeaderLength + options.options.size();
    layer.bytes.resize(header_length);
    uint8_t* ip = layer.bytes.data();
    ip[0] = static_cast<uint8_t>(0x40 | (header_length / 4));
    ip[kIpv4TosOffset] = options.tos;
    StoreBe16(ip + kIpv4IdOffset, options.id);
    StoreBe16(ip + kIpv4FragmentOffset,
              static_cast<uint16_t>((options.dont_fragment ? kIpv4FlagDontFragment : 0) |
                                    (options.more_fragments ? kIpv4FlagMoreFragments : 0) |
                                    (options.frag_offset_bytes / 8)));
    ip[kIpv4TtlOffset] = options.ttl;
    StoreBe32(ip + kIpv4SrcOffset, src);
    StoreBe32(ip + kIpv4DstOffset, dst);
    if (!options.options.empty()) std::memcpy(ip + kIpv4MinHeaderLength, options.options.data(), options.options.size());
    layer.number = options.protocol;
    layer.total_length = options.total_length;
    return Add(std::move(layer));
  }
  // IPv6 with addresses given as 16 bytes each.
  PacketBuilder& IPv6(const std::array<uint8_t, 16>& src, const std::array<uint8_t, 16>& dst,
                      uint8_t hop_limit = 64) {
    Layer layer(Kind::kIpv6);
    layer.bytes.resize(kIpv6HeaderLength);
    layer.bytes[0] = 0x60;
    layer.bytes[kIpv6HopLimitOffset] = hop_limit;
    std::memcpy(layer.bytes.data() + kIpv6SrcOffset, src.data(), 16);
    std::memcpy(layer.bytes.data() + kIpv6DstOffset, dst.data(), 16);
    return Add(std::move(layer));
  }
  // Extension header of `type` (hop-by-hop, routing, dest options, AH) with
  // the given header-length field.
  PacketBuilder& Ipv6Extension(uint8_t type, uint8_t length_units = 0) {
    Layer layer(Kind::kIpv6Ext);
    // AH counts 4-byte units minus 2, the others 8-byte units minus 1.
    layer.bytes.resize(type == kIpv6Auth ? (length_units + 2u) * 4u : 8u + length_units * 8u);
    layer.bytes[1] = length_units;
    layer.number = type;
    return Add(std::move(layer));
  }
  PacketBuilder& Ipv6Fragment(uint16_t offset_bytes, bool more, uint32_t id) {
    Layer layer(Kind::kIpv6Ext);
    layer.bytes.resize(8);
    StoreBe16(layer.bytes.data() + 2, static_cast<uint16_t>((offset_bytes & 0xfff8) | (more ? 1 : 0)));
    StoreBe32(layer.bytes.data() + 4, id);
    layer.number = kIpv6Fragment;
    return Add(std::move(layer));
  }
  PacketBuilder& Tcp(uint16_t src_port, uint16_t dst_port, uint8_t flags = kTcpSyn, L4Options options = {}) {
    Layer layer(Kind::kTcp);
    const size_t header_length = kTcpMinHeaderLength + options.tcp_options.size();
    layer.bytes.resize(header_length);
    uint8_t* tcp = layer.bytes.data();
    StoreBe16(tcp, src_port);
    StoreBe16(tcp + 2, dst_port);
    StoreBe32(tcp + 4, options.seq);
    StoreBe32(tcp + 8, options.ack);
    tcp[kTcpDataOffsetOffset] = static_cast<uint8_t>((header_length / 4) << 4);
    tcp[kTcpFlagsOffset] = flags;
    StoreBe16(tcp + 14, 65535);
    if (!options.tcp_options.empty()) {
      std::memcpy(tcp + kTcpMinHeaderLength, options.tcp_options.data(), options.tcp_options.size());
    }
    layer.l4 = options;
    return Add(std::move(layer));
  }
  PacketBuilder& Udp(uint16_t src_port, uint16_t dst_port, L4Options options = {}) {
    Layer layer(Kind::kUdp);
    layer.bytes.resize(kUdpHeaderLength);
    StoreBe16(layer.bytes.data(), src_port);
    StoreBe16(layer.bytes.data() + 2, dst_port);
    layer.l4 = options;
    return Add(std::move(layer));
  }
  // SCTP common header; add chunks with Payload().
  PacketBuilder& Sctp(uint16_t src_port, uint16_t dst_port, uint32_t verification_tag = 0x01020304) {
    Layer layer(Kind::kSctp);
    layer.bytes.resize(kSctpCommonHeaderLength);
    StoreBe16(layer.bytes.data(), src_port);
    StoreBe16(layer.bytes.data() + 2, dst_port);
    StoreBe32(layer.bytes.data() + 4, verification_tag);
    return Add(std::move(layer));
  }
  PacketBuilder& IcmpEcho(uint8_t type, uint16_t id, uint16_t sequence) {
    Layer layer(Kind::kIcmp);
    layer.bytes.resize(kIcmpHeaderLength);
    layer.bytes[0] = type;
    StoreBe16(layer.bytes.data() + kIcmpIdOffset, id);
    StoreBe16(layer.bytes.data() + kIcmpSequenceOffset, sequence);
    return Add(std::move(layer));
  }
  // ICMP error header; follow it with Payload(quoted datagram bytes).
  PacketBuilder& IcmpError(uint8_t type, uint8_t code, uint32_t rest_of_header = 0) {
    Layer layer(Kind::kIcmp);
    layer.bytes.resize(kIcmpHeaderLength);
    layer.bytes[0] = type;
    layer.bytes[1] = code;
    StoreBe32(layer.bytes.data() + 4, rest_of_header);
    return Add(std::move(layer));
  }
  PacketBuilder& Payload(const Bytes& bytes) {
    Layer layer(Kind::kPayload);
    layer.bytes = bytes;
    return Add(std::move(layer));
  }
  PacketBuilder& Payload(std::string_view text) { return Payload(Bytes(text.begin(), text.end())); }
  PacketBuilder& PayloadOfSize(size_t size, uint8_t seed = 0) {
    Bytes bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 7);
    return Payload(bytes);
  }
  // Bytes after the IP datagram (Ethernet padding): excluded from IP lengths.
  PacketBuilder& Padding(size_t size) {
    Layer layer(Kind::kPadding);
    layer.bytes.assign(size, 0);
    return Add(std::move(layer));
  }

  Bytes Build() const {
    Bytes out;
    std::vector<size_t> offsets;
    size_t padding = 0;
    for (const Layer& layer : layers_) {
      offsets.push_back(out.size());
      out.insert(out.end(), layer.bytes.begin(), layer.bytes.end());
      if (layer.kind == Kind::kPadding) padding += layer.bytes.size();
    }
    const size_t ip_end = out.size() - padding;
    // Type/protocol fields from the next layer.
    for (size_t i = 0; i < layers_.size(); ++i) {
      const Layer& layer = layers_[i];
      const Kind next = i + 1 < layers_.size() ? layers_[i + 1].kind : Kind::kPayload;
      uint8_t* at = out.data() + offsets[i];
      if (layer.kind == Kind::kEth || layer.kind == Kind::kVlan) {
        const uint16_t type = layer.number >= 0 ? static_cast<uint16_t>(layer.number) : EtherTypeOf(next);
        StoreBe16(at + (layer.kind == Kind::kEth ? kEthTypeOffset : 2), type);
      } else if (layer.kind == Kind::kIpv4) {
        at[kIpv4ProtocolOffset] =
            layer.number >= 0 ? static_cast<uint8_t>(layer.number) : ProtocolOf(layers_, i + 1);
      } else if (layer.kind == Kind::kIpv6) {
        at[kIpv6NextHeaderOffset] = ProtocolOf(layers_, i + 1);
      } else if (layer.kind == Kind::kIpv6Ext) {
        at[0] = ProtocolOf(layers_, i + 1);
      }
    }
    // Lengths and checksums, innermost first.
    for (size_t i = layers_.size(); i-- > 0;) {
      const Layer& layer = layers_[i];
      uint8_t* at = out.data() + offsets[i];
      const size_t length = ip_end - offsets[i];
      const Enclosing ip = EnclosingIp(out, offsets, i, ip_end);
      switch (layer.kind) {
        case Kind::kIpv4: {
          const uint16_t total = layer.total_length >= 0 ? static_cast<uint16_t>(layer.total_length)
                                                         : static_cast<uint16_t>(length);
          StoreBe16(at + kIpv4TotalLengthOffset, total);
          StoreBe16(at + kIpv4ChecksumOffset, NaiveChecksum(at, layer.bytes.size(), kIpv4ChecksumOffset));
          break;
        }
        case Kind::kIpv6:
          StoreBe16(at + kIpv6PayloadLengthOffset, static_cast<uint16_t>(length - kIpv6HeaderLength));
          break;
        case Kind::kUdp:
          StoreBe16(at + kUdpLengthOffset, static_cast<uint16_t>(length));
          [[fallthrough]];
        case Kind::kTcp: {
          const size_t field = layer.kind == Kind::kUdp ? kUdpChecksumOffset : kTcpChecksumOffset;
          const uint8_t protocol = layer.kind == Kind::kUdp ? kProtocolUdp : kProtocolTcp;
          uint16_t checksum = NaiveChecksum(at, length, field, ip.PseudoSum(protocol, length));
          if (layer.kind == Kind::kUdp && checksum == 0) checksum = 0xffff;
          if (layer.l4.zero_checksum) checksum = 0;
          if (layer.l4.checksum >= 0) checksum = static_cast<uint16_t>(layer.l4.checksum);
          StoreBe16(at + field, checksum);
          break;
        }
        case Kind::kSctp: {
          std::memset(at + kSctpChecksumOffset, 0, 4);
          const uint32_t crc = NaiveCrc32c(at, length);
          for (int b = 0; b < 4; ++b) at[kSctpChecksumOffset + b] = static_cast<uint8_t>(crc >> (8 * b));
          break;
        }
        case Kind::kIcmp:
          StoreBe16(at + kIcmpChecksumOffset, NaiveChecksum(at, length, kIcmpChecksumOffset));
          break;
        default:
          break;
      }
    }
    return out;
  }

 private:
  enum class Kind { kEth, kVlan, kArp, kIpv4, kIpv6, kIpv6Ext, kTcp, kUdp, kSctp, kIcmp, kPayload, kPadding };
  struct Layer {
    explicit Layer(Kind layer_kind) : kind(layer_kind) {}
    Kind kind;
    Bytes bytes;
    int number = -1;        // ethertype / protocol override / extension type
    int total_length = -1;  // IPv4 override
    L4Options l4;
  };
  struct Enclosing {
    const uint8_t* ip = nullptr;
    bool v6 = false;
    uint32_t PseudoSum(uint8_t protocol, size_t length) const {
      if (ip == nullptr) return 0;
      if (!v6) {
        return NaivePseudoIpv4(LoadBe32(ip + kIpv4SrcOffset), LoadBe32(ip + kIpv4DstOffset), protocol,
                               static_cast<uint32_t>(length));
      }
      return NaiveSum(ip + kIpv6SrcOffset, 32) + static_cast<uint32_t>(length >> 16) +
             static_cast<uint32_t>(length & 0xffff) + protocol;
    }
  };

  PacketBuilder& Add(Layer layer) {
    layers_.push_back(std::move(layer));
    return *this;
  }
  static uint16_t EtherTypeOf(Kind next) {
    switch (next) {
      case Kind::kVlan: return kEtherTypeVlan;
      case Kind::kArp: return kEtherTypeArp;
      case Kind::kIpv6: return kEtherTypeIpv6;
      default: return kEtherTypeIpv4;
    }
  }
  static uint8_t ProtocolOf(const std::vector<Layer>& layers, size_t index) {
    if (index >= layers.size()) return kIpv6NoNext;
    switch (layers[index].kind) {
      case Kind::kTcp: return kProtocolTcp;
      case Kind::kUdp: return kProtocolUdp;
      case Kind::kSctp: return kProtocolSctp;
      case Kind::kIcmp: return kProtocolIcmp;
      case Kind::kIpv6Ext: return static_cast<uint8_t>(layers[index].number);
      case Kind::kIpv4: return 4;
      case Kind::kIpv6: return 41;
      default: return 253;  // experimental
    }
  }
  Enclosing EnclosingIp(const Bytes& out, const std::vector<size_t>& offsets, size_t index, size_t) const {
    for (size_t i = index; i-- > 0;) {
      if (layers_[i].kind == Kind::kIpv4) return {out.data() + offsets[i], false};
      if (layers_[i].kind == Kind::kIpv6) return {out.data() + offsets[i], true};
    }
    return {};
  }

  std::vector<Layer> layers_;
};

// Splits an IPv4 frame (Ethernet at 0, IPv4 at l3_offset, no options) into
// fragments carrying at most `fragment_payload` bytes (a multiple of 8)
// each; every fragment gets correct lengths, flags and header checksum.
inline std::vector<Bytes> FragmentIpv4(const Bytes& frame, size_t l3_offset, size_t fragment_payload) {
  std::vector<Bytes> fragments;
  const uint8_t* ip = frame.data() + l3_offset;
  const size_t header_length = (ip[0] & 0x0f) * 4u;
  const size_t total = LoadBe16(ip + kIpv4TotalLengthOffset);
  const size_t payload = total - header_length;
  for (size_t offset = 0; offset < payload; offset += fragment_payload) {
    const size_t size = std::min(fragment_payload, payload - offset);
    Bytes fragment(frame.begin(), frame.begin() + static_cast<long>(l3_offset + header_length));
    fragment.insert(fragment.end(), ip + header_length + offset, ip + header_length + offset + size);
    uint8_t* fip = fragment.data() + l3_offset;
    StoreBe16(fip + kIpv4TotalLengthOffset, static_cast<uint16_t>(header_length + size));
    const bool more = offset + size < payload;
    StoreBe16(fip + kIpv4FragmentOffset,
              static_cast<uint16_t>((more ? kIpv4FlagMoreFragments : 0) | (offset / 8)));
    StoreBe16(fip + kIpv4ChecksumOffset, NaiveChecksum(fip, header_length, kIpv4ChecksumOffset));
    fragments.push_back(std::move(fragment));
  }
  return fragments;
}

// Verifies every checksum of an IPv4 frame from scratch (naively): IP header,
// and TCP/UDP/ICMP/SCTP over the whole datagram when it is not fragmented.
// Returns an empty string when all are right, else what is wrong.
inline std::string VerifyIpv4Checksums(const Bytes& frame, size_t l3_offset) {
  const uint8_t* ip = frame.data() + l3_offset;
  const size_t header_length = (ip[0] & 0x0f) * 4u;
  const size_t total = LoadBe16(ip + kIpv4TotalLengthOffset);
  if (NaiveFinish(NaiveSum(ip, header_length)) != 0) return "ip header checksum";
  const uint16_t fragment_word = LoadBe16(ip + kIpv4FragmentOffset);
  if ((fragment_word & (kIpv4FlagMoreFragments | kIpv4FragmentOffsetMask)) != 0) return "";
  const uint8_t* l4 = ip + header_length;
  const size_t l4_length = total - header_length;
  const uint32_t src = LoadBe32(ip + kIpv4SrcOffset);
  const uint32_t dst = LoadBe32(ip + kIpv4DstOffset);
  switch (ip[kIpv4ProtocolOffset]) {
    case kProtocolTcp:
      if (NaiveFinish(NaiveSum(l4, l4_length, NaivePseudoIpv4(src, dst, kProtocolTcp, l4_length))) != 0)
        return "tcp checksum";
      break;
    case kProtocolUdp:
      if (LoadBe16(l4 + kUdpChecksumOffset) == 0) break;
      if (NaiveFinish(NaiveSum(l4, l4_length, NaivePseudoIpv4(src, dst, kProtocolUdp, l4_length))) != 0)
        return "udp checksum";
      break;
    case kProtocolIcmp:
      if (NaiveFinish(NaiveSum(l4, l4_length)) != 0) return "icmp checksum";
      break;
    case kProtocolSctp: {
      Bytes copy(l4, l4 + l4_length);
      uint32_t stored = 0;
      for (int b = 0; b < 4; ++b) stored |= static_cast<uint32_t>(copy[kSctpChecksumOffset + b]) << (8 * b);
      std::memset(copy.data() + kSctpChecksumOffset, 0, 4);
      if (NaiveCrc32c(copy.data(), copy.size()) != stored) return "sctp crc32c";
      break;
    }
    default:
      break;
  }
  return "";
}

}  // namespace np::test
