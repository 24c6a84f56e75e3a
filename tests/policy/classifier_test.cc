// Truth tables: manifests -> policy compiler -> image (encoded, decoded)
// -> rte_acl contexts -> PolicyTables::Check, the call the worker makes.
// rte_acl needs the EAL: started once, in memory, without hugepages or PCI.
#include <gtest/gtest.h>
#include <rte_acl.h>
#include <rte_cpuflags.h>
#include <rte_eal.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <fstream>
#include <unistd.h>

#include "dataplane/policy/policy_tables.h"
#include "tests/harness/test_eal.h"
#include "tests/policy/policy_test_support.h"
#include "tests/policy/same_verdicts.h"

namespace np::policy {
namespace {

using namespace np::policy::testing;

void EnsureEal() {
  static const bool started =
      harness::InitTestEal("policy_test", "np-policy-test-" + std::to_string(getpid()), 512);
  ASSERT_TRUE(started) << "rte_eal_init failed";
}

struct Case {
  const char* src;
  const char* dst;
  uint16_t port;
  uint8_t protocol;
  bool allowed;
};

constexpr uint8_t kTcp = abi::kProtoTcp;
constexpr uint8_t kUdp = abi::kProtoUdp;
constexpr uint8_t kSctp = abi::kProtoSctp;
constexpr uint8_t kIcmp = 1;

class PolicyWorld {
 public:
  explicit PolicyWorld(const std::string& yaml, const PolicyCompileOptions& options = {}) {
    k8s::LoadResult loaded = LoadText(yaml);
    EXPECT_TRUE(loaded.failures.empty()) << Failures(loaded);
    state_ = loaded.state;
    Compile(options);
  }
  explicit PolicyWorld(k8s::ClusterState state) : state_(std::move(state)) { Compile({}); }

  void Compile(const PolicyCompileOptions& options, const PolicyTables* previous = nullptr) {
    PolicyImage image = CompileRoundTrip(state_, options, &compilation_);
    auto built = PolicyTables::Build(std::move(image), previous);
    ASSERT_TRUE(built.ok()) << built.error().message;
    tables_ = std::move(built).value();
  }

  FlowVerdict Verdict(const char* src, const char* dst, uint16_t port, uint8_t protocol) const {
    const FlowQuery query{Ip(src), Ip(dst), port, protocol, 0};
    FlowVerdict verdict{};
    tables_->Check(&query, 1, &verdict);
    return verdict;
  }

  // Checks every case one by one AND all together in one burst.
  void Expect(const std::vector<Case>& cases) const {
    std::vector<FlowQuery> queries;
    for (const Case& c : cases) queries.push_back({Ip(c.src), Ip(c.dst), c.port, c.protocol, 0});
    std::vector<FlowVerdict> verdicts(cases.size());
    tables_->Check(queries.data(), static_cast<uint32_t>(queries.size()), verdicts.data());
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      EXPECT_EQ(verdicts[i].allowed, c.allowed)
          << c.src << " -> " << c.dst << ":" << c.port << "/" << int(c.protocol) << " reason "
          << int(verdicts[i].reason) << " (burst)";
      EXPECT_EQ(Verdict(c.src, c.dst, c.port, c.protocol).allowed, c.allowed)
          << c.src << " -> " << c.dst << ":" << c.port << "/" << int(c.protocol) << " (single)";
    }
  }

  k8s::ClusterState& state() { return state_; }
  const PolicyTables& tables() const { return *tables_; }
  std::unique_ptr<PolicyTables>& tables_ptr() { return tables_; }
  const PolicyCompilation& compilation() const { return compilation_; }

 private:
  k8s::ClusterState state_;
  PolicyCompilation compilation_;
  std::unique_ptr<PolicyTables> tables_;
};

class PolicyClassifier : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { EnsureEal(); }
};

// --- the shipped voting-app policies on the shipped voting app -------------

std::string ReadDirectory(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& file : files) {
    std::ifstream in(file);
    text += std::string(std::istreambuf_iterator<char>(in), {}) + "\n---\n";
  }
  return text;
}

