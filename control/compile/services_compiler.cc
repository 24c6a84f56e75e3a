#include "control/compile/services_compiler.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

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

struct Merged {
  Address address;
  Candidate candidate;
  uint32_t order = 0;  // in the slices: ties keep it (a stable sort without stable_sort's buffer)
};

// Sorted by address, one entry per address (flat vectors: a full resync
// merges every Service's endpoints).
std::vector<Merged> MergeEndpoints(const std::vector<const EndpointSlice*>& slices, const ServicePort& service_port,
                                   const std::string& node_name) {
  std::vector<Merged> all;
  size_t endpoints = 0;
  for (const EndpointSlice* slice : slices) endpoints += slice->endpoints.size();
  all.reserve(endpoints);
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
      all.push_back(Merged{{endpoint.ip_addresses.front().v4, *port},
                           Candidate{endpoint.IsReady(), endpoint.IsServing(), endpoint.IsTerminating(),
                                     !node_name.empty() && endpoint.node_name == node_name},
                           static_cast<uint32_t>(all.size())});
    }
  }
  std::sort(all.begin(), all.end(),
            [](const Merged& a, const Merged& b) { return std::tie(a.address, a.order) < std::tie(b.address, b.order); });
  std::vector<Merged> merged;
  merged.reserve(all.size());
  for (const Merged& entry : all) {
    if (merged.empty() || merged.back().address != entry.address) {
      merged.push_back(entry);
      continue;
    }
    // The same endpoint can sit in two slices while it moves: the first
    // ready copy wins over a not-ready one.
    if (entry.candidate.ready && !merged.back().candidate.ready) merged.back().candidate = entry.candidate;
  }
  return merged;
}

// kube-proxy's choice: ready endpoints, else the serving terminating ones.
// One flag per merged endpoint.
std::vector<bool> ChooseEndpoints(const std::vector<Merged>& candidates, bool local_only) {
  std::vector<bool> ready(candidates.size(), false), fallback(candidates.size(), false);
  bool any_ready = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& candidate = candidates[i].candidate;
    if (local_only && !candidate.local) continue;
    if (candidate.ready) any_ready = ready[i] = true;
    else if (candidate.serving && candidate.terminating) fallback[i] = true;
  }
  return any_ready ? ready : fallback;
}

// Compiles one Service (or one Pod's hostPorts) into port drafts.
class FragmentCompiler {
 public:
  // `previous`: the ports compiled before, by name (may be null).
  using PortsByName = std::unordered_map<std::string, std::shared_ptr<const CompiledServicePort>>;
  FragmentCompiler(const NodeImage& node, const PortsByName* previous) : node_(node), previous_(previous) {}

  // kube-proxy's ShouldSkipService, plus: IPv4 only for now.
  bool Programmable(const NamespacedName& id, const Service& service) {
    if (service.type == k8s::ServiceType::kExternalName || service.headless || service.cluster_ips.empty())
      return false;
    for (const IpAddress& ip : service.cluster_ips)
      if (ip.is_v4()) return true;
    Warn(id, "", "has no IPv4 cluster IP; IPv6 services are not programmed yet");
    return false;
  }

