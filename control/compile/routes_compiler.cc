#include "control/compile/routes_compiler.h"

#include <algorithm>
#include <set>

namespace np::compile {

std::vector<abi::RouteRecord> CompileRoutes(const k8s::ClusterState& state, const NodeImage& node,
                                            std::vector<std::string>* warnings) {
  auto warn = [&](const std::string& message) {
    if (warnings) warnings->push_back(message);
  };
  std::optional<uint32_t> uplink_id;
  for (const abi::PortRecord& port : node.ports)
    if (port.role == abi::PortRole::kUplink) uplink_id = port.port_id;
  if (!uplink_id) {
    warn("node config has no uplink port: no routes to other nodes");
    return {};
  }

  std::set<std::pair<uint32_t, uint8_t>> routed;  // prefixes already taken
  for (const abi::RouteRecord& route : node.routes) routed.insert({route.prefix, route.prefix_len});
  routed.insert({node.info.pod_cidr, node.info.pod_cidr_len});

  std::vector<abi::RouteRecord> routes;
  for (const auto& [id, other] : state.nodes) {
    if (id.name == node.node_name) continue;
    const std::optional<uint32_t> next_hop = other.InternalIpv4();
    bool has_v4_cidr = false;
    for (const k8s::IpCidr& cidr : other.pod_cidrs) {
      if (!cidr.is_v4()) continue;
      has_v4_cidr = true;
      if (!next_hop) continue;
      if (!routed.insert({cidr.address.v4, cidr.prefix_len}).second) {
        warn("Node " + id.name + ": pod CIDR " + cidr.ToString() + " is already routed; skipped");
        continue;
      }
      routes.push_back(abi::RouteRecord{cidr.address.v4, cidr.prefix_len, {}, *next_hop, *uplink_id});
    }
    if (!has_v4_cidr) warn("Node " + id.name + ": no IPv4 podCIDR; no route to its pods");
    else if (!next_hop) warn("Node " + id.name + ": no IPv4 InternalIP; no route to its pods");
  }
  std::sort(routes.begin(), routes.end(), [](const abi::RouteRecord& a, const abi::RouteRecord& b) {
    return std::tie(a.prefix, a.prefix_len) < std::tie(b.prefix, b.prefix_len);
  });
  return routes;
}

}  // namespace np::compile
