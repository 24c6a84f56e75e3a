#include "dataplane/policy/acl_classifier.h"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_cpuflags.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <vector>

#include "common/flow_hash.h"
#include "common/section_image.h"

namespace np::policy {
namespace {

enum Field : uint32_t { kProtocol, kSubject, kPeer, kPeerAddressHigh, kPeerAddressLow, kDstPort, kSpare, kFieldCount };

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
  uint32_t peer;            // big-endian
  uint16_t peer_ipv4_high;  // big-endian: the address's first two bytes
  uint16_t peer_ipv4_low;   // big-endian
};
struct NarrowKey {
  uint8_t protocol;
  uint8_t pad0[3];
  uint16_t subject;    // big-endian
  uint16_t dst_port;   // big-endian
  uint16_t peer;            // big-endian
  uint16_t peer_ipv4_high;  // big-endian: the address's first two bytes
  uint16_t peer_ipv4_low;   // big-endian
  uint16_t spare;
};
static_assert(sizeof(WideKey) <= sizeof(AclKey) && sizeof(NarrowKey) <= sizeof(AclKey));
// AclContexts::MakeKey (acl_classifier.h) writes these offsets as whole words.
static_assert(offsetof(NarrowKey, subject) == 4 && offsetof(NarrowKey, dst_port) == 6 &&
              offsetof(NarrowKey, peer) == 8 && offsetof(NarrowKey, peer_ipv4_high) == 10 &&
              offsetof(NarrowKey, peer_ipv4_low) == 12 && offsetof(NarrowKey, spare) == 14);
static_assert(offsetof(WideKey, subject) == 4 && offsetof(WideKey, dst_port) == 8 && offsetof(WideKey, spare) == 10 &&
              offsetof(WideKey, peer) == 12 && offsetof(WideKey, peer_ipv4_high) == 16 &&
              offsetof(WideKey, peer_ipv4_low) == 18);

constexpr rte_acl_field_def kWideFieldDefs[kFieldCount] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProtocol, 0, offsetof(WideKey, protocol)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint32_t), kSubject, 1, offsetof(WideKey, subject)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kDstPort, 2, offsetof(WideKey, dst_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSpare, 2, offsetof(WideKey, spare)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint32_t), kPeer, 3, offsetof(WideKey, peer)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeerAddressHigh, 4, offsetof(WideKey, peer_ipv4_high)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeerAddressLow, 4, offsetof(WideKey, peer_ipv4_low)},
};
constexpr rte_acl_field_def kNarrowFieldDefs[kFieldCount] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, sizeof(uint8_t), kProtocol, 0, offsetof(NarrowKey, protocol)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSubject, 1, offsetof(NarrowKey, subject)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kDstPort, 1, offsetof(NarrowKey, dst_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeer, 2, offsetof(NarrowKey, peer)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeerAddressHigh, 2, offsetof(NarrowKey, peer_ipv4_high)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kPeerAddressLow, 3, offsetof(NarrowKey, peer_ipv4_low)},
    {RTE_ACL_FIELD_TYPE_RANGE, sizeof(uint16_t), kSpare, 3, offsetof(NarrowKey, spare)},
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
std::vector<Range> Coalesce(const uint32_t* ids, size_t count) {
  std::vector<Range> ranges;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t id = ids[i];
    if (!ranges.empty() && (id == ranges.back().second || id == ranges.back().second + 1))
      ranges.back().second = id;
    else
      ranges.emplace_back(id, id);
  }
  return ranges;
}

std::vector<Range> Coalesce(const std::vector<abi::IdentityRef>& refs, uint32_t first, uint32_t count) {
  std::vector<uint32_t> ids(refs.begin() + first, refs.begin() + first + count);
  std::sort(ids.begin(), ids.end());
  return Coalesce(ids.data(), ids.size());
}

