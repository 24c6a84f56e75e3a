#include "control/policy/policy_compiler.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "control/policy/selector.h"

namespace np::policy {
namespace {

using k8s::NamespacedName;
using k8s::NetworkPolicy;
using k8s::NetworkPolicyPeer;
using k8s::NetworkPolicyRule;
using k8s::Protocol;

constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

uint8_t IpProtocol(Protocol protocol) {
  switch (protocol) {
    case Protocol::kUDP: return abi::kProtoUdp;
    case Protocol::kSCTP: return abi::kProtoSctp;
    case Protocol::kTCP: break;
  }
  return abi::kProtoTcp;
}

struct Identity {
  std::string name;
  std::string namespace_;
  Labels labels;
  const Labels* namespace_labels = nullptr;
  std::map<std::string, std::pair<Protocol, uint16_t>> named_ports;  // name -> protocol, number
  uint32_t id = 0;
  bool enforced = false;
  uint8_t flags = 0;

  std::optional<uint16_t> Resolve(const std::string& port_name, Protocol protocol) const {
    auto it = named_ports.find(port_name);
    if (it == named_ports.end() || it->second.first != protocol) return std::nullopt;
    return it->second.second;
  }
};

std::string IdentityName(const std::string& namespace_, const Labels& labels,
                         const std::map<std::string, std::pair<Protocol, uint16_t>>& ports) {
  std::string name = namespace_ + "/";
  bool first = true;
  for (const auto& [key, value] : labels) {
    name += (first ? "" : ",") + key + "=" + value;
    first = false;
  }
  if (!ports.empty()) {
    name += ";";
    first = true;
    for (const auto& [port_name, port] : ports) {
      name += (first ? "" : ",") + port_name + "/" + k8s::ProtocolName(port.first) + "=" + std::to_string(port.second);
      first = false;
    }
  }
  return name;
}

// One port entry of a rule after defaulting.
struct PortEntry {
  uint8_t protocol = 0;  // 0: every protocol
  uint16_t min = 0;
  uint16_t max = 0xffff;
  std::optional<std::string> name;  // a named port (min/max unset)
  Protocol named_protocol = Protocol::kTCP;
};

using IdSet = std::vector<uint32_t>;  // sorted, unique

class Compiler {
 public:
  Compiler(const k8s::ClusterState& state, const NodeImage& node, const PolicyCompileOptions& options)
      : state_(state), node_(node), options_(options) {}

  PolicyCompilation Run() {
    CollectNamespaces();
    CollectHostAddresses();
    CollectPods();
    AssignIds();
    for (const auto& [id, policy] : state_.network_policies) CompilePolicy(id, policy);
    EmitIdentities();
    out_.image.info.cluster_cidr = node_.info.cluster_cidr & k8s::Ipv4Mask(node_.info.cluster_cidr_len);
    out_.image.info.cluster_cidr_len = node_.info.cluster_cidr_len;
    return std::move(out_);
  }

 private:
  void CollectNamespaces() {
    for (const auto& [id, ns] : state_.namespaces) {
      Labels labels = ns.meta.labels;
      labels.emplace(kNamespaceNameLabel, id.name);
      namespace_labels_[id.name] = std::move(labels);
      if (ns.policy_audit) audited_namespaces_.insert(id.name);
    }
  }

  const Labels* NamespaceLabels(const std::string& name) {
    auto [it, inserted] = namespace_labels_.try_emplace(name);
    if (inserted) it->second.emplace(kNamespaceNameLabel, name);
    return &it->second;
  }

  void CollectHostAddresses() {
    const uint32_t count = std::min(node_.info.node_ipv4_count, abi::kMaxNodeAddresses);
    for (uint32_t i = 0; i < count; ++i) host_addresses_.insert(node_.info.node_ipv4[i]);
    if (node_.info.pod_gateway_ipv4 != 0) host_addresses_.insert(node_.info.pod_gateway_ipv4);
    for (const auto& [id, node] : state_.nodes)
      for (const k8s::NodeAddress& address : node.addresses)
        if (std::optional<k8s::IpAddress> ip = k8s::ParseIp(address.address); ip && ip->is_v4())
          node_addresses_.insert(ip->v4);
  }

