// Loading kubectl-style manifests (control/k8s): object model, List, JSON,
// warnings, precise errors, and keeping the last good version of an object.
#include "control/k8s/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace np::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

LoadResult Load(const std::string& text, const std::string& file = "services.yaml") {
  LoadResult result;
  LoadManifestText(text, file, result);
  return result;
}

std::string AllErrors(const LoadResult& result) {
  std::string all;
  for (const LoadFailure& failure : result.failures)
    for (const std::string& message : failure.messages) all += message + "\n";
  return all;
}

// A Service with one port; `port_yaml` replaces the port's fields.
std::string ServiceYaml(const std::string& name, const std::string& port_fields = "port: 80",
                        const std::string& extra_spec = "") {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n  clusterIP: 10.96.0.10\n" + extra_spec + "  ports:\n  - name: http\n    " +
         port_fields + "\n";
}

TEST(K8sLoader, LoadsTheFixtureDirectory) {
  Result<LoadResult> loaded = LoadManifestDirectory(NP_CONTROL_FIXTURES "/cluster");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const LoadResult& result = *loaded;
  EXPECT_TRUE(result.failures.empty()) << AllErrors(result);
  for (const std::string& warning : result.warnings) ADD_FAILURE() << "unexpected warning: " << warning;

  const ClusterState& state = result.state;
  ASSERT_EQ(state.services.size(), 2u);
  const Service& vote = state.services.at({"vote", "vote"});
  EXPECT_EQ(vote.type, ServiceType::kLoadBalancer);
  EXPECT_EQ(vote.meta.source_file, "10-services.yaml");
  ASSERT_EQ(vote.cluster_ips.size(), 1u);
  EXPECT_EQ(vote.cluster_ips[0].ToString(), "10.96.10.10");
  ASSERT_EQ(vote.ports.size(), 1u);
  EXPECT_EQ(vote.ports[0].port, 80);
  EXPECT_EQ(vote.ports[0].node_port, 31000);
  EXPECT_TRUE(vote.ports[0].target_port.is_name);
  EXPECT_EQ(vote.ports[0].target_port.name, "http");
  EXPECT_TRUE(vote.affinity_client_ip);
  EXPECT_EQ(vote.affinity_timeout_s, 600u);
  EXPECT_EQ(vote.external_traffic_policy, TrafficPolicy::kLocal);
  EXPECT_EQ(vote.health_check_node_port, 32001);
  ASSERT_EQ(vote.load_balancer_source_ranges.size(), 1u);
  EXPECT_EQ(vote.load_balancer_source_ranges[0].ToString(), "192.168.100.0/24");
  ASSERT_EQ(vote.load_balancer_ingress_ips.size(), 1u);
  EXPECT_EQ(vote.load_balancer_ingress_ips[0].ToString(), "192.168.100.200");
  EXPECT_EQ(vote.selector.at("app"), "vote");
  EXPECT_TRUE(state.services.at({"vote", "db"}).headless);

  const EndpointSlice& slice = state.endpoint_slices.at({"vote", "vote-x7k2p"});  // from kind: List
  EXPECT_EQ(slice.ServiceName(), "vote");
  ASSERT_EQ(slice.endpoints.size(), 2u);
  EXPECT_EQ(slice.endpoints[0].node_name, "node-a");
  EXPECT_TRUE(slice.endpoints[0].IsReady());
  EXPECT_EQ(slice.endpoints[0].target_ref->name, "vote-6d4b9c7f8-abcde");
  ASSERT_EQ(slice.ports.size(), 1u);
  EXPECT_EQ(slice.ports[0].port, 8080);

  const Node& node = state.nodes.at({"", "node-b"});  // from JSON
  EXPECT_EQ(node.InternalIpv4(), 0xc0a8640bu);
  ASSERT_EQ(node.pod_cidrs.size(), 1u);
  EXPECT_EQ(node.pod_cidrs[0].ToString(), "10.244.2.0/24");

  EXPECT_EQ(state.namespaces.at({"", "vote"}).meta.labels.at("kubernetes.io/metadata.name"), "vote");
  const Pod& pod = state.pods.at({"vote", "vote-6d4b9c7f8-abcde"});
  EXPECT_EQ(pod.node_name, "node-a");
  EXPECT_EQ(pod.pod_ip->ToString(), "10.244.1.11");
  ASSERT_EQ(pod.containers.size(), 1u);
  EXPECT_EQ(pod.containers[0].ports[0].name, "http");
  EXPECT_EQ(pod.containers[0].ports[0].container_port, 8080);

  // NetworkPolicy is decoded (control/k8s/decode_networkpolicy.cc), no longer kept raw.
  EXPECT_EQ(state.network_policies.count({"vote", "default-deny"}), 1u);
  EXPECT_EQ(state.others.count({"NetworkPolicy", {"vote", "default-deny"}}), 0u);
}

TEST(K8sLoader, MissingDirectoryIsAnError) {
  Result<LoadResult> loaded = LoadManifestDirectory("/nonexistent/manifests");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.error().message, HasSubstr("/nonexistent/manifests"));
}

