#include "dataplane/policy/policy_tables.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace np::policy {

Result<std::unique_ptr<PolicyTables>> PolicyTables::Build(PolicyImage image, const PolicyTables* previous) {
  std::unique_ptr<PolicyTables> tables(new PolicyTables());
  if (previous != nullptr && previous->acl_ && previous->acl_->digest() == image.AclDigest()) {
    tables->acl_ = previous->acl_;
  } else {
    auto built = AclContexts::Build(image);
    if (!built) return built.error();
    tables->acl_ = std::move(built).value();
  }
  std::unordered_map<uint32_t, uint8_t> identity_flags;
  constexpr uint8_t kIsolated = abi::kIdentityIsolatedIngress | abi::kIdentityIsolatedEgress;
  for (const abi::IdentityRecord& identity : image.identities) {
    identity_flags[identity.id] = identity.flags;
    tables->isolates_any_ |= (identity.flags & kIsolated) != 0;
  }
  std::vector<std::pair<uint64_t, AddressInfo>> entries;
  entries.reserve(image.ip_entries.size());
  for (const abi::IpIdentityRecord& entry : image.ip_entries) {
    auto flags = identity_flags.find(entry.identity);
    entries.push_back({entry.ipv4, AddressInfo{entry.identity, entry.flags,
                                               flags == identity_flags.end() ? uint8_t{0} : flags->second}});
  }
  tables->addresses_ = FrozenMap<AddressInfo>(entries);
  const uint8_t len = image.info.cluster_cidr_len;
  tables->cluster_mask_ = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  tables->cluster_prefix_ = image.info.cluster_cidr & tables->cluster_mask_;
  tables->image_ = std::move(image);
  return tables;
}

void PolicyTables::Check(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const {
  for (uint32_t done = 0; done < count; done += kPolicyBurst)
    CheckBurst(flows + done, std::min(kPolicyBurst, count - done), verdicts + done);
}

void PolicyTables::CheckBurst(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const {
  AclKey keys[2][kPolicyBurst];
  const uint8_t* key_ptrs[2][kPolicyBurst];
  uint32_t flow_of[2][kPolicyBurst];
  uint32_t results[2][kPolicyBurst];
  uint32_t judged[2] = {0, 0};
  constexpr uint32_t kIn = static_cast<uint32_t>(abi::PolicyDirection::kIngress);
  constexpr uint32_t kEg = static_cast<uint32_t>(abi::PolicyDirection::kEgress);

  for (uint32_t i = 0; i < count; ++i) {
    const FlowQuery& flow = flows[i];
    FlowVerdict& verdict = verdicts[i];
    const AddressInfo src = Lookup(flow.src_ipv4);
    const AddressInfo dst = Lookup(flow.dst_ipv4);
    verdict = FlowVerdict{true, Reason::kNotJudged, src.identity, dst.identity, kNoRule, kNoRule};
    if (flow.src_ipv4 == flow.dst_ipv4) {
      verdict.reason = Reason::kSelf;
      continue;
    }
    if (src.identity == abi::kIdentityHost || dst.identity == abi::kIdentityHost) {
      verdict.reason = Reason::kHost;
      continue;
    }
    if ((src.ip_flags & abi::kIpLocalPod) && (src.identity_flags & abi::kIdentityIsolatedEgress)) {
      const uint32_t slot = judged[kEg]++;
      acl_->MakeKey(keys[kEg][slot], flow.protocol, src.identity, dst.identity, flow.dst_ipv4, flow.dst_port);
      key_ptrs[kEg][slot] = reinterpret_cast<const uint8_t*>(&keys[kEg][slot]);
      flow_of[kEg][slot] = i;
    }
    if ((dst.ip_flags & abi::kIpLocalPod) && (dst.identity_flags & abi::kIdentityIsolatedIngress)) {
      const uint32_t slot = judged[kIn]++;
      acl_->MakeKey(keys[kIn][slot], flow.protocol, dst.identity, src.identity, flow.src_ipv4, flow.dst_port);
      key_ptrs[kIn][slot] = reinterpret_cast<const uint8_t*>(&keys[kIn][slot]);
      flow_of[kIn][slot] = i;
    }
  }
  if (judged[kEg] > 0) acl_->Classify(abi::PolicyDirection::kEgress, key_ptrs[kEg], results[kEg], judged[kEg]);
  if (judged[kIn] > 0) acl_->Classify(abi::PolicyDirection::kIngress, key_ptrs[kIn], results[kIn], judged[kIn]);
  // Egress first: a flow denied both ways reports egress (the source's node drops it first).
  for (uint32_t slot = 0; slot < judged[kIn]; ++slot) {
    FlowVerdict& verdict = verdicts[flow_of[kIn][slot]];
    verdict.ingress_rule = results[kIn][slot];
    if (verdict.ingress_rule == kNoRule) {
      verdict.allowed = false;
      verdict.reason = Reason::kDeniedIngress;
    } else {
      verdict.reason = Reason::kAllowedByRule;
    }
  }
  for (uint32_t slot = 0; slot < judged[kEg]; ++slot) {
    FlowVerdict& verdict = verdicts[flow_of[kEg][slot]];
    verdict.egress_rule = results[kEg][slot];
    if (verdict.egress_rule == kNoRule) {
      verdict.allowed = false;
      verdict.reason = Reason::kDeniedEgress;
    } else if (verdict.allowed) {
      verdict.reason = Reason::kAllowedByRule;
    }
  }
}

}  // namespace np::policy