// 64 bits over whole words (rte_acl rules are arrays of 8-byte unions).
uint64_t Digest(const void* data, size_t size, uint64_t seed) {
  uint64_t hash = MixBits(seed ^ size);
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t at = 0;
  for (; at + 8 <= size; at += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + at, 8);
    hash = MixBits(hash ^ word) + at;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes + at, size - at);
  return MixBits(hash ^ tail);
}

// Over the rules' values only (never padding bytes): category, priority and
// userdata (local numbers), and each field's value and mask or range end.
uint64_t DigestRules(const std::vector<PolicyAclRule>& rules, uint64_t seed) {
  std::vector<uint64_t> words;
  words.reserve(rules.size() * (2 + 2 * kFieldCount));
  for (const PolicyAclRule& rule : rules) {
    words.push_back((uint64_t{rule.data.category_mask} << 32) | static_cast<uint32_t>(rule.data.priority));
    words.push_back(rule.data.userdata);
    for (const rte_acl_field& field : rule.field) {
      words.push_back(field.value.u64);
      words.push_back(field.mask_range.u64);
    }
  }
  return Digest(words.data(), words.size() * sizeof(uint64_t), seed);
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

Result<ContextPtr> BuildContext(const std::vector<PolicyAclRule>& rules, bool narrow) {
  if (rules.empty()) return ContextPtr{};
  // rte_acl_create() returns an EXISTING context of the same name: names must be unique.
  char name[RTE_ACL_NAMESIZE];
  snprintf(name, sizeof(name), "np_pol_%u", context_serial.fetch_add(1));
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

// rte_acl picks a context's classify method itself, capped by the EAL's
// max SIMD bitwidth: 256 unless the process runs with
// --force-max-simd-bitwidth=512, a process-wide setting that also moves
// other libraries and drivers to 512-bit code. At 256 a CPU with AVX-512
// gets AVX512X16 (16 flows per walk, ymm registers); AVX512X32 walks 32
// flows at once in zmm registers, and its cache misses overlap twice as
// much: measured 1.4-2 ns per new flow less at 100 to 10k policies
// (perf/acl/README.md, "The 1.15x target", step 2). rte_acl_classify_alg runs a
// named method for one call without touching the global setting; whether
// the library was built with it is checked by classifying one key
// (a stub answers -ENOTSUP). 0 = the context's own method.
int WidestClassifyMethod(const rte_acl_ctx* ctx) {
  if (ctx == nullptr || !rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) ||
      !rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512VL) || !rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512CD) ||
      !rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512BW))
    return RTE_ACL_CLASSIFY_DEFAULT;
  AclKey key{};
  const uint8_t* data = key.bytes;
  uint32_t result = 0;
  return rte_acl_classify_alg(ctx, &data, &result, 1, 1, RTE_ACL_CLASSIFY_AVX512X32) == 0 ? RTE_ACL_CLASSIFY_AVX512X32
                                                                                          : RTE_ACL_CLASSIFY_DEFAULT;
}

}  // namespace

uint32_t AclPartitionOf(std::string_view name, uint32_t partitions) {
  if (partitions <= 1) return 0;
  const std::string_view namespace_ = name.substr(0, name.find('/'));
  return Crc32(reinterpret_cast<const uint8_t*>(namespace_.data()), namespace_.size()) % partitions;
}

std::unordered_map<uint32_t, uint8_t> IdentityPartitions(const PolicyImage& image, uint32_t partitions) {
  std::unordered_map<uint32_t, uint8_t> out;
  out.reserve(image.identities.size());
  for (size_t i = 0; i < image.identities.size(); ++i) {
    const std::string_view name = i < image.identity_names.size() ? image.identity_names[i] : std::string_view{};
    out[image.identities[i].id] = static_cast<uint8_t>(AclPartitionOf(name, partitions));
  }
  return out;
}

