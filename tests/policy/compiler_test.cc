// NetworkPolicy decoding (control/k8s) and compilation (control/policy)
// without the dataplane: what the image holds. Verdicts are in
// classifier_test.cc.
#include "control/policy/policy_compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/policy/selector.h"
#include "tests/policy/policy_test_support.h"

namespace np::policy {
namespace {

using namespace np::policy::testing;
using ::testing::HasSubstr;

std::string Policy(const std::string& spec, const std::string& name = "p") {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
         "\n  namespace: prod\nspec:\n" + spec + "\n---\n";
}

TEST(NetworkPolicyDecode, FieldsAndDefaults) {
  k8s::LoadResult result = LoadText(Policy(R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [x]}]}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports:
    - {port: 80, endPort: 90}
    - {protocol: UDP, port: dns}
    - {protocol: SCTP}
  egress:
  - {})"));
  ASSERT_TRUE(result.failures.empty()) << Failures(result);
  const k8s::NetworkPolicy& policy = result.state.network_policies.at({"prod", "p"});
  EXPECT_TRUE(policy.affects_ingress);
  EXPECT_TRUE(policy.affects_egress);  // defaulted: spec.egress is non-empty
  ASSERT_EQ(policy.ingress.size(), 1u);
  const k8s::NetworkPolicyRule& rule = policy.ingress[0];
  ASSERT_EQ(rule.peers.size(), 2u);
  EXPECT_TRUE(rule.peers[0].namespace_selector && rule.peers[0].pod_selector);
  EXPECT_EQ(rule.peers[0].pod_selector->match_expressions[0].op, k8s::LabelSelectorRequirement::Operator::kNotIn);
  ASSERT_TRUE(rule.peers[1].ip_block);
  EXPECT_EQ(rule.peers[1].ip_block->except[0].ToString(), "10.1.0.0/16");
  ASSERT_EQ(rule.ports.size(), 3u);
  EXPECT_EQ(rule.ports[0].port->number, 80);
  EXPECT_EQ(*rule.ports[0].end_port, 90);
  EXPECT_TRUE(rule.ports[1].port->is_name);
  EXPECT_EQ(rule.ports[1].port->name, "dns");
  EXPECT_EQ(rule.ports[1].protocol, k8s::Protocol::kUDP);
  EXPECT_FALSE(rule.ports[2].port);
  ASSERT_EQ(policy.egress.size(), 1u);
  EXPECT_TRUE(policy.egress[0].peers.empty());

  k8s::LoadResult ingress_only = LoadText(Policy("  podSelector: {}\n  egress: []"));
  ASSERT_TRUE(ingress_only.failures.empty()) << Failures(ingress_only);
  EXPECT_TRUE(ingress_only.state.network_policies.begin()->second.affects_ingress);
  EXPECT_FALSE(ingress_only.state.network_policies.begin()->second.affects_egress);
  k8s::LoadResult egress_only = LoadText(Policy("  podSelector: {}\n  policyTypes: [Egress]"));
  EXPECT_FALSE(egress_only.state.network_policies.begin()->second.affects_ingress);
  EXPECT_TRUE(egress_only.state.network_policies.begin()->second.affects_egress);
}

TEST(NetworkPolicyDecode, RejectsInvalidObjects) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  ingress: []", "podSelector: required"},
      {"  podSelector: {}\n  policyTypes: [Sideways]", "policyTypes[0]"},
      {"  podSelector: {}\n  policyTypes: [Ingress, Ingress]", "duplicate policy type"},
      {"  podSelector: {}\n  ingress:\n  - from: [{}]", "must specify a peer"},
      {"  podSelector: {}\n  ingress:\n  - from: [{podSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]",
       "may not specify both"},
      {"  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {except: [10.0.0.0/9]}}]", "cidr: required"},
      {"  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]",
       "strictly within"},
      {"  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]",
       "strictly within"},
      {"  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: not-a-cidr}}]", "is not a CIDR"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{port: 90, endPort: 80}]", "greater than or equal"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{port: http, endPort: 80}]", "numeric port"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{endPort: 80}]", "numeric port"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{port: 70000}]", "port"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{port: Not_A_Name}]", "valid port name"},
      {"  podSelector: {}\n  ingress:\n  - ports: [{protocol: ICMP}]", "protocol"},
      {"  podSelector: {matchExpressions: [{key: a, operator: In}]}", "must be non-empty"},
      {"  podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}", "must be empty"},
      {"  podSelector: {matchExpressions: [{key: a, operator: Near, values: [x]}]}", "operator"},
  };
  for (const auto& [spec, expected] : cases) {
    k8s::LoadResult result = LoadText(Policy(spec));
    EXPECT_TRUE(result.state.network_policies.empty()) << spec;
    EXPECT_THAT(Failures(result), HasSubstr(expected)) << spec;
  }
}

