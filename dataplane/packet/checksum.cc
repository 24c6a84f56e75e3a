#include "dataplane/packet/checksum.h"

#include <array>

#include "dataplane/packet/headers.h"

namespace np {

uint64_t ChecksumAccumulate(const uint8_t* data, uint32_t length, uint64_t sum) {
  // 32-bit words are fine: 2^16 == 1 (mod 0xffff), so the fold gives the same
  // result as summing 16-bit words, with half the additions.
  while (length >= 4) {
    sum += LoadBe32(data);
    data += 4;
    length -= 4;
  }
  if (length >= 2) {
    sum += LoadBe16(data);
    data += 2;
    length -= 2;
  }
  if (length == 1) sum += static_cast<uint32_t>(data[0]) << 8;
  return sum;
}

uint16_t Ipv4HeaderChecksum(const uint8_t* ip_header, uint32_t header_length) {
  uint64_t sum = ChecksumAccumulate(ip_header, header_length, 0);
  sum += static_cast<uint16_t>(~LoadBe16(ip_header + kIpv4ChecksumOffset));  // cancel the field
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

bool Ipv4HeaderChecksumValid(const uint8_t* ip_header, uint32_t header_length) {
  return ChecksumFold(ChecksumAccumulate(ip_header, header_length, 0)) == 0xffff;
}

namespace {

uint32_t L4ChecksumOffset(uint8_t protocol) {
  return protocol == kProtocolUdp ? kUdpChecksumOffset : kTcpChecksumOffset;
}

uint64_t PseudoHeaderSum(uint32_t src_ip, uint32_t dst_ip, uint8_t protocol, uint32_t l4_length) {
  return static_cast<uint64_t>(src_ip) + dst_ip + protocol + l4_length;
}

}  // namespace

uint16_t L4ChecksumIpv4(uint32_t src_ip, uint32_t dst_ip, uint8_t protocol, const uint8_t* l4,
                        uint32_t l4_length) {
  uint64_t sum = PseudoHeaderSum(src_ip, dst_ip, protocol, l4_length);
  sum = ChecksumAccumulate(l4, l4_length, sum);
  sum += static_cast<uint16_t>(~LoadBe16(l4 + L4ChecksumOffset(protocol)));  // cancel the field
  const uint16_t checksum = static_cast<uint16_t>(~ChecksumFold(sum));
  return (protocol == kProtocolUdp && checksum == 0) ? 0xffff : checksum;
}

bool L4ChecksumIpv4Valid(uint32_t src_ip, uint32_t dst_ip, uint8_t protocol, const uint8_t* l4,
                         uint32_t l4_length) {
  if (protocol == kProtocolUdp && LoadBe16(l4 + kUdpChecksumOffset) == 0) return true;
  uint64_t sum = PseudoHeaderSum(src_ip, dst_ip, protocol, l4_length);
  return ChecksumFold(ChecksumAccumulate(l4, l4_length, sum)) == 0xffff;
}

uint16_t IcmpChecksum(const uint8_t* icmp, uint32_t length) {
  uint64_t sum = ChecksumAccumulate(icmp, length, 0);
  sum += static_cast<uint16_t>(~LoadBe16(icmp + kIcmpChecksumOffset));
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

namespace {

constexpr uint32_t kCrc32cPolynomial = 0x82f63b78u;  // reflected 0x1edc6f41

constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kCrc32cPolynomial : 0u);
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = MakeCrc32cTable();

uint32_t Crc32cUpdate(uint32_t crc, const uint8_t* data, uint32_t length) {
  for (uint32_t i = 0; i < length; ++i) crc = kCrc32cTable[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return crc;
}

}  // namespace

uint32_t Crc32c(const uint8_t* data, uint32_t length) {
  return ~Crc32cUpdate(0xffffffffu, data, length);
}

uint32_t SctpChecksum(const uint8_t* sctp, uint32_t length) {
  // Callers guarantee length >= the 12-byte common header.
  static constexpr uint8_t kZeroChecksum[4] = {0, 0, 0, 0};
  uint32_t crc = Crc32cUpdate(0xffffffffu, sctp, kSctpChecksumOffset);
  crc = Crc32cUpdate(crc, kZeroChecksum, sizeof(kZeroChecksum));
  crc = Crc32cUpdate(crc, sctp + kSctpChecksumOffset + 4, length - kSctpChecksumOffset - 4);
  return ~crc;
}

}  // namespace np
