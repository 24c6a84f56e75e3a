// IPv4 address -> identity (flow_model.h FlowPeer) for flow records: pods
// by their podIPs and workloads (k8s/workloads.h), this node's addresses,
// Service VIPs (clusterIPs, externalIPs, LoadBalancer ingress IPs); anything
// else is external and stays a /32 CIDR (an ipBlock peer as it is).
// Service-port IDs (the stable ones the services compiler assigns) ->
// "namespace/name:port". Immutable once built: the reload builds a new one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "control/flows/flow_model.h"
#include "control/k8s/cluster_state.h"

namespace np::flows {

struct NodeIdentity {
  std::string name;
  std::vector<uint32_t> addresses;  // host order
};

class IdentityResolver {
 public:
  IdentityResolver() = default;
  IdentityResolver(const k8s::ClusterState& state, NodeIdentity node, std::map<uint32_t, std::string> service_ports);

  FlowPeer Resolve(uint32_t ipv4) const;
  // "ns/name:port", or "" for an unknown ID (or kNoServicePort).
  std::string ServicePortName(uint32_t service_port_id) const;

 private:
  std::map<uint32_t, FlowPeer> pods_;
  std::map<uint32_t, FlowPeer> service_vips_;
  NodeIdentity node_;
  std::map<uint32_t, std::string> service_ports_;
};

}  // namespace np::flows
