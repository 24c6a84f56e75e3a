// A NetworkPolicy verdict (dataplane/policy/policy_tables.h) as a flow
// record carries it. Apart from flow_emitter.h because it needs the policy
// tables (DPDK's rte_acl), which the emitter does not.
#pragma once

#include "dataplane/flows/flow_emitter.h"
#include "dataplane/policy/policy_tables.h"

namespace np::flows {

// `would_deny`: policy denied, audit mode let the connection pass.
inline FlowPolicy FlowPolicyFrom(const policy::FlowVerdict& verdict, bool would_deny, uint32_t generation) {
  FlowPolicy out;
  switch (verdict.reason) {
    case policy::Reason::kNotJudged: out.verdict = Verdict::kNoPolicy; break;
    case policy::Reason::kSelf:
    case policy::Reason::kHost: out.verdict = Verdict::kAlwaysAllowed; break;
    case policy::Reason::kAllowedByRule: out.verdict = Verdict::kAllowed; break;
    case policy::Reason::kDeniedIngress:
    case policy::Reason::kDeniedEgress: out.verdict = would_deny ? Verdict::kWouldDeny : Verdict::kDenied; break;
  }
  out.egress_rule = verdict.egress_rule;
  out.ingress_rule = verdict.ingress_rule;
  out.src_identity = verdict.src_identity;
  out.dst_identity = verdict.dst_identity;
  out.generation = generation;
  return out;
}

}  // namespace np::flows