namespace {

// The rules of one partition (both directions) before rte_acl sees them.
struct PartitionRules {
  std::vector<PolicyAclRule> rules;  // userdata/priority: local numbers within the partition
  std::vector<uint32_t> image_rule;  // local number -> image rule index
  uint64_t digest = 0;               // 0: no rules
};

void SetRange(rte_acl_field& field, Range range, bool narrow) {
  if (narrow) {
    field.value.u16 = static_cast<uint16_t>(range.first);
    field.mask_range.u16 = static_cast<uint16_t>(range.second);
  } else {
    field.value.u32 = range.first;
    field.mask_range.u32 = range.second;
  }
}

// A set of addresses as a product of a range of their first two bytes and
// a range of their last two (the layouts split the address in two 16-bit
// fields, acl_classifier.h).
struct AddressBox {
  uint32_t high_first, high_last, low_first, low_last;
};

// A record's CIDRs as few boxes: the prefixes are merged into contiguous
// ranges, and a range takes one box when it lies within one /16 or covers
// whole /16s, else up to three. An ipBlock minus its `except` is a run of
// prefixes (a /24 except its first /28: /28, /27, /26, /25) that is one
// range, so one rule instead of one per prefix.
std::vector<AddressBox> AddressBoxes(const abi::CidrRecord* cidrs, size_t count) {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t mask = cidrs[i].prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - cidrs[i].prefix_len);
    ranges.emplace_back(cidrs[i].prefix & mask, (cidrs[i].prefix & mask) | ~mask);
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& [first, last] : ranges)
    if (!merged.empty() && (merged.back().second == 0xffffffffu || first <= merged.back().second + 1))
      merged.back().second = std::max(merged.back().second, last);
    else
      merged.emplace_back(first, last);
  std::vector<AddressBox> boxes;
  for (const auto& [first, last] : merged) {
    const uint32_t high_first = first >> 16, high_last = last >> 16;
    if (high_first == high_last) {
      boxes.push_back({high_first, high_first, first & 0xffff, last & 0xffff});
      continue;
    }
    uint32_t whole_first = high_first, whole_last = high_last;  // /16s covered whole
    if ((first & 0xffff) != 0) {
      boxes.push_back({high_first, high_first, first & 0xffff, 0xffff});
      ++whole_first;
    }
    if ((last & 0xffff) != 0xffff) {
      boxes.push_back({high_last, high_last, 0, last & 0xffff});
      --whole_last;
    }
    if (whole_first <= whole_last) boxes.push_back({whole_first, whole_last, 0, 0xffff});
  }
  return boxes;
}

void SetAddressBox(PolicyAclRule& rule, const AddressBox& box) {
  rule.field[kPeerAddressHigh].value.u16 = static_cast<uint16_t>(box.high_first);
  rule.field[kPeerAddressHigh].mask_range.u16 = static_cast<uint16_t>(box.high_last);
  rule.field[kPeerAddressLow].value.u16 = static_cast<uint16_t>(box.low_first);
  rule.field[kPeerAddressLow].mask_range.u16 = static_cast<uint16_t>(box.low_last);
}

void Number(PolicyAclRule& rule, uint32_t local) {
  rule.data.priority = static_cast<int32_t>(
      std::max<int64_t>(RTE_ACL_MIN_PRIORITY, static_cast<int64_t>(RTE_ACL_MAX_PRIORITY) - local));
  rule.data.userdata = local + 1;
}