TEST_F(PolicyClassifier, VotingAppPoliciesFromConfig) {
  const std::string config = NP_CONFIG_DIR;
  std::string yaml = ReadDirectory(config + "/voting-app") + ReadDirectory(config + "/voting-app-policies");
  yaml += NamespaceYaml("kube-system");
  yaml += PodYaml("kube-system", "coredns-1", "10.244.2.5", "k8s-app: kube-dns",
                  {{"dns", 53, "UDP"}, {"dns-tcp", 53, "TCP"}}, "node-b");
  yaml += PodYaml("kube-system", "metrics-1", "10.244.2.6", "k8s-app: metrics-server", {{"https", 443}}, "node-b");
  yaml += PodYaml("default", "impostor", "10.244.2.7", "k8s-app: kube-dns", {{"dns", 53, "UDP"}}, "node-b");
  PolicyWorld world(yaml);
  const char* ingress = "10.244.1.10";
  const char* vote = "10.244.1.11";
  const char* vote2 = "10.244.1.12";
  const char* result = "10.244.1.13";
  const char* redis = "10.244.1.14";
  const char* db = "10.244.1.15";
  const char* worker = "10.244.1.16";
  const char* dns = "10.244.2.5";
  world.Expect({
      // redis-access: vote and worker -> redis 6379, nobody else
      {vote, redis, 6379, kTcp, true},
      {vote2, redis, 6379, kTcp, true},
      {worker, redis, 6379, kTcp, true},
      {result, redis, 6379, kTcp, false},
      {vote, redis, 6380, kTcp, false},
      {vote, redis, 6379, kUdp, false},
      // db-access: worker and result -> db 5432
      {worker, db, 5432, kTcp, true},
      {result, db, 5432, kTcp, true},
      {vote, db, 5432, kTcp, false},
      {ingress, db, 5432, kTcp, false},
      // external-access-to-vote/result: the ingress controller -> http (80)
      {ingress, vote, 80, kTcp, true},
      {ingress, vote2, 80, kTcp, true},
      {ingress, result, 80, kTcp, true},
      {ingress, vote, 8080, kTcp, false},
      {ingress, redis, 6379, kTcp, false},
      {redis, vote, 80, kTcp, false},
      // outside clients reach only the ingress controller
      {"203.0.113.7", ingress, 80, kTcp, true},
      {"203.0.113.7", vote, 80, kTcp, false},
      {"203.0.113.7", ingress, 443, kTcp, false},
      // default deny both ways
      {vote, result, 80, kTcp, false},
      {db, "203.0.113.7", 443, kTcp, false},
      {vote, "10.244.3.9", 80, kTcp, false},  // unknown cluster address
      {"10.244.3.9", vote, 80, kTcp, false},
      {vote, redis, 0, kIcmp, false},
      // allow-dns: only kube-dns in kube-system, 53 UDP and TCP
      {vote, dns, 53, kUdp, true},
      {worker, dns, 53, kTcp, true},
      {ingress, dns, 53, kUdp, true},
      {vote, dns, 54, kUdp, false},
      {vote, "10.244.2.6", 53, kUdp, false},  // kube-system, not kube-dns
      {vote, "10.244.2.7", 53, kUdp, false},  // kube-dns label, wrong namespace
      {vote, "8.8.8.8", 53, kUdp, false},
      // exemptions: a pod with itself, a pod with its node
      {vote, vote, 80, kTcp, true},
      {"192.168.100.10", db, 5432, kTcp, true},
      {db, "192.168.100.10", 10250, kTcp, true},
      {"10.244.1.1", redis, 6379, kTcp, true},  // pod gateway (hairpin SNAT source)
      // pods of other nodes are judged there, not here
      {dns, "10.244.2.6", 443, kTcp, true},
  });
  const FlowVerdict denied = world.Verdict(result, redis, 6379, kTcp);
  EXPECT_EQ(denied.reason, Reason::kDeniedEgress);
  const FlowVerdict denied_in = world.Verdict(ingress, db, 5432, kTcp);
  EXPECT_FALSE(denied_in.allowed);
  const FlowVerdict allowed = world.Verdict(vote, redis, 6379, kTcp);
  ASSERT_EQ(allowed.reason, Reason::kAllowedByRule);
  const PolicyImage& image = world.tables().image();
  ASSERT_LT(allowed.ingress_rule, image.rules.size());
  ASSERT_LT(allowed.egress_rule, image.rules.size());
  EXPECT_EQ(image.policy_names[image.rules[allowed.ingress_rule].policy_index], "voting-app/redis-access");
  EXPECT_EQ(image.policy_names[image.rules[allowed.egress_rule].policy_index], "voting-app/vote-egress");
  EXPECT_TRUE(world.tables().Isolated(Ip(vote), abi::PolicyDirection::kIngress));
  EXPECT_TRUE(world.tables().Isolated(Ip(vote), abi::PolicyDirection::kEgress));
  EXPECT_FALSE(world.tables().Isolated(Ip(dns), abi::PolicyDirection::kIngress));  // not on this node
}

