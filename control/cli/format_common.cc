// Shared helpers of npctl's formatters.
#include <cstdio>

#include "control/cli/format.h"

namespace np::cli {

std::string FormatIpv4(uint32_t address) {
  char text[16];
  std::snprintf(text, sizeof(text), "%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                address & 0xff);
  return text;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"Ki", "Mi", "Gi", "Ti", "Pi"};
  if (bytes < 1024) return std::to_string(bytes);
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  value /= 1024;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) value /= 1024, ++unit;
  char text[32];
  std::snprintf(text, sizeof(text), value < 10 ? "%.1f%s" : "%.0f%s", value, kUnits[unit]);
  return text;
}

std::string FormatDuration(uint64_t seconds) {
  // kubectl's AGE style: the two most significant units.
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m" + (seconds % 60 ? std::to_string(seconds % 60) + "s" : "");
  if (seconds < 86400)
    return std::to_string(seconds / 3600) + "h" + (seconds % 3600 / 60 ? std::to_string(seconds % 3600 / 60) + "m" : "");
  return std::to_string(seconds / 86400) + "d" + (seconds % 86400 / 3600 ? std::to_string(seconds % 86400 / 3600) + "h" : "");
}

const char* FrontendKindName(abi::FrontendKind kind) {
  switch (kind) {
    case abi::FrontendKind::kClusterIP: return "ClusterIP";
    case abi::FrontendKind::kNodePort: return "NodePort";
    case abi::FrontendKind::kLoadBalancer: return "LoadBalancer";
    case abi::FrontendKind::kExternalIP: return "ExternalIP";
  }
  return "Unknown";
}

const char* ProtocolName(uint8_t protocol) {
  switch (protocol) {
    case 1: return "ICMP";
    case abi::kProtoTcp: return "TCP";
    case abi::kProtoUdp: return "UDP";
    case abi::kProtoSctp: return "SCTP";
  }
  return "?";
}

}  // namespace np::cli