// Expands every record into its partitions' rule lists, in image order, so
// local numbers grow with the image index (priorities keep "lowest index
// wins"), collects every subject id and counts each direction's rules.
void Expand(const PolicyImage& image, const std::unordered_map<uint32_t, uint8_t>& partition_of, bool narrow,
            std::vector<PartitionRules>& out, std::unordered_map<uint32_t, uint8_t>& subjects_of,
            uint32_t (&rule_count)[2]) {
  const uint32_t any_identity = narrow ? 0xffffu : 0xffffffffu;
  std::vector<std::pair<uint8_t, uint32_t>> subjects;  // (partition, id), sorted
  std::vector<uint32_t> ids;
  for (uint32_t index = 0; index < image.rules.size(); ++index) {
    const abi::PolicyRuleRecord& record = image.rules[index];
    subjects.clear();
    for (uint32_t k = 0; k < record.subject_count; ++k) {
      const uint32_t id = image.identity_refs[record.subject_first + k];
      auto it = partition_of.find(id);
      subjects.emplace_back(it == partition_of.end() ? 0 : it->second, id);
      subjects_of.emplace(id, subjects.back().first);
    }
    std::sort(subjects.begin(), subjects.end());
    const std::vector<Range> peers = (record.peer_flags & abi::kPeerAnyIdentity)
                                         ? std::vector<Range>{{0, any_identity}}
                                         : Coalesce(image.identity_refs, record.peer_first, record.peer_count);
    const abi::CidrRecord any_address{0, 0, {}};
    const std::vector<AddressBox> boxes = (record.peer_flags & abi::kPeerAnyAddress)
                                              ? AddressBoxes(&any_address, 1)
                                              : AddressBoxes(image.cidrs.data() + record.cidr_first, record.cidr_count);

    PolicyAclRule rule{};
    rule.data.category_mask = 1;
    const auto direction = static_cast<abi::PolicyDirection>(record.direction);
    rule.field[kProtocol].value.u8 = AclProtocolByte(direction, record.protocol);
    rule.field[kProtocol].mask_range.u8 = record.protocol == 0 ? kAclAnyProtocolMask : 0xff;
    rule.field[kDstPort].value.u16 = record.port_min;
    rule.field[kDstPort].mask_range.u16 = record.port_max;
    rule.field[kSpare].value.u16 = 0;
    rule.field[kSpare].mask_range.u16 = 0xffff;
    // One pass per partition among the subjects (one, unless the record breaks the namespace rule).
    for (size_t begin = 0; begin < subjects.size();) {
      const uint8_t partition = subjects[begin].first;
      size_t end = begin;
      ids.clear();
      for (; end < subjects.size() && subjects[end].first == partition; ++end) ids.push_back(subjects[end].second);
      begin = end;
      PartitionRules& part = out[partition];
      Number(rule, static_cast<uint32_t>(part.image_rule.size()));
      part.image_rule.push_back(index);
      for (const Range& subject : Coalesce(ids.data(), ids.size()))
        for (const Range& peer : peers)
          for (const AddressBox& box : boxes) {
            SetRange(rule.field[kSubject], subject, narrow);
            SetRange(rule.field[kPeer], peer, narrow);
            SetAddressBox(rule, box);
            part.rules.push_back(rule);
            ++rule_count[record.direction];
          }
    }
  }
  for (PartitionRules& part : out)
    if (!part.rules.empty())  // the layout is part of what the rules mean: it seeds the digest
      part.digest = DigestRules(part.rules, narrow ? 16 : 32) | 1;
}

}  // namespace

uint64_t AclContexts::ServesKey(const PolicyImage& image, uint32_t partitions, bool narrow) {
  const std::unordered_map<uint32_t, uint8_t> partition_of = IdentityPartitions(image, partitions);
  std::vector<uint8_t> assigned;  // the partition of every identity a rule names
  assigned.reserve(image.identity_refs.size());
  for (abi::IdentityRef ref : image.identity_refs) {
    auto it = partition_of.find(ref);
    assigned.push_back(it == partition_of.end() ? 0 : it->second);
  }
  const uint64_t head = (uint64_t{image.AclDigest()} << 32) | (partitions << 1) | (narrow ? 1 : 0);
  return assigned.empty() ? MixBits(head) : Digest(assigned.data(), assigned.size(), head);
}

// Partitions holding an identity that was a subject of ANOTHER partition
// when the base was built (its id was retired and handed on since).
uint64_t AclContexts::Forced(const std::unordered_map<uint32_t, uint8_t>& partition_of) const {
  const AclContext* base = base_.get();
  if (base == nullptr) return 0;
  uint64_t forced = 0;
  for (const auto& [id, partition] : partition_of) {
    auto it = base->subject_partition_.find(id);
    if (it != base->subject_partition_.end() && it->second != partition) forced |= uint64_t{1} << partition;
  }
  return forced;
}