TEST(NetworkPolicyDecode, ShippedPoliciesLoad) {
  auto loaded = k8s::LoadManifestDirectory(std::string(NP_CONFIG_DIR) + "/voting-app-policies");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->failures.empty()) << Failures(*loaded);
  EXPECT_TRUE(loaded->warnings.empty());
  EXPECT_EQ(loaded->state.network_policies.size(), 13u);
  EXPECT_EQ(loaded->state.network_policies.count({"voting-app", "db-access"}), 1u);
  EXPECT_EQ(loaded->state.network_policies.count({"voting-app", "redis-access"}), 1u);
  EXPECT_EQ(loaded->state.network_policies.count({"voting-app", "external-access-to-vote"}), 1u);
  EXPECT_EQ(loaded->state.network_policies.count({"voting-app", "external-access-to-result"}), 1u);
}

TEST(Selector, Semantics) {
  using Op = k8s::LabelSelectorRequirement::Operator;
  const Labels labels = {{"app", "web"}, {"tier", "front"}};
  k8s::LabelSelector selector;
  EXPECT_TRUE(Matches(selector, labels));
  EXPECT_TRUE(Matches(selector, {}));
  selector.match_labels = {{"app", "web"}};
  EXPECT_TRUE(Matches(selector, labels));
  selector.match_expressions = {{"tier", Op::kIn, {"back", "front"}}};
  EXPECT_TRUE(Matches(selector, labels));
  selector.match_expressions = {{"tier", Op::kNotIn, {"front"}}};
  EXPECT_FALSE(Matches(selector, labels));
  selector.match_expressions = {{"zone", Op::kNotIn, {"a"}}};
  EXPECT_TRUE(Matches(selector, labels));  // NotIn matches an absent key
  selector.match_expressions = {{"zone", Op::kIn, {"a"}}};
  EXPECT_FALSE(Matches(selector, labels));
  selector.match_expressions = {{"zone", Op::kDoesNotExist, {}}, {"tier", Op::kExists, {}}};
  EXPECT_TRUE(Matches(selector, labels));
  selector.match_labels = {{"app", "api"}};
  EXPECT_FALSE(Matches(selector, labels));
  EXPECT_EQ(ToString(selector), "app=api,!zone,tier");
}

TEST(PolicyCompiler, SubtractCidrs) {
  auto text = [](const std::vector<abi::CidrRecord>& cidrs) {
    std::vector<std::string> out;
    for (const abi::CidrRecord& c : cidrs) out.push_back(k8s::Ipv4ToString(c.prefix) + "/" + std::to_string(c.prefix_len));
    return out;
  };
  EXPECT_THAT(text(SubtractCidrs({Ip("10.0.0.0"), 8, {}}, {})), ::testing::ElementsAre("10.0.0.0/8"));
  EXPECT_THAT(text(SubtractCidrs({Ip("10.0.0.0"), 8, {}}, {{Ip("10.0.0.0"), 9, {}}})),
              ::testing::ElementsAre("10.128.0.0/9"));
  EXPECT_THAT(text(SubtractCidrs({Ip("10.0.0.0"), 30, {}}, {{Ip("10.0.0.2"), 32, {}}})),
              ::testing::ElementsAre("10.0.0.0/31", "10.0.0.3/32"));
  EXPECT_TRUE(SubtractCidrs({Ip("10.0.0.0"), 8, {}}, {{Ip("10.0.0.0"), 8, {}}}).empty());
  EXPECT_EQ(SubtractCidrs({0, 0, {}}, {{Ip("10.1.2.3"), 32, {}}}).size(), 32u);
}

