// The rte_acl contexts are split by the subject's namespace (a base per
// direction plus overlays, dataplane/policy/acl_classifier.h): a label
// change or a new policy rebuilds only the partitions whose rules changed,
// every other context is the very same object, and every verdict - rule
// index included - equals a fresh full build's.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <thread>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "dataplane/policy/acl_consolidator.h"
#include "dataplane/policy/policy_tables.h"
#include "tests/harness/test_eal.h"
#include "tests/policy/policy_test_support.h"
#include "tests/policy/same_verdicts.h"

namespace np::policy {
namespace {

using namespace np::policy::testing;

constexpr uint32_t kNamespaces = 40;


class AclPartitions : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    static const bool started =
        harness::InitTestEal("acl_partitions_test", "np-acl-partitions-test-" + std::to_string(getpid()), 512);
    ASSERT_TRUE(started) << "rte_eal_init failed";
  }
};

// Namespace names that hash to distinct partitions, in name order (policies
// compile in (namespace, name) order, so names[0]'s rules come first).
std::vector<std::string> DistinctNamespaces() {
  std::vector<std::string> names;
  std::set<uint32_t> used;
  for (uint32_t k = 0; names.size() < kNamespaces; ++k) {
    const std::string name = "ns-" + std::to_string(100 + k);
    if (used.insert(AclPartitionOf(name, kAclPartitions)).second) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n" + spec + "\n---\n";
}

std::string PodIp(uint32_t ns, uint32_t pod) { return "10.244.1." + std::to_string(10 + ns * 3 + pod); }

// Per namespace: web (http 80), client, db; clients reach web on 80 (ingress
// of web, egress of client), web reaches db on 5432. names[1]'s web also
// admits names[0]'s clients: a peer in another namespace.
std::string Cluster(const std::vector<std::string>& names) {
  std::string yaml;
  for (uint32_t n = 0; n < names.size(); ++n) {
    const std::string& ns = names[n];
    yaml += NamespaceYaml(ns);
    yaml += PodYaml(ns, "web", PodIp(n, 0), "app: web", {{"http", 80}});
    yaml += PodYaml(ns, "client", PodIp(n, 1), "role: client");
    yaml += PodYaml(ns, "db", PodIp(n, 2), "app: db");
    std::string web_from = "  - from:\n    - podSelector: {matchLabels: {role: client}}\n";
    if (n == 1)
      web_from += "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: " + names[0] +
                  "}}\n      podSelector: {matchLabels: {role: client}}\n";
    yaml += Policy(ns, "web-from-clients", "  podSelector: {matchLabels: {app: web}}\n  ingress:\n" + web_from +
                                               "    ports: [{port: http}]");
    yaml += Policy(ns, "db-from-web", R"(  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}])");
    yaml += Policy(ns, "client-egress", R"(  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 80}])");
  }
  return yaml;
}

// Same verdict, reason and rule indices for every query; some allowed,
// some denied (client->web both ways judged, web->db). Returns got's.
std::vector<FlowVerdict> ExpectSameVerdictsSomeAllowed(const std::vector<FlowQuery>& queries,
                                                       const PolicyTables& got_tables,
                                                       const PolicyTables& want_tables) {
  std::vector<FlowVerdict> got = ExpectSameVerdicts(queries, got_tables, want_tables);
  const size_t allowed = CountAllowed(got);
  EXPECT_GT(allowed, kNamespaces * 3);
  EXPECT_LT(allowed, queries.size());
  return got;
}

class World {
 public:
  explicit World(const std::string& yaml) {
    k8s::LoadResult loaded = LoadText(yaml);
    EXPECT_TRUE(loaded.failures.empty()) << Failures(loaded);
    state_ = loaded.state;
    Apply();
  }

  void Add(const std::string& yaml) {
    k8s::LoadResult loaded = LoadText(yaml);
    EXPECT_TRUE(loaded.failures.empty()) << Failures(loaded);
    for (auto& [id, pod] : loaded.state.pods) state_.pods.insert_or_assign(id, pod);
    for (auto& [id, policy] : loaded.state.network_policies) state_.network_policies.insert_or_assign(id, policy);
  }
  k8s::ClusterState& state() { return state_; }
  // Gives pod `ns`/`pod` one more label (a new identity; its old one
  // retires) and applies.
  void Relabel(const std::string& ns, const std::string& pod) {
    state_.pods.at({ns, pod}).meta.labels["canary"] = "yes";
    Apply();
  }

  // Compiles keeping the ids handed out so far and builds on the current
  // tables, as the daemon and the loader do; keeps the previous tables.
  void Apply(std::map<std::string, uint32_t> ids = {}) {
    for (const auto& [name, id] : tables_ ? PolicyIdentityIds(tables_->image()) : std::map<std::string, uint32_t>{})
      ids.emplace(name, id);
    PolicyImage image = CompileRoundTrip(state_, {ids});
    auto built = PolicyTables::Build(image, tables_.get());
    ASSERT_TRUE(built.ok()) << built.error().message;
    auto fresh = PolicyTables::Build(std::move(image));
    ASSERT_TRUE(fresh.ok()) << fresh.error().message;
    previous_ = std::move(tables_);
    tables_ = std::move(built).value();
    fresh_ = std::move(fresh).value();
  }

  const PolicyTables& tables() const { return *tables_; }
  // Every pod to every pod on a few ports, TCP and UDP.
  std::vector<FlowQuery> AllFlows() const {
    std::vector<FlowQuery> queries;
    for (const auto& [sid, src] : state_.pods)
      for (const auto& [did, dst] : state_.pods)
        for (uint16_t port : {80, 5432, 8080})
          for (uint8_t protocol : {abi::kProtoTcp, abi::kProtoUdp})
            queries.push_back({src.pod_ip->v4, dst.pod_ip->v4, port, protocol, 0});
    return queries;
  }
  const PolicyTables& previous() const { return *previous_; }

  // Every pod to every pod on a few ports, TCP and UDP: the incremental
  // tables and a fresh full build agree on every field of every verdict.
  std::vector<FlowVerdict> ExpectSameAsFullBuild() const { return ExpectSameVerdictsSomeAllowed(AllFlows(), *tables_, *fresh_); }

  FlowVerdict Verdict(const std::string& src, const std::string& dst, uint16_t port) const {
    const FlowQuery query{Ip(src), Ip(dst), port, abi::kProtoTcp, 0};
    FlowVerdict verdict{};
    tables_->Check(&query, 1, &verdict);
    return verdict;
  }
  std::string PolicyOf(uint32_t rule) const {
    const PolicyImage& image = tables_->image();
    return rule < image.rules.size() ? image.policy_names[image.rules[rule].policy_index] : "none";
  }

 private:
  k8s::ClusterState state_;
  std::unique_ptr<PolicyTables> previous_, tables_, fresh_;
};

// Partitions whose context is not the base: overlays (or no rules).
std::set<uint32_t> Overlaid(const AclContexts& acl) {
  std::set<uint32_t> out;
  for (uint32_t p = 0; p < acl.partitions(); ++p)
    if (acl.Route(p) != 0) out.insert(p);
  return out;
}

TEST_F(AclPartitions, LabelChangeRebuildsOnlyThePartitionsItTouches) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  const AclContexts& first = world.tables().acl();
  ASSERT_EQ(first.partitions(), kAclPartitions);
  const AclContext* base = first.base();
  ASSERT_NE(base, nullptr);
  EXPECT_TRUE(Overlaid(first).empty());
  world.ExpectSameAsFullBuild();
  const uint32_t p0 = AclPartitionOf(names[0], kAclPartitions);
  const uint32_t p1 = AclPartitionOf(names[1], kAclPartitions);
  const uint32_t p2 = AclPartitionOf(names[2], kAclPartitions);

  // names[0]'s client gets a new label: a new identity (its old one
  // retires). It changes names[0]'s rules (egress subject, web's peers) and
  // names[1]'s web ingress (a peer in another namespace), nothing else.
  world.Relabel(names[0], "client");
  const AclContexts& second = world.tables().acl();
  EXPECT_FALSE(world.tables().ReusedClassifierFrom(world.previous()));
  EXPECT_EQ(second.base(), base);  // the very same context
  EXPECT_EQ(Overlaid(second), (std::set<uint32_t>{p0, p1}));
  EXPECT_EQ(world.tables().acl_contexts_built(), 2u);   // the overlays of p0 and p1
  EXPECT_EQ(world.tables().acl_contexts_reused(), 1u);  // the base
  world.ExpectSameAsFullBuild();
  EXPECT_TRUE(world.Verdict(PodIp(0, 1), PodIp(0, 0), 80).allowed);  // still role=client
  EXPECT_FALSE(world.Verdict(PodIp(0, 1), PodIp(1, 0), 80).allowed);  // its egress: own namespace only

  // Another namespace's label change: the overlays made above are kept too.
  const AclContext* overlay_p0 = second.overlay(p0);
  const AclContext* overlay_p1 = second.overlay(p1);
  ASSERT_NE(overlay_p0, nullptr);
  world.Relabel(names[2], "web");
  const AclContexts& third = world.tables().acl();
  EXPECT_EQ(third.base(), base);
  EXPECT_EQ(third.overlay(p0), overlay_p0);
  EXPECT_EQ(third.overlay(p1), overlay_p1);
  EXPECT_EQ(Overlaid(third), (std::set<uint32_t>{p0, p1, p2}));
  world.ExpectSameAsFullBuild();

  // Pods coming and going with known identities: the classifier as a whole.
  world.Add(PodYaml(names[3], "client-2", "10.244.1.250", "role: client"));
  world.Apply();
  EXPECT_TRUE(world.tables().ReusedClassifierFrom(world.previous()));
  EXPECT_EQ(world.tables().acl_contexts_built(), 0u);
  world.ExpectSameAsFullBuild();
}

