#include "dataplane/route/node_tables.h"

#include <algorithm>

namespace np {

NodeTables::NodeTables(NodeImage image, std::vector<PortRuntime> ports)
    : image_(std::move(image)), ports_(std::move(ports)) {
  slot_by_dpdk_port_.fill(kNoSlot);
  std::vector<std::pair<uint32_t, uint8_t>> pods;
  for (uint8_t slot = 0; slot < ports_.size(); ++slot) {
    const PortRuntime& port = ports_[slot];
    if (port.dpdk_port < kMaxDpdkPorts) slot_by_dpdk_port_[port.dpdk_port] = slot;
    if (port.role == abi::PortRole::kUplink && uplink_slot_ == kNoSlot) uplink_slot_ = slot;
    if (port.role == abi::PortRole::kHost && host_slot_ == kNoSlot) host_slot_ = slot;
    if (port.role == abi::PortRole::kPod) pods.emplace_back(port.ipv4, slot);
  }
  pod_slot_by_address_ = FrozenMap<uint8_t, uint32_t>(pods);
  routes_ = image_.routes;
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const abi::RouteRecord& a, const abi::RouteRecord& b) { return a.prefix_len > b.prefix_len; });
  for (const abi::RouteRecord& route : routes_) {
    uint8_t slot = kNoSlot;
    for (uint8_t i = 0; i < ports_.size(); ++i)
      if (ports_[i].port_id == route.port_id) slot = i;
    route_slots_.push_back(slot);
  }
}

NextHop NodeTables::Route(uint32_t destination) const {
  if (uint8_t pod = PodSlot(destination); pod != kNoSlot) return {pod, destination};
  if (IsNodeAddress(destination)) return {host_slot_, destination};
  for (size_t i = 0; i < routes_.size(); ++i)
    if (InPrefix(destination, routes_[i].prefix, routes_[i].prefix_len))
      return {route_slots_[i], routes_[i].next_hop_ipv4 != 0 ? routes_[i].next_hop_ipv4 : destination};
  // This node's pod CIDR without a pod behind the address: nowhere to go.
  if (InPrefix(destination, image_.info.pod_cidr, image_.info.pod_cidr_len)) return {kNoSlot, destination};
  const uint32_t gateway = image_.info.uplink_gateway_ipv4;
  return {uplink_slot_, gateway != 0 ? gateway : destination};
}

}  // namespace np