const std::string kCluster =
    NamespaceYaml("prod") + PodYaml("prod", "web-1", "10.244.1.20", "app: web", {{"http", 8080}}) +
    PodYaml("prod", "web-2", "10.244.1.21", "app: web", {{"http", 8080}}) +
    PodYaml("prod", "web-3", "10.244.2.22", "app: web", {{"http", 8080}}, "node-b") +
    PodYaml("prod", "db", "10.244.2.30", "app: db", {}, "node-b") +
    PodYaml("prod", "host-agent", "192.168.100.10", "app: agent") +  // hostNetwork: the node's IP
    PodYaml("other", "web", "10.244.1.40", "app: web", {{"http", 8080}});

TEST(PolicyCompiler, IdentitiesGroupPodsAndMapAddresses) {
  k8s::LoadResult loaded = LoadText(kCluster + Policy("  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports: [{port: http}]"));
  ASSERT_TRUE(loaded.failures.empty()) << Failures(loaded);
  PolicyCompilation compilation;
  const PolicyImage image = CompileRoundTrip(loaded.state, {}, &compilation);
  // prod web (3 pods), prod db, other web; "other" has no Namespace object.
  ASSERT_EQ(image.identities.size(), 3u);
  EXPECT_EQ(image.identity_names[0], "other/app=web;http/TCP=8080");
  EXPECT_EQ(image.identity_names[1], "prod/app=db");
  EXPECT_EQ(image.identity_names[2], "prod/app=web;http/TCP=8080");
  EXPECT_EQ(image.identities[0].id, abi::kFirstPodIdentity);
  const uint32_t web = image.identities[2].id;
  EXPECT_EQ(compilation.pod_identity.at({"prod", "web-3"}), web);
  EXPECT_EQ(compilation.pod_identity.count({"prod", "host-agent"}), 0u);
  EXPECT_EQ(image.identities[2].flags,
            abi::kIdentityIsolatedIngress | abi::kIdentityEnforced);
  EXPECT_EQ(image.identities[1].flags, 0);  // db: remote, not selected
  // node IP and pod gateway -> host; pods sorted by address; local flags
  ASSERT_EQ(image.ip_entries.size(), 7u);
  std::map<uint32_t, abi::IpIdentityRecord> by_ip;
  for (const auto& entry : image.ip_entries) by_ip[entry.ipv4] = entry;
  EXPECT_EQ(by_ip.at(Ip("192.168.100.10")).identity, abi::kIdentityHost);
  EXPECT_EQ(by_ip.at(Ip("10.244.1.1")).identity, abi::kIdentityHost);
  EXPECT_EQ(by_ip.at(Ip("10.244.1.20")).flags, abi::kIpLocalPod);
  EXPECT_EQ(by_ip.at(Ip("10.244.2.22")).flags, 0);
  EXPECT_EQ(image.info.cluster_cidr, Ip("10.244.0.0"));
  // One rule: subjects {prod web}, any peer, TCP 8080.
  ASSERT_EQ(image.rules.size(), 1u);
  const abi::PolicyRuleRecord& rule = image.rules[0];
  EXPECT_EQ(rule.protocol, abi::kProtoTcp);
  EXPECT_EQ(rule.port_min, 8080);
  EXPECT_EQ(rule.port_max, 8080);
  EXPECT_EQ(rule.peer_flags, abi::kPeerAnyIdentity | abi::kPeerAnyAddress);
  ASSERT_EQ(rule.subject_count, 1u);
  EXPECT_EQ(image.identity_refs[rule.subject_first], web);
  EXPECT_EQ(image.policy_names[rule.policy_index], "prod/p");
}