// --- focused semantics ----------------------------------------------------

const std::string kBase = NamespaceYaml("prod", "team: a") + NamespaceYaml("dev", "team: b") +
                          NamespaceYaml("ops", "team: a, tier: infra") +
                          PodYaml("prod", "web", "10.244.1.20", "app: web", {{"http", 8080}, {"metrics", 9090}}) +
                          PodYaml("prod", "web-legacy", "10.244.1.21", "app: web", {{"http", 80}}) +
                          PodYaml("prod", "api", "10.244.1.22", "app: api") +
                          PodYaml("prod", "client", "10.244.1.23", "role: client") +
                          PodYaml("dev", "client", "10.244.1.30", "role: client") +
                          PodYaml("dev", "other", "10.244.1.31", "role: other") +
                          PodYaml("ops", "client", "10.244.1.40", "role: client");

std::string Policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n" + spec + "\n---\n";
}

TEST_F(PolicyClassifier, NoPolicyAllowsEverythingAndDefaultDenyDeniesEverything) {
  PolicyWorld open(kBase);
  open.Expect({{"10.244.1.30", "10.244.1.20", 8080, kTcp, true}, {"10.244.1.20", "8.8.8.8", 53, kUdp, true}});
  PolicyWorld closed(kBase + Policy("prod", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]"));
  closed.Expect({
      {"10.244.1.30", "10.244.1.20", 8080, kTcp, false},
      {"10.244.1.23", "10.244.1.20", 8080, kTcp, false},
      {"10.244.1.20", "8.8.8.8", 53, kUdp, false},
      {"10.244.1.30", "10.244.1.31", 80, kTcp, true},  // dev is not isolated
  });
  // The worker batches verdicts (and picks a Service's backend early) only
  // when some pod is isolated.
  EXPECT_FALSE(open.tables().isolates_any());
  EXPECT_TRUE(closed.tables().isolates_any());
}

TEST_F(PolicyClassifier, PolicyTypesDefaulting) {
  // No policyTypes and egress rules: Ingress AND Egress isolated.
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}])"));
  world.Expect({
      {"10.244.1.22", "10.244.1.20", 8080, kTcp, true},
      {"10.244.1.22", "10.244.1.23", 80, kTcp, false},
      {"10.244.1.23", "10.244.1.22", 80, kTcp, false},  // ingress isolated, no ingress rule
  });
  // policyTypes [Egress]: ingress rules are ignored and ingress stays open.
  PolicyWorld egress_only(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: nobody}}}])"));
  egress_only.Expect({{"10.244.1.23", "10.244.1.22", 80, kTcp, true}, {"10.244.1.22", "10.244.1.23", 80, kTcp, false}});
}

