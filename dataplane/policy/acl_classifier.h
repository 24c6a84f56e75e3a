// rte_acl contexts built from a decoded policy image, off the fast path.
//
// Design: ONE rte_acl context holds the rules of both directions (ingress
// and egress), told apart by the key's first byte, split into partitions
// by the namespace of their subject (see "Partitions" below). Two key
// layouts; the narrow one is used whenever every identity of the image
// (rules, identity sets, IP entries) fits in 16 bits, which is the normal
// case (ids are allocated densely from kFirstPodIdentity):
//
//   narrow (16 bytes, 13 walked)   wide (20 bytes, 17 walked)
//   field          bytes input       bytes input  type     rule value
//   direction and  1     0           1     0      BITMASK  AclProtocolByte, mask 0xff;
//    protocol                                              "any protocol": mask 0xfc
//   subject        2     1           4     1      RANGE    identity range (the selected pod)
//   dst port       2     1           2     2      RANGE    port_min..port_max
//   (spare)        -     -           2     2      RANGE    always full range
//   peer           2     2           4     3      RANGE    identity range, or full range for "any"
//   peer address,  2     2           2     4      RANGE    the CIDR's range of them, full for "any"
//    first 2 bytes
//   peer address,  2     3           2     4      RANGE    the CIDR's range of them
//    last 2 bytes
//   (spare)        2     3           -     -      RANGE    always full range
//
// rte_acl walks one trie level per input byte (every byte of every 4-byte
// input group), so the narrow layout saves 4 levels per lookup. The order
// matters more: subject then port first, because those two split the rules
// into small disjoint sets (a pod's own policies, then the port they open):
// most new flows of a large cluster are denied and leave the rules' paths
// for rte_acl's shared no-match node within 5 bytes, and wildcard peers or
// addresses are not copied under every distinct port. Measured at 10k
// policies (23k rules, np-bench-acl): the original order (subject, peer,
// address, port) needed 29 MB for the ingress trie and 1.5 s to build; this
// one 6 MB and 0.5 s, and the walk got cheaper (perf/acl/README.md). A
// prefix is the product of a range of its first two bytes and a range of
// its last two, so the address is two 16-bit fields and the narrow
// layout's spare bytes come last, walked only by keys that matched all
// else.
//
// Both directions in one context: a burst's egress keys are few (one flow
// in six at 10k policies in np-bench-acl), and in a context of their own
// they took rte_acl's 8-lane walk for ~10 keys, ~65 cycles per key against
// ~28 in the 32-lane walk of the ingress keys. In one context every key of
// a burst goes through one call. The first byte is AclProtocolByte: the
// direction and the protocol's class (TCP, UDP, SCTP, any other), all a
// NetworkPolicy can name (PolicyRuleRecord protocols are validated to be
// 0, TCP, UDP or SCTP); a rule for any protocol masks the class out.
//
// Ingress keys: subject = destination identity, peer = source identity and
// address. Egress keys: subject = source identity, peer = destination
// identity and address. The peer's identity and its raw address are two
// fields, so identity rules and ipBlock rules live in one context and one
// lookup answers both (and an egress named port to an ipBlock constrains
// both at once). Rules are allow rules only, one category.
//
// Each PolicyRuleRecord expands to subject ranges x peer ranges x address
// boxes (identity sets are coalesced into ranges of consecutive ids; CIDRs
// into ranges of consecutive addresses, each one to three boxes of a range
// of the first two bytes x a range of the last two: AddressBoxes).
//
// Partitions. rte_acl cannot be changed incrementally. Pods coming or
// going with existing identities change only the IP -> identity map, never
// the rules (policy_tables.h). A label change that creates or retires an
// identity changes the rules of the policies selecting it (and of those
// naming it as a peer); to rebuild only what those touch, the rules are
// split by the NAMESPACE of their subject, hashed into
// `partitions` buckets (AclPartitionOf: crc32 of the namespace modulo the
// count; an identity's namespace is its name up to '/'). A NetworkPolicy
// selects only pods of its own namespace, so every record's subjects share
// its policy's namespace (the compiler guarantees it: policy_compiler.cc
// CompilePolicy); a record whose subjects span partitions anyway is split,
// so the result never depends on it.
//  - Each partition has a digest over exactly what it holds: its expanded
//    rte_acl rules of both directions (direction and protocol, subject and
//    peer ranges, CIDRs, ports) numbered locally in image order, and the
//    key layout - never the image's rule indices, which shift whenever an
//    earlier rule comes or goes.
//  - Base and overlays. One context per partition would be the obvious
//    layout, but measured it is not affordable: rte_acl is fast because one
//    call walks 16-32 keys in parallel SIMD lanes, hiding cache misses; a
//    burst split over 2 contexts classified 30 % slower at 10k policies, over
//    8 contexts 2x (perf/acl/README.md, "Partitions"), and calls of fewer
//    than 4 keys take rte_acl's scalar walk. So there is ONE base context
//    with the rules of every partition, shared from apply to apply, and a
//    partition whose digest no longer equals the base's gets an OVERLAY
//    context of its own rules (itself shared while its digest holds). A
//    partition routes its keys to the base or to its overlay (route_); a
//    burst whose subjects are all base-served classifies in one call, as
//    before partitions. The base's stale rules of an overlaid partition
//    cannot match a key routed to the base: rte_acl only sees keys whose
//    subject's partition has exactly the base's rules, and a subject range
//    only covers ids that were subjects of its partition when the base was
//    built - unless an id was retired and handed to an identity of another
//    namespace since; such a partition is never base-served (forced_). When
//    overlays hold more than 1/kAclOverlayShare of the rules, the base is
//    rebuilt from every partition (a full build, amortised over the changes
//    before it) and overlays go. Below that share, the loader folds the
//    overlays into a new base in the background once policy is quiet
//    (acl_consolidator.h).
//  - rte_acl's userdata is the rule's LOCAL number in its context + 1 (0 =
//    no match); priority favours the lowest local number, i.e. the lowest
//    image rule index (local numbers follow image order). Each AclContexts
//    rebuilds, per context it uses, local number -> image rule index from
//    the current image (O(rules), cheap), so a shared context reports the
//    current indices. A key only meets the rules of its subject's partition
//    and its direction, so the lowest matching index is the one a single
//    context per direction would report.
//  - The subject's partition travels with its address (AddressInfo in
//    address_map.h); PolicyTables::CheckBurst maps it to a route. Every
//    key of a burst goes through the base in one call; the few keys of
//    partitions the base does not serve are classified again on their own
//    route, and those results replace the base's (which may come from the
//    partition's stale rules). Splitting the burst by route instead (a
//    counting sort, one call per route) cost 5-9 ns per flow with 1-3
//    overlays at 10k policies; this costs 1-4.
//
// Whole-image shortcut: when the rules, identity sets and CIDRs are the
// same (PolicyImage::AclDigest), the partitions of the identities they
// name, the layout and the forced partitions are unchanged, the previous
// AclContexts is shared as a whole (Serves()), without expanding the rules
// again: the cost of a pod coming or going.
//
// Keys are in network byte order as rte_acl requires (rules in host order).
// rte_acl_classify on a built context is read-only: any number of workers
// may classify concurrently. A context is freed with the last AclContexts
// that holds it, which the loader destroys only after an RCU grace period.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/policy_image.h"
#include "common/result.h"