TEST(K8sLoader, DefaultsFollowTheApi) {
  LoadResult result = Load(ServiceYaml("web"));
  ASSERT_TRUE(result.failures.empty()) << AllErrors(result);
  const Service& web = result.state.services.at({"default", "web"});
  EXPECT_EQ(web.type, ServiceType::kClusterIP);
  EXPECT_EQ(web.ports[0].protocol, Protocol::kTCP);
  EXPECT_FALSE(web.ports[0].target_port.is_name);
  EXPECT_EQ(web.ports[0].target_port.number, 80);
  EXPECT_EQ(web.affinity_timeout_s, 10800u);
  EXPECT_EQ(web.external_traffic_policy, TrafficPolicy::kCluster);
  EXPECT_EQ(web.internal_traffic_policy, TrafficPolicy::kCluster);
}

TEST(K8sLoader, UnknownFieldsAreWarningsNotErrors) {
  LoadResult result = Load(ServiceYaml("web", "port: 80\n    colour: blue", "  frobnicate: true\n"));
  EXPECT_TRUE(result.failures.empty()) << AllErrors(result);
  EXPECT_EQ(result.state.services.size(), 1u);
  EXPECT_THAT(result.warnings,
              ElementsAre("services.yaml: Service default/web: spec.frobnicate: unknown field, ignored",
                          "services.yaml: Service default/web: spec.ports[0].colour: unknown field, ignored"));
}

// Each class of error names the file, the object and the field.
TEST(K8sLoader, ErrorsNameFileObjectAndField) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {ServiceYaml("vote", "port: 70000"),
       "services.yaml: Service default/vote: spec.ports[0].port: 70000 is not a port (1-65535)"},
      {ServiceYaml("vote", "port: \"80\""),
       "services.yaml: Service default/vote: spec.ports[0].port: expected a port number, got \"80\""},
      {ServiceYaml("vote", "port: [80]"),
       "services.yaml: Service default/vote: spec.ports[0].port: expected a port number, got a list"},
      {ServiceYaml("vote", "port: 80\n    protocol: ICMP"),
       "services.yaml: Service default/vote: spec.ports[0].protocol: \"ICMP\" is not one of TCP, UDP, SCTP"},
      {ServiceYaml("vote", "port: 80\n    targetPort: Not_A_Name"),
       "services.yaml: Service default/vote: spec.ports[0].targetPort: \"Not_A_Name\" is not a port number or "
       "a valid port name"},
      {ServiceYaml("vote", "port: 80", "  externalIPs: [10.1.2.300]\n"),
       "services.yaml: Service default/vote: spec.externalIPs[0]: \"10.1.2.300\" is not an IP address"},
      {ServiceYaml("vote", "port: 80", "  loadBalancerSourceRanges: [10.0.0.0/33]\n"),
       "services.yaml: Service default/vote: spec.loadBalancerSourceRanges[0]: \"10.0.0.0/33\" is not a CIDR "
       "(address/prefix-length)"},
      {ServiceYaml("vote", "port: 80", "  type: Balanced\n"),
       "services.yaml: Service default/vote: spec.type: \"Balanced\" is not one of ClusterIP, NodePort, "
       "LoadBalancer, ExternalName"},
      {ServiceYaml("vote", "port: 80", "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n"),
       "services.yaml: Service default/vote: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 0 is out of "
       "range (1-86400)"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: vote}\nspec:\n  ports: 80\n",
       "services.yaml: Service default/vote: spec.ports: expected a list, got 80"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: vote}\nspec: hello\n",
       "services.yaml: Service default/vote: spec: expected a mapping, got hello"},
      {"apiVersion: v1\nkind: Service\nmetadata:\n  namespace: default\nspec: {}\n",
       "services.yaml: Service <no name>: metadata.name: required"},
      {"apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\n",
       "services.yaml: EndpointSlice default/s1: apiVersion: \"discovery.k8s.io/v1beta1\" is not supported "
       "(expected discovery.k8s.io/v1)"},
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\n"
       "endpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: maybe}\n",
       "services.yaml: EndpointSlice default/s1: endpoints[0].conditions.ready: expected true or false, got "
       "maybe"},
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\n"
       "endpoints:\n- addresses: [fd00::1]\n",
       "services.yaml: EndpointSlice default/s1: endpoints[0].addresses[0]: fd00::1 does not match addressType "
       "IPv4"},
      {"apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDR: 10.244.0.0/99}\n",
       "services.yaml: Node n1: spec.podCIDR: \"10.244.0.0/99\" is not a CIDR (address/prefix-length)"},
      {"kind: Service\nmetadata: {name: x}\n", "services.yaml:1: document 1: apiVersion: required"},
      {"- just\n- a list\n",
       "services.yaml:1: document 1: expected an object (a mapping with apiVersion and kind), got a list"},
  };
  for (const Case& test : cases) {
    LoadResult result = Load(test.yaml);
    ASSERT_EQ(result.failures.size(), 1u) << test.yaml;
    EXPECT_THAT(result.failures[0].messages, ::testing::Contains(test.message)) << AllErrors(result);
    EXPECT_TRUE(result.state.services.empty());
  }
}