  void AddServicePort(const NamespacedName& id, const Service& service, const ServicePort& port,
                      const std::vector<const EndpointSlice*>& slices) {
    Draft draft;
    draft.port_label = port.name.empty() ? std::to_string(port.port) : port.name;
    draft.port.name = id.ToString() + ":" + draft.port_label;
    draft.id_key = draft.port.name + "/" + k8s::ProtocolName(port.protocol);
    draft.owner = id;
    abi::ServicePortRecord& record = draft.port.record;
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
    AddFrontends(id, service, port, draft);
    AddSourceRanges(id, service, draft);
    AddBackends(id, draft.port_label, port, slices, draft.port);
    drafts.push_back(std::move(draft));
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
        Draft draft;
        const uint8_t protocol = IpProtocol(port.protocol);
        draft.port_label = "hostPort/" + std::to_string(port.host_port);
        draft.port.name = id.ToString() + ":" + draft.port_label;
        draft.id_key = "pod/" + id.ToString() + ":" + draft.port_label + "/" + k8s::ProtocolName(port.protocol);
        draft.owner = id;
        for (uint32_t i = 0; i < node_.info.node_ipv4_count && i < abi::kMaxNodeAddresses; ++i)
          draft.port.frontends.push_back(
              abi::FrontendRecord{node_.info.node_ipv4[i], port.host_port, protocol, abi::FrontendKind::kNodePort, 0});
        abi::ServicePortRecord& record = draft.port.record;
        record.protocol = protocol;
        record.flags = abi::kExternalTrafficLocal;
        record.backend_count = 1;
        draft.port.backends.push_back(abi::BackendRecord{pod.pod_ip->v4, port.container_port, abi::kBackendLocal, 0});
        const std::vector<MaglevKey> keys = {MaglevKeyOf(pod.pod_ip->v4, port.container_port)};
        AddMaglevTables(keys, {0}, {0}, draft.port);
        drafts.push_back(std::move(draft));
      }
    }
  }

  struct Draft {
    CompiledServicePort port;
    std::string id_key;
    std::string port_label;
    NamespacedName owner;
  };
  std::vector<Draft> drafts;
  std::vector<std::string> warnings;
  uint32_t maglev_built = 0, maglev_reused = 0;

 private:
  void Warn(const NamespacedName& id, const std::string& port, const std::string& message) {
    warnings.push_back("Service " + id.ToString() + (port.empty() ? "" : ": port " + port) + ": " + message);
  }

  void AddFrontends(const NamespacedName& id, const Service& service, const ServicePort& port, Draft& draft) {
    const uint8_t protocol = IpProtocol(port.protocol);
    auto add = [&](uint32_t ip, uint16_t number, abi::FrontendKind kind) {
      draft.port.frontends.push_back(abi::FrontendRecord{ip, number, protocol, kind, 0});
    };
    for (const IpAddress& ip : service.cluster_ips)
      if (ip.is_v4()) add(ip.v4, port.port, abi::FrontendKind::kClusterIP);
    const bool node_port_type =
        service.type == k8s::ServiceType::kNodePort || service.type == k8s::ServiceType::kLoadBalancer;
    if (node_port_type && port.node_port == 0) Warn(id, draft.port_label, "no nodePort allocated; NodePort frontends skipped");
    if (node_port_type && port.node_port != 0)
      for (uint32_t i = 0; i < node_.info.node_ipv4_count && i < abi::kMaxNodeAddresses; ++i)
        add(node_.info.node_ipv4[i], port.node_port, abi::FrontendKind::kNodePort);
    if (service.type == k8s::ServiceType::kLoadBalancer)
      for (const IpAddress& ip : service.load_balancer_ingress_ips)
        if (ip.is_v4()) add(ip.v4, port.port, abi::FrontendKind::kLoadBalancer);
    for (const IpAddress& ip : service.external_ips)
      if (ip.is_v4()) add(ip.v4, port.port, abi::FrontendKind::kExternalIP);
  }

  void AddSourceRanges(const NamespacedName& id, const Service& service, Draft& draft) {
    if (service.type != k8s::ServiceType::kLoadBalancer) return;  // the API applies them to LBs only
    for (const k8s::IpCidr& cidr : service.load_balancer_source_ranges)
      if (cidr.is_v4()) draft.port.source_ranges.push_back(abi::CidrRecord{cidr.address.v4, cidr.prefix_len, {}});
    draft.port.record.source_range_count = static_cast<uint32_t>(draft.port.source_ranges.size());
    if (draft.port.source_ranges.empty() && !service.load_balancer_source_ranges.empty())
      Warn(id, draft.port_label, "loadBalancerSourceRanges has no IPv4 range; IPv4 clients are not restricted");
  }

  // The main and local Maglev tables over `members` and `local_members`
  // (increasing indices into keys, which are out.backends'), taken from the
  // port of the same name compiled before when it had the same backends,
  // members and seed (the tables are a function of those alone).
  void AddMaglevTables(const std::vector<MaglevKey>& keys, const std::vector<uint32_t>& members,
                       const std::vector<uint32_t>& local_members, CompiledServicePort& out) {
    const uint32_t seed = node_.info.maglev_seed;
    abi::ServicePortRecord& record = out.record;
    if (const CompiledServicePort* previous = SameMaglevInputs(out, members, local_members, seed)) {
      record.maglev_size = previous->record.maglev_size;
      record.local_maglev_size = previous->record.local_maglev_size;
      out.maglev = previous->maglev;
      ++maglev_reused;
    } else {
      record.maglev_size = AddMaglev(members, keys, seed, out.maglev);
      record.local_maglev_size = AddMaglev(local_members, keys, seed, out.maglev);
    }
    record.local_maglev_first = record.maglev_size;
    out.maglev_members = members;
    out.local_maglev_members = local_members;
    out.maglev_seed = seed;
  }

  const CompiledServicePort* SameMaglevInputs(const CompiledServicePort& out, const std::vector<uint32_t>& members,
                                              const std::vector<uint32_t>& local_members, uint32_t seed) const {
    if (previous_ == nullptr) return nullptr;
    auto found = previous_->find(out.name);
    if (found == previous_->end()) return nullptr;
    const CompiledServicePort& previous = *found->second;
    if (previous.maglev_seed != seed || previous.maglev_members != members ||
        previous.local_maglev_members != local_members || previous.backends.size() != out.backends.size())
      return nullptr;
    for (size_t i = 0; i < out.backends.size(); ++i)
      if (previous.backends[i].ipv4 != out.backends[i].ipv4 || previous.backends[i].port != out.backends[i].port)
        return nullptr;
    return &previous;
  }

  // Appends a Maglev table over `members` (indices into keys); returns its size.
  uint32_t AddMaglev(const std::vector<uint32_t>& members, const std::vector<MaglevKey>& keys, uint32_t seed,
                     std::vector<abi::MaglevEntry>& out) {
    if (members.empty()) return 0;
    // Members are increasing indices into keys: as many as keys means all
    // of them, in order (the usual case), and no copy of the keys is needed.
    const bool all = members.size() == keys.size();
    std::vector<MaglevKey> subset;
    if (!all) {
      subset.reserve(members.size());
      for (uint32_t member : members) subset.push_back(keys[member]);
    }
    const uint32_t size = MaglevTableSize(static_cast<uint32_t>(members.size()));
    const std::vector<uint32_t> table = BuildMaglevTable(all ? keys : subset, size, seed);
    ++maglev_built;
    const size_t first = out.size();
    out.resize(first + table.size());
    abi::MaglevEntry* entries = out.data() + first;
    if (all) {
      for (size_t slot = 0; slot < table.size(); ++slot) entries[slot] = static_cast<abi::MaglevEntry>(table[slot]);
    } else {
      for (size_t slot = 0; slot < table.size(); ++slot) entries[slot] = static_cast<abi::MaglevEntry>(members[table[slot]]);
    }
    return size;
  }

  void AddBackends(const NamespacedName& id, const std::string& port_label, const ServicePort& port,
                   const std::vector<const EndpointSlice*>& slices, CompiledServicePort& out) {
    const std::vector<Merged> candidates = MergeEndpoints(slices, port, node_.node_name);
    const std::vector<bool> cluster = ChooseEndpoints(candidates, false);
    const std::vector<bool> local = ChooseEndpoints(candidates, true);
    std::vector<MaglevKey> keys;
    std::vector<uint32_t> cluster_members, local_members;
    keys.reserve(candidates.size());
    cluster_members.reserve(candidates.size());
    out.backends.reserve(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (!cluster[i] && !local[i]) continue;
      if (keys.size() == abi::kMaxBackendsPerServicePort) {
        Warn(id, port_label, std::to_string(abi::kMaxBackendsPerServicePort) +
                                      " endpoints (by address) are load-balanced, the others get no traffic");
        break;
      }
      const Candidate& candidate = candidates[i].candidate;
      const Address& address = candidates[i].address;
      uint8_t flags = 0;
      if (candidate.local) flags |= abi::kBackendLocal;
      if (!candidate.ready && candidate.terminating) flags |= abi::kBackendTerminating;
      const uint32_t index = static_cast<uint32_t>(keys.size());
      if (cluster[i]) cluster_members.push_back(index);
      if (local[i]) local_members.push_back(index);
      keys.push_back(MaglevKeyOf(address.first, address.second));
      out.backends.push_back(abi::BackendRecord{address.first, address.second, flags, 0});
    }
    out.record.backend_count = static_cast<uint32_t>(keys.size());
    AddMaglevTables(keys, cluster_members, local_members, out);
  }

  const NodeImage& node_;
  const PortsByName* previous_;
};