TEST_F(PolicyClassifier, RulesWithoutPeersOrPortsAndUnion) {
  PolicyWorld world(kBase + Policy("prod", "any-source-8080", R"(  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 8080}])") + Policy("prod", "client-anything", R"(  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}])"));
  world.Expect({
      {"10.244.1.31", "10.244.1.20", 8080, kTcp, true},   // any source on 8080
      {"203.0.113.9", "10.244.1.20", 8080, kTcp, true},
      {"10.244.1.31", "10.244.1.20", 8081, kTcp, false},
      {"10.244.1.31", "10.244.1.20", 8080, kUdp, false},  // protocol defaults to TCP
      {"10.244.1.23", "10.244.1.20", 9999, kUdp, true},   // client: every port and protocol
      {"10.244.1.23", "10.244.1.20", 0, kIcmp, true},
      {"10.244.1.30", "10.244.1.20", 9999, kTcp, false},  // dev client: other namespace
  });
}

TEST_F(PolicyClassifier, NamespaceSelectorAndPodSelectorVersusTwoPeers) {
  // One peer with both selectors: clients in team=a namespaces.
  PolicyWorld and_world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {matchLabels: {role: client}})"));
  and_world.Expect({
      {"10.244.1.23", "10.244.1.22", 80, kTcp, true},   // prod client
      {"10.244.1.40", "10.244.1.22", 80, kTcp, true},   // ops client (team a)
      {"10.244.1.30", "10.244.1.22", 80, kTcp, false},  // dev client (team b)
      {"10.244.1.20", "10.244.1.22", 80, kTcp, false},  // prod web: not a client
  });
  // Two peers: any pod of team=a namespaces OR clients of prod.
  PolicyWorld or_world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
    - podSelector: {matchLabels: {role: client}})"));
  or_world.Expect({
      {"10.244.1.23", "10.244.1.22", 80, kTcp, true},
      {"10.244.1.40", "10.244.1.22", 80, kTcp, true},
      {"10.244.1.20", "10.244.1.22", 80, kTcp, true},   // prod is team a
      {"10.244.1.30", "10.244.1.22", 80, kTcp, false},  // dev client: podSelector is prod-only
      {"10.244.1.31", "10.244.1.22", 80, kTcp, false},
  });
  // Empty namespaceSelector: every namespace.
  PolicyWorld all_ns(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {role: client}})"));
  all_ns.Expect({{"10.244.1.30", "10.244.1.22", 80, kTcp, true}, {"10.244.1.31", "10.244.1.22", 80, kTcp, false}});
}

TEST_F(PolicyClassifier, MatchExpressions) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: tier, operator: DoesNotExist}]
      podSelector:
        matchExpressions:
        - {key: role, operator: In, values: [client, other]}
    - namespaceSelector:
        matchExpressions: [{key: tier, operator: Exists}]
      podSelector:
        matchExpressions: [{key: role, operator: NotIn, values: [client]}])"));
  world.Expect({
      {"10.244.1.23", "10.244.1.22", 80, kTcp, true},   // prod client: In
      {"10.244.1.31", "10.244.1.22", 80, kTcp, true},   // dev other: In
      {"10.244.1.40", "10.244.1.22", 80, kTcp, false},  // ops has tier; client is NotIn-excluded
      {"10.244.1.20", "10.244.1.22", 80, kTcp, false},  // prod web: no role label, not In
  });
}

TEST_F(PolicyClassifier, IpBlockWithExcept) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.16.0.0/12, except: [172.17.0.0/16, 172.18.5.0/24]}
  egress:
  - to:
    - ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.20/32]}
    ports: [{port: 80}])"));
  world.Expect({
      {"172.16.0.1", "10.244.1.22", 80, kTcp, true},
      {"172.31.255.254", "10.244.1.22", 80, kTcp, true},
      {"172.17.3.4", "10.244.1.22", 80, kTcp, false},
      {"172.18.5.9", "10.244.1.22", 80, kTcp, false},
      {"172.18.6.9", "10.244.1.22", 80, kTcp, true},
      {"172.32.0.1", "10.244.1.22", 80, kTcp, false},
      {"10.244.1.23", "10.244.1.22", 80, kTcp, false},  // a pod, outside the block
      // egress ipBlock also matches pod addresses (and unknown cluster ones)
      {"10.244.1.22", "10.244.1.21", 80, kTcp, true},
      {"10.244.1.22", "10.244.1.99", 80, kTcp, true},
      {"10.244.1.22", "10.244.1.20", 80, kTcp, false},  // except
      {"10.244.1.22", "10.244.2.1", 80, kTcp, false},
  });
}