TEST_F(AclPartitions, RuleInsertedFirstShiftsTheIndicesOfReusedContexts) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  const std::vector<FlowVerdict> before = world.ExpectSameAsFullBuild();
  const uint32_t old_rule = world.Verdict(PodIp(5, 1), PodIp(5, 0), 80).ingress_rule;
  ASSERT_EQ(world.PolicyOf(old_rule), names[5] + "/web-from-clients");

  // A policy of the first namespace whose name sorts first: every later
  // rule's image index moves, no other namespace's rules change.
  world.Add(Policy(names[0], "aaa-first", R"(  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}])"));
  world.Apply();
  const AclContexts& acl = world.tables().acl();
  EXPECT_EQ(acl.base(), world.previous().acl().base());
  EXPECT_EQ(Overlaid(acl), (std::set<uint32_t>{AclPartitionOf(names[0], kAclPartitions)}));
  EXPECT_EQ(world.tables().acl_contexts_built(), 1u);
  world.ExpectSameAsFullBuild();

  const uint32_t new_rule = world.Verdict(PodIp(5, 1), PodIp(5, 0), 80).ingress_rule;
  EXPECT_GT(new_rule, old_rule);  // served by the reused base, reported at its new index
  for (uint32_t n = 0; n < names.size(); ++n) {
    const FlowVerdict web = world.Verdict(PodIp(n, 1), PodIp(n, 0), 80);
    ASSERT_TRUE(web.allowed) << names[n];
    EXPECT_EQ(world.PolicyOf(web.ingress_rule), names[n] + "/web-from-clients");
    EXPECT_EQ(world.PolicyOf(web.egress_rule), names[n] + "/client-egress");
    const FlowVerdict db = world.Verdict(PodIp(n, 0), PodIp(n, 2), 5432);
    ASSERT_TRUE(db.allowed) << names[n];
    EXPECT_EQ(world.PolicyOf(db.ingress_rule), names[n] + "/db-from-web");
  }
  const FlowVerdict first = world.Verdict(PodIp(0, 0), PodIp(0, 2), 8080);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.ingress_rule, 0u);
  EXPECT_EQ(world.PolicyOf(first.ingress_rule), names[0] + "/aaa-first");
}

