#include "dataplane/nat/rewrite.h"

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/headers.h"

namespace np {
namespace {

bool HasPorts(uint8_t protocol) {
  return protocol == kProtocolTcp || protocol == kProtocolUdp || protocol == kProtocolSctp;
}

// Applies `delta` to the TCP/UDP checksum at `checksum_field`, honouring
// UDP's "0 = no checksum" (stays 0) and "computed 0 is sent as 0xffff".
void UpdateL4Checksum(uint8_t* checksum_field, uint8_t protocol, const ChecksumDelta& delta) {
  const uint16_t old_checksum = LoadBe16(checksum_field);
  if (protocol == kProtocolUdp) {
    if (old_checksum == 0) return;
    const uint16_t new_checksum = delta.Apply(old_checksum);
    StoreBe16(checksum_field, new_checksum == 0 ? 0xffff : new_checksum);
    return;
  }
  StoreBe16(checksum_field, delta.Apply(old_checksum));
}

// The shared core: `rewrite_src` / `rewrite_dst` select which side changes;
// the other side keeps what the packet holds.
bool RewriteTuple(uint8_t* data, const PacketMeta& meta, bool rewrite_src, uint32_t new_src_ip,
                  uint16_t new_src_port, bool rewrite_dst, uint32_t new_dst_ip,
                  uint16_t new_dst_port) {
  if (meta.ethertype != kEtherTypeIpv4) return false;
  uint8_t* ip = data + meta.l3_offset;
  uint8_t* l4 = data + meta.l4_offset;
  const uint32_t old_src_ip = LoadBe32(ip + kIpv4SrcOffset);
  const uint32_t old_dst_ip = LoadBe32(ip + kIpv4DstOffset);
  if (!rewrite_src) new_src_ip = old_src_ip;
  if (!rewrite_dst) new_dst_ip = old_dst_ip;

  const bool has_ports = meta.has_l4 && HasPorts(meta.protocol);
  uint16_t old_src_port = 0;
  uint16_t old_dst_port = 0;
  if (has_ports) {
    old_src_port = LoadBe16(l4 + kL4SrcPortOffset);
    old_dst_port = LoadBe16(l4 + kL4DstPortOffset);
    if (!rewrite_src) new_src_port = old_src_port;
    if (!rewrite_dst) new_dst_port = old_dst_port;
  }
  const bool ports_change = has_ports && (old_src_port != new_src_port || old_dst_port != new_dst_port);
  // SCTP's CRC32c covers the whole SCTP packet, most of it in fragments we do
  // not have: a port change cannot be made consistent.
  if (ports_change && meta.protocol == kProtocolSctp && meta.is_fragment) return false;

  StoreBe32(ip + kIpv4SrcOffset, new_src_ip);
  StoreBe32(ip + kIpv4DstOffset, new_dst_ip);
  uint16_t ip_checksum = LoadBe16(ip + kIpv4ChecksumOffset);
  ip_checksum = ChecksumUpdate32(ip_checksum, old_src_ip, new_src_ip);
  ip_checksum = ChecksumUpdate32(ip_checksum, old_dst_ip, new_dst_ip);
  StoreBe16(ip + kIpv4ChecksumOffset, ip_checksum);

  if (!meta.has_l4) return true;  // non-first fragment or portless protocol: addresses only

  if (has_ports) {
    StoreBe16(l4 + kL4SrcPortOffset, new_src_port);
    StoreBe16(l4 + kL4DstPortOffset, new_dst_port);
    if (meta.protocol == kProtocolSctp) {
      if (ports_change) {
        const uint32_t sctp_length = meta.frame_length - meta.l4_offset;
        StoreLe32(l4 + kSctpChecksumOffset, SctpChecksum(l4, sctp_length));
      }
      return true;
    }
    ChecksumDelta delta;
    delta.Add32(old_src_ip, new_src_ip);
    delta.Add32(old_dst_ip, new_dst_ip);
    delta.Add16(old_src_port, new_src_port);
    delta.Add16(old_dst_port, new_dst_port);
    const uint32_t checksum_offset =
        meta.protocol == kProtocolUdp ? kUdpChecksumOffset : kTcpChecksumOffset;
    UpdateL4Checksum(l4 + checksum_offset, meta.protocol, delta);
    return true;
  }

  if (meta.protocol == kProtocolIcmp && IsIcmpEcho(meta.icmp_type)) {
    // The echo identifier is the ICMP "port"; ICMP has no pseudo-header.
    const uint16_t old_id = LoadBe16(l4 + kIcmpIdOffset);
    uint16_t new_id = old_id;
    if (rewrite_src && new_src_port != old_id) {
      new_id = new_src_port;
    } else if (rewrite_dst) {
      new_id = new_dst_port;
    }
    if (new_id != old_id) {
      StoreBe16(l4 + kIcmpIdOffset, new_id);
      StoreBe16(l4 + kIcmpChecksumOffset,
                ChecksumUpdate16(LoadBe16(l4 + kIcmpChecksumOffset), old_id, new_id));
    }
  }
  return true;
}

}  // namespace

bool RewriteSource(uint8_t* data, const PacketMeta& meta, uint32_t new_ip, uint16_t new_port) {
  return RewriteTuple(data, meta, true, new_ip, new_port, false, 0, 0);
}

bool RewriteDestination(uint8_t* data, const PacketMeta& meta, uint32_t new_ip, uint16_t new_port) {
  return RewriteTuple(data, meta, false, 0, 0, true, new_ip, new_port);
}

bool RewriteSourceAndDestination(uint8_t* data, const PacketMeta& meta, uint32_t new_src_ip,
                                 uint16_t new_src_port, uint32_t new_dst_ip, uint16_t new_dst_port) {
  return RewriteTuple(data, meta, true, new_src_ip, new_src_port, true, new_dst_ip, new_dst_port);
}

bool RewriteIcmpErrorInner(uint8_t* data, const PacketMeta& meta, uint32_t new_src_ip,
                           uint16_t new_src_port, uint32_t new_dst_ip, uint16_t new_dst_port) {
  if (meta.ethertype != kEtherTypeIpv4 || !meta.is_icmp_error) return false;
  const IcmpInnerMeta& inner = meta.inner;
  ChecksumDelta outer;  // every word changed below is covered by the outer ICMP checksum

  uint8_t* inner_ip = data + inner.ip_offset;
  const uint32_t old_src_ip = LoadBe32(inner_ip + kIpv4SrcOffset);
  const uint32_t old_dst_ip = LoadBe32(inner_ip + kIpv4DstOffset);
  const uint16_t old_ip_checksum = LoadBe16(inner_ip + kIpv4ChecksumOffset);
  uint16_t new_ip_checksum = ChecksumUpdate32(old_ip_checksum, old_src_ip, new_src_ip);
  new_ip_checksum = ChecksumUpdate32(new_ip_checksum, old_dst_ip, new_dst_ip);
  StoreBe32(inner_ip + kIpv4SrcOffset, new_src_ip);
  StoreBe32(inner_ip + kIpv4DstOffset, new_dst_ip);
  StoreBe16(inner_ip + kIpv4ChecksumOffset, new_ip_checksum);
  outer.Add32(old_src_ip, new_src_ip);
  outer.Add32(old_dst_ip, new_dst_ip);
  outer.Add16(old_ip_checksum, new_ip_checksum);

  if (inner.has_l4) {  // at least 8 quoted bytes of L4
    uint8_t* l4 = data + inner.l4_offset;
    if (HasPorts(inner.protocol)) {
      const uint16_t old_src_port = LoadBe16(l4 + kL4SrcPortOffset);
      const uint16_t old_dst_port = LoadBe16(l4 + kL4DstPortOffset);
      StoreBe16(l4 + kL4SrcPortOffset, new_src_port);
      StoreBe16(l4 + kL4DstPortOffset, new_dst_port);
      outer.Add16(old_src_port, new_src_port);
      outer.Add16(old_dst_port, new_dst_port);
      const bool checksum_quoted =
          (inner.protocol == kProtocolUdp && inner.l4_available >= kUdpChecksumOffset + 2) ||
          (inner.protocol == kProtocolTcp && inner.l4_available >= kTcpChecksumOffset + 2);
      if (checksum_quoted) {
        ChecksumDelta delta;
        delta.Add32(old_src_ip, new_src_ip);
        delta.Add32(old_dst_ip, new_dst_ip);
        delta.Add16(old_src_port, new_src_port);
        delta.Add16(old_dst_port, new_dst_port);
        uint8_t* field = l4 + (inner.protocol == kProtocolUdp ? kUdpChecksumOffset : kTcpChecksumOffset);
        const uint16_t old_checksum = LoadBe16(field);
        UpdateL4Checksum(field, inner.protocol, delta);
        outer.Add16(old_checksum, LoadBe16(field));
      }
    } else if (inner.protocol == kProtocolIcmp && IsIcmpEcho(inner.icmp_type)) {
      const uint16_t old_id = LoadBe16(l4 + kIcmpIdOffset);
      const uint16_t new_id = new_src_port != old_id ? new_src_port : new_dst_port;
      if (new_id != old_id) {
        const uint16_t old_checksum = LoadBe16(l4 + kIcmpChecksumOffset);
        const uint16_t new_checksum = ChecksumUpdate16(old_checksum, old_id, new_id);
        StoreBe16(l4 + kIcmpIdOffset, new_id);
        StoreBe16(l4 + kIcmpChecksumOffset, new_checksum);
        outer.Add16(old_id, new_id);
        outer.Add16(old_checksum, new_checksum);
      }
    }
  }

  uint8_t* icmp_checksum = data + meta.l4_offset + kIcmpChecksumOffset;
  StoreBe16(icmp_checksum, outer.Apply(LoadBe16(icmp_checksum)));
  return true;
}

bool DecrementTtl(uint8_t* data, const PacketMeta& meta) {
  if (meta.ethertype != kEtherTypeIpv4) return false;
  uint8_t* ip = data + meta.l3_offset;
  const uint8_t ttl = ip[kIpv4TtlOffset];
  if (ttl <= 1) return false;
  // TTL shares its 16-bit checksum word with the protocol byte.
  const uint16_t old_word = LoadBe16(ip + kIpv4TtlOffset);
  const uint16_t new_word = static_cast<uint16_t>(old_word - 0x0100u);
  ip[kIpv4TtlOffset] = static_cast<uint8_t>(ttl - 1);
  StoreBe16(ip + kIpv4ChecksumOffset,
            ChecksumUpdate16(LoadBe16(ip + kIpv4ChecksumOffset), old_word, new_word));
  return true;
}

}  // namespace np