  void CollectPods() {
    // Running pods first: when two pods claim one address (a finished pod
    // not yet collected), the running one keeps it.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& [id, pod] : state_.pods) {
        if ((pod.phase == "Running") != (pass == 0)) continue;
        if (pod.phase == "Succeeded" || pod.phase == "Failed") continue;
        if (!pod.pod_ip || !pod.pod_ip->is_v4()) continue;
        const uint32_t ip = pod.pod_ip->v4;
        if (host_addresses_.count(ip) || node_addresses_.count(ip)) continue;  // hostNetwork
        if (auto taken = pod_ips_.find(ip); taken != pod_ips_.end()) {
          out_.warnings.push_back("Pod " + id.ToString() + ": address " + k8s::Ipv4ToString(ip) +
                                  " already belongs to Pod " + taken->second.pod.ToString() + "; ignored");
          continue;
        }
        std::map<std::string, std::pair<Protocol, uint16_t>> ports;
        for (const k8s::Container& container : pod.containers)
          for (const k8s::ContainerPort& port : container.ports)
            if (!port.name.empty()) ports.try_emplace(port.name, port.protocol, port.container_port);
        const std::string name = IdentityName(id.namespace_, pod.meta.labels, ports);
        auto [it, inserted] = identities_.try_emplace(name);
        Identity& identity = it->second;
        if (inserted) {
          identity.name = name;
          identity.namespace_ = id.namespace_;
          identity.labels = pod.meta.labels;
          identity.namespace_labels = NamespaceLabels(id.namespace_);
          identity.named_ports = std::move(ports);
          if (audited_namespaces_.count(id.namespace_)) identity.flags |= abi::kIdentityPolicyAudit;
        }
        const bool local = options_.enforce_all_pods || (!node_.node_name.empty() && pod.node_name == node_.node_name);
        identity.enforced |= local;
        pod_ips_.emplace(ip, PodIp{&identity, local, id});
      }
    }
  }

  void AssignIds() {
    std::set<uint32_t> used;
    for (auto& [name, identity] : identities_) {
      auto it = options_.previous_identities.find(name);
      if (it != options_.previous_identities.end() && it->second >= abi::kFirstPodIdentity &&
          used.insert(it->second).second)
        identity.id = it->second;
    }
    uint32_t next = used.empty() ? abi::kFirstPodIdentity : *used.rbegin() + 1;
    for (auto& [name, identity] : identities_) {
      if (identity.id != 0) continue;
      while (used.count(next)) ++next;
      identity.id = next;
      used.insert(next++);
    }
    for (auto& [name, identity] : identities_) all_.push_back(&identity);
    std::sort(all_.begin(), all_.end(), [](const Identity* a, const Identity* b) { return a->id < b->id; });
    for (Identity* identity : all_) by_namespace_[identity->namespace_].push_back(identity);

    for (uint32_t ip : host_addresses_) out_.image.ip_entries.push_back({ip, abi::kIdentityHost, 0, {}});
    for (const auto& [ip, pod] : pod_ips_) {
      out_.image.ip_entries.push_back({ip, pod.identity->id, static_cast<uint8_t>(pod.local ? abi::kIpLocalPod : 0), {}});
      out_.pod_identity[pod.pod] = pod.identity->id;
    }
    std::sort(out_.image.ip_entries.begin(), out_.image.ip_entries.end(),
              [](const abi::IpIdentityRecord& a, const abi::IpIdentityRecord& b) { return a.ipv4 < b.ipv4; });
  }

  void EmitIdentities() {
    for (const Identity* identity : all_) {
      const uint8_t flags = identity->flags | (identity->enforced ? abi::kIdentityEnforced : 0);
      out_.image.identities.push_back({identity->id, flags, {}, {}});
      out_.image.identity_names.push_back(identity->name);
    }
  }

  bool PeerMatches(const NetworkPolicyPeer& peer, const std::string& policy_namespace, const Identity& identity) {
    if (peer.namespace_selector) {
      if (!Matches(*peer.namespace_selector, *identity.namespace_labels)) return false;
    } else if (identity.namespace_ != policy_namespace) {
      return false;
    }
    return !peer.pod_selector || Matches(*peer.pod_selector, identity.labels);
  }

