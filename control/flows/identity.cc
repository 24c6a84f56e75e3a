#include "control/flows/identity.h"

#include <algorithm>

#include "control/k8s/ip.h"
#include "control/k8s/workloads.h"

namespace np::flows {

IdentityResolver::IdentityResolver(const k8s::ClusterState& state, NodeIdentity node,
                                   std::map<uint32_t, std::string> service_ports)
    : node_(std::move(node)), service_ports_(std::move(service_ports)) {
  const k8s::WorkloadIndex workloads(state);
  for (const auto& [id, pod] : state.pods) {
    if (pod.phase == "Succeeded" || pod.phase == "Failed") continue;  // its address may be reused
    const k8s::WorkloadRef workload = workloads.WorkloadOf(pod);
    FlowPeer peer{"pod", id.namespace_, workload.name, workload.kind, id.name, workload.pod_labels};
    for (const k8s::IpAddress& ip : pod.pod_ips)
      if (ip.is_v4()) pods_.emplace(ip.v4, peer);  // first pod wins, as the probe's skip rule
  }
  for (const auto& [id, service] : state.services) {
    const FlowPeer peer{"service-vip", id.namespace_, id.name, "Service", "", {}};
    auto add = [&](const std::vector<k8s::IpAddress>& addresses) {
      for (const k8s::IpAddress& ip : addresses)
        if (ip.is_v4()) service_vips_.emplace(ip.v4, peer);
    };
    add(service.cluster_ips);
    add(service.external_ips);
    add(service.load_balancer_ingress_ips);
  }
}

FlowPeer IdentityResolver::Resolve(uint32_t ipv4) const {
  if (auto it = pods_.find(ipv4); it != pods_.end()) return it->second;
  if (std::find(node_.addresses.begin(), node_.addresses.end(), ipv4) != node_.addresses.end())
    return FlowPeer{"node", "", node_.name.empty() ? k8s::Ipv4ToString(ipv4) : node_.name, "", "", {}};
  if (auto it = service_vips_.find(ipv4); it != service_vips_.end()) return it->second;
  return FlowPeer{"external", "", k8s::Ipv4ToString(ipv4) + "/32", "", "", {}};
}

std::string IdentityResolver::ServicePortName(uint32_t service_port_id) const {
  auto it = service_ports_.find(service_port_id);
  return it == service_ports_.end() ? "" : it->second;
}

}  // namespace np::flows