// The assembled port, taking the draft's tables (the draft keeps the
// frontends it wants for later contention checks). Done on the compiling
// threads: a full resync assembles every port.
std::shared_ptr<CompiledServicePort> AssemblePort(CompiledServicePort& draft) {
  auto port = std::make_shared<CompiledServicePort>();
  port->name = draft.name;
  port->record = draft.record;
  port->frontends = draft.frontends;
  port->backends = std::move(draft.backends);
  port->maglev = std::move(draft.maglev);
  port->source_ranges = std::move(draft.source_ranges);
  port->maglev_members = std::move(draft.maglev_members);
  port->local_maglev_members = std::move(draft.local_maglev_members);
  port->maglev_seed = draft.maglev_seed;
  return port;
}

uint64_t FrontendKey(const abi::FrontendRecord& frontend) {
  return (static_cast<uint64_t>(frontend.ipv4) << 24) | (static_cast<uint64_t>(frontend.port) << 8) | frontend.protocol;
}

// EndpointSlice::ServiceName() without its two allocations (the label key
// built for the lookup, the copy returned): a full resync asks every slice.
const std::string& SliceServiceName(const EndpointSlice& slice) {
  static const std::string kKey = k8s::kServiceNameLabel;
  static const std::string kNone;
  auto label = slice.meta.labels.find(kKey);
  return label == slice.meta.labels.end() ? kNone : label->second;
}

