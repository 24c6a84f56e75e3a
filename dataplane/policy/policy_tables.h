// The policy snapshot the workers read: IP -> identity map, per-identity
// isolation, and the rte_acl contexts (acl_classifier.h), built by the
// loader from a validated PolicyImage. Immutable once published; swapped
// and reclaimed like ServiceTables (one pointer store, RCU grace period).
//
// Incremental updates: Build(image, previous) keeps previous's rte_acl
// contexts (shared, reference counted) whenever they serve the new image
// (AclContexts::Serves: same AclDigest(), same partitions), i.e. when only
// the IP -> identity table or the isolation flags changed - a pod coming or
// going with an existing identity. Only the map of addresses (O(pods),
// microseconds) is rebuilt then. Otherwise (a label change creating or
// retiring an identity, a policy change) only the contexts of the
// partitions whose rules changed are built; the others are shared
// (acl_classifier.h, "Partitions").
//
// Verdict of a new connection (Check), per flow, IPv4:
//  1. src == dst (a pod reaching itself, directly or hairpinned through its
//     own Service: the worker passes the address before SNAT) -> allow.
//  2. Identities: each address is looked up in the IP map; an unknown one
//     is kIdentityUnknownCluster inside the cluster CIDR, else kIdentityWorld.
//  3. Egress is judged when the SOURCE is a pod of this node whose identity
//     is isolated for egress; ingress when the DESTINATION is a pod of this
//     node isolated for ingress. A pod's traffic with its own node (peer
//     identity host) is never judged. A judged direction allows iff some
//     rule of its context matches (subject, peer identity, peer address,
//     protocol, destination port).
//  4. Allowed iff every judged direction allows.
// What the worker must pass: the source BEFORE SNAT (hairpin, and for
// externalTrafficPolicy Cluster the original client: ipBlocks see the
// client wherever this node knows it) and the destination AFTER DNAT (a
// Service is judged on the chosen backend). When the backend lives on
// another node, that node judges ingress on the SNATed node address (or the
// client with externalTrafficPolicy Local): only this node can see the
// original client. Replies are never classified: conntrack admits them.
//
// Cost per burst of n new flows: 2n AddressMap lookups (one cache line
// each; the subject's ACL partition comes with its address), key building,
// and one rte_acl_classify call for the keys of both directions, plus one
// per overlay route present (acl_classifier.h, "Base and overlays": the
// few keys of overlaid partitions are classified again there). Each call runs
// the widest SIMD method the CPU has (AVX512X32 where the CPU and the
// library have it, else rte_acl's own choice: AVX512X16/AVX2/SSE4.1),
// which picks narrower walks for short calls (fewer than 4 keys: scalar).
#pragma once

#include <cstdint>
#include <memory>

#include "common/policy_image.h"
#include "dataplane/policy/acl_classifier.h"
#include "dataplane/policy/address_map.h"

namespace np::policy {

inline constexpr uint32_t kPolicyBurst = 64;  // flows per rte_acl_classify call
inline constexpr uint32_t kNoRule = kAclNoMatch;

struct FlowQuery {      // host byte order
  uint32_t src_ipv4;    // before SNAT
  uint32_t dst_ipv4;    // after DNAT
  uint16_t dst_port;    // after DNAT; 0 for protocols without ports
  uint8_t protocol;
  uint8_t reserved;
};

enum class Reason : uint8_t {
  kNotJudged = 0,   // neither end is an isolated pod of this node
  kSelf,            // a pod reaching itself
  kHost,            // a pod and its own node
  kAllowedByRule,   // every judged direction matched a rule
  kDeniedIngress,   // the destination is isolated for ingress and no rule matched
  kDeniedEgress,    // the source is isolated for egress and no rule matched
};

struct FlowVerdict {
  bool allowed;
  Reason reason;
  uint32_t src_identity;
  uint32_t dst_identity;
  uint32_t egress_rule;   // image rule index that allowed egress, or kNoRule
  uint32_t ingress_rule;  // image rule index that allowed ingress, or kNoRule
};

class PolicyTables {
 public:
  // Reuses previous's classifier when the rules did not change, and its
  // unchanged contexts otherwise. `acl_partitions`: see acl_classifier.h.
  static Result<std::unique_ptr<PolicyTables>> Build(PolicyImage image, const PolicyTables* previous = nullptr,
                                                     uint32_t acl_partitions = kAclPartitions);