  void CompilePolicy(const NamespacedName& id, const NetworkPolicy& policy) {
    const uint32_t policy_index = static_cast<uint32_t>(out_.image.policies.size());
    const uint8_t types = (policy.affects_ingress ? abi::kPolicyIngress : 0) | (policy.affects_egress ? abi::kPolicyEgress : 0);
    out_.image.policies.push_back({{}, types, {}});
    out_.image.policy_names.push_back(id.ToString());

    // Subjects come from the policy's own namespace only (as the API says):
    // every rule record's subjects share its policy's namespace, which the
    // dataplane relies on to split its rte_acl contexts by namespace
    // (dataplane/policy/acl_classifier.h, "Partitions").
    std::vector<Identity*> selected;
    for (Identity* identity : InNamespace(id.namespace_))
      if (Matches(policy.pod_selector, identity->labels)) {
        if (policy.affects_ingress) identity->flags |= abi::kIdentityIsolatedIngress;
        if (policy.affects_egress) identity->flags |= abi::kIdentityIsolatedEgress;
        if (identity->enforced) selected.push_back(identity);
      }
    if (selected.empty()) return;
    if (policy.affects_ingress)
      for (size_t i = 0; i < policy.ingress.size(); ++i)
        CompileRule(id, policy_index, static_cast<uint16_t>(std::min<size_t>(i, 0xffff)), abi::PolicyDirection::kIngress,
                    policy.ingress[i], selected);
    if (policy.affects_egress)
      for (size_t i = 0; i < policy.egress.size(); ++i)
        CompileRule(id, policy_index, static_cast<uint16_t>(std::min<size_t>(i, 0xffff)), abi::PolicyDirection::kEgress,
                    policy.egress[i], selected);
  }

  struct Rule {
    uint32_t policy_index;
    uint16_t rule_index;
    abi::PolicyDirection direction;
  };

  void CompileRule(const NamespacedName& id, uint32_t policy_index, uint16_t rule_index,
                   abi::PolicyDirection direction, const NetworkPolicyRule& rule, const std::vector<Identity*>& subjects) {
    const Rule where{policy_index, rule_index, direction};
    const bool any_peer = rule.peers.empty();
    std::vector<Identity*> peer_identities;
    std::vector<abi::CidrRecord> cidrs;
    // Only the namespaces some peer can select are walked (a peer without a
    // namespaceSelector selects in the policy's own): a policy costs the
    // pods it may select, not every identity of the cluster.
    for (const auto& [namespace_name, identities] : by_namespace_) {
      bool reachable = false;
      for (const NetworkPolicyPeer& peer : rule.peers)
        reachable |= !peer.ip_block && (peer.namespace_selector
                                            ? Matches(*peer.namespace_selector, *identities.front()->namespace_labels)
                                            : namespace_name == id.namespace_);
      if (!reachable) continue;
      for (Identity* identity : identities)
        for (const NetworkPolicyPeer& peer : rule.peers)
          if (!peer.ip_block && PeerMatches(peer, id.namespace_, *identity)) {
            peer_identities.push_back(identity);
            break;
          }
    }
    std::sort(peer_identities.begin(), peer_identities.end(),
              [](const Identity* a, const Identity* b) { return a->id < b->id; });
    for (const NetworkPolicyPeer& peer : rule.peers) {
      if (!peer.ip_block) continue;
      if (!peer.ip_block->cidr.is_v4()) {
        out_.warnings.push_back("NetworkPolicy " + id.ToString() + ": ipBlock " + peer.ip_block->cidr.ToString() +
                                " is IPv6; this dataplane enforces IPv4 only, skipped");
        continue;
      }
      std::vector<abi::CidrRecord> excepts;
      for (const k8s::IpCidr& except : peer.ip_block->except)
        if (except.is_v4()) excepts.push_back({except.address.v4, except.prefix_len, {}});
      for (const abi::CidrRecord& piece :
           SubtractCidrs({peer.ip_block->cidr.address.v4, peer.ip_block->cidr.prefix_len, {}}, excepts))
        cidrs.push_back(piece);
    }
    std::sort(cidrs.begin(), cidrs.end(), [](const abi::CidrRecord& a, const abi::CidrRecord& b) {
      return std::tie(a.prefix, a.prefix_len) < std::tie(b.prefix, b.prefix_len);
    });

    std::vector<PortEntry> ports;
    if (rule.ports.empty()) ports.push_back(PortEntry{});
    for (const k8s::NetworkPolicyPort& port : rule.ports) {
      PortEntry entry;
      entry.protocol = IpProtocol(port.protocol);
      if (port.port && port.port->is_name) {
        entry.name = port.port->name;
        entry.named_protocol = port.protocol;
      } else if (port.port) {
        entry.min = port.port->number;
        entry.max = port.end_port.value_or(port.port->number);
      }
      ports.push_back(entry);
    }

    const IdSet subject_ids = Ids(subjects);
    const IdSet peer_ids = Ids(peer_identities);
    for (const PortEntry& port : ports) {
      if (!port.name) {
        EmitPeers(where, port.protocol, port.min, port.max, subject_ids, any_peer, peer_ids, cidrs);
        continue;
      }
      if (direction == abi::PolicyDirection::kIngress) {
        // The destination is the subject: group subjects by what the name means for them.
        for (const auto& [number, group] : GroupByPort(subjects, *port.name, port.named_protocol))
          EmitPeers(where, port.protocol, number, number, group, any_peer, peer_ids, cidrs);
        continue;
      }
      // Egress: the destination is the peer, which must be a pod defining the name.
      if (any_peer) {
        for (const auto& [number, group] : GroupByPort(all_, *port.name, port.named_protocol))
          Emit(where, port.protocol, number, number, subject_ids, group, std::nullopt);
        continue;
      }
      for (const auto& [number, group] : GroupByPort(peer_identities, *port.name, port.named_protocol))
        Emit(where, port.protocol, number, number, subject_ids, group, std::nullopt);
      if (!cidrs.empty())
        for (const auto& [number, group] : GroupByPort(all_, *port.name, port.named_protocol))
          Emit(where, port.protocol, number, number, subject_ids, group, cidrs);
    }
  }