template <class Map>
void DiffKeys(const Map& before, const Map& after, std::set<NamespacedName>& out) {
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      out.insert(b->first);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      out.insert(a->first);
      ++a;
    } else {
      if (!(b->second == a->second)) out.insert(a->first);
      ++a;
      ++b;
    }
  }
}

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
  ServicesModel model;
  model.Rebuild(state, node, options);
  return model.Compilation();
}

ServicesChanges DiffServiceInputs(const k8s::ClusterState& before, const k8s::ClusterState& after) {
  ServicesChanges changes;
  DiffKeys(before.services, after.services, changes.services);
  DiffKeys(before.endpoint_slices, after.endpoint_slices, changes.endpoint_slices);
  DiffKeys(before.pods, after.pods, changes.pods);
  return changes;
}

void ServicesModel::IndexSlices(const k8s::ClusterState& state) {
  slice_service_.clear();
  service_slices_.clear();
  for (const auto& [id, slice] : state.endpoint_slices) {
    const std::string& service = SliceServiceName(slice);
    if (service.empty()) continue;
    slice_service_[id] = NamespacedName{id.namespace_, service};
    service_slices_[NamespacedName{id.namespace_, service}].insert(id);
  }
}

ServicesModel::Fragment ServicesModel::CompileOwner(const k8s::ClusterState& state, const OwnerKey& owner) const {
  FragmentCompiler compiler(node_, &ports_);
  if (owner.first == 0) {
    auto service = state.services.find(owner.second);
    if (service != state.services.end() && compiler.Programmable(owner.second, service->second)) {
      std::vector<const EndpointSlice*> slices;
      if (auto found = service_slices_.find(owner.second); found != service_slices_.end())
        for (const NamespacedName& slice_id : found->second)
          if (auto slice = state.endpoint_slices.find(slice_id); slice != state.endpoint_slices.end())
            slices.push_back(&slice->second);
      for (const ServicePort& port : service->second.ports)
        compiler.AddServicePort(owner.second, service->second, port, slices);
    }
  } else if (auto pod = state.pods.find(owner.second); pod != state.pods.end()) {
    compiler.AddHostPorts(owner.second, pod->second);
  }
  Fragment fragment;
  fragment.drafts.reserve(compiler.drafts.size());
  fragment.port_names.reserve(compiler.drafts.size());
  for (FragmentCompiler::Draft& draft : compiler.drafts) {
    fragment.port_names.push_back(draft.port.name);
    std::shared_ptr<CompiledServicePort> assembled = AssemblePort(draft.port);
    fragment.drafts.push_back(PortDraft{std::move(draft.port), std::move(draft.id_key), std::move(draft.port_label),
                                        draft.owner, std::move(assembled)});
  }
  fragment.warnings = std::move(compiler.warnings);
  fragment.maglev_built = compiler.maglev_built;
  fragment.maglev_reused = compiler.maglev_reused;
  return fragment;
}

