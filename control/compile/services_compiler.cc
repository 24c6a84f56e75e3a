#include "control/compile/services_compiler.h"

#include <set>
#include <tuple>

#include "common/maglev.h"
#include "control/config/stable_id.h"

namespace np::compile {
namespace {

using k8s::EndpointSlice;
using k8s::IpAddress;
using k8s::NamespacedName;
using k8s::Protocol;
using k8s::Service;
using k8s::ServicePort;

uint8_t IpProtocol(Protocol protocol) {
  switch (protocol) {
    case Protocol::kUDP: return abi::kProtoUdp;
    case Protocol::kSCTP: return abi::kProtoSctp;
    case Protocol::kTCP: break;
  }
  return abi::kProtoTcp;
}

// One endpoint address:port after merging every slice of the Service.
struct Candidate {
  bool ready = false;
  bool serving = false;
  bool terminating = false;
  bool local = false;
};
using Address = std::pair<uint32_t, uint16_t>;  // ip, port

std::map<NamespacedName, std::vector<const EndpointSlice*>> SlicesByService(const k8s::ClusterState& state) {
  std::map<NamespacedName, std::vector<const EndpointSlice*>> slices;
  for (const auto& [id, slice] : state.endpoint_slices) {
    const std::string service = slice.ServiceName();
    if (!service.empty()) slices[{id.namespace_, service}].push_back(&slice);
  }
  return slices;
}

std::map<Address, Candidate> MergeEndpoints(const std::vector<const EndpointSlice*>& slices,
                                            const ServicePort& service_port, const std::string& node_name) {
  std::map<Address, Candidate> merged;
  for (const EndpointSlice* slice : slices) {
    if (slice->address_type != k8s::AddressType::kIPv4) continue;
    std::optional<uint16_t> port;
    for (const k8s::EndpointPort& candidate : slice->ports)
      if (candidate.name == service_port.name && candidate.protocol == service_port.protocol && candidate.port)
        port = candidate.port;
    if (!port) continue;
    for (const k8s::Endpoint& endpoint : slice->endpoints) {
      // Addresses of one endpoint are fungible: use the first, as kube-proxy does.
      if (endpoint.ip_addresses.empty() || !endpoint.ip_addresses.front().is_v4()) continue;
      const Candidate candidate{endpoint.IsReady(), endpoint.IsServing(), endpoint.IsTerminating(),
                                !node_name.empty() && endpoint.node_name == node_name};
      // The same endpoint can sit in two slices while it moves: a ready copy wins.
      auto [it, inserted] = merged.try_emplace({endpoint.ip_addresses.front().v4, *port}, candidate);
      if (!inserted && candidate.ready && !it->second.ready) it->second = candidate;
    }
  }
  return merged;
}

// kube-proxy's choice: ready endpoints, else the serving terminating ones.
std::set<Address> ChooseEndpoints(const std::map<Address, Candidate>& candidates, bool local_only) {
  std::set<Address> ready, fallback;
  for (const auto& [address, candidate] : candidates) {
    if (local_only && !candidate.local) continue;
    if (candidate.ready) ready.insert(address);
    else if (candidate.serving && candidate.terminating) fallback.insert(address);
  }
  return ready.empty() ? fallback : ready;
}

class Compiler {
 public:
  Compiler(const k8s::ClusterState& state, const NodeImage& node) : state_(state), node_(node) {}

  ServicesCompilation Run(const ServicesCompileOptions& options) {
    maglev_cache_ = options.maglev_cache;
    const auto slices = SlicesByService(state_);
    static const std::vector<const EndpointSlice*> kNoSlices;
    for (const auto& [id, service] : state_.services) {
      if (!Programmable(id, service)) continue;
      auto found = slices.find(id);
      for (const ServicePort& port : service.ports)
        AddServicePort(id, service, port, found == slices.end() ? kNoSlices : found->second);
    }
    for (const auto& [id, pod] : state_.pods) AddHostPorts(id, pod);
    AssignIds(options.previous_ids);
    if (maglev_cache_) maglev_cache_->EndCompile();
    return std::move(out_);
  }

