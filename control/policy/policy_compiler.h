// NetworkPolicies -> the policy section image (common/policy_image.h), with
// networking.k8s.io/v1 semantics.
//
// Inputs: Pods (labels, status.podIP, containerPorts, nodeName), Namespaces
// (labels; a namespace without a Namespace object gets only
// kubernetes.io/metadata.name=<name>, which the API server always sets) and
// NetworkPolicies, as decoded by control/k8s.
//
// Identities: pods are grouped by (namespace, labels, named container ports)
// -> one identity (see policy_image.h for why named ports are in the key).
// Only pods with an IPv4 podIP, not in phase Succeeded/Failed and whose IP is
// not a node address (hostNetwork pods share the node's IP and are treated
// as the host) get an entry. Ids are kept from `previous_identities` (read
// back from the applied image) and new ones are handed out in key order
// after the highest id in use, so a first compilation numbers each
// namespace's identities contiguously (ranges in the classifier).
//
// Semantics:
//  - A policy selects the pods of its namespace matched by spec.podSelector.
//    A pod is isolated for a direction when a policy selecting it lists that
//    type in policyTypes (after defaulting, done by the decoder). Rules of a
//    direction the policy does not list are ignored, as the API says.
//  - Peers: podSelector alone = pods of the policy's namespace;
//    namespaceSelector alone = every pod of the matching namespaces; both =
//    pods matching podSelector in the matching namespaces (AND); several
//    peers in one rule = OR. ipBlock = the CIDR minus its excepts (split into
//    prefixes), matched on the raw peer address - pod addresses included
//    (as Calico does; the API leaves it open). IPv6 ipBlocks are dropped with
//    a warning. A rule with no peers matches every peer; with no ports,
//    every protocol and port.
//  - Ports: number, number..endPort, or every port of the protocol. A named
//    port resolves against the DESTINATION's containerPorts with the same
//    name and protocol: for ingress the subject identity, for egress the
//    peer identity; an egress named port with an ipBlock peer or no peers
//    matches pod identities that define the name (and, for ipBlock, whose
//    address is in the block); a destination without the name matches
//    nothing. One rule record per distinct resolved number.
//  - Rules are compiled for subjects that are ENFORCED here: identities with
//    a pod on this node (or every identity with enforce_all_pods, which the
//    probe uses). A pod moving onto this node with a new identity therefore
//    changes the rules; one with an identity already enforced here does not.
//  - Exemptions (a pod to itself, a pod and its own node) are the
//    dataplane's, not rules: see dataplane/policy/policy_tables.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/policy_image.h"
#include "common/section_image.h"
#include "control/k8s/cluster_state.h"

namespace np::policy {

struct PolicyCompileOptions {
  std::map<std::string, uint32_t> previous_identities;  // identity name -> id
  bool enforce_all_pods = false;  // compile every pod as if it were on this node
};

struct PolicyCompilation {
  PolicyImage image;  // generation 0: the publisher sets it
  std::vector<std::string> warnings;
  std::map<k8s::NamespacedName, uint32_t> pod_identity;  // pods that got an identity
};

PolicyCompilation CompilePolicies(const k8s::ClusterState& state, const NodeImage& node,
                                  const PolicyCompileOptions& options = {});

// The map previous_identities wants, from an image.
std::map<std::string, uint32_t> PolicyIdentityIds(const PolicyImage& image);

// CIDR minus excepts, as the fewest prefixes (excepts outside are ignored).
std::vector<abi::CidrRecord> SubtractCidrs(abi::CidrRecord cidr, const std::vector<abi::CidrRecord>& excepts);

}  // namespace np::policy