std::vector<ServicesModel::Fragment> ServicesModel::CompileOwners(const k8s::ClusterState& state,
                                                                  const std::vector<OwnerKey>& owners) const {
  std::vector<Fragment> fragments(owners.size());
  // Below a few hundred owners a thread costs more than it saves.
  constexpr size_t kOwnersPerThread = 256, kChunk = 32;
  const unsigned threads =
      static_cast<unsigned>(std::min<size_t>(threads_, std::max<size_t>(1, owners.size() / kOwnersPerThread)));
  // Owners are claimed in chunks: Services differ a lot in size.
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> failures(threads);
  auto work = [&](unsigned thread) {
    try {
      for (size_t first; (first = next.fetch_add(kChunk, std::memory_order_relaxed)) < owners.size();)
        for (size_t i = first; i < std::min(first + kChunk, owners.size()); ++i)
          fragments[i] = CompileOwner(state, owners[i]);
    } catch (...) {  // e.g. bad_alloc: the caller's to handle, as with one thread
      failures[thread] = std::current_exception();
      next.store(owners.size(), std::memory_order_relaxed);
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (unsigned i = 1; i < threads; ++i) helpers.emplace_back(work, i);
    work(0);
  }  // joined
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
  return fragments;
}

void ServicesModel::CountMaglevTables(const std::vector<Fragment>& compiled) {
  maglev_built_ = maglev_reused_ = 0;
  for (const Fragment& fragment : compiled) {
    maglev_built_ += fragment.maglev_built;
    maglev_reused_ += fragment.maglev_reused;
  }
}

void ServicesModel::Place(std::shared_ptr<CompiledServicePort> port, uint32_t id) {
  port->record.id = id;
  by_id_[id] = port;
  ports_[port->name] = std::move(port);
}

uint32_t ServicesModel::NewId(const std::string& id_key) {
  uint32_t id = ServicePortHashId(id_key);
  for (uint32_t attempt = 1; taken_ids_.count(id); ++attempt) id = ServicePortHashId(id_key + "#" + std::to_string(attempt));
  taken_ids_.insert(id);
  return id;
}

void ServicesModel::Rebuild(const k8s::ClusterState& state, const NodeImage& node, const ServicesCompileOptions& options) {
  built_ = true;
  node_ = node;
  threads_ = options.threads != 0 ? options.threads
                                  : std::clamp(std::thread::hardware_concurrency(), 1u, kMaxCompileThreads);
  IndexSlices(state);
  fragments_.clear();
  std::vector<OwnerKey> owners;
  owners.reserve(state.services.size() + state.pods.size());
  for (const auto& [id, service] : state.services) owners.emplace_back(0, id);
  for (const auto& [id, pod] : state.pods) owners.emplace_back(1, id);
  std::vector<Fragment> compiled = CompileOwners(state, owners);
  CountMaglevTables(compiled);
  for (size_t i = 0; i < owners.size(); ++i) {
    // A Pod without hostPorts compiles to nothing, and nothing is kept for it.
    if (!compiled[i].drafts.empty() || (owners[i].first == 0 && !compiled[i].warnings.empty()))
      fragments_.emplace_hint(fragments_.end(), owners[i], std::move(compiled[i]));
  }
  AssembleAll(options.previous_ids);
  last_warnings_ = Warnings();
}

// Frontends go to the first Service (in name order, Services before hostPorts)
// that wants them; IDs: previous ones first (they are live in conntrack), then
// hashes in id-key order; a collision re-hashes "key#1", "key#2", ...
void ServicesModel::AssembleAll(const std::map<std::string, uint32_t>& previous_ids) {
  std::unordered_map<std::string, std::shared_ptr<const CompiledServicePort>> previous_ports = std::move(ports_);
  const PortsById previous_by_id = std::move(by_id_);
  ports_.clear();
  by_id_.clear();
  taken_ids_.clear();
  frontend_owner_.clear();
  contested_frontends_.clear();
  std::vector<std::pair<PortDraft*, Fragment*>> drafts;
  for (auto& [owner, fragment] : fragments_) {
    fragment.conflict_warnings.clear();
    for (PortDraft& draft : fragment.drafts) drafts.emplace_back(&draft, &fragment);
  }
  std::vector<std::vector<abi::FrontendRecord>> kept(drafts.size());
  for (size_t i = 0; i < drafts.size(); ++i) {
    PortDraft& draft = *drafts[i].first;
    for (const abi::FrontendRecord& frontend : draft.port.frontends) {
      auto [it, inserted] = frontend_owner_.try_emplace(FrontendKey(frontend), draft.port.name);
      if (inserted) {
        kept[i].push_back(frontend);
        continue;
      }
      contested_frontends_.insert(FrontendKey(frontend));
      drafts[i].second->conflict_warnings.push_back(
          "Service " + draft.owner.ToString() + ": port " + draft.port_label + ": frontend " +
          k8s::Ipv4ToString(frontend.ipv4) + ":" + std::to_string(frontend.port) + " already belongs to " + it->second +
          "; skipped");
    }
  }
  std::vector<uint32_t> ids(drafts.size(), 0);
  std::vector<size_t> fresh;
  for (size_t i = 0; i < drafts.size(); ++i) {
    auto it = previous_ids.find(drafts[i].first->port.name);
    if (it != previous_ids.end() && it->second != 0 && taken_ids_.insert(it->second).second)
      ids[i] = it->second;
    else
      fresh.push_back(i);
  }
  std::sort(fresh.begin(), fresh.end(),
            [&](size_t a, size_t b) { return drafts[a].first->id_key < drafts[b].first->id_key; });
  for (size_t i : fresh) ids[i] = NewId(drafts[i].first->id_key);
  for (size_t i = 0; i < drafts.size(); ++i) {
    auto port = std::move(drafts[i].first->assembled);
    port->frontends = std::move(kept[i]);
    Place(std::move(port), ids[i]);
  }
  // Dirty: what differs from before (the base may be older still: the
  // previous dirty ids are kept).
  for (const auto& [name, port] : previous_ports) {
    auto now = ports_.find(name);
    if (now == ports_.end() || !(*now->second == *port)) MarkDirty(port->record.id, previous_by_id);
  }
  for (const auto& [name, port] : ports_)
    if (!previous_ports.count(name)) MarkDirty(port->record.id, previous_by_id);
}

void ServicesModel::MarkDirty(uint32_t id, const PortsById& as_of_base) {
  if (!dirty_ids_.insert(id).second) return;  // the base's port was taken then
  auto found = as_of_base.find(id);
  base_of_dirty_[id] = found == as_of_base.end() ? nullptr : found->second;
}

bool ServicesModel::Update(const k8s::ClusterState& state, const ServicesChanges& changes) {
  if (!built_) return false;
  // Sorted and made unique below (a full resync names every owner: no tree).
  std::vector<OwnerKey> owners;
  owners.reserve(changes.services.size() + changes.endpoint_slices.size() + changes.pods.size());
  for (const NamespacedName& id : changes.services) owners.emplace_back(0, id);
  for (const NamespacedName& id : changes.pods) owners.emplace_back(1, id);
  // Many changed slices (a full resync): walk the state's sorted slices
  // along the sorted changes instead of a tree search each.
  const bool walk_slices = changes.endpoint_slices.size() * 16 > state.endpoint_slices.size();
  auto walked = state.endpoint_slices.begin();
  auto find_slice = [&](const NamespacedName& id) {
    if (!walk_slices) return state.endpoint_slices.find(id);
    while (walked != state.endpoint_slices.end() && walked->first < id) ++walked;
    return walked != state.endpoint_slices.end() && walked->first == id ? walked : state.endpoint_slices.end();
  };
  static const std::string kNoService;
  for (const NamespacedName& id : changes.endpoint_slices) {
    auto old = slice_service_.find(id);
    auto slice = find_slice(id);
    const std::string& service_name = slice == state.endpoint_slices.end() ? kNoService : SliceServiceName(slice->second);
    if (old != slice_service_.end()) {
      owners.emplace_back(0, old->second);
      if (old->second.name == service_name) continue;  // still its Service's: the index stands
      service_slices_[old->second].erase(id);
      slice_service_.erase(old);
    }
    if (service_name.empty()) continue;
    const NamespacedName service{id.namespace_, service_name};
    slice_service_[id] = service;
    service_slices_[service].insert(id);
    owners.emplace_back(0, service);
  }
  if (!std::is_sorted(owners.begin(), owners.end())) std::sort(owners.begin(), owners.end());
  owners.erase(std::unique(owners.begin(), owners.end()), owners.end());
  auto rebuild = [&] {
    ServicesCompileOptions options{Ids(), threads_};
    Rebuild(state, node_, options);
    return false;
  };
  // New fragments first: nothing changes until they are known to fit.
  const std::vector<OwnerKey>& ordered = owners;
  std::vector<Fragment> compiled = CompileOwners(state, ordered);
  CountMaglevTables(compiled);
  // Each owner's fragment before, looked up once (a full resync names all of
  // them: walk both sorted maps together then).
  std::vector<std::map<OwnerKey, Fragment>::iterator> previous(ordered.size(), fragments_.end());
  if (ordered.size() * 16 > fragments_.size()) {
    auto walk = fragments_.begin();
    for (size_t i = 0; i < ordered.size(); ++i) {
      while (walk != fragments_.end() && walk->first < ordered[i]) ++walk;
      if (walk != fragments_.end() && walk->first == ordered[i]) previous[i] = walk;
    }
  } else {
    for (size_t i = 0; i < ordered.size(); ++i) previous[i] = fragments_.find(ordered[i]);
  }
  auto touches_contested = [&](const Fragment& fragment) {
    for (const PortDraft& draft : fragment.drafts)
      for (const abi::FrontendRecord& frontend : draft.port.frontends)
        if (contested_frontends_.count(FrontendKey(frontend))) return true;
    return false;
  };
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (touches_contested(compiled[i])) return rebuild();
    if (previous[i] != fragments_.end() && touches_contested(previous[i]->second)) return rebuild();
  }
  // Port names of the recompiled owners (their fragments outlive this set).
  std::unordered_set<std::string_view> leaving;
  leaving.reserve(ordered.size() * 16 > fragments_.size() ? ports_.size() : 0);
  for (size_t i = 0; i < ordered.size(); ++i)
    if (previous[i] != fragments_.end())
      leaving.insert(previous[i]->second.port_names.begin(), previous[i]->second.port_names.end());
  std::unordered_set<uint64_t> claimed;
  claimed.reserve(leaving.size());
  for (const Fragment& fragment : compiled)
    for (const PortDraft& draft : fragment.drafts)
      for (const abi::FrontendRecord& frontend : draft.port.frontends) {
        auto holder = frontend_owner_.find(FrontendKey(frontend));
        const bool held_elsewhere = holder != frontend_owner_.end() && leaving.count(holder->second) == 0;
        if (held_elsewhere || !claimed.insert(FrontendKey(frontend)).second) return rebuild();
      }

  // Out with the old ports' frontends ...
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (previous[i] == fragments_.end()) continue;
    for (const std::string& name : previous[i]->second.port_names) {
      auto port = ports_.find(name);
      if (port == ports_.end()) continue;
      for (const abi::FrontendRecord& frontend : port->second->frontends) frontend_owner_.erase(FrontendKey(frontend));
    }
  }
  // ... a port that comes back under its name keeps its id (and its entries,
  // replaced in place) ...
  std::vector<PortDraft*> fresh;
  for (Fragment& fragment : compiled) {
    for (PortDraft& draft : fragment.drafts) {
      auto returning = leaving.find(draft.port.name);
      auto port = returning == leaving.end() ? ports_.end() : ports_.find(draft.port.name);
      if (port == ports_.end()) {
        fresh.push_back(&draft);
        continue;
      }
      const uint32_t id = port->second->record.id;
      MarkDirty(id);
      draft.assembled->record.id = id;
      by_id_[id] = draft.assembled;
      port->second = std::move(draft.assembled);
      leaving.erase(returning);
    }
  }
  // ... the others leave (their ids are free again) ...
  for (std::string_view name : leaving) {
    auto port = ports_.find(std::string(name));
    if (port == ports_.end()) continue;
    const uint32_t id = port->second->record.id;
    MarkDirty(id);
    by_id_.erase(id);
    taken_ids_.erase(id);
    ports_.erase(port);
  }
  // ... and new ones come in.
  std::sort(fresh.begin(), fresh.end(), [](const PortDraft* a, const PortDraft* b) { return a->id_key < b->id_key; });
  for (PortDraft* draft : fresh) {
    const uint32_t id = NewId(draft->id_key);
    MarkDirty(id);
    Place(std::move(draft->assembled), id);
  }
  for (const Fragment& fragment : compiled)
    for (const PortDraft& draft : fragment.drafts)
      for (const abi::FrontendRecord& frontend : draft.port.frontends)
        frontend_owner_[FrontendKey(frontend)] = draft.port.name;
  last_warnings_.clear();
  for (size_t i = 0; i < ordered.size(); ++i) {
    Fragment& fragment = compiled[i];
    last_warnings_.insert(last_warnings_.end(), fragment.warnings.begin(), fragment.warnings.end());
    const bool keep = !fragment.drafts.empty() || !fragment.warnings.empty();
    if (previous[i] != fragments_.end()) {
      if (keep) previous[i]->second = std::move(fragment);
      else fragments_.erase(previous[i]);
    } else if (keep) {
      fragments_.emplace(ordered[i], std::move(fragment));
    }
  }
  return true;
}