bool AclContexts::Serves(const PolicyImage& image, uint32_t partitions) const {
  if (partitions != partitions_ || IdentitiesFit16(image) != narrow_ ||
      ServesKey(image, partitions, narrow_) != serves_key_)
    return false;
  const std::unordered_map<uint32_t, uint8_t> partition_of = IdentityPartitions(image, partitions);
  return Forced(partition_of) == forced_;
}

Result<std::shared_ptr<const AclContexts>> AclContexts::Build(const PolicyImage& image, const AclContexts* previous,
                                                              uint32_t partitions) {
  const auto started = std::chrono::steady_clock::now();
  partitions = std::clamp<uint32_t>(partitions, 1, kMaxAclPartitions);
  const bool narrow = IdentitiesFit16(image);
  const std::unordered_map<uint32_t, uint8_t> partition_of = IdentityPartitions(image, partitions);
  std::vector<PartitionRules> part(partitions);
  std::unordered_map<uint32_t, uint8_t> subjects_of;
  std::shared_ptr<AclContexts> contexts(new AclContexts());
  Expand(image, partition_of, narrow, part, subjects_of, contexts->rule_count_);
  if (previous != nullptr && (previous->partitions_ != partitions || previous->narrow_ != narrow)) previous = nullptr;

  // Builds one rte_acl context (member scope: AclContext's fields are private).
  auto make_context = [narrow](const std::vector<PolicyAclRule>& rules,
                               const std::string& what) -> Result<std::shared_ptr<AclContext>> {
    const auto context_started = std::chrono::steady_clock::now();
    const size_t heap_before = HeapAllocated();
    auto ctx = BuildContext(rules, narrow);
    if (!ctx)
      return MakeError("policy classifier (" + what + ", " + std::to_string(rules.size()) +
                       " rules): " + ctx.error().message);
    std::shared_ptr<AclContext> context(new AclContext());
    context->ctx_ = ctx->release();
    context->classify_method_ = WidestClassifyMethod(context->ctx_);
    const size_t heap_after = HeapAllocated();
    context->memory_bytes_ = heap_after > heap_before ? heap_after - heap_before : 0;
    context->rule_count_ = static_cast<uint32_t>(rules.size());
    context->build_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - context_started).count();
    return context;
  };
  contexts->narrow_ = narrow;
  contexts->partitions_ = partitions;
  contexts->serves_key_ = ServesKey(image, partitions, narrow);
  uint64_t total = 0;
  for (const PartitionRules& p : part) total += p.rules.size();
  std::shared_ptr<const AclContext>& base = contexts->base_;
  if (previous != nullptr && total > 0) base = previous->base_;
  uint64_t forced = contexts->Forced(partition_of);
  auto served = [&](uint32_t p) {
    return base && part[p].digest == base->partition_digest_[p] && !((forced >> p) & 1);
  };
  uint64_t overlaid = 0;
  for (uint32_t p = 0; p < partitions; ++p)
    if (!served(p)) overlaid += part[p].rules.size();
  if (total > 0 && (!base || overlaid * kAclOverlayShare > total)) {
    // A new base: every partition, numbered in image order.
    std::vector<std::tuple<uint32_t, uint32_t, uint32_t>> order;  // (image rule, partition, local)
    for (uint32_t p = 0; p < partitions; ++p)
      for (uint32_t local = 0; local < part[p].image_rule.size(); ++local)
        order.emplace_back(part[p].image_rule[local], p, local);
    std::sort(order.begin(), order.end());
    std::vector<std::vector<uint32_t>> locals(partitions);
    for (uint32_t p = 0; p < partitions; ++p) locals[p].resize(part[p].image_rule.size());
    for (uint32_t at = 0; at < order.size(); ++at) locals[std::get<1>(order[at])][std::get<2>(order[at])] = at;
    std::vector<PolicyAclRule> rules;
    rules.reserve(total);
    for (uint32_t p = 0; p < partitions; ++p)
      for (PolicyAclRule rule : part[p].rules) {
        Number(rule, locals[p][rule.data.userdata - 1]);
        rules.push_back(rule);
      }
    auto built = make_context(rules, "base");
    if (!built) return built.error();
    (*built)->base_ = true;
    (*built)->local_count_ = static_cast<uint32_t>(order.size());
    for (const PartitionRules& p : part) (*built)->partition_digest_.push_back(p.digest);
    (*built)->partition_locals_ = std::move(locals);
    (*built)->subject_partition_ = std::move(subjects_of);
    base = std::move(built).value();
    ++contexts->built_;
    forced = 0;
  } else if (base) {
    ++contexts->reused_;
  }
  contexts->forced_ = forced;
  if (base) contexts->memory_bytes_ += base->memory_bytes_;

  // Routes: 0 the base, 1 nowhere, 2.. overlays.
  auto& slots = contexts->slots_;
  auto& maps = contexts->image_rules_;
  maps.emplace_back(1 + (base ? base->local_count_ : 0), kAclNoMatch);
  maps.emplace_back(1, kAclNoMatch);
  slots.push_back(Slot{base ? base->ctx_ : nullptr, nullptr, base ? base->classify_method_ : 0});
  slots.push_back(Slot{nullptr, nullptr, 0});
  contexts->overlay_.resize(partitions);
  contexts->route_.resize(partitions);
  for (uint32_t p = 0; p < partitions; ++p) {
    if (served(p)) {
      contexts->route_[p] = 0;
      for (uint32_t local = 0; local < part[p].image_rule.size(); ++local)
        maps[0][base->partition_locals_[p][local] + 1] = part[p].image_rule[local];
      continue;
    }
    if (part[p].rules.empty()) {
      contexts->route_[p] = 1;
      continue;
    }
    std::shared_ptr<const AclContext>& overlay = contexts->overlay_[p];
    if (previous != nullptr && previous->overlay_[p] && previous->overlay_[p]->digest_ == part[p].digest) {
      overlay = previous->overlay_[p];
      ++contexts->reused_;
    } else {
      auto built = make_context(part[p].rules, "partition " + std::to_string(p));
      if (!built) return built.error();
      (*built)->digest_ = part[p].digest;
      (*built)->local_count_ = static_cast<uint32_t>(part[p].image_rule.size());
      overlay = std::move(built).value();
      ++contexts->built_;
    }
    contexts->memory_bytes_ += overlay->memory_bytes_;
    contexts->route_[p] = static_cast<uint8_t>(slots.size());
    std::vector<uint32_t> map(1, kAclNoMatch);
    map.insert(map.end(), part[p].image_rule.begin(), part[p].image_rule.end());
    maps.push_back(std::move(map));
    slots.push_back(Slot{overlay->ctx_, nullptr, overlay->classify_method_});
  }
  for (size_t route = 0; route < slots.size(); ++route) slots[route].image_rule = maps[route].data();
  contexts->build_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return std::shared_ptr<const AclContexts>(std::move(contexts));
}

AclContext::~AclContext() {
  if (ctx_ != nullptr) rte_acl_free(ctx_);
}

void AclContexts::Classify(uint8_t route, const uint8_t** keys, uint32_t* results, uint32_t count) const {
  const Slot& slot = slots_[route];
  if (slot.ctx == nullptr || count == 0) {
    std::fill(results, results + count, kAclNoMatch);
    return;
  }
  if (slot.classify_method == RTE_ACL_CLASSIFY_DEFAULT)
    rte_acl_classify(slot.ctx, keys, results, count, 1);
  else
    rte_acl_classify_alg(slot.ctx, keys, results, count, 1,
                         static_cast<enum rte_acl_classify_alg>(slot.classify_method));
  for (uint32_t i = 0; i < count; ++i) results[i] = slot.image_rule[results[i]];  // [0] = kAclNoMatch
}

}  // namespace np::policy