 private:
  // kube-proxy's ShouldSkipService, plus: IPv4 only for now.
  bool Programmable(const NamespacedName& id, const Service& service) {
    if (service.type == k8s::ServiceType::kExternalName || service.headless || service.cluster_ips.empty())
      return false;
    for (const IpAddress& ip : service.cluster_ips)
      if (ip.is_v4()) return true;
    Warn(id, "", "has no IPv4 cluster IP; IPv6 services are not programmed yet");
    return false;
  }

  void Warn(const NamespacedName& id, const std::string& port, const std::string& message) {
    out_.warnings.push_back("Service " + id.ToString() + (port.empty() ? "" : ": port " + port) + ": " + message);
  }

  void AddFrontend(uint32_t ip, uint16_t port, uint8_t protocol, abi::FrontendKind kind, const std::string& owner,
                   const NamespacedName& id, const std::string& port_label) {
    auto [it, inserted] = frontend_owner_.try_emplace(std::make_tuple(ip, port, protocol), owner);
    if (!inserted) {
      Warn(id, port_label, "frontend " + k8s::Ipv4ToString(ip) + ":" + std::to_string(port) +
                               " already belongs to " + it->second + "; skipped");
      return;
    }
    out_.image.frontends.push_back(abi::FrontendRecord{ip, port, protocol, kind,
                                                       static_cast<uint32_t>(out_.image.service_ports.size())});
  }

  void AddFrontends(const NamespacedName& id, const Service& service, const ServicePort& port,
                    const std::string& name, const std::string& port_label) {
    const uint8_t protocol = IpProtocol(port.protocol);
    for (const IpAddress& ip : service.cluster_ips)
      if (ip.is_v4()) AddFrontend(ip.v4, port.port, protocol, abi::FrontendKind::kClusterIP, name, id, port_label);
    const bool node_port_type =
        service.type == k8s::ServiceType::kNodePort || service.type == k8s::ServiceType::kLoadBalancer;
    if (node_port_type && port.node_port == 0) Warn(id, port_label, "no nodePort allocated; NodePort frontends skipped");
    if (node_port_type && port.node_port != 0)
      for (uint32_t i = 0; i < node_.info.node_ipv4_count && i < abi::kMaxNodeAddresses; ++i)
        AddFrontend(node_.info.node_ipv4[i], port.node_port, protocol, abi::FrontendKind::kNodePort, name, id, port_label);
    if (service.type == k8s::ServiceType::kLoadBalancer)
      for (const IpAddress& ip : service.load_balancer_ingress_ips)
        if (ip.is_v4()) AddFrontend(ip.v4, port.port, protocol, abi::FrontendKind::kLoadBalancer, name, id, port_label);
    for (const IpAddress& ip : service.external_ips)
      if (ip.is_v4()) AddFrontend(ip.v4, port.port, protocol, abi::FrontendKind::kExternalIP, name, id, port_label);
  }

  void AddSourceRanges(const NamespacedName& id, const Service& service, const std::string& port_label,
                       abi::ServicePortRecord& record) {
    if (service.type != k8s::ServiceType::kLoadBalancer) return;  // the API applies them to LBs only
    record.source_range_first = static_cast<uint32_t>(out_.image.source_ranges.size());
    for (const k8s::IpCidr& cidr : service.load_balancer_source_ranges)
      if (cidr.is_v4()) out_.image.source_ranges.push_back(abi::CidrRecord{cidr.address.v4, cidr.prefix_len, {}});
    record.source_range_count = static_cast<uint32_t>(out_.image.source_ranges.size()) - record.source_range_first;
    if (record.source_range_count == 0 && !service.load_balancer_source_ranges.empty())
      Warn(id, port_label, "loadBalancerSourceRanges has no IPv4 range; IPv4 clients are not restricted");
  }