// An ipBlock minus its excepts is merged into ranges of addresses, each
// range one to three rules of (first two bytes) x (last two bytes)
// (AddressBoxes, acl_classifier.cc): every address at and around each edge
// gets the verdict of plain CIDR membership, and a /24 except its first
// /28 - four prefixes - is one rule.
TEST_F(PolicyClassifier, IpBlockRangesAreExactAtEveryEdge) {
  PolicyWorld one(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{ipBlock: {cidr: 172.16.5.0/24, except: [172.16.5.0/28]}}])"));
  EXPECT_EQ(one.tables().acl().rule_count(abi::PolicyDirection::kIngress), 1u);

  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - ipBlock: {cidr: 100.0.0.0/8, except: [100.1.0.0/16, 100.2.3.0/24, 100.200.0.128/25, 100.255.255.255/32]}
    - ipBlock: {cidr: 172.16.5.0/24, except: [172.16.5.0/28]})"));
  struct Block {
    uint32_t first, last;
  };
  auto block = [](const char* address, uint32_t len) {
    const uint32_t first = Ip(address);
    return Block{first, first + static_cast<uint32_t>((uint64_t{1} << (32 - len)) - 1)};
  };
  const std::vector<Block> allowed = {block("100.0.0.0", 8), block("172.16.5.0", 24)};
  const std::vector<Block> excepted = {block("100.1.0.0", 16), block("100.2.3.0", 24), block("100.200.0.128", 25),
                                       block("100.255.255.255", 32), block("172.16.5.0", 28)};
  auto in = [](const std::vector<Block>& blocks, uint32_t address) {
    return std::any_of(blocks.begin(), blocks.end(),
                       [&](const Block& b) { return address >= b.first && address <= b.last; });
  };
  std::vector<uint32_t> probes;
  for (const auto* blocks : {&allowed, &excepted})
    for (const Block& b : *blocks)
      for (uint32_t edge : {b.first, b.last, b.first & 0xffff0000u, b.last | 0xffffu})
        for (int delta = -2; delta <= 2; ++delta) probes.push_back(edge + static_cast<uint32_t>(delta));
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) probes.push_back(Ip("100.0.0.0") + (random() & 0x00ffffffu));
  const uint32_t api = Ip("10.244.1.22");
  std::vector<FlowQuery> queries;
  for (uint32_t address : probes)
    if (address != api) queries.push_back({address, api, 80, kTcp, 0});
  std::vector<FlowVerdict> verdicts(queries.size());
  world.tables().Check(queries.data(), static_cast<uint32_t>(queries.size()), verdicts.data());
  size_t admitted = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    const uint32_t address = queries[i].src_ipv4;
    const bool expected = in(allowed, address) && !in(excepted, address);
    EXPECT_EQ(verdicts[i].allowed, expected) << ((address >> 24) & 255) << "." << ((address >> 16) & 255) << "."
                                             << ((address >> 8) & 255) << "." << (address & 255);
    admitted += verdicts[i].allowed;
  }
  EXPECT_GT(admitted, 0u);
  EXPECT_LT(admitted, queries.size());
}

// Both directions' rules share one rte_acl context, told apart by the key's
// first byte (AclProtocolByte). api's ingress rule (subject api, peer
// client, 80/TCP) must not answer api's own egress key with the same
// subject, peer and port; its rule for any protocol must not answer
// another direction either, and a TCP rule no other protocol.
TEST_F(PolicyClassifier, ARuleOfOneDirectionNeverAnswersTheOther) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 80}]
  - from: [{podSelector: {matchLabels: {app: web}}}])"));
  world.Expect({
      {"10.244.1.23", "10.244.1.22", 80, kTcp, true},    // client -> api: ingress rule
      {"10.244.1.22", "10.244.1.23", 80, kTcp, false},   // api -> client: api has no egress rule
      {"10.244.1.23", "10.244.1.22", 80, kUdp, false},   // the rule is 80/TCP
      {"10.244.1.23", "10.244.1.22", 0, kIcmp, false},
      {"10.244.1.20", "10.244.1.22", 0, kIcmp, true},    // web -> api: any protocol, any port
      {"10.244.1.20", "10.244.1.22", 9999, kSctp, true},
      {"10.244.1.22", "10.244.1.20", 0, kIcmp, false},   // api -> web: still no egress rule
  });
  EXPECT_EQ(world.Verdict("10.244.1.22", "10.244.1.23", 80, kTcp).reason, Reason::kDeniedEgress);
}