struct rte_acl_ctx;

namespace np::policy {

// Room for either layout; filled by AclContexts::MakeKey.
struct alignas(4) AclKey {
  uint8_t bytes[20];
};

inline constexpr uint32_t kAclNoMatch = 0xffffffffu;
inline constexpr uint32_t kMaxAclPartitions = 64;  // a partition is a bit of a uint64_t mask
inline constexpr uint32_t kAclPartitions = 64;     // measured: perf/acl/README.md, "Partitions"
inline constexpr uint32_t kAclOverlayShare = 8;    // rebuild the base past 1/8 of the rules in overlays

// A key's first byte: the direction (bit 2) and the protocol's class
// (TCP 1, UDP 2, SCTP 3, any other 0).
inline uint8_t AclProtocolByte(abi::PolicyDirection direction, uint8_t protocol) {
  const uint32_t protocol_class = static_cast<uint32_t>(protocol == abi::kProtoTcp) |
                                  static_cast<uint32_t>(protocol == abi::kProtoUdp) << 1 |
                                  static_cast<uint32_t>(protocol == abi::kProtoSctp) * 3;
  return static_cast<uint8_t>(static_cast<uint32_t>(direction) << 2 | protocol_class);
}
inline constexpr uint8_t kAclAnyProtocolMask = 0xfc;  // the direction only

// The partition of a namespace, or of an identity or policy name
// ("namespace/..."): crc32 of the text before the first '/', modulo `partitions`.
uint32_t AclPartitionOf(std::string_view name, uint32_t partitions);
// Identity id -> partition, for every identity of the image.
std::unordered_map<uint32_t, uint8_t> IdentityPartitions(const PolicyImage& image, uint32_t partitions);

// One rte_acl context, both directions: a base (every partition's rules)
// or an overlay (one partition's). Immutable; shared by every AclContexts
// that uses it.
class AclContext {
 public:
  ~AclContext();
  AclContext(const AclContext&) = delete;
  AclContext& operator=(const AclContext&) = delete;

