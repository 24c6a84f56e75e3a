// The node snapshot the workers read: which DPDK port plays which role,
// which addresses are the node's, and where a destination is sent. Built by
// the loader from a validated NodeImage and the ports it attached.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/section_image.h"
#include "common/stats_abi.h"
#include "dataplane/service/frozen_map.h"
#include "dataplane/service/service_tables.h"

namespace np {

inline constexpr uint16_t kMaxDpdkPorts = 64;
inline constexpr uint8_t kNoSlot = 0xff;

struct PortRuntime {
  uint32_t port_id;        // stable id from the node config
  uint16_t dpdk_port;
  abi::PortRole role;
  uint16_t vlan;
  uint32_t ipv4;           // pod ports: the pod's address
  uint16_t rx_queues;
  uint16_t slow_tx_queue;  // the main lcore's own tx queue on this port
  uint32_t counter_slot;   // into stats::LcoreCounters::ports
  uint64_t mac;
  uint64_t peer_mac;       // pod ports: the pod's configured MAC, 0 = learn it
};

struct NextHop {
  uint8_t port_slot;       // index into NodeTables::ports(); kNoSlot = no route
  uint32_t ipv4;           // the neighbour to resolve
};

class NodeTables {
 public:
  NodeTables(NodeImage image, std::vector<PortRuntime> ports);

  const NodeImage& image() const { return image_; }
  const abi::NodeInfo& info() const { return image_.info; }
  uint64_t generation() const { return image_.generation; }
  const std::vector<PortRuntime>& ports() const { return ports_; }
  const PortRuntime& port(uint8_t slot) const { return ports_[slot]; }
  uint8_t SlotOfDpdkPort(uint16_t dpdk_port) const {
    return dpdk_port < kMaxDpdkPorts ? slot_by_dpdk_port_[dpdk_port] : kNoSlot;
  }
  uint8_t uplink_slot() const { return uplink_slot_; }
  uint8_t host_slot() const { return host_slot_; }

  bool IsNodeAddress(uint32_t ipv4) const {
    for (uint32_t i = 0; i < image_.info.node_ipv4_count; ++i)
      if (image_.info.node_ipv4[i] == ipv4) return true;
    return false;
  }
  uint32_t primary_node_address() const { return image_.info.node_ipv4[0]; }
  bool InCluster(uint32_t ipv4) const {
    return InPrefix(ipv4, image_.info.cluster_cidr, image_.info.cluster_cidr_len) ||
           InPrefix(ipv4, image_.info.pod_cidr, image_.info.pod_cidr_len) || IsNodeAddress(ipv4);
  }
  // The pod port whose pod owns this address, or kNoSlot.
  uint8_t PodSlot(uint32_t ipv4) const {
    const uint8_t* slot = pod_slot_by_address_.Find(ipv4);
    return slot == nullptr ? kNoSlot : *slot;
  }
  NextHop Route(uint32_t destination) const;

 private:
  NodeImage image_;
  std::vector<PortRuntime> ports_;
  std::array<uint8_t, kMaxDpdkPorts> slot_by_dpdk_port_{};
  FrozenMap<uint8_t, uint32_t> pod_slot_by_address_;
  std::vector<abi::RouteRecord> routes_;  // longest prefix first
  std::vector<uint8_t> route_slots_;
  uint8_t uplink_slot_ = kNoSlot;
  uint8_t host_slot_ = kNoSlot;
};

}  // namespace np