TEST_F(PolicyClassifier, NamedPortsResolvePerDestinationPod) {
  // web has http=8080, web-legacy has http=80: same labels, two identities.
  PolicyWorld ingress(kBase + Policy("prod", "in", R"(  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http}])"));
  ingress.Expect({
      {"10.244.1.23", "10.244.1.20", 8080, kTcp, true},
      {"10.244.1.23", "10.244.1.20", 80, kTcp, false},
      {"10.244.1.23", "10.244.1.21", 80, kTcp, true},
      {"10.244.1.23", "10.244.1.21", 8080, kTcp, false},
      {"10.244.1.23", "10.244.1.20", 8080, kUdp, false},  // the named port is TCP
      {"10.244.1.23", "10.244.1.20", 9090, kTcp, false},
  });
  const auto& ids = ingress.compilation().pod_identity;
  EXPECT_NE(ids.at({"prod", "web"}), ids.at({"prod", "web-legacy"}));

  // Egress: resolved on the destination; addresses that are no pod never match.
  PolicyWorld egress(kBase + Policy("dev", "out", R"(  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: http}]
  - to: [{ipBlock: {cidr: 10.244.1.0/24}}]
    ports: [{port: metrics}])"));
  egress.Expect({
      {"10.244.1.30", "10.244.1.20", 8080, kTcp, true},
      {"10.244.1.30", "10.244.1.21", 80, kTcp, true},
      {"10.244.1.30", "10.244.1.21", 8080, kTcp, false},
      {"10.244.1.30", "10.244.1.22", 8080, kTcp, false},  // api has no http port
      {"10.244.1.30", "203.0.113.5", 8080, kTcp, false},
      {"10.244.1.30", "10.244.1.99", 8080, kTcp, false},  // unknown cluster address
      {"10.244.1.30", "10.244.1.20", 9090, kTcp, true},   // metrics, inside the block
      {"10.244.1.30", "10.244.1.21", 9090, kTcp, false},  // web-legacy has no metrics port
      {"10.244.1.31", "203.0.113.5", 8080, kTcp, true},   // not selected
  });
}

TEST_F(PolicyClassifier, EndPortAndSctp) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports:
    - {protocol: TCP, port: 30000, endPort: 30010}
    - {protocol: SCTP, port: 3868}
    - {protocol: UDP})"));
  world.Expect({
      {"10.244.1.30", "10.244.1.22", 29999, kTcp, false},
      {"10.244.1.30", "10.244.1.22", 30000, kTcp, true},
      {"10.244.1.30", "10.244.1.22", 30005, kTcp, true},
      {"10.244.1.30", "10.244.1.22", 30010, kTcp, true},
      {"10.244.1.30", "10.244.1.22", 30011, kTcp, false},
      {"10.244.1.30", "10.244.1.22", 30005, kSctp, false},
      {"10.244.1.30", "10.244.1.22", 3868, kSctp, true},
      {"10.244.1.30", "10.244.1.22", 3868, kTcp, false},
      {"10.244.1.30", "10.244.1.22", 1, kUdp, true},  // UDP, every port
      {"10.244.1.30", "10.244.1.22", 65535, kUdp, true},
      {"10.244.1.30", "10.244.1.22", 0, kIcmp, false},
  });
}

TEST_F(PolicyClassifier, NonMatchingSelectorAllowsNothing) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: ghost}}}, {ipBlock: {cidr: "fd00::/8"}}])"));
  world.Expect({{"10.244.1.23", "10.244.1.22", 80, kTcp, false}, {"203.0.113.1", "10.244.1.22", 80, kTcp, false}});
  EXPECT_FALSE(world.compilation().warnings.empty());  // the IPv6 block
}

