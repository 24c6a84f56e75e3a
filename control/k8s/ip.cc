#include "control/k8s/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace np::k8s {

uint32_t Ipv4Mask(uint8_t prefix_len) {
  return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
}

namespace {

// "a.b.c.d" at `out` (room for 15 characters); returns its end.
char* FormatIpv4(char* out, uint32_t host_order) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out = std::to_chars(out, out + 3, (host_order >> shift) & 0xff).ptr;
    if (shift > 0) *out++ = '.';
  }
  return out;
}

}  // namespace

std::string Ipv4ToString(uint32_t host_order) {
  char text[16];
  return std::string(text, FormatIpv4(text, host_order));
}

std::string Ipv4PortToString(uint32_t host_order, uint16_t port) {
  char text[22];
  char* end = FormatIpv4(text, host_order);
  *end++ = ':';
  end = std::to_chars(end, text + sizeof(text), port).ptr;
  return std::string(text, end);
}

std::string IpAddress::ToString() const {
  if (!is_v6) return Ipv4ToString(v4);
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, v6.data(), text, sizeof(text));
  return text;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) return IpAddress::V4(ntohl(v4.s_addr));
  IpAddress address;
  address.is_v6 = true;
  if (inet_pton(AF_INET6, buffer, address.v6.data()) == 1) return address;
  return std::nullopt;
}

bool IpCidr::Contains(const IpAddress& ip) const {
  if (ip.is_v6 != address.is_v6) return false;
  if (!ip.is_v6) return (ip.v4 & Ipv4Mask(prefix_len)) == address.v4;
  for (int bit = 0; bit < prefix_len; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
    if ((ip.v6[bit / 8] & mask) != (address.v6[bit / 8] & mask)) return false;
  }
  return true;
}

std::string IpCidr::ToString() const {
  return address.ToString() + "/" + std::to_string(prefix_len);
}

std::optional<IpCidr> ParseCidr(std::string_view text, bool* had_host_bits) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<IpAddress> address = ParseIp(text.substr(0, slash));
  if (!address) return std::nullopt;
  const std::string_view length_text = text.substr(slash + 1);
  unsigned length = 0;
  auto [end, status] = std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
  if (status != std::errc{} || end != length_text.data() + length_text.size() || length_text.empty())
    return std::nullopt;
  if (length > (address->is_v6 ? 128u : 32u)) return std::nullopt;

  IpCidr cidr{*address, static_cast<uint8_t>(length)};
  bool host_bits = false;
  if (!address->is_v6) {
    cidr.address.v4 = address->v4 & Ipv4Mask(cidr.prefix_len);
    host_bits = cidr.address.v4 != address->v4;
  } else {
    for (unsigned bit = length; bit < 128; ++bit) {
      const uint8_t mask = static_cast<uint8_t>(0x80 >> (bit % 8));
      if (cidr.address.v6[bit / 8] & mask) host_bits = true;
      cidr.address.v6[bit / 8] &= static_cast<uint8_t>(~mask);
    }
  }
  if (had_host_bits) *had_host_bits = host_bits;
  return cidr;
}

}  // namespace np::k8s
