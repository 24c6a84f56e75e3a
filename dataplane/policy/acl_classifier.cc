#include "dataplane/policy/acl_classifier.h"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <vector>

namespace np::policy {
namespace {

enum Field : uint32_t { kProtocol, kSubject, kPeer, kPeerAddress, kDstPort, kSpare, kFieldCount };

RTE_ACL_RULE_DEF(PolicyAclRule, kFieldCount);

// Byte offsets of the two layouts (acl_classifier.h), in AclKey::bytes.
// Field definitions must be listed in key order: rte_acl derives the input
// groups and the trie's level order from the order of the definitions
// (field_index only says which rule field each one reads).
struct WideKey {
  uint8_t protocol;
  uint8_t pad0[3];
  uint32_t subject;    // big-endian
  uint16_t dst_port;   // big-endian
  uint16_t spare;
  uint32_t peer;       // big-endian
  uint32_t peer_ipv4;  // big-endian
};
struct NarrowKey {
  uint8_t protocol;
  uint8_t pad0[3];
  uint16_t subject;    // big-endian
  uint16_t dst_port;   // big-endian
  uint16_t peer;       // big-endian
  uint16_t spare;
  uint32_t peer_ipv4;  // big-endian
};
static_assert(sizeof(WideKey) <= sizeof(AclKey) && sizeof(NarrowKey) <= sizeof(AclKey));

constexpr rte_acl_field_def kWideFieldDefs[kFieldCount] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProtocol, 0, offsetof(WideKey, protocol)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint32_t), kSubject, 1, offsetof(WideKey, subject)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kDstPort, 2, offsetof(WideKey, dst_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSpare, 2, offsetof(WideKey, spare)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint32_t), kPeer, 3, offsetof(WideKey, peer)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kPeerAddress, 4, offsetof(WideKey, peer_ipv4)},
};
constexpr rte_acl_field_def kNarrowFieldDefs[kFieldCount] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProtocol, 0, offsetof(NarrowKey, protocol)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSubject, 1, offsetof(NarrowKey, subject)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kDstPort, 1, offsetof(NarrowKey, dst_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeer, 2, offsetof(NarrowKey, peer)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSpare, 2, offsetof(NarrowKey, spare)},
    {RTE_ACL_FIELD_TYPE_MASK, sizeof(uint32_t), kPeerAddress, 3, offsetof(NarrowKey, peer_ipv4)},
};

// True when every identity a key or a rule can hold fits in 16 bits.
bool IdentitiesFit16(const PolicyImage& image) {
  uint32_t max_id = abi::kFirstPodIdentity;
  for (const abi::IdentityRecord& identity : image.identities) max_id = std::max(max_id, identity.id);
  for (const abi::IdentityRef& ref : image.identity_refs) max_id = std::max<uint32_t>(max_id, ref);
  for (const abi::IpIdentityRecord& entry : image.ip_entries) max_id = std::max(max_id, entry.identity);
  return max_id <= 0xffffu;
}

using Range = std::pair<uint32_t, uint32_t>;

// Sorted ids -> ranges of consecutive ids.
std::vector<Range> Coalesce(const std::vector<abi::IdentityRef>& refs, uint32_t first, uint32_t count) {
  std::vector<uint32_t> ids(refs.begin() + first, refs.begin() + first + count);
  std::sort(ids.begin(), ids.end());
  std::vector<Range> ranges;
  for (uint32_t id : ids) {
    if (!ranges.empty() && (id == ranges.back().second || id == ranges.back().second + 1))
      ranges.back().second = id;
    else
      ranges.emplace_back(id, id);
  }
  return ranges;
}

size_t HeapAllocated() {
  size_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); ++i) {
    rte_malloc_socket_stats stats{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &stats) == 0) total += stats.heap_allocsz_bytes;
  }
  return total;
}

std::atomic<uint32_t> context_serial{0};

struct ContextDeleter {
  void operator()(rte_acl_ctx* ctx) const { rte_acl_free(ctx); }
};
using ContextPtr = std::unique_ptr<rte_acl_ctx, ContextDeleter>;

Result<ContextPtr> BuildContext(const std::vector<PolicyAclRule>& rules, char direction, bool narrow) {
  if (rules.empty()) return ContextPtr{};
  // rte_acl_create() returns an EXISTING context of the same name: names must be unique.
  char name[RTE_ACL_NAMESIZE];
  snprintf(name, sizeof(name), "np_pol_%c_%u", direction, context_serial.fetch_add(1));
  rte_acl_param param{};
  param.name = name;
  param.socket_id = SOCKET_ID_ANY;
  param.rule_size = RTE_ACL_RULE_SZ(kFieldCount);
  param.max_rule_num = static_cast<uint32_t>(rules.size());
  ContextPtr ctx(rte_acl_create(&param));
  if (!ctx) return MakeError(std::string("rte_acl_create: ") + rte_strerror(rte_errno));
  int rc = rte_acl_add_rules(ctx.get(), reinterpret_cast<const rte_acl_rule*>(rules.data()),
                             static_cast<uint32_t>(rules.size()));
  if (rc != 0) return MakeError(std::string("rte_acl_add_rules: ") + rte_strerror(-rc));
  rte_acl_config config{};
  config.num_categories = 1;
  config.num_fields = kFieldCount;
  static_assert(sizeof(kWideFieldDefs) == sizeof(kNarrowFieldDefs));
  std::memcpy(config.defs, narrow ? kNarrowFieldDefs : kWideFieldDefs, sizeof(kWideFieldDefs));
  config.max_size = 0;  // no limit beyond the heap
  rc = rte_acl_build(ctx.get(), &config);
  if (rc != 0) return MakeError(std::string("rte_acl_build: ") + rte_strerror(-rc));
  return ctx;
}

}  // namespace

