// The loader's background consolidation of rte_acl overlays
// (dataplane/policy/acl_consolidator.h), end to end through the real Loader
// (tests/harness/in_process_dataplane.h): after a label change that leaves
// overlays, Tick publishes - once policy has been quiet for
// kConsolidationQuietNs (real time: this test waits ~1 s) - the same policy
// tables with a base-only classifier: same image and generation, the applied
// generation not re-reported, per-rule counters not reset.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "common/stats_abi.h"
#include "dataplane/policy/policy_tables.h"
#include "dataplane/runtime/loader.h"
#include "dataplane/runtime/stats_region.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/harness/test_eal.h"
#include "tests/policy/policy_test_support.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using policy::testing::NamespaceYaml;
using policy::testing::PodYaml;

constexpr uint32_t kNamespaces = 16;

// kNamespaces + 1 namespaces, each a web pod admitting its own clients on 80.
// `changed`: the last namespace's policy opens 8080 instead: only that
// partition's rules change (an overlay), as after a label change.
std::string Manifests(bool changed) {
  std::string yaml;
  for (uint32_t n = 0; n <= kNamespaces; ++n) {
    const std::string ns = n == kNamespaces ? "zz" : "ns-" + std::to_string(100 + n);
    yaml += NamespaceYaml(ns);
    yaml += PodYaml(ns, "web", "10.244.1." + std::to_string(20 + 2 * n), "app: web");
    yaml += PodYaml(ns, "client", "10.244.1." + std::to_string(21 + 2 * n), "role: client");
    yaml += "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: " + ns +
            "\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: "
            "{role: client}}}]\n    ports: [{port: " + (n == kNamespaces && changed ? "8080" : "80") + "}]\n---\n";
  }
  return yaml;
}

class PolicyConsolidation : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("np-consolidation-test-" + std::to_string(getpid()));
    fs::create_directories(dir_ / "manifests");
    std::ofstream(dir_ / "node.yaml") << "apiVersion: nodeplane.io/v1alpha1\nkind: NodeConfig\nnode:\n"
                                         "  name: node-a\n  addresses: [192.168.100.10]\n  podCIDR: 10.244.1.0/24\n"
                                         "  clusterCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
                                         "dataplane:\n  conntrackCapacity: 4096\n"
                                         "ports:\n  - name: uplink\n    role: uplink\n    devargs: net_ring_uplink\n";
    ASSERT_TRUE(dataplane_.Setup(dir_ / "node.yaml")) << dataplane_.error();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool Publish(bool changed) {
    std::ofstream(dir_ / "manifests" / "cluster.yaml") << Manifests(changed);
    return dataplane_.PublishServices(dir_ / "manifests");
  }
  const policy::PolicyTables* policy() { return dataplane_.shared().policy.load(std::memory_order_acquire); }

  fs::path dir_;
  harness::InProcessDataplane dataplane_;
};

TEST_F(PolicyConsolidation, QuietLoaderSwapsInABaseOnlyClassifier) {
  ASSERT_TRUE(Publish(false)) << dataplane_.error();
  ASSERT_NE(policy(), nullptr);
  ASSERT_EQ(policy()->acl().overlay_count(), 0u);
  ASSERT_TRUE(Publish(true)) << dataplane_.error();  // one namespace's rules change
  const policy::PolicyTables* overlaid = policy();
  ASSERT_GT(overlaid->acl().overlay_count(), 0u) << "rules " << overlaid->acl().rule_count(abi::PolicyDirection::kIngress) << " built " << overlaid->acl_contexts_built() << " reused " << overlaid->acl_contexts_reused() << " ids " << overlaid->image().identities.size();
  const uint64_t generation = overlaid->generation();
  const PolicyImage* image = &overlaid->image();  // `overlaid` itself is freed by the swap
  TablesRegion& region = dataplane_.tables_region();
  const uint64_t applied = region.AppliedGeneration(abi::SectionKind::kPolicy);
  stats::StatsHeader& header = dataplane_.stats().header();
  const uint64_t counters_generation = header.policy_counters_generation.load();
  std::atomic<uint64_t>& rule_count = dataplane_.stats().lcore(0).policy_rule_connections[0];
  rule_count.store(7);  // as if a worker had counted connections on rule 0

  // Quiet: within ~1 s plus a small build, Tick publishes the consolidation.
  const policy::AclConsolidator& consolidator = dataplane_.loader().acl_consolidator();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (policy() == overlaid && std::chrono::steady_clock::now() < deadline) {
    dataplane_.loader().Tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const policy::PolicyTables* consolidated = policy();
  ASSERT_NE(consolidated, overlaid) << "no consolidation";
  EXPECT_EQ(consolidator.consolidated(), 1u);
  EXPECT_EQ(consolidated->acl().overlay_count(), 0u);
  EXPECT_EQ(consolidated->generation(), generation);
  EXPECT_EQ(&consolidated->image(), image);  // shared: same image, same rule indices
  EXPECT_EQ(region.AppliedGeneration(abi::SectionKind::kPolicy), applied);
  EXPECT_EQ(header.policy_counters_generation.load(), counters_generation);
  EXPECT_EQ(rule_count.load(), 7u);  // not reset: the rule indices mean the same rules

  // Nothing more happens while policy stays as it is.
  for (int i = 0; i < 20; ++i) dataplane_.loader().Tick();
  EXPECT_EQ(policy(), consolidated);
  EXPECT_EQ(consolidator.started(), 1u);
}

}  // namespace
}  // namespace np

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!np::harness::InitTestEal("np-consolidation-test", "np-consolidation-test-" + std::to_string(getpid()), 512)) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  const int result = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return result;
}
