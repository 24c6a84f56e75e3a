#include "control/cli/format_policy.h"

#include <algorithm>

#include "control/cli/json_writer.h"
#include "control/cli/text_table.h"

namespace np::cli {
namespace {

std::string IdentityName(const PolicyImage& image, uint32_t id) {
  switch (id) {
    case abi::kIdentityHost: return "host";
    case abi::kIdentityWorld: return "world";
    case abi::kIdentityUnknownCluster: return "cluster";
    default: break;
  }
  for (size_t i = 0; i < image.identities.size(); ++i)
    if (image.identities[i].id == id) return i < image.identity_names.size() ? image.identity_names[i] : "?";
  return "identity " + std::to_string(id);
}

// Audit mode samples (kSampleWouldDeny) passed: "would-deny-...".
std::string ReasonName(uint8_t reason, uint8_t sample_flags) {
  const std::string prefix = (sample_flags & stats::kSampleWouldDeny) ? "would-deny" : "denied";
  switch (reason) {
    case 4: return prefix + "-ingress";  // policy::Reason::kDeniedIngress
    case 5: return prefix + "-egress";   // policy::Reason::kDeniedEgress
    default: return prefix;
  }
}

}  // namespace

std::vector<PolicyRuleRow> CollectPolicyRules(const PolicyImage& image, const stats::StatsHeader* stats) {
  const bool counts_match = stats != nullptr &&
                            stats->policy_counters_generation.load(std::memory_order_acquire) == image.generation;
  std::vector<PolicyRuleRow> rows;
  for (uint32_t index = 0; index < image.rules.size(); ++index) {
    const abi::PolicyRuleRecord& rule = image.rules[index];
    PolicyRuleRow row{};
    row.policy = rule.policy_index < image.policy_names.size() ? image.policy_names[rule.policy_index] : "?";
    row.direction = rule.direction == static_cast<uint8_t>(abi::PolicyDirection::kIngress) ? "ingress" : "egress";
    row.rule_index = rule.rule_index;
    row.match = rule.protocol == 0 ? "any" : ProtocolName(rule.protocol);
    if (rule.protocol != 0)
      row.match += rule.port_min == rule.port_max ? ":" + std::to_string(rule.port_min)
                   : rule.port_min == 0 && rule.port_max == 65535
                       ? ""
                       : ":" + std::to_string(rule.port_min) + "-" + std::to_string(rule.port_max);
    if (counts_match && index < stats::kMaxPolicyRules - 1)
      for (uint32_t block = 0; block < std::min(stats->lcore_count, stats::kMaxLcores); ++block)
        row.connections += stats->lcores[block].policy_rule_connections[index].load(std::memory_order_relaxed);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<PolicyDropRow> CollectPolicyDrops(const PolicyImage& image, const stats::StatsHeader& stats) {
  std::vector<PolicyDropRow> rows;
  for (uint32_t block = 0; block < std::min(stats.lcore_count, stats::kMaxLcores); ++block) {
    for (const stats::PolicyDropSample& sample : stats.lcores[block].policy_drops) {
      const uint64_t before = sample.sequence.load(std::memory_order_acquire);
      if (before == 0) continue;
      const stats::PolicyDropSample copy{.sequence = {}, .time_ns = sample.time_ns, .src_ip = sample.src_ip,
                                         .dst_ip = sample.dst_ip, .dst_port = sample.dst_port,
                                         .protocol = sample.protocol, .reason = sample.reason,
                                         .src_identity = sample.src_identity, .dst_identity = sample.dst_identity,
                                         .flags = sample.flags, .reserved = {}};
      std::atomic_thread_fence(std::memory_order_acquire);
      if (sample.sequence.load(std::memory_order_relaxed) != before) continue;  // rewritten while read
      PolicyDropRow row;
      row.time_ns = copy.time_ns;
      row.source = FormatIpv4(copy.src_ip) + " (" + IdentityName(image, copy.src_identity) + ")";
      row.destination = FormatIpv4(copy.dst_ip) + " (" + IdentityName(image, copy.dst_identity) + ")";
      row.flow = std::string(ProtocolName(copy.protocol)) + (copy.dst_port ? " :" + std::to_string(copy.dst_port) : "");
      row.reason = ReasonName(copy.reason, copy.flags);
      rows.push_back(std::move(row));
    }
  }
  std::sort(rows.begin(), rows.end(), [](const PolicyDropRow& a, const PolicyDropRow& b) { return a.time_ns > b.time_ns; });
  return rows;
}

uint64_t CollectWouldDenyConnections(const stats::StatsHeader& stats) {
  uint64_t total = 0;
  for (uint32_t block = 0; block < std::min(stats.lcore_count, stats::kMaxLcores); ++block)
    total += stats.lcores[block].policy_would_deny_connections.load(std::memory_order_relaxed);
  return total;
}

std::string FormatPolicyRules(const std::vector<PolicyRuleRow>& rows, OutputFormat format,
                              std::optional<uint64_t> would_deny) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginArray();
    for (const PolicyRuleRow& row : rows)
      json.BeginObject()
          .Field("policy", row.policy)
          .Field("direction", row.direction)
          .Field("rule", row.rule_index)
          .Field("match", row.match)
          .Field("connections", row.connections)
          .EndObject();
    return json.EndArray().Finish();
  }
  TextTable table({"POLICY", "DIRECTION", "RULE", "MATCH", "CONNECTIONS"});
  for (const PolicyRuleRow& row : rows)
    table.AddRow({row.policy, row.direction, std::to_string(row.rule_index), row.match, std::to_string(row.connections)});
  std::string out = table.Render();
  if (would_deny) out += "would-deny connections (audit mode): " + std::to_string(*would_deny) + "\n";
  return out;
}

std::string FormatPolicyDrops(const std::vector<PolicyDropRow>& rows, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginArray();
    for (const PolicyDropRow& row : rows)
      json.BeginObject()
          .Field("time_ns", row.time_ns)
          .Field("source", row.source)
          .Field("destination", row.destination)
          .Field("flow", row.flow)
          .Field("reason", row.reason)
          .EndObject();
    return json.EndArray().Finish();
  }
  TextTable table({"SOURCE", "DESTINATION", "FLOW", "REASON"});
  for (const PolicyDropRow& row : rows) table.AddRow({row.source, row.destination, row.flow, row.reason});
  return table.Render();
}

}  // namespace np::cli
