#include "common/policy_image.h"

#include <algorithm>
#include <unordered_set>

#include "common/section_image.h"

namespace np {
namespace {

using T = abi::PolicyTable;

constexpr uint32_t Index(T table) { return static_cast<uint32_t>(table); }

template <class V>
void AppendBytes(std::vector<uint8_t>& out, const std::vector<V>& records) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(records.data());
  out.insert(out.end(), bytes, bytes + records.size() * sizeof(V));
}

bool InBounds(uint64_t first, uint64_t count, uint64_t limit) { return first <= limit && count <= limit - first; }

bool KnownProtocol(uint8_t protocol) {
  return protocol == 0 || protocol == abi::kProtoTcp || protocol == abi::kProtoUdp || protocol == abi::kProtoSctp;
}

bool HostBitsClear(uint32_t prefix, uint8_t len) {
  return len >= 32 || (len == 0 ? prefix == 0 : (prefix & (0xffffffffu >> len)) == 0);
}

Error Fail(const std::string& what) { return MakeError("policy section: " + what); }

}  // namespace

uint32_t PolicyImage::AclDigest() const {
  std::vector<uint8_t> bytes;
  AppendBytes(bytes, rules);
  AppendBytes(bytes, identity_refs);
  AppendBytes(bytes, cidrs);
  return Crc32(bytes.data(), bytes.size());
}

uint64_t PolicyImage::AclRuleCount() const {
  uint64_t total = 0;
  for (const abi::PolicyRuleRecord& rule : rules) {
    const uint64_t peers = (rule.peer_flags & abi::kPeerAnyIdentity) ? 1 : rule.peer_count;
    const uint64_t cidrs = (rule.peer_flags & abi::kPeerAnyAddress) ? 1 : rule.cidr_count;
    total += static_cast<uint64_t>(rule.subject_count) * peers * cidrs;
  }
  return total;
}

const abi::IdentityRecord* PolicyImage::FindIdentity(uint32_t id) const {
  for (const abi::IdentityRecord& identity : identities)
    if (identity.id == id) return &identity;
  return nullptr;
}