// An identity id retired in one namespace and handed to a new identity of
// another: the base still holds the old namespace's rules for that id, so
// the new namespace's partition must not use the base.
TEST_F(AclPartitions, AnIdHandedToAnotherNamespaceIsNotJudgedByStaleRules) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  const uint32_t client_id = world.tables().Lookup(Ip(PodIp(0, 1))).identity;
  ASSERT_TRUE(world.Verdict(PodIp(0, 1), PodIp(0, 0), 80).allowed);

  // names[0]'s client goes; a pod of names[2] with a new label set takes its
  // id, isolated for egress by a policy without egress rules.
  world.state().pods.erase({names[0], "client"});
  const std::string lonely = names[2] + "/role=lonely";
  world.Add(PodYaml(names[2], "lonely", PodIp(0, 1), "role: lonely") +
            Policy(names[2], "lonely-deny", "  podSelector: {matchLabels: {role: lonely}}\n  policyTypes: [Egress]"));
  std::map<std::string, uint32_t> ids = PolicyIdentityIds(world.tables().image());
  ids.erase(names[0] + "/role=client");
  ids[lonely] = client_id;
  world.Apply(ids);
  ASSERT_EQ(world.tables().Lookup(Ip(PodIp(0, 1))).identity, client_id);
  EXPECT_EQ(world.tables().acl().base(), world.previous().acl().base());
  const FlowVerdict verdict = world.Verdict(PodIp(0, 1), PodIp(0, 0), 80);
  EXPECT_FALSE(verdict.allowed);
  EXPECT_EQ(verdict.reason, Reason::kDeniedEgress);
  EXPECT_NE(world.tables().acl().Route(AclPartitionOf(names[2], kAclPartitions)), 0);
  world.ExpectSameAsFullBuild();
}

