// rte_acl contexts built from a decoded policy image, off the fast path.
//
// Design: ONE context per direction (ingress, egress). Two key layouts; the
// narrow one is used whenever every identity of the image (rules, identity
// sets, IP entries) fits in 16 bits, which is the normal case (ids are
// allocated densely from kFirstPodIdentity):
//
//   narrow (16 bytes, 13 walked)         wide (20 bytes, 17 walked)
//   field        bytes type    input       bytes type    input  rule value
//   protocol     1     BITMASK 0           1     BITMASK 0      proto/0xff, or 0/0 for "any"
//   subject      2     RANGE   1           4     RANGE   1      identity range (the selected pod)
//   dst port     2     RANGE   1           2     RANGE   2      port_min..port_max
//   peer         2     RANGE   2           4     RANGE   3      identity range, or full range for "any"
//   (spare)      2     RANGE   2           2     RANGE   2      always full range (completes a 4-byte group)
//   peer address 4     MASK    3           4     MASK    4      CIDR prefix/len, or 0/0 for "any"
//
// rte_acl walks one trie level per input byte (every byte of every 4-byte
// input group), so the narrow layout saves 4 levels per lookup. Its order
// matters more: subject then port first, because those two split the rules
// into small disjoint sets (a pod's own policies, then the port they open):
// most new flows of a large cluster are denied and leave the rules' paths
// for rte_acl's shared no-match node within 5 bytes, and wildcard peers or
// addresses are no longer copied under every distinct port. Measured at 10k
// policies (23k rules, np-bench-acl): the original order (subject, peer,
// address, port) needed 29 MB for the ingress trie and 1.5 s to build; this
// one 6 MB and 0.5 s, and the walk got cheaper (perf/acl/README.md).
//
// Ingress keys: subject = destination identity, peer = source identity and
// address. Egress keys: subject = source identity, peer = destination
// identity and address. The peer's identity and its raw address are two
// fields, so identity rules and ipBlock rules live in one context and one
// lookup answers both (and an egress named port to an ipBlock constrains
// both at once). Rules are allow rules only, one category; userdata is the
// image's rule index + 1 (0 = no match) and priority favours the lowest
// index, so the reported rule is deterministic.
//
// Each PolicyRuleRecord expands to subject ranges x peer ranges x CIDRs
// (identity sets are coalesced into ranges of consecutive ids). A direction
// without rules has no context: every lookup misses.
//
// Keys are in network byte order as rte_acl requires (rules in host order).
// rte_acl_classify on a built context is read-only: any number of workers
// may classify concurrently. Contexts are freed by the destructor, which the
// loader runs only after an RCU grace period.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/policy_image.h"
#include "common/result.h"

struct rte_acl_ctx;

namespace np::policy {

// Room for either layout; filled by AclContexts::MakeKey.
struct alignas(4) AclKey {
  uint8_t bytes[20];
};

inline constexpr uint32_t kAclNoMatch = 0xffffffffu;

class AclContexts {
 public:
  // Builds both contexts; an Error (with the rte_acl reason) leaves nothing allocated.
  static Result<std::shared_ptr<const AclContexts>> Build(const PolicyImage& image);
  ~AclContexts();
  AclContexts(const AclContexts&) = delete;
  AclContexts& operator=(const AclContexts&) = delete;

  // Fills a key in this classifier's layout from host-order values.
  void MakeKey(AclKey& key, uint8_t protocol, uint32_t subject, uint32_t peer, uint32_t peer_ipv4,
               uint16_t dst_port) const;

  // Classifies `count` keys of one direction; results[i] = the image's rule
  // index that allowed keys[i], or kAclNoMatch. One rte_acl_classify call.
  void Classify(abi::PolicyDirection direction, const uint8_t** keys, uint32_t* results, uint32_t count) const;

  uint32_t digest() const { return digest_; }
  uint32_t rule_count(abi::PolicyDirection direction) const { return rule_count_[Index(direction)]; }
  bool narrow_identities() const { return narrow_; }  // the 16-bit identity layout
  size_t memory_bytes() const { return memory_bytes_; }  // rte_acl's own footprint, both contexts
  double build_ms() const { return build_ms_; }

 private:
  AclContexts() = default;
  static size_t Index(abi::PolicyDirection direction) { return static_cast<size_t>(direction); }

  rte_acl_ctx* ctx_[2] = {nullptr, nullptr};
  uint32_t rule_count_[2] = {0, 0};
  uint32_t digest_ = 0;
  bool narrow_ = false;
  size_t memory_bytes_ = 0;
  double build_ms_ = 0;
};

}  // namespace np::policy
