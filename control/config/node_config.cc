#include "control/config/node_config.h"

#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "control/config/stable_id.h"
#include "control/k8s/yaml_field.h"

namespace np::config {
namespace {

using k8s::Field;
using k8s::IpCidr;

constexpr int64_t kMaxU32 = UINT32_MAX;

std::optional<uint32_t> Ipv4(const Field& field) {
  std::optional<k8s::IpAddress> ip = field.Ip();
  if (!ip) return std::nullopt;
  if (!ip->is_v4()) {
    field.Error(ip->ToString() + " is not an IPv4 address");
    return std::nullopt;
  }
  return ip->v4;
}

// A network CIDR: IPv4, host bits clear (a typo'd "10.244.1.5/24" is
// refused rather than silently widened).
std::optional<IpCidr> Ipv4Network(const Field& field, bool required) {
  if (!field.present()) {
    if (required) field.Error("required");
    return std::nullopt;
  }
  std::optional<std::string> text = field.String();
  if (!text) return std::nullopt;
  bool host_bits = false;
  std::optional<IpCidr> cidr = k8s::ParseCidr(*text, &host_bits);
  if (!cidr || !cidr->is_v4()) {
    field.Error("\"" + *text + "\" is not an IPv4 CIDR (a.b.c.d/len)");
    return std::nullopt;
  }
  if (host_bits) {
    field.Error(*text + " has host bits set (the network is " + cidr->ToString() + ")");
    return std::nullopt;
  }
  return cidr;
}

template <class T>
void SetInt(const Field& field, int64_t min, int64_t max, T& out) {
  if (std::optional<int64_t> value = field.Int(min, max)) out = static_cast<T>(*value);
}

void DecodeNode(const Field& node, NodeImage& image) {
  node.ExpectMap({"name", "addresses", "podCIDR", "podGateway", "clusterCIDR", "serviceCIDR", "uplinkGateway"});
  if (!node.present()) node.Error("required");
  abi::NodeInfo& info = image.info;
  image.node_name = node["name"].String().value_or("");
  if (image.node_name.empty() && node.present()) node["name"].Error("required");

  const std::vector<Field> addresses = node["addresses"].Items();
  if (node.present() && (addresses.empty() || addresses.size() > abi::kMaxNodeAddresses))
    node["addresses"].Error("expected 1 to " + std::to_string(abi::kMaxNodeAddresses) + " IPv4 addresses");
  std::set<uint32_t> seen;
  for (const Field& address : addresses) {
    std::optional<uint32_t> ip = Ipv4(address);
    if (!ip || info.node_ipv4_count == abi::kMaxNodeAddresses) continue;
    if (!seen.insert(*ip).second) address.Error(k8s::Ipv4ToString(*ip) + " is listed twice");
    info.node_ipv4[info.node_ipv4_count++] = *ip;
  }

  const bool required = node.present();
  std::optional<IpCidr> pod_cidr = Ipv4Network(node["podCIDR"], required);
  std::optional<IpCidr> cluster_cidr = Ipv4Network(node["clusterCIDR"], required);
  std::optional<IpCidr> service_cidr = Ipv4Network(node["serviceCIDR"], required);
  if (pod_cidr) {
    info.pod_cidr = pod_cidr->address.v4;
    info.pod_cidr_len = pod_cidr->prefix_len;
    if (pod_cidr->prefix_len > 30) node["podCIDR"].Error(pod_cidr->ToString() + " leaves no room for pods");
  }
  if (cluster_cidr) {
    info.cluster_cidr = cluster_cidr->address.v4;
    info.cluster_cidr_len = cluster_cidr->prefix_len;
    if (pod_cidr && !cluster_cidr->Contains(pod_cidr->address))
      node["podCIDR"].Error(pod_cidr->ToString() + " is not inside clusterCIDR " + cluster_cidr->ToString());
  }
  if (service_cidr) {
    info.service_cidr = service_cidr->address.v4;
    info.service_cidr_len = service_cidr->prefix_len;
  }

  if (node["podGateway"].present()) {
    if (std::optional<uint32_t> gateway = Ipv4(node["podGateway"])) {
      info.pod_gateway_ipv4 = *gateway;
      if (pod_cidr && !pod_cidr->Contains(k8s::IpAddress::V4(*gateway)))
        node["podGateway"].Error(k8s::Ipv4ToString(*gateway) + " is not inside podCIDR " + pod_cidr->ToString());
    }
  } else if (pod_cidr) {
    info.pod_gateway_ipv4 = pod_cidr->address.v4 + 1;  // the first address of the pod CIDR
  }
  if (node["uplinkGateway"].present()) info.uplink_gateway_ipv4 = Ipv4(node["uplinkGateway"]).value_or(0);
}

void SetDataplaneDefaults(abi::NodeInfo& info) {
  info.conntrack_capacity = 262144;
  info.snat_port_min = 61000;
  info.snat_port_max = 65535;
  info.maglev_seed = 1;
  info.host_rate_limit_pps = 10000;
  info.neighbor_capacity = 4096;
  info.neighbor_timeout_s = 300;
  info.tcp_established_timeout_s = 86400;
  info.tcp_close_wait_timeout_s = 3600;
  info.tcp_syn_timeout_s = 120;
  info.tcp_fin_timeout_s = 120;
  info.tcp_time_wait_timeout_s = 120;
  info.udp_timeout_s = 30;
  info.udp_stream_timeout_s = 120;
  info.icmp_timeout_s = 30;
  info.healthz_port = 10256;
  info.flags = abi::kNodeFlowRecords;
}

// A boolean tunable that sets or clears one NodeFlags bit.
void SetFlag(const Field& field, uint16_t flag, abi::NodeInfo& info) {
  if (!field.present()) return;
  std::optional<bool> value = field.Bool();
  if (!value) return;
  info.flags = static_cast<uint16_t>(*value ? (info.flags | flag) : (info.flags & ~flag));
}

void DecodeSnatPortRange(const Field& field, abi::NodeInfo& info) {
  std::optional<std::string> text = field.String();
  if (!text) return;
  const size_t dash = text->find('-');
  int64_t min = -1, max = -1;
  std::istringstream min_in(text->substr(0, dash)), max_in(dash == std::string::npos ? "" : text->substr(dash + 1));
  const bool parsed = dash != std::string::npos && (min_in >> min) && min_in.eof() && (max_in >> max) && max_in.eof();
  if (!parsed) return field.Error("\"" + *text + "\" is not a port range (min-max)");
  if (min < 1024 || max > 65535 || min > max)
    return field.Error("\"" + *text + "\" must lie within 1024-65535 with min <= max");
  info.snat_port_min = static_cast<uint16_t>(min);
  info.snat_port_max = static_cast<uint16_t>(max);
}

void DecodeDataplane(const Field& dataplane, abi::NodeInfo& info) {
  dataplane.ExpectMap({"conntrackCapacity", "snatPortRange", "maglevSeed", "hostRateLimitPps", "neighbor",
                       "timeouts", "healthzPort", "flowRecords", "policyAudit"});
  SetInt(dataplane["conntrackCapacity"], 1024, 1LL << 30, info.conntrack_capacity);
  DecodeSnatPortRange(dataplane["snatPortRange"], info);
  SetInt(dataplane["maglevSeed"], 0, kMaxU32, info.maglev_seed);
  SetInt(dataplane["hostRateLimitPps"], 0, kMaxU32, info.host_rate_limit_pps);
  const Field neighbor = dataplane["neighbor"];
  neighbor.ExpectMap({"capacity", "timeoutSeconds"});
  SetInt(neighbor["capacity"], 16, 1LL << 24, info.neighbor_capacity);
  SetInt(neighbor["timeoutSeconds"], 1, kMaxU32, info.neighbor_timeout_s);
  const Field timeouts = dataplane["timeouts"];
  timeouts.ExpectMap({"tcpEstablished", "tcpCloseWait", "tcpSyn", "tcpFin", "tcpTimeWait", "udp", "udpStream", "icmp"});
  SetInt(timeouts["tcpEstablished"], 1, kMaxU32, info.tcp_established_timeout_s);
  SetInt(timeouts["tcpCloseWait"], 1, kMaxU32, info.tcp_close_wait_timeout_s);
  SetInt(timeouts["tcpSyn"], 1, kMaxU32, info.tcp_syn_timeout_s);
  SetInt(timeouts["tcpFin"], 1, kMaxU32, info.tcp_fin_timeout_s);
  SetInt(timeouts["tcpTimeWait"], 1, kMaxU32, info.tcp_time_wait_timeout_s);
  SetInt(timeouts["udp"], 1, kMaxU32, info.udp_timeout_s);
  SetInt(timeouts["udpStream"], 1, kMaxU32, info.udp_stream_timeout_s);
  SetInt(timeouts["icmp"], 1, kMaxU32, info.icmp_timeout_s);
  SetInt(dataplane["healthzPort"], 0, 65535, info.healthz_port);  // 0 = no healthz server
  SetFlag(dataplane["flowRecords"], abi::kNodeFlowRecords, info);
  SetFlag(dataplane["policyAudit"], abi::kNodePolicyAudit, info);
}

// "aa:bb:cc:dd:ee:ff" -> 6 bytes; nullopt unless exactly six hex pairs.
std::optional<std::array<uint8_t, 6>> ParseMac(const std::string& text) {
  if (text.size() != 17) return std::nullopt;
  std::array<uint8_t, 6> mac{};
  for (size_t i = 0; i < 6; ++i) {
    const char* pair = text.data() + 3 * i;
    if (i < 5 && pair[2] != ':') return std::nullopt;
    if (!std::isxdigit(static_cast<unsigned char>(pair[0])) || !std::isxdigit(static_cast<unsigned char>(pair[1])))
      return std::nullopt;
    mac[i] = static_cast<uint8_t>(std::stoi(std::string(pair, 2), nullptr, 16));
  }
  return mac;
}

// podMAC: optional, pod ports only. The dataplane then knows the pod's
// neighbour statically instead of learning it (no ARP before the first
// packet to a pod that has not spoken yet).
void DecodePodMac(const Field& field, abi::PortRecord& port) {
  if (!field.present()) return;
  if (port.role != abi::PortRole::kPod) return field.Error("only pod ports have a podMAC");
  std::optional<std::string> text = field.String();
  if (!text) return;
  std::optional<std::array<uint8_t, 6>> mac = ParseMac(*text);
  if (!mac) return field.Error("\"" + *text + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  // A pod's own address is unicast and set; anything else is a typo that
  // would blackhole the pod.
  if ((*mac)[0] & 0x01) return field.Error(*text + " is a multicast/broadcast address, not a pod's MAC");
  if (*mac == std::array<uint8_t, 6>{}) return field.Error(*text + " is the all-zero address");
  std::memcpy(port.peer_mac, mac->data(), mac->size());
}

struct PortChecks {
  const PathExists& path_exists;
  std::map<uint32_t, std::string> name_by_id;
  std::map<uint32_t, std::string> port_by_pod_ip;
  std::map<std::string, std::string> port_by_device;
};

void DecodePort(const Field& field, NodeImage& image, PortChecks& checks) {
  field.ExpectMap({"name", "role", "devargs", "rxQueues", "vlan", "podIP", "podMAC", "mtu"});
  abi::PortRecord port{};
  port.rx_queues = 1;
  port.mtu = 1500;
  const std::string name = field["name"].String().value_or("");
  if (name.empty()) field["name"].Error("required");
  port.port_id = PortIdForName(name);
  if (!name.empty()) {
    auto [it, inserted] = checks.name_by_id.try_emplace(port.port_id, name);
    if (!inserted && it->second == name) field["name"].Error("duplicate port name \"" + name + "\"");
    else if (!inserted) field["name"].Error("\"" + name + "\" and \"" + it->second + "\" have the same port ID; rename one");
  }

  if (!field["role"].present()) field["role"].Error("required");
  const std::optional<std::string> role = field["role"].Enum({"uplink", "pod", "host"}, "uplink");
  port.role = role == "pod" ? abi::PortRole::kPod : role == "host" ? abi::PortRole::kHost : abi::PortRole::kUplink;

  const std::string devargs = field["devargs"].String().value_or("");
  if (devargs.empty()) {
    field["devargs"].Error("required");
  } else {
    bool unchecked = false;
    if (std::optional<std::string> missing = CheckDevargs(devargs, checks.path_exists, &unchecked))
      field["devargs"].Error(*missing);
    if (unchecked) field["devargs"].Warning("cannot check that \"" + devargs + "\" exists (unknown driver)");
    const std::string device = devargs.substr(0, devargs.find(','));
    auto [it, inserted] = checks.port_by_device.try_emplace(device, name);
    if (!inserted) field["devargs"].Error("device " + device + " is already used by port \"" + it->second + "\"");
  }
  SetInt(field["rxQueues"], 1, 64, port.rx_queues);
  SetInt(field["vlan"], 0, 4094, port.vlan);
  SetInt(field["mtu"], 68, 9216, port.mtu);

  const Field pod_ip = field["podIP"];
  if (port.role != abi::PortRole::kPod && pod_ip.present()) {
    pod_ip.Error("only pod ports have a podIP");
  } else if (port.role == abi::PortRole::kPod && !pod_ip.present()) {
    pod_ip.Error("required for a pod port");
  } else if (std::optional<uint32_t> ip = port.role == abi::PortRole::kPod ? Ipv4(pod_ip) : std::nullopt) {
    const abi::NodeInfo& info = image.info;
    const uint32_t mask = k8s::Ipv4Mask(info.pod_cidr_len);
    const uint32_t broadcast = info.pod_cidr | ~mask;
    const std::string text = k8s::Ipv4ToString(*ip);
    if (info.pod_cidr_len != 0 && (*ip & mask) != info.pod_cidr)
      pod_ip.Error(text + " is not inside podCIDR " + k8s::Ipv4ToString(info.pod_cidr) + "/" + std::to_string(info.pod_cidr_len));
    else if (*ip == info.pod_cidr || *ip == broadcast)
      pod_ip.Error(text + " is the network or broadcast address of podCIDR");
    else if (*ip == info.pod_gateway_ipv4)
      pod_ip.Error(text + " is the pod gateway address");
    auto [it, inserted] = checks.port_by_pod_ip.try_emplace(*ip, name);
    if (!inserted) pod_ip.Error(text + " is already the podIP of port \"" + it->second + "\"");
    port.ipv4 = *ip;
  }
  DecodePodMac(field["podMAC"], port);
  image.ports.push_back(port);
  image.port_names.push_back(name);
  image.port_devargs.push_back(devargs);
}

void DecodeRoute(const Field& field, NodeImage& image, const std::map<std::string, uint32_t>& port_ids,
                 uint32_t uplink_id) {
  field.ExpectMap({"prefix", "via", "port"});
  abi::RouteRecord route{};
  if (std::optional<IpCidr> prefix = Ipv4Network(field["prefix"], true)) {
    route.prefix = prefix->address.v4;
    route.prefix_len = prefix->prefix_len;
  }
  if (field["via"].present()) route.next_hop_ipv4 = Ipv4(field["via"]).value_or(0);
  route.port_id = uplink_id;  // the uplink unless said otherwise
  if (std::optional<std::string> port = field["port"].String()) {
    auto it = port_ids.find(*port);
    if (it == port_ids.end()) field["port"].Error("no port is named \"" + *port + "\"");
    else route.port_id = it->second;
  }
  image.routes.push_back(route);
}

}  // namespace

uint32_t PortIdForName(std::string_view name) { return Fnv1a32(name); }

Result<NodeImage> ParseNodeConfig(std::string_view yaml_text, const std::string& file_name,
                                  const PathExists& path_exists, std::vector<std::string>* warnings) {
  YAML::Node document;
  try {
    document = YAML::Load(std::string(yaml_text));
  } catch (const YAML::ParserException& error) {
    return MakeError(file_name + ":" + std::to_string(error.mark.line + 1) + ":" +
                     std::to_string(error.mark.column + 1) + ": not valid YAML: " + error.msg);
  } catch (const YAML::Exception& error) {
    return MakeError(file_name + ": not valid YAML: " + error.what());
  }

  k8s::Report report{file_name, {}, {}};
  NodeImage image;
  SetDataplaneDefaults(image.info);
  try {
    Field root(document, "", &report);
    if (!document.IsMap()) {
      root.Error("expected a NodeConfig mapping, got " + k8s::Describe(document));
    } else {
      root.ExpectMap({"apiVersion", "kind", "node", "dataplane", "ports", "routes"});
      if (root["apiVersion"].String().value_or("") != kNodeConfigApiVersion)
        root["apiVersion"].Error(std::string("expected ") + kNodeConfigApiVersion);
      if (root["kind"].String().value_or("") != "NodeConfig") root["kind"].Error("expected NodeConfig");
      DecodeNode(root["node"], image);
      DecodeDataplane(root["dataplane"], image.info);

      PortChecks checks{path_exists, {}, {}, {}};
      const std::vector<Field> ports = root["ports"].Items();
      for (const Field& port : ports) DecodePort(port, image, checks);
      std::map<std::string, uint32_t> port_ids;
      size_t uplinks = 0, hosts = 0;
      uint32_t uplink_id = 0;
      for (size_t i = 0; i < image.ports.size(); ++i) {
        port_ids[image.port_names[i]] = image.ports[i].port_id;
        if (image.ports[i].role == abi::PortRole::kUplink) ++uplinks, uplink_id = image.ports[i].port_id;
        if (image.ports[i].role == abi::PortRole::kHost) ++hosts;
      }
      if (uplinks != 1) root["ports"].Error("exactly one port with role uplink is required, found " + std::to_string(uplinks));
      if (hosts > 1) root["ports"].Error("at most one port with role host is allowed, found " + std::to_string(hosts));
      for (const Field& route : root["routes"].Items()) DecodeRoute(route, image, port_ids, uplink_id);
    }
  } catch (const YAML::Exception& error) {
    report.Error("", std::string("cannot decode: ") + error.what());
  }

  if (warnings) warnings->insert(warnings->end(), report.warnings.begin(), report.warnings.end());
  if (report.failed()) {
    std::string message;
    for (const std::string& error : report.errors) message.append(message.empty() ? "" : "\n").append(error);
    return MakeError(message);
  }
  return image;
}

Result<NodeImage> LoadNodeConfig(const std::filesystem::path& path, const PathExists& path_exists,
                                 std::vector<std::string>* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(path.string() + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return ParseNodeConfig(text.str(), path.string(), path_exists, warnings);
}

}  // namespace np::config