// The compiler's guarantee the partitions build on: a rule record's
// subjects are identities of its policy's namespace.
TEST_F(AclPartitions, EveryRuleSubjectIsInItsPolicysNamespace) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  const PolicyImage& image = world.tables().image();
  std::map<uint32_t, std::string> namespace_of;
  for (size_t i = 0; i < image.identities.size(); ++i)
    namespace_of[image.identities[i].id] = image.identity_names[i].substr(0, image.identity_names[i].find('/'));
  ASSERT_FALSE(image.rules.empty());
  for (const abi::PolicyRuleRecord& rule : image.rules) {
    const std::string& policy = image.policy_names[rule.policy_index];
    for (uint32_t k = 0; k < rule.subject_count; ++k)
      EXPECT_EQ(namespace_of.at(image.identity_refs[rule.subject_first + k]), policy.substr(0, policy.find('/')))
          << policy;
  }
}

// Past 1/kAclOverlayShare of the rules in overlays, the base is rebuilt and
// the overlays go: classification stays one call per burst.
TEST_F(AclPartitions, ManyChangedPartitionsRebuildTheBase) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  const AclContext* base = world.tables().acl().base();
  uint32_t changed = 0;
  while (world.tables().acl().base() == base) {
    ASSERT_LT(changed, kNamespaces / 2) << "the base was never rebuilt";
    world.Relabel(names[changed++], "web");
    world.ExpectSameAsFullBuild();
  }
  EXPECT_GT(changed, 1u);  // the first changes were overlays (the share counts rules, not namespaces)
  EXPECT_TRUE(Overlaid(world.tables().acl()).empty());
}

// Background consolidation (acl_consolidator.h): the clock is passed in,
// quiet periods are simulated; only the build itself runs on a thread.
using AclConsolidation = AclPartitions;

// A builder that holds until `release` is set, so that a test acts while a
// build is surely in flight; counts the builds it was asked for.
struct HeldBuilder {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<uint32_t> builds{0};
  AclConsolidator::Builder Builder() {
    return [this](const PolicyImage& image, uint32_t partitions) {
      ++builds;
      released.wait();
      return AclConsolidator::BuildBaseOnly(image, partitions);
    };
  }
};

// Tables with overlays (names[0] relabelled) and a consolidator whose builds
// wait for held.release.
struct HeldConsolidation {
  std::vector<std::string> names = DistinctNamespaces();
  World world{Cluster(names)};
  HeldBuilder held;
  AclConsolidator consolidator{kConsolidationQuietNs, held.Builder()};
  HeldConsolidation() { world.Relabel(names[0], "client"); }
};