  // The same tables with another classifier for the same image (the
  // loader's background consolidation, acl_consolidator.h): the image is
  // shared, the address map copied (O(pods)). `acl` must have been built
  // from image() with acl().partitions() partitions: the addresses carry
  // their partition.
  std::unique_ptr<PolicyTables> WithClassifier(std::shared_ptr<const AclContexts> acl) const;

  uint64_t generation() const { return generation_; }
  const PolicyImage& image() const { return *image_; }
  // Keeps the image alive for a build on another thread that may outlive these tables.
  const std::shared_ptr<const PolicyImage>& shared_image() const { return image_; }
  const AclContexts& acl() const { return *acl_; }
  const std::shared_ptr<const AclContexts>& shared_acl() const { return acl_; }
  bool ReusedClassifierFrom(const PolicyTables& other) const { return acl_ == other.acl_; }
  // What this Build did to the rte_acl contexts (a shared classifier: 0 built).
  uint32_t acl_contexts_built() const { return acl_built_; }
  uint32_t acl_contexts_reused() const { return acl_reused_; }

  AddressInfo Lookup(uint32_t ipv4) const {
    if (const AddressInfo* info = addresses_.Find(ipv4)) return *info;
    const bool cluster = cluster_mask_ != 0 && (ipv4 & cluster_mask_) == cluster_prefix_;
    return AddressInfo{cluster ? abi::kIdentityUnknownCluster : abi::kIdentityWorld, 0, 0, 0};
  }
  // Does any policy isolate any pod (else no flow is ever judged)?
  bool isolates_any() const { return isolates_any_; }
  // Is this address a pod of this node that is isolated in `direction`?
  bool Isolated(uint32_t ipv4, abi::PolicyDirection direction) const {
    const AddressInfo info = Lookup(ipv4);
    return (info.ip_flags & abi::kIpLocalPod) && (info.identity_flags & IsolationFlag(direction));
  }

  // Verdicts for `count` new flows (any count; classified kPolicyBurst at a time).
  void Check(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const;

  static uint8_t IsolationFlag(abi::PolicyDirection direction) {
    return direction == abi::PolicyDirection::kIngress ? abi::kIdentityIsolatedIngress : abi::kIdentityIsolatedEgress;
  }

 private:
  PolicyTables() = default;
  PolicyTables(const PolicyTables&) = default;  // WithClassifier only
  PolicyTables& operator=(const PolicyTables&) = delete;
  void CheckBurst(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const;
  // Both directions' judged keys of one burst.
  static constexpr uint32_t kMaxKeys = 2 * kPolicyBurst;
  // results[k] for keys[k], to be classified on routes[k] (AclContexts::Route;
  // any_route = their OR): one Classify call per route present.
  void ClassifyByRoute(const uint8_t** keys, const uint8_t* routes, uint8_t any_route, uint32_t n,
                       uint32_t* results) const;

  std::shared_ptr<const PolicyImage> image_;
  uint64_t generation_ = 0;  // image_->generation, without the indirection (workers read it per new flow)
  std::shared_ptr<const AclContexts> acl_;
  uint32_t acl_built_ = 0;
  uint32_t acl_reused_ = 0;
  AddressMap addresses_;
  uint32_t cluster_prefix_ = 0;
  uint32_t cluster_mask_ = 0;
  bool isolates_any_ = false;
};

}  // namespace np::policy