TEST(K8sLoader, SyntaxErrorInOneDocumentKeepsTheOthers) {
  const std::string text = ServiceYaml("a") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: [broken\n---\n" +
                           ServiceYaml("c");
  LoadResult result = Load(text);
  EXPECT_EQ(result.state.services.size(), 2u);
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_FALSE(result.failures[0].object.has_value());
  EXPECT_THAT(result.failures[0].messages[0], HasSubstr("services.yaml:"));
  EXPECT_THAT(result.failures[0].messages[0], HasSubstr("document 2: not valid YAML"));
}

TEST(K8sLoader, DuplicateDefinitionKeepsTheFirst) {
  LoadResult result = Load(ServiceYaml("a", "port: 80") + "---\n" + ServiceYaml("a", "port: 81"));
  ASSERT_EQ(result.failures.size(), 1u);
  EXPECT_THAT(result.failures[0].messages[0], HasSubstr("defined twice (first in services.yaml)"));
  EXPECT_EQ(result.state.services.at({"default", "a"}).ports[0].port, 80);
}

TEST(K8sLoader, OneBadObjectKeepsItsLastGoodVersionWhileOthersUpdate) {
  LoadResult first = Load(ServiceYaml("vote", "port: 80") + "---\n" + ServiceYaml("result", "port: 80"));
  ASSERT_TRUE(first.failures.empty());
  const ClusterState running = MergeKeepingLastGood({}, first);

  // vote's edit is invalid, result's is fine.
  LoadResult second = Load(ServiceYaml("vote", "port: 70000") + "---\n" + ServiceYaml("result", "port: 8080"));
  ASSERT_EQ(second.failures.size(), 1u);
  ASSERT_TRUE(second.failures[0].object.has_value());
  EXPECT_EQ(second.failures[0].object->ToString(), "Service default/vote");

  std::vector<ObjectKey> kept;
  const ClusterState merged = MergeKeepingLastGood(running, second, &kept);
  EXPECT_EQ(merged.services.at({"default", "vote"}).ports[0].port, 80);      // last good
  EXPECT_EQ(merged.services.at({"default", "result"}).ports[0].port, 8080);  // updated
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].ToString(), "Service default/vote");

  // A removed object is gone, not kept.
  LoadResult third = Load(ServiceYaml("result", "port: 8080"));
  EXPECT_EQ(MergeKeepingLastGood(merged, third).services.count({"default", "vote"}), 0u);
}

TEST(K8sLoader, UnparsableDocumentKeepsThatFilesMissingObjects) {
  LoadResult first;
  LoadManifestText(ServiceYaml("vote"), "vote.yaml", first);
  LoadManifestText(ServiceYaml("other"), "other.yaml", first);
  const ClusterState running = MergeKeepingLastGood({}, first);

  LoadResult second;
  LoadManifestText("apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n", "vote.yaml", second);
  LoadManifestText(ServiceYaml("other", "port: 81"), "other.yaml", second);
  const ClusterState merged = MergeKeepingLastGood(running, second);
  EXPECT_EQ(merged.services.count({"default", "vote"}), 1u);
  EXPECT_EQ(merged.services.at({"default", "other"}).ports[0].port, 81);
}

TEST(K8sLoader, EndpointConditionsFollowApiSemantics) {
  LoadResult result = Load(
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s\n  labels: "
      "{kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n"
      "- addresses: [10.0.0.2]\n  conditions: {ready: false, serving: true, terminating: true}\nports:\n- port: "
      "8080\n");
  ASSERT_TRUE(result.failures.empty()) << AllErrors(result);
  const EndpointSlice& slice = result.state.endpoint_slices.at({"default", "s"});
  EXPECT_TRUE(slice.endpoints[0].IsReady());  // unknown readiness counts as ready
  EXPECT_TRUE(slice.endpoints[0].IsServing());
  EXPECT_FALSE(slice.endpoints[0].IsTerminating());
  EXPECT_FALSE(slice.endpoints[1].IsReady());
  EXPECT_TRUE(slice.endpoints[1].IsServing());
  EXPECT_TRUE(slice.endpoints[1].IsTerminating());
  EXPECT_EQ(slice.ports[0].name, "");
}

TEST(K8sLoader, ApiListKindsAndDualStack) {
  LoadResult result = Load(
      "apiVersion: v1\nkind: ServiceList\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: ds, "
      "namespace: web}\n  spec:\n    clusterIP: fd00::10\n    clusterIPs: [fd00::10, 10.96.0.20]\n    ports: "
      "[{port: 53, protocol: UDP}]\n");
  ASSERT_TRUE(result.failures.empty()) << AllErrors(result);
  const Service& service = result.state.services.at({"web", "ds"});
  ASSERT_EQ(service.cluster_ips.size(), 2u);
  EXPECT_TRUE(service.cluster_ips[0].is_v6);
  EXPECT_EQ(service.cluster_ips[1].ToString(), "10.96.0.20");
  EXPECT_EQ(service.ports[0].protocol, Protocol::kUDP);
}

}  // namespace
}  // namespace np::k8s
