// The policy section image (SectionKind::kPolicy): NetworkPolicy compiled
// over identities, encoded, decoded and validated like the node and services
// sections (section_image.h). Plain C++, no DPDK: fuzzable on bytes.
//
// Model (Cilium-style identities)
//  - An identity is a numeric id for a group of pods that every NetworkPolicy
//    treats alike: same namespace (hence same namespace labels), same pod
//    labels and same named container ports (name/protocol -> number). Named
//    ports are part of the key so that a named port resolves per identity
//    exactly as it would per destination pod: pods of one template share an
//    identity, and a pod coming or going with an existing identity changes
//    only the IP -> identity table, never the rules (hence never the ACL).
//  - Reserved identities (shm_abi.h): host (this node's addresses: traffic
//    between a pod and its node is always allowed), world (outside the
//    cluster CIDR), unknown-cluster (in the cluster CIDR but no known pod,
//    e.g. a pod the control plane has not seen yet: matched by ipBlocks
//    only). Pod identities start at kFirstPodIdentity and are stable across
//    compilations (the compiler keeps previous ids).
//  - kIpEntries maps every known pod IPv4 address (every node, not only this
//    one) and this node's addresses to an identity; flags mark this node's
//    pods, whose policies this node enforces (egress of its sources,
//    ingress of its destinations).
//  - Each identity carries its isolation per direction (selected by some
//    policy with that policyType). A direction that is not isolated allows
//    everything; an isolated one allows only what some rule allows (union
//    of policies: all rules are allow rules, so rule order never matters).
//  - kRules are the compact rule sets: one record per (policy, direction,
//    rule, port entry, resolution of a named port), over identity SETS
//    (kIdentityRefs ranges) and CIDR sets (kCidrs ranges, ipBlock minus
//    its excepts already subtracted). The dataplane expands each record into
//    |subjects| x max(1,|peers|) x max(1,|cidrs|) classifier rules
//    (contiguous identity ids coalesce into ranges); AclRuleCount() is that
//    expansion, bounded by kMaxPolicyAclRules.
//  - Addresses and ports in host byte order, IPv4 only (IPv6 ipBlocks are
//    dropped by the compiler with a warning: they cannot match IPv4 traffic).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/shm_abi.h"

namespace np {

// An image whose rules expand to more classifier rules than this is refused
// (rte_acl memory grows with the rule count; 4M rules is several GB).
inline constexpr uint64_t kMaxPolicyAclRules = 4u << 20;

struct PolicyImage {
  uint64_t generation = 0;
  abi::PolicyInfo info{};
  std::vector<abi::IdentityRecord> identities;  // pod identities only, ids unique
  std::vector<std::string> identity_names;
  std::vector<abi::IpIdentityRecord> ip_entries;  // sorted by ipv4, unique
  std::vector<abi::PolicyRecord> policies;
  std::vector<std::string> policy_names;
  std::vector<abi::PolicyRuleRecord> rules;
  std::vector<abi::IdentityRef> identity_refs;
  std::vector<abi::CidrRecord> cidrs;

  // crc32 of the rule tables the classifier is built from (rules, identity
  // sets, CIDRs): with equal digests (and the same identity partitions,
  // AclContexts::Serves) the rte_acl contexts are kept as a whole.
  uint32_t AclDigest() const;
  // Classifier rules the dataplane builds from `rules` (before coalescing).
  uint64_t AclRuleCount() const;
  const abi::IdentityRecord* FindIdentity(uint32_t id) const;  // linear: slow path only
};

Result<PolicyImage> DecodePolicySection(const uint8_t* data, size_t size, const uint32_t* expected_crc);
std::vector<uint8_t> EncodePolicySection(const PolicyImage& image);

}  // namespace np