void AclContexts::MakeKey(AclKey& key, uint8_t protocol, uint32_t subject, uint32_t peer, uint32_t peer_ipv4,
                          uint16_t dst_port) const {
  if (narrow_) {
    NarrowKey k{protocol, {0, 0, 0}, rte_cpu_to_be_16(static_cast<uint16_t>(subject)), rte_cpu_to_be_16(dst_port),
                rte_cpu_to_be_16(static_cast<uint16_t>(peer)), 0, rte_cpu_to_be_32(peer_ipv4)};
    std::memcpy(key.bytes, &k, sizeof(k));
  } else {
    WideKey k{protocol, {0, 0, 0}, rte_cpu_to_be_32(subject), rte_cpu_to_be_16(dst_port), 0,
              rte_cpu_to_be_32(peer), rte_cpu_to_be_32(peer_ipv4)};
    std::memcpy(key.bytes, &k, sizeof(k));
  }
}

Result<std::shared_ptr<const AclContexts>> AclContexts::Build(const PolicyImage& image) {
  const auto started = std::chrono::steady_clock::now();
  const bool narrow = IdentitiesFit16(image);
  const uint32_t any_identity = narrow ? 0xffffu : 0xffffffffu;
  std::vector<PolicyAclRule> rules[2];
  for (uint32_t index = 0; index < image.rules.size(); ++index) {
    const abi::PolicyRuleRecord& record = image.rules[index];
    const std::vector<Range> subjects = Coalesce(image.identity_refs, record.subject_first, record.subject_count);
    const std::vector<Range> peers = (record.peer_flags & abi::kPeerAnyIdentity)
                                         ? std::vector<Range>{{0, any_identity}}
                                         : Coalesce(image.identity_refs, record.peer_first, record.peer_count);
    std::vector<abi::CidrRecord> cidrs;
    if (record.peer_flags & abi::kPeerAnyAddress) cidrs.push_back({0, 0, {}});
    else cidrs.assign(image.cidrs.begin() + record.cidr_first, image.cidrs.begin() + record.cidr_first + record.cidr_count);

    PolicyAclRule rule{};
    rule.data.category_mask = 1;
    rule.data.priority = static_cast<int32_t>(
        std::max<int64_t>(RTE_ACL_MIN_PRIORITY, static_cast<int64_t>(RTE_ACL_MAX_PRIORITY) - index));
    rule.data.userdata = index + 1;
    rule.field[kProtocol].value.u8 = record.protocol;
    rule.field[kProtocol].mask_range.u8 = record.protocol == 0 ? 0 : 0xff;
    rule.field[kDstPort].value.u16 = record.port_min;
    rule.field[kDstPort].mask_range.u16 = record.port_max;
    rule.field[kSpare].value.u16 = 0;
    rule.field[kSpare].mask_range.u16 = 0xffff;
    auto& out = rules[record.direction];
    for (const Range& subject : subjects)
      for (const Range& peer : peers)
        for (const abi::CidrRecord& cidr : cidrs) {
          if (narrow) {
            rule.field[kSubject].value.u16 = static_cast<uint16_t>(subject.first);
            rule.field[kSubject].mask_range.u16 = static_cast<uint16_t>(subject.second);
            rule.field[kPeer].value.u16 = static_cast<uint16_t>(peer.first);
            rule.field[kPeer].mask_range.u16 = static_cast<uint16_t>(peer.second);
          } else {
            rule.field[kSubject].value.u32 = subject.first;
            rule.field[kSubject].mask_range.u32 = subject.second;
            rule.field[kPeer].value.u32 = peer.first;
            rule.field[kPeer].mask_range.u32 = peer.second;
          }
          rule.field[kPeerAddress].value.u32 = cidr.prefix;
          rule.field[kPeerAddress].mask_range.u32 = cidr.prefix_len;
          out.push_back(rule);
        }
  }

  const size_t heap_before = HeapAllocated();
  std::shared_ptr<AclContexts> contexts(new AclContexts());
  contexts->narrow_ = narrow;
  for (size_t direction = 0; direction < 2; ++direction) {
    auto ctx = BuildContext(rules[direction], direction == 0 ? 'i' : 'e', narrow);
    if (!ctx) return MakeError("policy classifier (" + std::string(direction == 0 ? "ingress" : "egress") +
                               ", " + std::to_string(rules[direction].size()) + " rules): " + ctx.error().message);
    contexts->ctx_[direction] = ctx->release();
    contexts->rule_count_[direction] = static_cast<uint32_t>(rules[direction].size());
  }
  const size_t heap_after = HeapAllocated();
  contexts->memory_bytes_ = heap_after > heap_before ? heap_after - heap_before : 0;
  contexts->digest_ = image.AclDigest();
  contexts->build_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return std::shared_ptr<const AclContexts>(std::move(contexts));
}

AclContexts::~AclContexts() {
  for (rte_acl_ctx* ctx : ctx_)
    if (ctx != nullptr) rte_acl_free(ctx);
}

void AclContexts::Classify(abi::PolicyDirection direction, const uint8_t** keys, uint32_t* results,
                           uint32_t count) const {
  rte_acl_ctx* ctx = ctx_[Index(direction)];
  if (ctx == nullptr || count == 0) {
    std::fill(results, results + count, kAclNoMatch);
    return;
  }
  rte_acl_classify(ctx, keys, results, count, 1);
  for (uint32_t i = 0; i < count; ++i) results[i] = results[i] == 0 ? kAclNoMatch : results[i] - 1;
}

}  // namespace np::policy
