#include "dataplane/policy/policy_tables.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace np::policy {

Result<std::unique_ptr<PolicyTables>> PolicyTables::Build(PolicyImage image, const PolicyTables* previous,
                                                          uint32_t acl_partitions) {
  std::unique_ptr<PolicyTables> tables(new PolicyTables());
  const AclContexts* previous_acl = previous != nullptr ? previous->acl_.get() : nullptr;
  if (previous_acl != nullptr && previous_acl->Serves(image, acl_partitions)) {
    tables->acl_ = previous->acl_;
    tables->acl_reused_ = previous_acl->contexts_built() + previous_acl->contexts_reused();
  } else {
    auto built = AclContexts::Build(image, previous_acl, acl_partitions);
    if (!built) return built.error();
    tables->acl_ = std::move(built).value();
    tables->acl_built_ = tables->acl_->contexts_built();
    tables->acl_reused_ = tables->acl_->contexts_reused();
  }
  // The same partitions the classifier split its rules by.
  const std::unordered_map<uint32_t, uint8_t> partition_of = IdentityPartitions(image, tables->acl_->partitions());
  std::unordered_map<uint32_t, uint8_t> identity_flags;
  constexpr uint8_t kIsolated = abi::kIdentityIsolatedIngress | abi::kIdentityIsolatedEgress;
  for (const abi::IdentityRecord& identity : image.identities) {
    identity_flags[identity.id] = identity.flags;
    tables->isolates_any_ |= (identity.flags & kIsolated) != 0;
  }
  std::vector<std::pair<uint32_t, AddressInfo>> entries;
  entries.reserve(image.ip_entries.size());
  for (const abi::IpIdentityRecord& entry : image.ip_entries) {
    auto flags = identity_flags.find(entry.identity);
    auto partition = partition_of.find(entry.identity);
    entries.push_back({entry.ipv4, AddressInfo{entry.identity, entry.flags,
                                               flags == identity_flags.end() ? uint8_t{0} : flags->second,
                                               partition == partition_of.end() ? uint8_t{0} : partition->second}});
  }
  auto addresses = AddressMap::Build(entries);
  if (!addresses) return addresses.error();
  tables->addresses_ = std::move(addresses).value();
  const uint8_t len = image.info.cluster_cidr_len;
  tables->cluster_mask_ = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  tables->cluster_prefix_ = image.info.cluster_cidr & tables->cluster_mask_;
  tables->generation_ = image.generation;
  tables->image_ = std::make_shared<const PolicyImage>(std::move(image));
  return tables;
}

std::unique_ptr<PolicyTables> PolicyTables::WithClassifier(std::shared_ptr<const AclContexts> acl) const {
  std::unique_ptr<PolicyTables> tables(new PolicyTables(*this));
  tables->acl_built_ = acl->contexts_built();
  tables->acl_reused_ = acl->contexts_reused();
  tables->acl_ = std::move(acl);
  return tables;
}

