// IP addresses and CIDRs as Kubernetes objects and the node config carry
// them: text in, parsed values out. IPv6 is parsed (dual-stack objects are
// valid) even though the service tables are IPv4 only for now.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace np::k8s {

struct IpAddress {
  bool is_v6 = false;
  uint32_t v4 = 0;                 // host byte order, when !is_v6
  std::array<uint8_t, 16> v6{};    // network byte order, when is_v6

  static IpAddress V4(uint32_t host_order) { return IpAddress{false, host_order, {}}; }
  bool is_v4() const { return !is_v6; }
  std::string ToString() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct IpCidr {
  IpAddress address;  // the network: host bits cleared
  uint8_t prefix_len = 0;

  bool is_v4() const { return address.is_v4(); }
  bool Contains(const IpAddress& ip) const;
  std::string ToString() const;
  friend bool operator==(const IpCidr&, const IpCidr&) = default;
};

// Strict dotted-quad / RFC 4291 text (inet_pton): no leading zeros tricks,
// no surrounding spaces.
std::optional<IpAddress> ParseIp(std::string_view text);

// "a.b.c.d/len". `had_host_bits` (optional) reports whether the address had
// bits set beyond the prefix; they are cleared in the result.
std::optional<IpCidr> ParseCidr(std::string_view text, bool* had_host_bits = nullptr);

uint32_t Ipv4Mask(uint8_t prefix_len);
std::string Ipv4ToString(uint32_t host_order);
// "a.b.c.d:port" (a backend's Maglev key).
std::string Ipv4PortToString(uint32_t host_order, uint16_t port);

}  // namespace np::k8s