  bool base() const { return base_; }
  uint32_t rule_count() const { return rule_count_; }  // rte_acl rules (expanded)
  size_t memory_bytes() const { return memory_bytes_; }
  double build_ms() const { return build_ms_; }
  // The rte_acl_classify_alg Classify runs on it (0: the context's own choice).
  int classify_method() const { return classify_method_; }

 private:
  friend class AclContexts;
  AclContext() = default;

  rte_acl_ctx* ctx_ = nullptr;
  bool base_ = false;
  uint32_t rule_count_ = 0;
  uint32_t local_count_ = 0;  // local rule numbers (records)
  size_t memory_bytes_ = 0;
  double build_ms_ = 0;
  int classify_method_ = 0;  // an rte_acl_classify_alg; 0: the context's own (acl_classifier.cc)
  // An overlay: the digest of its partition. A base: every partition's
  // digest and local numbers, and the partition of every subject id it holds.
  uint64_t digest_ = 0;
  std::vector<uint64_t> partition_digest_;
  std::vector<std::vector<uint32_t>> partition_locals_;
  std::unordered_map<uint32_t, uint8_t> subject_partition_;
};

class AclContexts {
 public:
  // Builds what the image needs, sharing previous's base and overlays
  // wherever the digests allow. An Error (with the rte_acl reason) leaves
  // nothing new allocated.
  static Result<std::shared_ptr<const AclContexts>> Build(const PolicyImage& image,
                                                          const AclContexts* previous = nullptr,
                                                          uint32_t partitions = kAclPartitions);
  AclContexts(const AclContexts&) = delete;
  AclContexts& operator=(const AclContexts&) = delete;

  // True when this classifier is exactly what Build(image, this,
  // partitions) would make: same rules, identity sets and CIDRs, same
  // partitions of the identities they name, same layout and forced
  // partitions. Costs O(identities + identity refs).
  bool Serves(const PolicyImage& image, uint32_t partitions) const;