bool WaitUntilFinished(const AclConsolidator& consolidator) {
  for (int i = 0; i < 60000 && !consolidator.build_finished(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return consolidator.build_finished();
}

// The same over every flow of `world`.
void ExpectSameVerdicts(const World& world, const PolicyTables& got_tables, const PolicyTables& want_tables) {
  ExpectSameVerdictsSomeAllowed(world.AllFlows(), got_tables, want_tables);
}

TEST_F(AclConsolidation, QuietPolicyFoldsOverlaysIntoANewBase) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  world.Relabel(names[0], "client");
  const PolicyTables& overlaid = world.tables();
  ASSERT_EQ(overlaid.acl().overlay_count(), 2u);  // p0 and p1

  constexpr uint64_t kQuiet = kConsolidationQuietNs;
  AclConsolidator consolidator;
  consolidator.PolicyApplied(overlaid, 5 * kQuiet);
  EXPECT_FALSE(consolidator.Poll(&overlaid, 5 * kQuiet));
  EXPECT_FALSE(consolidator.building());
  EXPECT_FALSE(consolidator.Poll(&overlaid, 6 * kQuiet));  // quiet: the build starts
  EXPECT_TRUE(consolidator.building());
  ASSERT_TRUE(WaitUntilFinished(consolidator));
  auto done = consolidator.Poll(&overlaid, 7 * kQuiet);
  ASSERT_TRUE(done);
  ASSERT_NE(done->tables, nullptr);
  EXPECT_EQ(done->overlays_before, 2u);
  EXPECT_GE(done->build_ms, 0.0);
  EXPECT_EQ(consolidator.consolidated(), 1u);
  EXPECT_FALSE(consolidator.building());

  const PolicyTables& consolidated = *done->tables;
  EXPECT_EQ(consolidated.acl().overlay_count(), 0u);
  EXPECT_TRUE(Overlaid(consolidated.acl()).empty());
  EXPECT_NE(consolidated.acl().base(), overlaid.acl().base());  // a new base
  EXPECT_EQ(consolidated.acl().contexts_built(), 1u);
  EXPECT_EQ(consolidated.generation(), overlaid.generation());
  EXPECT_EQ(&consolidated.image(), &overlaid.image());  // shared, not copied
  ExpectSameVerdicts(world, consolidated, overlaid);  // rule indices included
  world.ExpectSameAsFullBuild();

  // Nothing more to do for these tables, however long policy stays quiet.
  EXPECT_FALSE(consolidator.Poll(&consolidated, 20 * kQuiet));
  EXPECT_FALSE(consolidator.building());
  EXPECT_EQ(consolidator.started(), 1u);
}

TEST_F(AclConsolidation, ANewerApplyDiscardsTheBuildInFlight) {
  // The builder holds until released: the newer apply lands mid-build.
  HeldConsolidation held_consolidation;
  auto& [names, world, held, consolidator] = held_consolidation;
  ASSERT_GT(world.tables().acl().overlay_count(), 0u);
  const uint64_t t0 = 10 * kConsolidationQuietNs;
  consolidator.PolicyApplied(world.tables(), t0);
  EXPECT_FALSE(consolidator.Poll(&world.tables(), t0 + kConsolidationQuietNs));
  ASSERT_TRUE(consolidator.building());

  world.Relabel(names[2], "web");  // the old tables stay alive in world.previous(), as a slow grace period would
  const PolicyTables& newer = world.tables();
  ASSERT_GT(newer.acl().overlay_count(), 0u);
  const uint64_t t1 = t0 + kConsolidationQuietNs + 1000;
  consolidator.PolicyApplied(newer, t1);  // returns at once: nobody waits for the build
  EXPECT_FALSE(consolidator.build_finished());
  held.release.set_value();
  ASSERT_TRUE(WaitUntilFinished(consolidator));
  EXPECT_FALSE(consolidator.Poll(&newer, t1 + 1000));  // stale: discarded, no new quiet period yet
  EXPECT_EQ(consolidator.discarded(), 1u);
  EXPECT_EQ(consolidator.consolidated(), 0u);
  EXPECT_FALSE(consolidator.building());

  // The next quiet period consolidates the newer tables.
  EXPECT_FALSE(consolidator.Poll(&newer, t1 + kConsolidationQuietNs));
  ASSERT_TRUE(consolidator.building());
  ASSERT_TRUE(WaitUntilFinished(consolidator));
  auto done = consolidator.Poll(&newer, t1 + 2 * kConsolidationQuietNs);
  ASSERT_TRUE(done);
  EXPECT_EQ(held.builds.load(), 2u);
  EXPECT_EQ(&done->tables->image(), &newer.image());
  EXPECT_EQ(done->tables->acl().overlay_count(), 0u);
  ExpectSameVerdicts(world, *done->tables, newer);
}

// Pods coming and going with existing identities keep the classifier whole
// (Serves): such applies neither restart the quiet period nor make the
// build stale; its result goes onto the newest tables.
TEST_F(AclConsolidation, PodChurnNeitherDelaysNorDiscardsIt) {
  HeldConsolidation held_consolidation;
  auto& [names, world, held, consolidator] = held_consolidation;
  ASSERT_GT(world.tables().acl().overlay_count(), 0u);
  constexpr uint64_t kQuiet = kConsolidationQuietNs;
  consolidator.PolicyApplied(world.tables(), kQuiet);

  world.Add(PodYaml(names[3], "client-2", "10.244.1.250", "role: client"));  // during the quiet period
  world.Apply();
  ASSERT_TRUE(world.tables().ReusedClassifierFrom(world.previous()));
  consolidator.PolicyApplied(world.tables(), kQuiet + kQuiet * 9 / 10);
  EXPECT_FALSE(consolidator.Poll(&world.tables(), 2 * kQuiet));  // quiet since the label change
  ASSERT_TRUE(consolidator.building());

  world.Add(PodYaml(names[4], "client-2", "10.244.1.251", "role: client"));  // during the build
  world.Apply();
  ASSERT_TRUE(world.tables().ReusedClassifierFrom(world.previous()));
  const PolicyTables& newest = world.tables();
  consolidator.PolicyApplied(newest, 2 * kQuiet + 1000);
  held.release.set_value();
  ASSERT_TRUE(WaitUntilFinished(consolidator));
  auto done = consolidator.Poll(&newest, 2 * kQuiet + 2000);
  ASSERT_TRUE(done);
  EXPECT_EQ(consolidator.discarded(), 0u);
  EXPECT_EQ(&done->tables->image(), &newest.image());  // the newest tables, their addresses included
  EXPECT_EQ(done->tables->generation(), newest.generation());
  EXPECT_EQ(done->tables->acl().overlay_count(), 0u);
  ExpectSameVerdicts(world, *done->tables, newest);
  EXPECT_TRUE(done->tables->Lookup(Ip("10.244.1.251")).identity == newest.Lookup(Ip("10.244.1.251")).identity);

  // A pod-churn apply on the consolidated tables keeps it as it is.
  world.Add(PodYaml(names[5], "client-2", "10.244.1.252", "role: client"));
  world.Apply();
  consolidator.PolicyApplied(*done->tables, 3 * kQuiet);  // what the loader published
  EXPECT_FALSE(consolidator.Poll(done->tables.get(), 10 * kQuiet));
  EXPECT_FALSE(consolidator.building());
  EXPECT_EQ(consolidator.started(), 1u);
}

TEST_F(AclConsolidation, NoBuildWhileChangesKeepArriving) {
  const std::vector<std::string> names = DistinctNamespaces();
  World world(Cluster(names));
  AclConsolidator consolidator;
  constexpr uint64_t kQuiet = kConsolidationQuietNs;
  uint64_t now = 3 * kQuiet;
  // A label change every 0.9 quiet periods, polled just before the next one.
  for (uint32_t n = 0; n < 4; ++n) {
    world.Relabel(names[n], "client");
    ASSERT_GT(world.tables().acl().overlay_count(), 0u) << n;
    consolidator.PolicyApplied(world.tables(), now);
    now += kQuiet * 9 / 10;
    EXPECT_FALSE(consolidator.Poll(&world.tables(), now)) << n;
    EXPECT_FALSE(consolidator.building()) << n;
  }
  EXPECT_EQ(consolidator.started(), 0u);
  // Quiet at last: one build, for the last tables.
  EXPECT_FALSE(consolidator.Poll(&world.tables(), now + kQuiet / 10));
  EXPECT_TRUE(consolidator.building());
  EXPECT_EQ(consolidator.started(), 1u);
  ASSERT_TRUE(WaitUntilFinished(consolidator));
  auto done = consolidator.Poll(&world.tables(), now + kQuiet);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->tables->acl().overlay_count(), 0u);

  // An apply without overlays (pods coming and going on the consolidated
  // classifier) has nothing to consolidate.
  AclConsolidator idle;
  World plain(Cluster(names));
  ASSERT_EQ(plain.tables().acl().overlay_count(), 0u);
  idle.PolicyApplied(plain.tables(), 0);
  EXPECT_FALSE(idle.Poll(&plain.tables(), 10 * kQuiet));
  EXPECT_FALSE(idle.building());
}

}  // namespace
}  // namespace np::policy
