// Pod -> workload (control/k8s/workloads.h): through ReplicaSet ->
// Deployment, StatefulSet, DaemonSet, Job -> CronJob, and the label
// fallbacks when the controllers are not among the manifests.
#include "control/k8s/workloads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/k8s/loader.h"

namespace np::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

ClusterState Load(const std::string& text) {
  LoadResult result;
  LoadManifestText(text, "test.yaml", result);
  for (const LoadFailure& failure : result.failures)
    for (const std::string& message : failure.messages) ADD_FAILURE() << message;
  return result.state;
}

std::string PodYaml(const std::string& name, const std::string& labels, const std::string& owner_kind = "",
                    const std::string& owner_name = "") {
  std::string text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: shop\n  labels: {" +
                     labels + "}\n";
  if (!owner_kind.empty())
    text += "  ownerReferences:\n  - apiVersion: apps/v1\n    kind: " + owner_kind + "\n    name: " + owner_name +
            "\n    uid: 1234\n    controller: true\n";
  return text + "spec:\n  containers: [{name: main}]\nstatus:\n  podIP: 10.244.1.5\n";
}

std::string Controller(const std::string& kind, const std::string& name, const std::string& selector,
                       const std::string& owner_kind = "", const std::string& owner_name = "") {
  std::string text = "---\napiVersion: apps/v1\nkind: " + kind + "\nmetadata:\n  name: " + name +
                     "\n  namespace: shop\n";
  if (!owner_kind.empty())
    text += "  ownerReferences:\n  - {apiVersion: apps/v1, kind: " + owner_kind + ", name: " + owner_name +
            ", controller: true}\n";
  return text + "spec:\n  selector:\n    matchLabels: {" + selector + "}\n  template:\n    metadata:\n      labels: {" +
         selector + "}\n";
}

WorkloadRef WorkloadOfOnlyPod(const ClusterState& state) {
  EXPECT_EQ(state.pods.size(), 1u);
  return WorkloadIndex(state).WorkloadOf(state.pods.begin()->second);
}

TEST(WorkloadResolution, PodOwnerReferencesAreDecoded) {
  const ClusterState state = Load(PodYaml("cart-abc-x1", "app: cart", "ReplicaSet", "cart-abc"));
  const Pod& pod = state.pods.begin()->second;
  ASSERT_EQ(pod.meta.owner_references.size(), 1u);
  EXPECT_EQ(pod.meta.owner_references[0].kind, "ReplicaSet");
  EXPECT_EQ(pod.meta.owner_references[0].name, "cart-abc");
  EXPECT_TRUE(pod.meta.owner_references[0].controller);
}

TEST(WorkloadResolution, ReplicaSetLeadsToItsDeployment) {
  const ClusterState state = Load(PodYaml("cart-abc-x1", "app: cart, pod-template-hash: abc", "ReplicaSet", "cart-abc") +
                                  Controller("ReplicaSet", "cart-abc", "app: cart, pod-template-hash: abc",
                                             "Deployment", "cart") +
                                  Controller("Deployment", "cart", "app: cart"));
  const WorkloadRef workload = WorkloadOfOnlyPod(state);
  EXPECT_EQ(workload.kind, "Deployment");
  EXPECT_EQ(workload.namespace_, "shop");
  EXPECT_EQ(workload.name, "cart");
  EXPECT_THAT(workload.pod_labels, ElementsAre(Pair("app", "cart")));
}

TEST(WorkloadResolution, ReplicaSetWithoutItsDeploymentLoadedNamesTheDeploymentAndDropsTheHash) {
  const ClusterState state = Load(PodYaml("cart-abc-x1", "app: cart, pod-template-hash: abc", "ReplicaSet", "cart-abc") +
                                  Controller("ReplicaSet", "cart-abc", "app: cart, pod-template-hash: abc",
                                             "Deployment", "cart"));
  const WorkloadRef workload = WorkloadOfOnlyPod(state);
  EXPECT_EQ(workload.kind, "Deployment");
  EXPECT_EQ(workload.name, "cart");
  // The ReplicaSet's selector names this revision: the hash must go, or the
  // next rollout's pods would not be selected.
  EXPECT_THAT(workload.pod_labels, ElementsAre(Pair("app", "cart")));
}

TEST(WorkloadResolution, UnloadedReplicaSetFallsBackToTheNameLabels) {
  const ClusterState by_app = Load(PodYaml("cart-abc-x1", "app: cart, pod-template-hash: abc", "ReplicaSet", "cart-abc"));
  EXPECT_EQ(WorkloadOfOnlyPod(by_app).name, "cart");
  EXPECT_EQ(WorkloadOfOnlyPod(by_app).kind, "Deployment");
  EXPECT_THAT(WorkloadOfOnlyPod(by_app).pod_labels, ElementsAre(Pair("app", "cart")));

  const ClusterState by_name = Load(PodYaml("web-abc-x1", "app.kubernetes.io/name: web, app: other, pod-template-hash: abc",
                                            "ReplicaSet", "web-abc"));
  EXPECT_EQ(WorkloadOfOnlyPod(by_name).name, "web");  // app.kubernetes.io/name first
  EXPECT_THAT(WorkloadOfOnlyPod(by_name).pod_labels, ElementsAre(Pair("app.kubernetes.io/name", "web")));
}

TEST(WorkloadResolution, StatefulSetAndDaemonSetOwnersAreTheWorkload) {
  const ClusterState loaded = Load(PodYaml("db-0", "app: db, statefulset.kubernetes.io/pod-name: db-0", "StatefulSet", "db") +
                                   Controller("StatefulSet", "db", "app: db"));
  EXPECT_EQ(WorkloadOfOnlyPod(loaded).kind, "StatefulSet");
  EXPECT_EQ(WorkloadOfOnlyPod(loaded).name, "db");
  EXPECT_THAT(WorkloadOfOnlyPod(loaded).pod_labels, ElementsAre(Pair("app", "db")));

  const ClusterState not_loaded = Load(PodYaml("agent-x7", "name: agent, controller-revision-hash: 55", "DaemonSet", "agent"));
  EXPECT_EQ(WorkloadOfOnlyPod(not_loaded).kind, "DaemonSet");
  EXPECT_EQ(WorkloadOfOnlyPod(not_loaded).name, "agent");
  EXPECT_THAT(WorkloadOfOnlyPod(not_loaded).pod_labels, ElementsAre(Pair("name", "agent")));

  const ClusterState daemonset = Load(PodYaml("agent-x7", "name: agent", "DaemonSet", "agent") +
                                      Controller("DaemonSet", "agent", "name: agent"));
  EXPECT_EQ(WorkloadOfOnlyPod(daemonset).kind, "DaemonSet");
}

TEST(WorkloadResolution, JobLeadsToItsCronJob) {
  const ClusterState state =
      Load(PodYaml("report-28-abc", "job-name: report-28", "Job", "report-28") +
           Controller("Job", "report-28", "job-name: report-28", "CronJob", "report") +
           "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: report, namespace: shop}\nspec:\n"
           "  schedule: '@hourly'\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n"
           "          labels: {app: report}\n");
  const WorkloadRef workload = WorkloadOfOnlyPod(state);
  EXPECT_EQ(workload.kind, "CronJob");
  EXPECT_EQ(workload.name, "report");
  EXPECT_THAT(workload.pod_labels, ElementsAre(Pair("app", "report")));
}

TEST(WorkloadResolution, PodWithoutOwnerIsItsAppLabelOrItself) {
  EXPECT_EQ(WorkloadOfOnlyPod(Load(PodYaml("debug", "app: toolbox"))).name, "toolbox");
  const WorkloadRef bare = WorkloadOfOnlyPod(Load(PodYaml("debug", "team: a")));
  EXPECT_EQ(bare.kind, "Pod");
  EXPECT_EQ(bare.name, "debug");
  EXPECT_THAT(bare.pod_labels, ElementsAre(Pair("team", "a")));
}

TEST(WorkloadResolution, UnknownKindsStayUndecodedAndAMalformedControllerIsSkippedWithAReason) {
  const ClusterState state = Load(
      "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: shop}\n" +
      Controller("Deployment", "cart", "app: cart") +
      "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: broken, namespace: shop}\n"
      "spec:\n  selector:\n    matchExpressions:\n    - {key: app, operator: Sometimes}\n");
  EXPECT_EQ(state.others.count({"Ingress", {"shop", "web"}}), 1u);
  std::vector<std::string> errors;
  const WorkloadIndex index(state, &errors);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_NE(index.Find("Deployment", {"shop", "cart"}), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("Deployment shop/broken"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("operator"), std::string::npos) << errors[0];
}

TEST(WorkloadResolution, VotingAppPodsResolveToTheirDeploymentsAndStatefulSet) {
  Result<LoadResult> loaded = LoadManifestDirectory(NP_CONFIG_DIR "/voting-app");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  ASSERT_TRUE(loaded->failures.empty());
  const WorkloadIndex index(loaded->state);
  std::map<std::string, std::string> workloads;
  for (const auto& [id, pod] : loaded->state.pods) {
    const WorkloadRef workload = index.WorkloadOf(pod);
    workloads[id.name] = workload.kind + " " + workload.namespace_ + "/" + workload.name;
  }
  EXPECT_THAT(workloads, ElementsAre(Pair("db-0", "StatefulSet voting-app/db"),
                                     Pair("ingress-nginx-controller-7c9d8b6f4d-x2k8p",
                                          "Deployment ingress-nginx/ingress-nginx-controller"),
                                     Pair("redis-7f6d5c8b9-zv5nq", "Deployment voting-app/redis"),
                                     Pair("result-6b7c8d9f5-kp3rt", "Deployment voting-app/result"),
                                     Pair("vote-5d8f7c9b6-4hx2z", "Deployment voting-app/vote"),
                                     Pair("vote-5d8f7c9b6-q7m9w", "Deployment voting-app/vote"),
                                     Pair("worker-84c7f9d6b5-l2f8h", "Deployment voting-app/worker")));
}

}  // namespace
}  // namespace np::k8s