ServicesCompilation ServicesModel::Compilation() const {
  ServicesCompilation out;
  size_t backends = 0, maglev = 0, frontends = 0, ranges = 0;
  for (const auto& [name, port] : ports_) {
    backends += port->backends.size();
    maglev += port->maglev.size();
    frontends += port->frontends.size();
    ranges += port->source_ranges.size();
  }
  out.image.service_ports.reserve(ports_.size());
  out.image.service_port_names.reserve(ports_.size());
  out.image.backends.reserve(backends);
  out.image.maglev.reserve(maglev);
  out.image.frontends.reserve(frontends);
  out.image.source_ranges.reserve(ranges);
  for (const auto& [owner, fragment] : fragments_) {
    out.warnings.insert(out.warnings.end(), fragment.warnings.begin(), fragment.warnings.end());
    out.warnings.insert(out.warnings.end(), fragment.conflict_warnings.begin(), fragment.conflict_warnings.end());
    for (const std::string& name : fragment.port_names) ports_.at(name)->AppendTo(out.image);
  }
  return out;
}

std::vector<std::string> ServicesModel::Warnings() const {
  std::vector<std::string> warnings;
  for (const auto& [owner, fragment] : fragments_) {
    warnings.insert(warnings.end(), fragment.warnings.begin(), fragment.warnings.end());
    warnings.insert(warnings.end(), fragment.conflict_warnings.begin(), fragment.conflict_warnings.end());
  }
  return warnings;
}