void PolicyTables::Check(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const {
  for (uint32_t done = 0; done < count; done += kPolicyBurst)
    CheckBurst(flows + done, std::min(kPolicyBurst, count - done), verdicts + done);
}

void PolicyTables::ClassifyByRoute(const uint8_t** keys, const uint8_t* routes, uint8_t any_route, uint32_t n,
                                   uint32_t* results) const {
  // Every key goes through the base in one call: rte_acl walks many keys at
  // once far better than a few. The keys of partitions the base does not
  // serve (overlays, or no rules) are few; they are classified again on
  // their own route, and those results replace the base's, which may come
  // from that partition's stale rules.
  acl_->Classify(0, keys, results, n);
  if (any_route == 0) return;
  uint8_t other_at[kMaxKeys];
  uint32_t others = 0;
  for (uint32_t k = 0; k < n; ++k)
    if (routes[k] != 0) other_at[others++] = static_cast<uint8_t>(k);
  std::sort(other_at, other_at + others, [routes](uint8_t a, uint8_t b) { return routes[a] < routes[b]; });
  const uint8_t* run_keys[kMaxKeys];
  uint32_t run_results[kMaxKeys];
  for (uint32_t begin = 0; begin < others;) {
    const uint8_t route = routes[other_at[begin]];
    uint32_t end = begin;
    for (; end < others && routes[other_at[end]] == route; ++end) run_keys[end - begin] = keys[other_at[end]];
    acl_->Classify(route, run_keys, run_results, end - begin);
    for (uint32_t at = begin; at < end; ++at) results[other_at[at]] = run_results[at - begin];
    begin = end;
  }
}

void PolicyTables::CheckBurst(const FlowQuery* flows, uint32_t count, FlowVerdict* verdicts) const {
  // Ingress keys fill the arrays from the front, egress keys from the back,
  // so that both directions go through one classify call per route.
  AclKey keys[kMaxKeys];
  const uint8_t* key_ptrs[kMaxKeys];
  uint8_t route_of[kMaxKeys];
  uint32_t flow_of[kMaxKeys];
  uint32_t results[kMaxKeys];
  uint8_t any_route = 0;  // OR of the routes: 0 = every key goes to the base
  uint32_t ingress = 0;   // keys [0, ingress)
  uint32_t egress = 0;    // keys [kMaxKeys - egress, kMaxKeys)

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
      const uint32_t slot = kMaxKeys - 1 - egress++;
      acl_->MakeKey(keys[slot], abi::PolicyDirection::kEgress, flow.protocol, src.identity, dst.identity,
                    flow.dst_ipv4, flow.dst_port);
      route_of[slot] = acl_->Route(src.acl_partition);
      any_route |= route_of[slot];
      flow_of[slot] = i;
    }
    if ((dst.ip_flags & abi::kIpLocalPod) && (dst.identity_flags & abi::kIdentityIsolatedIngress)) {
      const uint32_t slot = ingress++;
      acl_->MakeKey(keys[slot], abi::PolicyDirection::kIngress, flow.protocol, dst.identity, src.identity,
                    flow.src_ipv4, flow.dst_port);
      route_of[slot] = acl_->Route(dst.acl_partition);
      any_route |= route_of[slot];
      flow_of[slot] = i;
    }
  }
  if (ingress + egress == 0) return;
  // One run of keys for ClassifyByRoute: ingress [0, ingress), then egress.
  const uint32_t n = ingress + egress;
  uint8_t routes[kMaxKeys] = {};  // zeroed: GCC 12 cannot see that the n used below are all set
  for (uint32_t k = 0; k < ingress; ++k) {
    key_ptrs[k] = keys[k].bytes;
    routes[k] = route_of[k];
  }
  for (uint32_t k = 0; k < egress; ++k) {
    key_ptrs[ingress + k] = keys[kMaxKeys - 1 - k].bytes;
    routes[ingress + k] = route_of[kMaxKeys - 1 - k];
  }
  ClassifyByRoute(key_ptrs, routes, any_route, n, results);
  for (uint32_t k = 0; k < ingress; ++k) {
    FlowVerdict& verdict = verdicts[flow_of[k]];
    verdict.ingress_rule = results[k];
    if (verdict.ingress_rule == kNoRule) {
      verdict.allowed = false;
      verdict.reason = Reason::kDeniedIngress;
    } else {
      verdict.reason = Reason::kAllowedByRule;
    }
  }
  // Egress last: a flow denied both ways reports egress (the source's node drops it first).
  for (uint32_t k = 0; k < egress; ++k) {
    FlowVerdict& verdict = verdicts[flow_of[kMaxKeys - 1 - k]];
    verdict.egress_rule = results[ingress + k];
    if (verdict.egress_rule == kNoRule) {
      verdict.allowed = false;
      verdict.reason = Reason::kDeniedEgress;
    } else if (verdict.allowed) {
      verdict.reason = Reason::kAllowedByRule;
    }
  }
}

}  // namespace np::policy