  // Appends a Maglev table over `members` (indices relative to backend_first).
  std::pair<uint32_t, uint32_t> AddMaglev(const std::vector<uint32_t>& members, const std::vector<std::string>& keys) {
    if (members.empty()) return {0, 0};
    std::vector<std::string> member_keys;
    for (uint32_t member : members) member_keys.push_back(keys[member]);
    const uint32_t size = MaglevTableSize(static_cast<uint32_t>(members.size()));
    const uint32_t first = static_cast<uint32_t>(out_.image.maglev.size());
    const uint32_t seed = node_.info.maglev_seed;
    std::vector<uint32_t> built;
    const std::vector<uint32_t>& table =
        maglev_cache_ ? maglev_cache_->Table(member_keys, size, seed) : (built = BuildMaglevTable(member_keys, size, seed));
    for (uint32_t slot : table) out_.image.maglev.push_back(members[slot]);
    return {first, size};
  }

  void AddBackends(const ServicePort& port, const std::vector<const EndpointSlice*>& slices,
                   abi::ServicePortRecord& record) {
    const std::map<Address, Candidate> candidates = MergeEndpoints(slices, port, node_.node_name);
    const std::set<Address> cluster = ChooseEndpoints(candidates, false);
    const std::set<Address> local = ChooseEndpoints(candidates, true);
    std::set<Address> all = cluster;
    all.insert(local.begin(), local.end());

    record.backend_first = static_cast<uint32_t>(out_.image.backends.size());
    record.backend_count = static_cast<uint32_t>(all.size());
    std::vector<std::string> keys;
    std::vector<uint32_t> cluster_members, local_members;
    for (const Address& address : all) {
      const Candidate& candidate = candidates.at(address);
      uint8_t flags = 0;
      if (candidate.local) flags |= abi::kBackendLocal;
      if (!candidate.ready && candidate.terminating) flags |= abi::kBackendTerminating;
      const uint32_t index = static_cast<uint32_t>(keys.size());
      if (cluster.count(address)) cluster_members.push_back(index);
      if (local.count(address)) local_members.push_back(index);
      keys.push_back(k8s::Ipv4ToString(address.first) + ":" + std::to_string(address.second));
      out_.image.backends.push_back(abi::BackendRecord{address.first, address.second, flags, 0});
    }
    std::tie(record.maglev_first, record.maglev_size) = AddMaglev(cluster_members, keys);
    std::tie(record.local_maglev_first, record.local_maglev_size) = AddMaglev(local_members, keys);
  }

  void AddServicePort(const NamespacedName& id, const Service& service, const ServicePort& port,
                      const std::vector<const EndpointSlice*>& slices) {
    const std::string port_label = port.name.empty() ? std::to_string(port.port) : port.name;
    const std::string name = id.ToString() + ":" + port_label;
    abi::ServicePortRecord record{};
    record.protocol = IpProtocol(port.protocol);
    if (service.affinity_client_ip) {
      record.flags |= abi::kAffinityClientIP;
      record.affinity_timeout_s = service.affinity_timeout_s;
    }
    const bool external = service.type == k8s::ServiceType::kNodePort ||
                          service.type == k8s::ServiceType::kLoadBalancer || !service.external_ips.empty();
    if (external && service.external_traffic_policy == k8s::TrafficPolicy::kLocal) {
      record.flags |= abi::kExternalTrafficLocal;
      record.health_check_node_port = service.health_check_node_port;
    }
    if (service.internal_traffic_policy == k8s::TrafficPolicy::kLocal) record.flags |= abi::kInternalTrafficLocal;

    AddFrontends(id, service, port, name, port_label);
    AddSourceRanges(id, service, port_label, record);
    AddBackends(port, slices, record);
    out_.image.service_ports.push_back(record);
    out_.image.service_port_names.push_back(name);
    id_keys_.push_back(name + "/" + k8s::ProtocolName(port.protocol));
  }

