// A node image for tests that compile Services against a node: node-a at
// 192.168.100.10, Maglev seed 1, a valid SNAT range and conntrack size.
#pragma once

#include "common/section_image.h"

namespace np::testing {

inline NodeImage NodeA() {
  NodeImage node;
  node.node_name = "node-a";
  node.info.node_ipv4[0] = 0xc0a8640a;
  node.info.node_ipv4_count = 1;
  node.info.maglev_seed = 1;
  node.info.snat_port_min = 61000;
  node.info.snat_port_max = 65535;
  node.info.conntrack_capacity = 1024;
  return node;
}

}  // namespace np::testing