TEST(PolicyCompiler, AnAuditedNamespaceMarksItsIdentities) {
  const std::string audited =
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  annotations: {nodeplane.io/policy-audit: \"true\"}\n---\n";
  k8s::LoadResult loaded = LoadText(audited + PodYaml("prod", "web-1", "10.244.1.20", "app: web") +
                                    PodYaml("other", "web", "10.244.1.40", "app: web"));
  ASSERT_TRUE(loaded.failures.empty()) << Failures(loaded);
  const PolicyImage image = CompileRoundTrip(loaded.state, {});  // through encode, decode and validation
  ASSERT_EQ(image.identities.size(), 2u);
  EXPECT_EQ(image.identity_names[0], "other/app=web");
  EXPECT_FALSE(image.identities[0].flags & abi::kIdentityPolicyAudit);
  EXPECT_TRUE(image.identities[1].flags & abi::kIdentityPolicyAudit);

  k8s::LoadResult bad = LoadText(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  annotations: {nodeplane.io/policy-audit: \"yes\"}\n");
  EXPECT_FALSE(bad.failures.empty());
}

TEST(PolicyCompiler, OnlyLocalSubjectsGetRulesUnlessEnforcingAll) {
  k8s::LoadResult loaded = LoadText(kCluster + Policy("  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - {}"));
  ASSERT_TRUE(loaded.failures.empty()) << Failures(loaded);
  EXPECT_TRUE(CompileRoundTrip(loaded.state).rules.empty());  // db lives on node-b
  PolicyCompileOptions all;
  all.enforce_all_pods = true;
  const PolicyImage image = CompileRoundTrip(loaded.state, all);
  ASSERT_EQ(image.rules.size(), 1u);
  for (const auto& entry : image.ip_entries)
    if (entry.identity != abi::kIdentityHost) {
      EXPECT_EQ(entry.flags, abi::kIpLocalPod);
    }
}

TEST(PolicyCompiler, IdentitySetsAreSharedAndIdsStable) {
  const std::string policies =
      Policy("  podSelector: {}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]", "a") +
      Policy("  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{podSelector: {matchLabels: {app: web}}}]", "b");
  k8s::LoadResult loaded = LoadText(kCluster + policies);
  ASSERT_TRUE(loaded.failures.empty()) << Failures(loaded);
  const PolicyImage image = CompileRoundTrip(loaded.state);
  ASSERT_EQ(image.rules.size(), 2u);
  EXPECT_EQ(image.rules[0].peer_first, image.rules[1].peer_first);  // one {prod web} set
  EXPECT_EQ(image.rules[0].subject_first, image.rules[1].subject_first);

  // A new identity sorting before the others does not renumber them.
  const auto ids = PolicyIdentityIds(image);
  k8s::LoadResult grown = LoadText(kCluster + policies + PodYaml("aaa", "x", "10.244.1.99", "app: x"));
  const PolicyImage next = CompileRoundTrip(grown.state, {ids});
  for (const auto& [name, id] : PolicyIdentityIds(next)) {
    if (ids.count(name)) {
      EXPECT_EQ(ids.at(name), id) << name;
    } else {
      uint32_t highest = 0;
      for (const auto& [old_name, old_id] : ids) highest = std::max(highest, old_id);
      EXPECT_GT(id, highest) << name;
    }
  }
  EXPECT_EQ(next.AclDigest(), image.AclDigest());  // aaa/x is matched by nothing
}

TEST(PolicyCompiler, DuplicateAddressesKeepTheRunningPod) {
  std::string finished = PodYaml("prod", "old", "10.244.1.20", "app: old");
  finished.replace(finished.find("phase: Running"), 14, "phase: Pending");
  k8s::LoadResult loaded = LoadText(kCluster + finished);
  PolicyCompilation compilation;
  const PolicyImage image = CompileRoundTrip(loaded.state, {}, &compilation);
  EXPECT_EQ(compilation.pod_identity.count({"prod", "old"}), 0u);
  ASSERT_EQ(compilation.warnings.size(), 1u);
  EXPECT_THAT(compilation.warnings[0], HasSubstr("already belongs to Pod prod/web-1"));
}

}  // namespace
}  // namespace np::policy