std::map<std::string, uint32_t> ServicesModel::Ids() const {
  std::map<std::string, uint32_t> ids;
  for (const auto& [name, port] : ports_) ids.emplace(name, port->record.id);
  return ids;
}

void ServicesModel::MarkBase(uint64_t generation) {
  has_base_ = true;
  base_generation_ = generation;
  base_port_count_ = by_id_.size();
  dirty_ids_.clear();
  base_of_dirty_.clear();
}

void ServicesModel::AdoptBase(const ServicesImage& image) {
  has_base_ = true;
  base_generation_ = image.generation;
  PortsById base;
  std::vector<std::vector<abi::FrontendRecord>> frontends = FrontendsByServicePort(image);
  for (uint32_t i = 0; i < image.service_ports.size(); ++i) {
    auto port = std::make_shared<CompiledServicePort>(ServicePortTables::FromImage(image, i, std::move(frontends[i])));
    base[port->record.id] = std::move(port);
  }
  base_port_count_ = base.size();
  dirty_ids_.clear();
  base_of_dirty_.clear();
  for (const auto& [id, port] : base) {
    auto now = by_id_.find(id);
    if (now == by_id_.end() || !(*now->second == *port)) MarkDirty(id, base);
  }
  for (const auto& [id, port] : by_id_)
    if (!base.count(id)) MarkDirty(id, base);
}

size_t ServicesModel::DeltaSize() const { return dirty_ids_.size(); }

ServicesDelta ServicesModel::Delta() const {
  ServicesDelta delta;
  delta.base_generation = base_generation_;
  delta.base_service_ports = static_cast<uint32_t>(base_port_count_);
  for (uint32_t id : dirty_ids_) {
    auto now = by_id_.find(id);
    const std::shared_ptr<const CompiledServicePort>& before = base_of_dirty_.at(id);
    if (now == by_id_.end()) {
      if (before) delta.removed_ids.push_back(id);
      continue;
    }
    if (before && *before == *now->second) continue;
    now->second->AppendTo(delta.changed);
  }
  return delta;
}
}  // namespace np::compile