  static IdSet Ids(const std::vector<Identity*>& identities) {
    IdSet ids;
    for (const Identity* identity : identities) ids.push_back(identity->id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }

  static std::map<uint16_t, IdSet> GroupByPort(const std::vector<Identity*>& identities, const std::string& name,
                                               Protocol protocol) {
    std::map<uint16_t, IdSet> groups;
    for (const Identity* identity : identities)
      if (std::optional<uint16_t> number = identity->Resolve(name, protocol)) groups[*number].push_back(identity->id);
    for (auto& [number, ids] : groups) std::sort(ids.begin(), ids.end());
    return groups;
  }

  // Peers of one rule: any peer, or (identity set) OR (CIDR set).
  void EmitPeers(const Rule& where, uint8_t protocol, uint16_t min, uint16_t max, const IdSet& subjects, bool any_peer,
                 const IdSet& peer_ids, const std::vector<abi::CidrRecord>& cidrs) {
    if (any_peer) return Emit(where, protocol, min, max, subjects, std::nullopt, std::nullopt);
    if (!peer_ids.empty()) Emit(where, protocol, min, max, subjects, peer_ids, std::nullopt);
    if (!cidrs.empty()) Emit(where, protocol, min, max, subjects, std::nullopt, cidrs);
  }

  void Emit(const Rule& where, uint8_t protocol, uint16_t min, uint16_t max, const IdSet& subjects,
            const std::optional<IdSet>& peers, const std::optional<std::vector<abi::CidrRecord>>& cidrs) {
    if (subjects.empty() || (peers && peers->empty()) || (cidrs && cidrs->empty())) return;
    abi::PolicyRuleRecord record{};
    record.policy_index = where.policy_index;
    record.rule_index = where.rule_index;
    record.direction = static_cast<uint8_t>(where.direction);
    record.protocol = protocol;
    record.port_min = protocol == 0 ? 0 : min;
    record.port_max = protocol == 0 ? 0xffff : max;
    std::tie(record.subject_first, record.subject_count) = AddIdSet(subjects);
    if (peers) std::tie(record.peer_first, record.peer_count) = AddIdSet(*peers);
    else record.peer_flags |= abi::kPeerAnyIdentity;
    if (cidrs) std::tie(record.cidr_first, record.cidr_count) = AddCidrSet(*cidrs);
    else record.peer_flags |= abi::kPeerAnyAddress;
    out_.image.rules.push_back(record);
  }

  std::pair<uint32_t, uint32_t> AddIdSet(const IdSet& ids) {
    auto [it, inserted] = id_sets_.try_emplace(ids, static_cast<uint32_t>(out_.image.identity_refs.size()));
    if (inserted) out_.image.identity_refs.insert(out_.image.identity_refs.end(), ids.begin(), ids.end());
    return {it->second, static_cast<uint32_t>(ids.size())};
  }

  std::pair<uint32_t, uint32_t> AddCidrSet(const std::vector<abi::CidrRecord>& cidrs) {
    std::vector<std::pair<uint32_t, uint8_t>> key;
    for (const abi::CidrRecord& cidr : cidrs) key.emplace_back(cidr.prefix, cidr.prefix_len);
    auto [it, inserted] = cidr_sets_.try_emplace(key, static_cast<uint32_t>(out_.image.cidrs.size()));
    if (inserted) out_.image.cidrs.insert(out_.image.cidrs.end(), cidrs.begin(), cidrs.end());
    return {it->second, static_cast<uint32_t>(cidrs.size())};
  }

  struct PodIp {
    Identity* identity;
    bool local;
    NamespacedName pod;
  };

  const k8s::ClusterState& state_;
  const NodeImage& node_;
  const PolicyCompileOptions& options_;
  PolicyCompilation out_;
  std::map<std::string, Labels> namespace_labels_;
  std::set<std::string> audited_namespaces_;  // namespaces annotated with k8s::kPolicyAuditAnnotation
  std::set<uint32_t> host_addresses_;
  std::set<uint32_t> node_addresses_;
  std::map<std::string, Identity> identities_;  // by name
  std::vector<Identity*> all_;                  // by id
  std::map<std::string, std::vector<Identity*>> by_namespace_;  // namespace -> its identities, by id

  const std::vector<Identity*>& InNamespace(const std::string& namespace_name) const {
    static const std::vector<Identity*> kNone;
    auto it = by_namespace_.find(namespace_name);
    return it == by_namespace_.end() ? kNone : it->second;
  }
  std::map<uint32_t, PodIp> pod_ips_;
  std::map<IdSet, uint32_t> id_sets_;
  std::map<std::vector<std::pair<uint32_t, uint8_t>>, uint32_t> cidr_sets_;
};

bool Covers(const abi::CidrRecord& outer, const abi::CidrRecord& inner) {
  return outer.prefix_len <= inner.prefix_len && (inner.prefix & k8s::Ipv4Mask(outer.prefix_len)) == outer.prefix;
}

void Subtract(const abi::CidrRecord& cidr, const std::vector<abi::CidrRecord>& excepts,
              std::vector<abi::CidrRecord>& out) {
  bool overlaps = false;
  for (const abi::CidrRecord& except : excepts) {
    if (Covers(except, cidr)) return;  // wholly excluded
    overlaps |= Covers(cidr, except);
  }
  if (!overlaps) {
    out.push_back(cidr);
    return;
  }
  const uint8_t len = static_cast<uint8_t>(cidr.prefix_len + 1);  // < 32: an except is strictly inside
  Subtract({cidr.prefix, len, {}}, excepts, out);
  Subtract({cidr.prefix | (1u << (32 - len)), len, {}}, excepts, out);
}

}  // namespace

std::vector<abi::CidrRecord> SubtractCidrs(abi::CidrRecord cidr, const std::vector<abi::CidrRecord>& excepts) {
  cidr.prefix &= k8s::Ipv4Mask(cidr.prefix_len);
  std::vector<abi::CidrRecord> out;
  Subtract(cidr, excepts, out);
  return out;
}

PolicyCompilation CompilePolicies(const k8s::ClusterState& state, const NodeImage& node,
                                  const PolicyCompileOptions& options) {
  return Compiler(state, node, options).Run();
}

std::map<std::string, uint32_t> PolicyIdentityIds(const PolicyImage& image) {
  std::map<std::string, uint32_t> ids;
  for (size_t i = 0; i < image.identities.size() && i < image.identity_names.size(); ++i)
    ids[image.identity_names[i]] = image.identities[i].id;
  return ids;
}

}  // namespace np::policy
