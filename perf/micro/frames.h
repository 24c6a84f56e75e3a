// Test frames for the micro-benchmarks: Ethernet + IPv4 + TCP, 60 bytes on
// the wire (54 bytes of headers + 6 bytes of Ethernet padding, as a minimum
// frame arrives from a NIC), with correct checksums.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/headers.h"

namespace np::perf {

inline constexpr uint32_t kFrameLength = 60;
using Frame = std::array<uint8_t, kFrameLength>;

inline constexpr uint32_t Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline Frame TcpFrame(uint64_t src_mac, uint64_t dst_mac, uint32_t src_ip, uint32_t dst_ip, uint16_t sport,
                      uint16_t dport, uint8_t flags, uint8_t ttl = 64) {
  Frame f{};
  for (int i = 0; i < 6; ++i) {
    f[i] = static_cast<uint8_t>(dst_mac >> (8 * (5 - i)));
    f[6 + i] = static_cast<uint8_t>(src_mac >> (8 * (5 - i)));
  }
  StoreBe16(&f[12], 0x0800);
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  StoreBe16(ip + 2, 40);
  StoreBe16(ip + 4, 1);
  StoreBe16(ip + 6, 0x4000);  // DF
  ip[8] = ttl;
  ip[9] = 6;
  StoreBe32(ip + 12, src_ip);
  StoreBe32(ip + 16, dst_ip);
  StoreBe16(ip + 10, Ipv4HeaderChecksum(ip, 20));
  uint8_t* tcp = ip + 20;
  StoreBe16(tcp, sport);
  StoreBe16(tcp + 2, dport);
  StoreBe32(tcp + 4, 1000);
  StoreBe32(tcp + 8, (flags & 0x10) ? 1 : 0);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  StoreBe16(tcp + 14, 64240);
  StoreBe16(tcp + 16, L4ChecksumIpv4(src_ip, dst_ip, 6, tcp, 20));
  return f;
}

}  // namespace np::perf