Result<PolicyImage> DecodePolicySection(const uint8_t* data, size_t size, const uint32_t* expected_crc) {
  auto parsed = ParseSection(data, size, abi::SectionKind::kPolicy, expected_crc, Index(T::kCount));
  if (!parsed) return MakeError("policy section: " + parsed.error().message);
  const SectionView& view = *parsed;
  struct Check {
    T table;
    size_t size;
    const char* name;
  };
  for (const Check& check : {Check{T::kInfo, sizeof(abi::PolicyInfo), "info"},
                             Check{T::kIdentities, sizeof(abi::IdentityRecord), "identities"},
                             Check{T::kIpEntries, sizeof(abi::IpIdentityRecord), "ip entries"},
                             Check{T::kPolicies, sizeof(abi::PolicyRecord), "policies"},
                             Check{T::kRules, sizeof(abi::PolicyRuleRecord), "rules"},
                             Check{T::kIdentityRefs, sizeof(abi::IdentityRef), "identity refs"},
                             Check{T::kCidrs, sizeof(abi::CidrRecord), "cidrs"}}) {
    const abi::TableRef& ref = view.header().tables[Index(check.table)];
    if (ref.count > 0 && ref.elem_size < check.size)
      return Fail(std::string("table ") + check.name + ": record size " + std::to_string(ref.elem_size) +
                  " is smaller than " + std::to_string(check.size));
  }
  if (view.Count(Index(T::kInfo)) != 1) return Fail("expected exactly one info record");
  // Strings: checked here rather than through SectionView::String, which
  // knows the strings table of the node and services sections only.
  const std::vector<char> strings = view.Copy<char>(Index(T::kStrings));
  auto string_at = [&](abi::StringRef ref, std::string& out) {
    if (!InBounds(ref.offset, ref.length, strings.size())) return false;
    out.assign(strings.data() + ref.offset, ref.length);
    return true;
  };

  PolicyImage image;
  image.generation = view.header().generation;
  image.info = view.Copy<abi::PolicyInfo>(Index(T::kInfo))[0];
  if (image.info.cluster_cidr_len > 32 || !HostBitsClear(image.info.cluster_cidr, image.info.cluster_cidr_len))
    return Fail("bad cluster CIDR");

  image.identities = view.Copy<abi::IdentityRecord>(Index(T::kIdentities));
  std::unordered_set<uint32_t> ids;
  constexpr uint8_t kKnownIdentityFlags =
      abi::kIdentityIsolatedIngress | abi::kIdentityIsolatedEgress | abi::kIdentityEnforced | abi::kIdentityPolicyAudit;
  for (size_t i = 0; i < image.identities.size(); ++i) {
    const abi::IdentityRecord& identity = image.identities[i];
    const std::string where = "identity " + std::to_string(i) + ": ";
    if (identity.id < abi::kFirstPodIdentity) return Fail(where + "id " + std::to_string(identity.id) + " is reserved");
    if (!ids.insert(identity.id).second) return Fail(where + "duplicate id " + std::to_string(identity.id));
    if (identity.flags & ~kKnownIdentityFlags) return Fail(where + "unknown flags");
    std::string name;
    if (!string_at(identity.name, name)) return Fail(where + "name out of bounds");
    image.identity_names.push_back(std::move(name));
  }

  image.ip_entries = view.Copy<abi::IpIdentityRecord>(Index(T::kIpEntries));
  for (size_t i = 0; i < image.ip_entries.size(); ++i) {
    const abi::IpIdentityRecord& entry = image.ip_entries[i];
    const std::string where = "ip entry " + std::to_string(i) + ": ";
    if (i > 0 && entry.ipv4 <= image.ip_entries[i - 1].ipv4) return Fail(where + "not sorted or duplicate");
    if (entry.identity != abi::kIdentityHost && ids.count(entry.identity) == 0)
      return Fail(where + "unknown identity " + std::to_string(entry.identity));
    if (entry.flags & ~abi::kIpLocalPod) return Fail(where + "unknown flags");
    if (entry.identity == abi::kIdentityHost && entry.flags != 0) return Fail(where + "host address marked as a pod");
  }

  image.policies = view.Copy<abi::PolicyRecord>(Index(T::kPolicies));
  for (size_t i = 0; i < image.policies.size(); ++i) {
    std::string name;
    if (!string_at(image.policies[i].name, name)) return Fail("policy " + std::to_string(i) + ": name out of bounds");
    if (image.policies[i].types & ~(abi::kPolicyIngress | abi::kPolicyEgress))
      return Fail("policy " + std::to_string(i) + ": unknown policy types");
    image.policy_names.push_back(std::move(name));
  }

  image.identity_refs = view.Copy<abi::IdentityRef>(Index(T::kIdentityRefs));
  for (size_t i = 0; i < image.identity_refs.size(); ++i)
    if (ids.count(image.identity_refs[i]) == 0)
      return Fail("identity ref " + std::to_string(i) + ": unknown identity " + std::to_string(image.identity_refs[i]));

  image.cidrs = view.Copy<abi::CidrRecord>(Index(T::kCidrs));
  for (size_t i = 0; i < image.cidrs.size(); ++i)
    if (image.cidrs[i].prefix_len > 32 || !HostBitsClear(image.cidrs[i].prefix, image.cidrs[i].prefix_len))
      return Fail("cidr " + std::to_string(i) + ": bad prefix");

  image.rules = view.Copy<abi::PolicyRuleRecord>(Index(T::kRules));
  constexpr uint8_t kKnownPeerFlags = abi::kPeerAnyIdentity | abi::kPeerAnyAddress;
  for (size_t i = 0; i < image.rules.size(); ++i) {
    const abi::PolicyRuleRecord& rule = image.rules[i];
    const std::string where = "rule " + std::to_string(i) + ": ";
    if (rule.policy_index >= image.policies.size()) return Fail(where + "names no policy");
    if (rule.direction > static_cast<uint8_t>(abi::PolicyDirection::kEgress)) return Fail(where + "unknown direction");
    if (!KnownProtocol(rule.protocol)) return Fail(where + "unknown protocol " + std::to_string(rule.protocol));
    if (rule.port_min > rule.port_max) return Fail(where + "empty port range");
    if (rule.protocol == 0 && (rule.port_min != 0 || rule.port_max != 0xffff))
      return Fail(where + "a port range needs a protocol");
    if (rule.peer_flags & ~kKnownPeerFlags) return Fail(where + "unknown peer flags");
    if (rule.subject_count == 0 || !InBounds(rule.subject_first, rule.subject_count, image.identity_refs.size()))
      return Fail(where + "subjects out of bounds");
    if (!(rule.peer_flags & abi::kPeerAnyIdentity) &&
        (rule.peer_count == 0 || !InBounds(rule.peer_first, rule.peer_count, image.identity_refs.size())))
      return Fail(where + "peer identities out of bounds");
    if (!(rule.peer_flags & abi::kPeerAnyAddress) &&
        (rule.cidr_count == 0 || !InBounds(rule.cidr_first, rule.cidr_count, image.cidrs.size())))
      return Fail(where + "peer CIDRs out of bounds");
  }
  if (const uint64_t count = image.AclRuleCount(); count > kMaxPolicyAclRules)
    return Fail("rules expand to " + std::to_string(count) + " classifier rules, above the limit of " +
                std::to_string(kMaxPolicyAclRules));
  return image;
}

std::vector<uint8_t> EncodePolicySection(const PolicyImage& image) {
  SectionBuilder builder(abi::SectionKind::kPolicy, Index(T::kCount), Index(T::kStrings));
  std::vector<abi::IdentityRecord> identities = image.identities;
  for (size_t i = 0; i < identities.size(); ++i)
    identities[i].name = builder.AddString(i < image.identity_names.size() ? image.identity_names[i] : "");
  std::vector<abi::PolicyRecord> policies = image.policies;
  for (size_t i = 0; i < policies.size(); ++i)
    policies[i].name = builder.AddString(i < image.policy_names.size() ? image.policy_names[i] : "");
  builder.SetTable(Index(T::kInfo), std::vector<abi::PolicyInfo>{image.info});
  builder.SetTable(Index(T::kIdentities), identities);
  builder.SetTable(Index(T::kIpEntries), image.ip_entries);
  builder.SetTable(Index(T::kPolicies), policies);
  builder.SetTable(Index(T::kRules), image.rules);
  builder.SetTable(Index(T::kIdentityRefs), image.identity_refs);
  builder.SetTable(Index(T::kCidrs), image.cidrs);
  return builder.Finish(image.generation);
}

}  // namespace np
