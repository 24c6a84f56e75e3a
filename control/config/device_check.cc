#include "control/config/device_check.h"

#include <cctype>
#include <filesystem>
#include <vector>

namespace np::config {
namespace {

// "net_af_packet0,iface=np-up,qpairs=1" -> {"net_af_packet0", "iface=np-up", ...}
std::vector<std::string_view> SplitArgs(std::string_view devargs) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t comma = devargs.find(',');
    parts.push_back(devargs.substr(0, comma));
    if (comma == std::string_view::npos) return parts;
    devargs.remove_prefix(comma + 1);
  }
}

std::optional<std::string_view> Arg(const std::vector<std::string_view>& parts, std::string_view key) {
  for (size_t i = 1; i < parts.size(); ++i)
    if (parts[i].size() > key.size() && parts[i].substr(0, key.size()) == key && parts[i][key.size()] == '=')
      return parts[i].substr(key.size() + 1);
  return std::nullopt;
}

bool IsHex(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "0000:03:00.0" or the short "03:00.0"; returns the long form.
std::optional<std::string> PciAddress(std::string_view name) {
  std::string text(name);
  if (text.size() == 7) text = "0000:" + text;
  if (text.size() != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.') return std::nullopt;
  if (!IsHex(text.substr(0, 4)) || !IsHex(text.substr(5, 2)) || !IsHex(text.substr(8, 2)) ||
      text[11] < '0' || text[11] > '7')
    return std::nullopt;
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

std::optional<std::string> CheckInterface(std::string_view iface, const PathExists& exists) {
  if (iface.empty() || iface.find('/') != std::string_view::npos) return std::string("\"").append(iface).append("\" is not an interface name");
  const std::string path = "/sys/class/net/" + std::string(iface);
  if (!exists(path)) return "interface " + std::string(iface) + " does not exist (" + path + ")";
  return std::nullopt;
}

}  // namespace

PathExists RealPathExists() {
  return [](const std::string& path) {
    std::error_code error;
    return std::filesystem::exists(path, error);
  };
}

std::optional<std::string> CheckDevargs(std::string_view devargs, const PathExists& exists, bool* unchecked) {
  if (unchecked) *unchecked = false;
  const std::vector<std::string_view> parts = SplitArgs(devargs);
  const std::string_view device = parts.front();
  if (device.empty()) return "no device name before the first ','";

  if (std::optional<std::string> pci = PciAddress(device)) {
    const std::string path = "/sys/bus/pci/devices/" + *pci;
    if (!exists(path)) return "PCI device " + *pci + " does not exist (" + path + ")";
    return std::nullopt;
  }
  if (StartsWith(device, "net_af_packet") || StartsWith(device, "net_af_xdp")) {
    std::optional<std::string_view> iface = Arg(parts, "iface");
    if (!iface) return std::string(device) + " needs iface=<interface>";
    return CheckInterface(*iface, exists);
  }
  if (StartsWith(device, "net_pcap")) {
    for (const char* key : {"iface", "rx_iface", "rx_iface_in"})
      if (std::optional<std::string_view> iface = Arg(parts, key))
        if (auto missing = CheckInterface(*iface, exists)) return missing;
    if (std::optional<std::string_view> file = Arg(parts, "rx_pcap"))
      if (!exists(std::string(*file))) return "pcap file " + std::string(*file) + " does not exist";
    return std::nullopt;
  }
  for (const char* creatable : {"net_tap", "net_tun", "net_null", "net_ring", "net_memif"})
    if (StartsWith(device, creatable)) return std::nullopt;
  if (unchecked) *unchecked = true;
  return std::nullopt;
}

}  // namespace np::config