  // Fills a key in this classifier's layout (NarrowKey / WideKey in
  // acl_classifier.cc) from host-order values. Whole-word stores of values
  // built in registers: a key assembled field by field on the stack and
  // copied with one 16-byte load stalled on store forwarding
  // (perf/acl/README.md, "The 1.15x target", step 3).
  void MakeKey(AclKey& key, abi::PolicyDirection direction, uint8_t protocol, uint32_t subject, uint32_t peer,
               uint32_t peer_ipv4, uint16_t dst_port) const {
    static_assert(std::endian::native == std::endian::little, "the words below are laid out little-endian");
    protocol = AclProtocolByte(direction, protocol);
    if (narrow_) {
      const uint64_t head = uint64_t{protocol} | uint64_t{__builtin_bswap16(static_cast<uint16_t>(subject))} << 32 |
                            uint64_t{__builtin_bswap16(dst_port)} << 48;
      const uint64_t tail = uint64_t{__builtin_bswap16(static_cast<uint16_t>(peer))} |
                            uint64_t{__builtin_bswap32(peer_ipv4)} << 16;
      std::memcpy(key.bytes, &head, 8);
      std::memcpy(key.bytes + 8, &tail, 8);
    } else {
      const uint64_t head = uint64_t{protocol} | uint64_t{__builtin_bswap32(subject)} << 32;
      const uint64_t middle = uint64_t{__builtin_bswap16(dst_port)} | uint64_t{__builtin_bswap32(peer)} << 32;
      const uint32_t address = __builtin_bswap32(peer_ipv4);
      std::memcpy(key.bytes, &head, 8);
      std::memcpy(key.bytes + 8, &middle, 8);
      std::memcpy(key.bytes + 16, &address, 4);
    }
  }

  // Where keys whose subject lies in `partition` (< partitions()) go: 0 =
  // the base, 1 = nowhere (no rules), 2.. = an overlay. < kMaxAclRoutes.
  uint8_t Route(uint32_t partition) const { return route_[partition]; }
  // Classifies `count` keys (of either direction) of one route; results[i]
  // = the image's rule index that allowed keys[i], or kAclNoMatch. One
  // rte_acl_classify call.
  void Classify(uint8_t route, const uint8_t** keys, uint32_t* results, uint32_t count) const;

  uint32_t partitions() const { return partitions_; }
  const AclContext* base() const { return base_.get(); }
  const AclContext* overlay(uint32_t partition) const {
    return overlay_[partition].get();  // nullptr: base-served or no rules
  }
  // Expanded rte_acl rules of one direction, over every context in use.
  uint32_t rule_count(abi::PolicyDirection direction) const { return rule_count_[static_cast<size_t>(direction)]; }
  // Overlay contexts in use (0: every partition is base-served or has no rules).
  uint32_t overlay_count() const { return static_cast<uint32_t>(slots_.size()) - 2; }  // routes 0 and 1
  bool narrow_identities() const { return narrow_; }  // the 16-bit identity layout
  size_t memory_bytes() const { return memory_bytes_; }  // rte_acl's own footprint, every context used
  double build_ms() const { return build_ms_; }          // this Build: expansion, digests, builds
  uint32_t contexts_built() const { return built_; }      // by this Build
  uint32_t contexts_reused() const { return reused_; }    // shared from `previous`

  static constexpr uint32_t kMaxAclRoutes = kMaxAclPartitions + 2;

 private:
  struct Slot {  // what a lookup needs, in one place
    const rte_acl_ctx* ctx;      // nullptr: nothing matches
    const uint32_t* image_rule;  // rte_acl userdata (local number + 1, 0 = none) -> image rule index
    int classify_method;         // AclContext::classify_method_
  };

  AclContexts() = default;
  static uint64_t ServesKey(const PolicyImage& image, uint32_t partitions, bool narrow);
  uint64_t Forced(const std::unordered_map<uint32_t, uint8_t>& partition_of) const;

  std::shared_ptr<const AclContext> base_;
  std::vector<std::shared_ptr<const AclContext>> overlay_;  // per partition
  std::vector<uint8_t> route_;                              // per partition
  std::vector<Slot> slots_;                                 // per route
  std::vector<std::vector<uint32_t>> image_rules_;          // per route: what Slot::image_rule points at
  uint64_t forced_ = 0;  // partitions that may not use the base (an id moved namespace)
  uint32_t partitions_ = 1;
  uint32_t rule_count_[2] = {0, 0};
  uint64_t serves_key_ = 0;
  bool narrow_ = false;
  size_t memory_bytes_ = 0;
  double build_ms_ = 0;
  uint32_t built_ = 0;
  uint32_t reused_ = 0;
};

}  // namespace np::policy
