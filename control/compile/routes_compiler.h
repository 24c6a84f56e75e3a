// Routes to the other nodes' pod CIDRs, from Node objects: each Node's
// spec.podCIDRs (IPv4) via its first IPv4 InternalIP, on the uplink.
#pragma once

#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/k8s/cluster_state.h"

namespace np::compile {

// Skips this node itself, prefixes the node config already routes (static
// routes win) and Nodes without an InternalIP or pod CIDR (warnings say
// which). The result is sorted by prefix and de-duplicated.
std::vector<abi::RouteRecord> CompileRoutes(const k8s::ClusterState& state, const NodeImage& node,
                                            std::vector<std::string>* warnings = nullptr);

}  // namespace np::compile