TEST_F(PolicyClassifier, PodChurnWithAKnownIdentityKeepsTheClassifier) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}])"));
  world.Expect({{"10.244.1.50", "10.244.1.22", 80, kTcp, false}});
  const std::map<std::string, uint32_t> ids = PolicyIdentityIds(world.tables().image());

  // A second client pod, same labels: only the IP map changes.
  k8s::LoadResult more = LoadText(PodYaml("prod", "client-2", "10.244.1.50", "role: client"));
  for (auto& [id, pod] : more.state.pods) world.state().pods.insert_or_assign(id, pod);
  std::unique_ptr<PolicyTables> before = std::move(world.tables_ptr());
  world.Compile({ids}, before.get());
  EXPECT_TRUE(world.tables().ReusedClassifierFrom(*before));
  world.Expect({{"10.244.1.50", "10.244.1.22", 80, kTcp, true}, {"10.244.1.23", "10.244.1.22", 80, kTcp, true}});

  // A pod leaving: same.
  world.state().pods.erase({"prod", "client"});
  before = std::move(world.tables_ptr());
  world.Compile({ids}, before.get());
  EXPECT_TRUE(world.tables().ReusedClassifierFrom(*before));
  world.Expect({{"10.244.1.23", "10.244.1.22", 80, kTcp, false}, {"10.244.1.50", "10.244.1.22", 80, kTcp, true}});

  // A new label set the selector matches: new identity, new classifier.
  k8s::LoadResult labelled = LoadText(PodYaml("prod", "client-3", "10.244.1.51", "role: client, canary: 'yes'"));
  for (auto& [id, pod] : labelled.state.pods) world.state().pods.insert_or_assign(id, pod);
  before = std::move(world.tables_ptr());
  world.Compile({ids}, before.get());
  EXPECT_FALSE(world.tables().ReusedClassifierFrom(*before));
  world.Expect({{"10.244.1.51", "10.244.1.22", 80, kTcp, true}});
  // Ids handed out before are kept.
  for (const auto& [name, id] : PolicyIdentityIds(world.tables().image()))
    if (ids.count(name)) {
      EXPECT_EQ(ids.at(name), id) << name;
    }
}

// A pod whose identity is above 0xffff, named by no rule, changes no rule
// but the key layout: the classifier must not be kept (its 16-bit keys
// would read that identity as another one's low 16 bits).
TEST_F(PolicyClassifier, AWideIdentityWithoutRulesStillChangesTheLayout) {
  PolicyWorld world(NamespaceYaml("a") + PodYaml("a", "p", "10.244.1.20", "app: p") +
                    Policy("a", "p-anywhere", "  podSelector: {matchLabels: {app: p}}\n  policyTypes: [Egress]\n"
                                              "  egress:\n  - {}"));
  ASSERT_TRUE(world.tables().acl().narrow_identities());
  const uint32_t p_id = world.tables().Lookup(Ip("10.244.1.20")).identity;
  world.Expect({{"10.244.1.20", "8.8.8.8", 53, kUdp, true}});

  // Same rules; one more local pod, isolated for egress with nothing
  // allowed, whose id has p's low 16 bits.
  PolicyImage image = world.tables().image();
  const uint32_t wide_id = p_id + 0x10000;
  image.identities.push_back({wide_id, abi::kIdentityIsolatedEgress | abi::kIdentityEnforced, {}, {}});
  image.identity_names.push_back("a/role=locked");
  image.ip_entries.push_back({Ip("10.244.1.99"), wide_id, abi::kIpLocalPod, {}});
  auto next = PolicyTables::Build(std::move(image), &world.tables());
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_FALSE((*next)->ReusedClassifierFrom(world.tables()));
  EXPECT_FALSE((*next)->acl().narrow_identities());
  const FlowQuery query{Ip("10.244.1.99"), Ip("8.8.8.8"), 53, kUdp, 0};
  FlowVerdict verdict{};
  (*next)->Check(&query, 1, &verdict);
  EXPECT_FALSE(verdict.allowed);
  EXPECT_EQ(verdict.reason, Reason::kDeniedEgress);
}

