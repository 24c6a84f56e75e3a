// NetworkPolicy (networking.k8s.io/v1) decoding and validation, following
// the API server's ValidateNetworkPolicy where the compiler depends on it:
//  - policyTypes: Ingress/Egress, no duplicates; absent or empty defaults to
//    [Ingress] plus Egress when spec.egress is non-empty (SetDefaults_NetworkPolicy).
//  - peers: exactly one of podSelector/namespaceSelector (either or both) or
//    ipBlock; an empty peer is an error.
//  - ipBlock: cidr required; every except must be strictly inside cidr and of
//    the same family.
//  - ports: protocol TCP/UDP/SCTP (default TCP); port a number or an
//    IANA_SVC_NAME; endPort only with a numeric port and >= port.
//  - selectors: matchLabels, matchExpressions with In/NotIn (values
//    required) and Exists/DoesNotExist (values forbidden).
#include <set>

#include "control/k8s/decode.h"

namespace np::k8s {
namespace {

using Operator = LabelSelectorRequirement::Operator;

std::optional<LabelSelector> DecodeSelector(const Field& field) {
  if (!field.present()) return std::nullopt;
  if (!field.ExpectMap({"matchLabels", "matchExpressions"})) return std::nullopt;
  LabelSelector selector;
  selector.match_labels = field["matchLabels"].StringMap();
  for (const Field& item : field["matchExpressions"].Items()) {
    item.ExpectMap({"key", "operator", "values"});
    LabelSelectorRequirement requirement;
    requirement.key = item["key"].String().value_or("");
    if (requirement.key.empty()) item["key"].Error("required");
    if (!item["operator"].present()) item["operator"].Error("required");
    const std::string op = item["operator"].Enum({"In", "NotIn", "Exists", "DoesNotExist"}, "In").value_or("In");
    requirement.op = op == "NotIn"          ? Operator::kNotIn
                     : op == "Exists"       ? Operator::kExists
                     : op == "DoesNotExist" ? Operator::kDoesNotExist
                                            : Operator::kIn;
    requirement.values = item["values"].StringList();
    const bool needs_values = requirement.op == Operator::kIn || requirement.op == Operator::kNotIn;
    if (needs_values && requirement.values.empty())
      item["values"].Error("must be non-empty for operator " + op);
    if (!needs_values && !requirement.values.empty())
      item["values"].Error("must be empty for operator " + op);
    selector.match_expressions.push_back(std::move(requirement));
  }
  return selector;
}

std::optional<IpBlock> DecodeIpBlock(const Field& field) {
  if (!field.ExpectMap({"cidr", "except"})) return std::nullopt;
  if (!field["cidr"].present()) {
    field["cidr"].Error("required");
    return std::nullopt;
  }
  std::optional<IpCidr> cidr = field["cidr"].Cidr();
  if (!cidr) return std::nullopt;
  IpBlock block{*cidr, {}};
  for (const Field& item : field["except"].Items()) {
    std::optional<IpCidr> except = item.Cidr();
    if (!except) continue;
    if (except->is_v4() != cidr->is_v4() || except->prefix_len <= cidr->prefix_len ||
        !cidr->Contains(except->address)) {
      item.Error("must be strictly within " + cidr->ToString());
      continue;
    }
    block.except.push_back(*except);
  }
  return block;
}

NetworkPolicyPeer DecodePeer(const Field& field) {
  field.ExpectMap({"podSelector", "namespaceSelector", "ipBlock"});
  NetworkPolicyPeer peer;
  peer.pod_selector = DecodeSelector(field["podSelector"]);
  peer.namespace_selector = DecodeSelector(field["namespaceSelector"]);
  if (field["ipBlock"].present()) peer.ip_block = DecodeIpBlock(field["ipBlock"]);
  const bool selectors = field["podSelector"].present() || field["namespaceSelector"].present();
  if (selectors && field["ipBlock"].present())
    field.Error("may not specify both ipBlock and another peer");
  else if (!selectors && !field["ipBlock"].present())
    field.Error("must specify a peer (podSelector, namespaceSelector or ipBlock)");
  return peer;
}

NetworkPolicyPort DecodePolicyPort(const Field& field) {
  field.ExpectMap({"protocol", "port", "endPort"});
  NetworkPolicyPort port;
  port.protocol = DecodeProtocol(field["protocol"]).value_or(Protocol::kTCP);
  const Field number = field["port"];
  if (number.present()) {
    IntOrString value;
    const YAML::Node& node = number.node();
    const bool textual = node.IsScalar() && (node.Tag() == "!" || node.Scalar().empty() ||
                                             node.Scalar()[0] < '0' || node.Scalar()[0] > '9');
    if (textual) {
      value.is_name = true;
      value.name = node.Scalar();
      if (!IsValidPortName(value.name))
        number.Error("\"" + value.name + "\" is not a port number or a valid port name");
    } else {
      value.number = number.Port().value_or(0);
    }
    port.port = value;
  }
  if (field["endPort"].present()) {
    port.end_port = field["endPort"].Port();
    if (!port.port || port.port->is_name)
      field["endPort"].Error("may only be specified with a numeric port");
    else if (port.end_port && *port.end_port < port.port->number)
      field["endPort"].Error("must be greater than or equal to port");
  }
  return port;
}

std::vector<NetworkPolicyRule> DecodeRules(const Field& list, const char* peers_key) {
  std::vector<NetworkPolicyRule> rules;
  for (const Field& item : list.Items()) {
    item.ExpectMap({peers_key, "ports"});
    NetworkPolicyRule rule;
    for (const Field& peer : item[peers_key].Items()) rule.peers.push_back(DecodePeer(peer));
    for (const Field& port : item["ports"].Items()) rule.ports.push_back(DecodePolicyPort(port));
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace

std::optional<NetworkPolicy> DecodeNetworkPolicy(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "spec", "status"});
  NetworkPolicy policy;
  policy.meta = DecodeMeta(root["metadata"], true);
  const Field spec = root["spec"];
  spec.ExpectMap({"podSelector", "ingress", "egress", "policyTypes"});
  // podSelector is required by the API (`{}` selects every pod).
  if (!spec["podSelector"].present()) spec["podSelector"].Error("required (use {} to select every pod)");
  policy.pod_selector = DecodeSelector(spec["podSelector"]).value_or(LabelSelector{});
  policy.ingress = DecodeRules(spec["ingress"], "from");
  policy.egress = DecodeRules(spec["egress"], "to");

  std::set<std::string> types;
  for (const Field& item : spec["policyTypes"].Items()) {
    std::optional<std::string> type = item.Enum({"Ingress", "Egress"}, "");
    if (!type) continue;
    if (!types.insert(*type).second) item.Error("duplicate policy type " + *type);
  }
  if (types.empty()) {
    policy.affects_ingress = true;
    policy.affects_egress = !policy.egress.empty();
  } else {
    policy.affects_ingress = types.count("Ingress") != 0;
    policy.affects_egress = types.count("Egress") != 0;
  }
  root["status"].ExpectMap({}, /*open=*/true);
  if (root.report()->failed()) return std::nullopt;
  return policy;
}

}  // namespace np::k8s

namespace np::k8s {

std::optional<LabelSelector> DecodeLabelSelector(const Field& field) { return DecodeSelector(field); }

}  // namespace np::k8s
