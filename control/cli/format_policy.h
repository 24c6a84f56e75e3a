// `npctl get policies` (per rule: new connections it allowed) and
// `npctl get policy-drops` (the newest denied connections): plain data
// collected from the published policy section and the stats region, and
// pure formatting over it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/policy_image.h"
#include "common/stats_abi.h"
#include "control/cli/format.h"

namespace np::cli {

struct PolicyRuleRow {
  std::string policy;     // namespace/name
  std::string direction;  // ingress | egress
  uint32_t rule_index;    // position in spec.ingress / spec.egress
  std::string match;      // protocol and ports
  uint64_t connections;   // new connections allowed since the policy generation applied
};

struct PolicyDropRow {
  uint64_t time_ns;
  std::string source, destination;  // "ip (identity name)"
  std::string flow;                 // "TCP :8080"
  std::string reason;               // denied-ingress | denied-egress | would-deny-ingress | would-deny-egress
};

std::vector<PolicyRuleRow> CollectPolicyRules(const PolicyImage& image, const stats::StatsHeader* stats);
std::vector<PolicyDropRow> CollectPolicyDrops(const PolicyImage& image, const stats::StatsHeader& stats);
// New connections audit mode let through although policy denies them (every lcore).
uint64_t CollectWouldDenyConnections(const stats::StatsHeader& stats);
// `would_deny`: printed under the table (text only; JSON keeps its array of rules).
std::string FormatPolicyRules(const std::vector<PolicyRuleRow>& rows, OutputFormat format,
                              std::optional<uint64_t> would_deny = std::nullopt);
std::string FormatPolicyDrops(const std::vector<PolicyDropRow>& rows, OutputFormat format);

}  // namespace np::cli