// A burst classifies in rte_acl's widest SIMD walk the CPU has (AVX512X32
// with AVX-512: 32 keys at once), a single flow in its scalar walk; both
// must give the same verdicts and rule indices.
TEST_F(PolicyClassifier, LargeBurstMatchesSingleChecks) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}]
    ports: [{port: 80, endPort: 90}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.1.22/32]}}])"));
  const std::vector<std::string> pods = {"10.244.1.20", "10.244.1.21", "10.244.1.22", "10.244.1.23",
                                         "10.244.1.30", "10.244.1.40", "8.8.8.8"};
  std::vector<FlowQuery> queries;
  for (const std::string& src : pods)
    for (const std::string& dst : pods)
      for (uint16_t port : {79, 80, 85, 90, 91})
        for (uint8_t protocol : {kTcp, kUdp}) queries.push_back({Ip(src), Ip(dst), port, protocol, 0});
  ASSERT_GT(queries.size(), 2 * kPolicyBurst);
  const bool avx512 = rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) && rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512VL) &&
                      rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512CD) && rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512BW);
  EXPECT_EQ(world.tables().acl().base()->classify_method(),
            avx512 ? RTE_ACL_CLASSIFY_AVX512X32 : RTE_ACL_CLASSIFY_DEFAULT);
  std::vector<FlowVerdict> burst(queries.size());
  world.tables().Check(queries.data(), static_cast<uint32_t>(queries.size()), burst.data());
  size_t allowed = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    FlowVerdict single{};
    world.tables().Check(&queries[i], 1, &single);
    EXPECT_EQ(single.allowed, burst[i].allowed) << i;
    EXPECT_EQ(single.ingress_rule, burst[i].ingress_rule) << i;
    allowed += burst[i].allowed;
  }
  EXPECT_GT(allowed, 0u);
  EXPECT_LT(allowed, queries.size());
}

// Identities beyond 16 bits switch the classifier to its wide key layout:
// the same image with every pod identity moved past 0xffff must give the
// same verdicts and the same rules (acl_classifier.h, the two layouts).
TEST_F(PolicyClassifier, WideIdentitiesGiveTheSameVerdicts) {
  PolicyWorld world(kBase + Policy("prod", "p", R"(  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: a}}}, {podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 80, endPort: 90}]
  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.1.22/32]}}]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.1.22/32]}}]
    ports: [{port: 85}])"));
  ASSERT_TRUE(world.tables().acl().narrow_identities());
  PolicyImage shifted = world.tables().image();
  constexpr uint32_t kShift = 0x10000;
  auto shift = [](uint32_t id) { return id >= abi::kFirstPodIdentity ? id + kShift : id; };
  for (abi::IdentityRecord& identity : shifted.identities) identity.id = shift(identity.id);
  for (abi::IdentityRef& ref : shifted.identity_refs) ref = shift(ref);
  for (abi::IpIdentityRecord& entry : shifted.ip_entries) entry.identity = shift(entry.identity);
  auto wide = PolicyTables::Build(std::move(shifted));
  ASSERT_TRUE(wide.ok()) << wide.error().message;
  ASSERT_FALSE((*wide)->acl().narrow_identities());

  const std::vector<std::string> pods = {"10.244.1.20", "10.244.1.21", "10.244.1.22", "10.244.1.23",
                                         "10.244.1.30", "10.244.1.40", "10.1.2.3", "8.8.8.8"};
  std::vector<FlowQuery> queries;
  for (const std::string& src : pods)
    for (const std::string& dst : pods)
      for (uint16_t port : {79, 80, 85, 90, 91})
        for (uint8_t protocol : {kTcp, kUdp}) queries.push_back({Ip(src), Ip(dst), port, protocol, 0});
  const size_t allowed = CountAllowed(ExpectSameVerdicts(queries, **wide, world.tables(), shift));
  EXPECT_GT(allowed, 0u);
  EXPECT_LT(allowed, queries.size());
}

}  // namespace
}  // namespace np::policy