  // hostPort (the CNI portmap plugin's job): node IPs:hostPort DNAT to the
  // pod's containerPort, for pods on this node. Like portmap, the client
  // address is kept (no SNAT: the pod is local, so replies come back here),
  // which is what externalTrafficPolicy Local does for a Service.
  void AddHostPorts(const NamespacedName& id, const k8s::Pod& pod) {
    if (pod.node_name != node_.node_name || !pod.pod_ip || !pod.pod_ip->is_v4()) return;
    if (pod.phase == "Succeeded" || pod.phase == "Failed") return;
    for (const k8s::Container& container : pod.containers) {
      for (const k8s::ContainerPort& port : container.ports) {
        if (port.host_port == 0) continue;
        const uint8_t protocol = IpProtocol(port.protocol);
        const std::string port_label = "hostPort/" + std::to_string(port.host_port);
        const std::string name = "pod " + id.ToString() + ":" + port_label;
        for (uint32_t i = 0; i < node_.info.node_ipv4_count && i < abi::kMaxNodeAddresses; ++i)
          AddFrontend(node_.info.node_ipv4[i], port.host_port, protocol, abi::FrontendKind::kNodePort, name, id,
                      port_label);
        abi::ServicePortRecord record{};
        record.protocol = protocol;
        record.flags = abi::kExternalTrafficLocal;
        record.backend_first = static_cast<uint32_t>(out_.image.backends.size());
        record.backend_count = 1;
        out_.image.backends.push_back(
            abi::BackendRecord{pod.pod_ip->v4, port.container_port, abi::kBackendLocal, 0});
        const std::vector<std::string> keys = {k8s::Ipv4ToString(pod.pod_ip->v4) + ":" +
                                               std::to_string(port.container_port)};
        std::tie(record.maglev_first, record.maglev_size) = AddMaglev({0}, keys);
        std::tie(record.local_maglev_first, record.local_maglev_size) = AddMaglev({0}, keys);
        out_.image.service_ports.push_back(record);
        out_.image.service_port_names.push_back(id.ToString() + ":" + port_label);
        id_keys_.push_back("pod/" + id.ToString() + ":" + port_label + "/" + k8s::ProtocolName(port.protocol));
      }
    }
  }

  // Previous IDs first (they are live in conntrack), then hashes in name
  // order; a collision re-hashes "key#1", "key#2", ... until free.
  void AssignIds(const std::map<std::string, uint32_t>& previous_ids) {
    std::set<uint32_t> taken;
    std::vector<bool> assigned(id_keys_.size(), false);
    for (size_t i = 0; i < id_keys_.size(); ++i) {
      auto it = previous_ids.find(out_.image.service_port_names[i]);
      if (it == previous_ids.end() || it->second == 0 || !taken.insert(it->second).second) continue;
      out_.image.service_ports[i].id = it->second;
      assigned[i] = true;
    }
    std::vector<size_t> order;
    for (size_t i = 0; i < id_keys_.size(); ++i)
      if (!assigned[i]) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return id_keys_[a] < id_keys_[b]; });
    for (size_t i : order) {
      uint32_t id = ServicePortHashId(id_keys_[i]);
      for (uint32_t attempt = 1; taken.count(id); ++attempt)
        id = ServicePortHashId(id_keys_[i] + "#" + std::to_string(attempt));
      taken.insert(id);
      out_.image.service_ports[i].id = id;
    }
  }

  const k8s::ClusterState& state_;
  const NodeImage& node_;
  MaglevCache* maglev_cache_ = nullptr;
  ServicesCompilation out_;
  std::vector<std::string> id_keys_;  // per service port: "ns/name:port/PROTO"
  std::map<std::tuple<uint32_t, uint16_t, uint8_t>, std::string> frontend_owner_;
};

}  // namespace

uint32_t ServicePortHashId(const std::string& key) {
  const uint32_t hash = Fnv1a32(key);
  return hash == 0 ? 1 : hash;  // 0 reads as "no service" in counters
}

std::map<std::string, uint32_t> ServicePortIds(const ServicesImage& image) {
  std::map<std::string, uint32_t> ids;
  for (size_t i = 0; i < image.service_ports.size() && i < image.service_port_names.size(); ++i)
    ids[image.service_port_names[i]] = image.service_ports[i].id;
  return ids;
}

ServicesCompilation CompileServices(const k8s::ClusterState& state, const NodeImage& node,
                                    const ServicesCompileOptions& options) {
  return Compiler(state, node).Run(options);
}

}  // namespace np::compile
