// Internet checksum (RFC 1071) full computation and RFC 1624 incremental
// updates, plus CRC32c for SCTP (RFC 4960 appendix B).
//
// All 16/32-bit values passed in or returned are in host byte order: the
// numeric value of the big-endian word on the wire (as LoadBe16 returns it).
// Store results with StoreBe16.
#pragma once

#include <cstdint>

namespace np {

// Ones'-complement sum of `length` bytes as big-endian 16-bit words (an odd
// last byte is padded with zero), added to `sum`. Not folded, not inverted.
uint64_t ChecksumAccumulate(const uint8_t* data, uint32_t length, uint64_t sum);

// Folds a wide sum to 16 bits (end-around carry). Not inverted.
inline uint16_t ChecksumFold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// --- RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') --------------------------------
// Like a full recomputation (~fold(sum)), the result is never 0xffff for a
// real packet, so incremental and full results compare equal bit for bit.
inline uint16_t ChecksumUpdate16(uint16_t checksum, uint16_t old_value, uint16_t new_value) {
  uint32_t sum = static_cast<uint16_t>(~checksum) + static_cast<uint32_t>(static_cast<uint16_t>(~old_value)) +
                 new_value;
  return static_cast<uint16_t>(~ChecksumFold(sum));
}
inline uint16_t ChecksumUpdate32(uint16_t checksum, uint32_t old_value, uint32_t new_value) {
  uint32_t sum = static_cast<uint16_t>(~checksum) + static_cast<uint32_t>(static_cast<uint16_t>(~(old_value >> 16))) +
                 static_cast<uint16_t>(~old_value) + (new_value >> 16) + (new_value & 0xffffu);
  return static_cast<uint16_t>(~ChecksumFold(sum));
}

// Several field changes applied to one checksum at once (ICMP errors change
// many words of the quoted datagram under the outer ICMP checksum).
class ChecksumDelta {
 public:
  void Add16(uint16_t old_value, uint16_t new_value) {
    sum_ += static_cast<uint16_t>(~old_value);
    sum_ += new_value;
  }
  void Add32(uint32_t old_value, uint32_t new_value) {
    Add16(static_cast<uint16_t>(old_value >> 16), static_cast<uint16_t>(new_value >> 16));
    Add16(static_cast<uint16_t>(old_value), static_cast<uint16_t>(new_value));
  }
  uint16_t Apply(uint16_t checksum) const {
    return static_cast<uint16_t>(~ChecksumFold(static_cast<uint16_t>(~checksum) + sum_));
  }

 private:
  uint64_t sum_ = 0;
};

// --- Full computations ------------------------------------------------------

// Header checksum to store, computed as if the checksum field were zero.
uint16_t Ipv4HeaderChecksum(const uint8_t* ip_header, uint32_t header_length);
// True when the stored header checksum is correct.
bool Ipv4HeaderChecksumValid(const uint8_t* ip_header, uint32_t header_length);

// TCP/UDP checksum to store over the IPv4 pseudo-header and `l4_length`
// bytes of L4 header + payload, computed as if the checksum field (at
// `checksum_offset` in the L4 header) were zero. UDP: a computed 0 is
// returned as 0xffff, since 0 on the wire means "no checksum" (RFC 768).
uint16_t L4ChecksumIpv4(uint32_t src_ip, uint32_t dst_ip, uint8_t protocol, const uint8_t* l4,
                        uint32_t l4_length);
// True when the stored TCP/UDP checksum is correct (UDP 0 counts as valid).
bool L4ChecksumIpv4Valid(uint32_t src_ip, uint32_t dst_ip, uint8_t protocol, const uint8_t* l4,
                         uint32_t l4_length);

// ICMP checksum to store over the message (no pseudo-header), checksum
// field taken as zero.
uint16_t IcmpChecksum(const uint8_t* icmp, uint32_t length);

// --- CRC32c (Castagnoli), SCTP ------------------------------------------------

// Standard CRC32c (reflected, init and final xor 0xffffffff):
// Crc32c("123456789") == 0xe3069283.
uint32_t Crc32c(const uint8_t* data, uint32_t length);
// SCTP checksum to store (with StoreLe32) over the whole SCTP packet, the
// checksum field taken as zero.
uint32_t SctpChecksum(const uint8_t* sctp, uint32_t length);

}  // namespace np
