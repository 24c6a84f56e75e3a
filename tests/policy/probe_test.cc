// `npctl policy probe` against the upstream Kubernetes NetworkPolicy e2e
// truth tables (kubernetes/kubernetes test/e2e/network/netpol).
//
// The model is upstream's (model.go): namespaces x, y, z labelled ns=<name>
// (plus kubernetes.io/metadata.name), pods a, b, c labelled pod=<name>, one
// container per port (80, 81) and protocol (TCP, UDP, SCTP) with the named
// containerPort serve-<port>-<protocol>. Each test builds the policies of
// one upstream case (network_policy.go) and compares every probed pair with
// the Reachability upstream expects (NewReachability(all, true) followed by
// the same Expect/ExpectPeer/ExpectAllIngress/ExpectAllEgress calls). As
// upstream (ignoreLoopback = true) the diagonal is not compared with the
// expectation; it must be "allow" (a pod reaching itself always is).
//
// The verdicts come from ProbeLines(): the policy compiler, the encoded and
// decoded section and PolicyTables::Check over rte_acl - the dataplane's code.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "control/cli/policy_probe.h"
#include "control/k8s/loader.h"

namespace np::cli {
namespace {

const std::vector<std::string> kNamespaces = {"x", "y", "z"};
const std::vector<std::string> kPodNames = {"a", "b", "c"};

std::string PodIp(const std::string& ns, const std::string& pod) {
  const int n = ns == "x" ? 1 : ns == "y" ? 2 : 3;
  const int p = pod == "a" ? 1 : pod == "b" ? 2 : 3;
  return "10." + std::to_string(n) + ".0." + std::to_string(p);
}

std::vector<std::string> AllPods() {
  std::vector<std::string> pods;
  for (const std::string& ns : kNamespaces)
    for (const std::string& pod : kPodNames) pods.push_back(ns + "/" + pod);
  return pods;
}

// upstream model.go: Namespace.Spec(), Pod.KubePod(), Container.Spec().
std::string ModelYaml() {
  std::string text;
  for (const std::string& ns : kNamespaces) {
    text += "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n  labels: {ns: " + ns +
            ", kubernetes.io/metadata.name: " + ns + "}\n---\n";
    for (const std::string& pod : kPodNames) {
      text += "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + pod + "\n  namespace: " + ns +
              "\n  labels: {pod: " + pod + "}\nspec:\n  nodeName: node-a\n  containers:\n";
      for (int port : {80, 81})
        for (const std::string protocol : {"TCP", "UDP", "SCTP"}) {
          std::string lower = protocol;
          for (char& c : lower) c = static_cast<char>(std::tolower(c));
          text += "  - name: cont-" + std::to_string(port) + "-" + lower + "\n    image: agnhost\n    ports:\n" +
                  "    - {containerPort: " + std::to_string(port) + ", name: serve-" + std::to_string(port) + "-" +
                  lower + ", protocol: " + protocol + "}\n";
        }
      text += "status:\n  phase: Running\n  podIP: " + PodIp(ns, pod) + "\n---\n";
    }
  }
  return text;
}

std::string Policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\nspec:\n" + spec + "---\n";
}

// upstream reachability.go, reduced to what the cases use.
struct Peer {
  std::string ns;   // "" = any
  std::string pod;  // "" = any
  bool Matches(const std::string& pod_string) const {
    const auto slash = pod_string.find('/');
    return (ns.empty() || pod_string.substr(0, slash) == ns) && (pod.empty() || pod_string.substr(slash + 1) == pod);
  }
};

class Reachability {
 public:
  Reachability() {
    for (const std::string& from : AllPods())
      for (const std::string& to : AllPods()) expected_[{from, to}] = true;
  }
  Reachability& ExpectPeer(const Peer& from, const Peer& to, bool connected) {
    for (auto& [key, value] : expected_)
      if (from.Matches(key.first) && to.Matches(key.second)) value = connected;
    return *this;
  }
  Reachability& Expect(const std::string& from, const std::string& to, bool connected) {
    expected_.at({from, to}) = connected;
    return *this;
  }
  Reachability& ExpectAllIngress(const std::string& pod, bool connected) {
    const auto slash = pod.find('/');
    return ExpectPeer({}, {pod.substr(0, slash), pod.substr(slash + 1)}, connected);
  }
  Reachability& ExpectAllEgress(const std::string& pod, bool connected) {
    const auto slash = pod.find('/');
    return ExpectPeer({pod.substr(0, slash), pod.substr(slash + 1)}, {}, connected);
  }
  bool At(const std::string& from, const std::string& to) const { return expected_.at({from, to}); }

 private:
  std::map<std::pair<std::string, std::string>, bool> expected_;
};

class Probe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Status eal = InitProbeEal();
    ASSERT_TRUE(eal.ok()) << eal.error().message;
  }

  // Compiles the model + policies and probes every pair on the six upstream ports.
  void Apply(const std::string& policies, const std::string& model = ModelYaml()) {
    k8s::LoadResult loaded;
    k8s::LoadManifestText(model + policies, "probe.yaml", loaded);
    ASSERT_TRUE(loaded.failures.empty()) << loaded.failures[0].messages[0];
    Result<ProbeWorld> world = BuildProbeWorld(std::move(loaded.state));
    ASSERT_TRUE(world.ok()) << world.error().message;
    ASSERT_EQ(world->pods.size(), 9u);
    ASSERT_TRUE(world->skipped.empty());
    Result<std::vector<ProbePort>> ports = ParseProbePorts(kDefaultProbePorts);
    ASSERT_TRUE(ports.ok());
    observed_.clear();
    const std::vector<std::string> lines = ProbeLines(*world, *ports);
    ASSERT_EQ(lines.size(), 9u * 9u * 6u);
    ASSERT_TRUE(std::is_sorted(lines.begin(), lines.end()));
    static const std::regex kLine(R"(^([a-z]/[a-c]) ([a-z]/[a-c]) (8[01]/(TCP|UDP|SCTP)) (allow|deny)$)");
    for (const std::string& line : lines) {
      std::smatch match;
      ASSERT_TRUE(std::regex_match(line, match, kLine)) << "malformed probe line: " << line;
      observed_[match[3].str()][{match[1].str(), match[2].str()}] = match[5].str() == "allow";
    }
    world_ = std::move(world).value();
  }

  // upstream ValidateOrFail: the truth table on one port, loopback ignored but required to be allowed.
  void Validate(const std::string& port, const Reachability& expected) {
    SCOPED_TRACE("port " + port);
    const auto& observed = observed_.at(port);
    std::string table = "expected/observed (X = deny, ! = mismatch)\n-";
    for (const std::string& to : AllPods()) table += "\t" + to;
    bool mismatch = false;
    for (const std::string& from : AllPods()) {
      table += "\n" + from;
      for (const std::string& to : AllPods()) {
        const bool got = observed.at({from, to});
        const bool want = from == to ? true : expected.At(from, to);
        mismatch |= got != want;
        table += std::string("\t") + (got != want ? "!" : "") + (got ? "." : "X");
      }
    }
    EXPECT_FALSE(mismatch) << table;
  }

  std::string Trace(const std::string& from, const std::string& to, const std::string& port) {
    Result<std::vector<ProbePort>> ports = ParseProbePorts(port);
    EXPECT_TRUE(ports.ok());
    Result<std::string> text = TraceFlow(world_, from, to, ports->front());
    EXPECT_TRUE(text.ok()) << text.error().message;
    return text ? *text : "";
  }

  std::map<std::string, std::map<std::pair<std::string, std::string>, bool>> observed_;
  ProbeWorld world_;
};

// --- policy specs of the upstream cases ------------------------------------

const std::string kDenyIngress = "  podSelector: {}\n  policyTypes: [Ingress]\n";
const std::string kDenyAll = "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";

TEST_F(Probe, NoPolicyAllowsEverything) {
  Apply("");
  for (const char* port : {"80/TCP", "81/TCP", "80/UDP", "81/UDP", "80/SCTP", "81/SCTP"}) Validate(port, Reachability());
}

// "should support a 'default-deny-ingress' policy" (TCP, and the UDP and SCTP variants).
TEST_F(Probe, DefaultDenyIngress) {
  Apply(Policy("x", "deny-ingress", kDenyIngress));
  for (const char* port : {"80/TCP", "80/UDP", "80/SCTP", "81/TCP"})
    Validate(port, Reachability().ExpectPeer({}, {"x", ""}, false));
}

// "should support a 'default-deny-all' policy"; also "should stop enforcing policies after they are deleted".
TEST_F(Probe, DefaultDenyAll) {
  Apply(Policy("x", "deny-all", kDenyAll));
  Validate("80/TCP", Reachability().ExpectPeer({}, {"x", ""}, false).ExpectPeer({"x", ""}, {}, false));
  Apply("");  // the policy deleted
  Validate("80/TCP", Reachability());
}

// "should enforce policy to allow traffic from pods within server namespace based on PodSelector"
TEST_F(Probe, AllowFromPodInServerNamespace) {
  Apply(Policy("x", "x-a-allows-x-b",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n"));
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false).Expect("x/b", "x/a", true));
}

// "should enforce policy based on PodSelector with MatchExpressions"
TEST_F(Probe, PodSelectorMatchExpressions) {
  Apply(Policy("x", "x-a-allows-x-b",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector:\n"
               "        matchExpressions: [{key: pod, operator: In, values: [b]}]\n"));
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false).Expect("x/b", "x/a", true));
}

// "should enforce policy to allow ingress traffic for a target"
TEST_F(Probe, AllowIngressForATarget) {
  Apply(Policy("x", "deny-all", kDenyIngress) +
        Policy("x", "allow-all-to-a",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {}\n"
               "      namespaceSelector: {}\n"));
  Validate("80/TCP", Reachability()
                         .ExpectAllIngress("x/a", true)
                         .ExpectAllIngress("x/b", false)
                         .ExpectAllIngress("x/c", false));
}

// "should enforce policy to allow ingress traffic from pods in all namespaces"
TEST_F(Probe, AllowFromAllNamespaces) {
  Apply(Policy("x", "allow-from-another-ns",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {}}\n"));
  Validate("80/TCP", Reachability());
}

// "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"
// and "... based on NamespaceSelector with MatchLabels using default ns label".
TEST_F(Probe, AllowFromNamespace) {
  for (const std::string key : {"ns", "kubernetes.io/metadata.name"}) {
    Apply(Policy("x", "allow-client-a-via-ns-selector",
                 "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {" +
                     key + ": y}}\n"));
    Validate("80/TCP", Reachability().ExpectPeer({"x", ""}, {"x", "a"}, false).ExpectPeer({"z", ""}, {"x", "a"}, false));
  }
}

// "should enforce policy based on NamespaceSelector with MatchExpressions"
TEST_F(Probe, NamespaceSelectorMatchExpressions) {
  Apply(Policy("x", "allow-ns-y-match-selector",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
               "        matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [y]}]\n"));
  Validate("80/TCP", Reachability().ExpectPeer({"x", ""}, {"x", "a"}, false).ExpectPeer({"z", ""}, {"x", "a"}, false));
}

// "should enforce policy based on PodSelector or NamespaceSelector"
TEST_F(Probe, PodSelectorOrNamespaceSelector) {
  Apply(Policy("x", "allow-ns-y-match-selector",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
               "        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]\n"
               "    - podSelector: {matchLabels: {pod: b}}\n"));
  Validate("80/TCP", Reachability().Expect("x/a", "x/a", false).Expect("x/c", "x/a", false));
}

// "should enforce policy based on PodSelector and NamespaceSelector"
TEST_F(Probe, PodSelectorAndNamespaceSelector) {
  Apply(Policy("x", "allow-ns-y-podselector-and-nsselector",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
               "        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]\n"
               "      podSelector: {matchLabels: {pod: b}}\n"));
  Validate("80/TCP",
           Reachability().ExpectAllIngress("x/a", false).Expect("y/b", "x/a", true).Expect("z/b", "x/a", true));
}

// "should enforce policy based on Multiple PodSelectors and NamespaceSelectors"
TEST_F(Probe, MultiplePodSelectorsAndNamespaceSelectors) {
  Apply(Policy("x", "allow-ns-y-z-pod-b-c",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
               "        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]\n"
               "      podSelector:\n        matchExpressions: [{key: pod, operator: In, values: [b, c]}]\n"));
  Validate("80/TCP", Reachability()
                         .ExpectPeer({"x", ""}, {"x", "a"}, false)
                         .Expect("y/a", "x/a", false)
                         .Expect("z/a", "x/a", false));
}

// "should enforce policy based on any PodSelectors"
TEST_F(Probe, AnyPodSelectors) {
  Apply(Policy("x", "allow-ns-x-pod-b-c",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
               "    - podSelector: {matchLabels: {pod: b}}\n    - podSelector: {matchLabels: {pod: c}}\n"));
  Validate("80/TCP",
           Reachability().ExpectAllIngress("x/a", false).Expect("x/b", "x/a", true).Expect("x/c", "x/a", true));
}

// "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and
// NamespaceSelector" (TCP, UDP and SCTP variants).
TEST_F(Probe, AllowFromPodInOtherNamespace) {
  Apply(Policy("x", "allow-ns-y-pod-a-via-namespace-pod-selector",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
               "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
               "      podSelector: {matchLabels: {pod: a}}\n"));
  for (const char* port : {"80/TCP", "80/UDP", "80/SCTP"})
    Validate(port, Reachability().ExpectAllIngress("x/a", false).Expect("y/a", "x/a", true));
}

// "should enforce policy based on Ports" (TCP; UDP and SCTP variants with their protocol).
TEST_F(Probe, Ports) {
  for (const std::string protocol : {"TCP", "UDP", "SCTP"}) {
    Apply(Policy("x", "allow-client-a-via-ns-selector",
                 "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
                 "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
                 "    ports:\n    - {port: 81, protocol: " + protocol + "}\n"));
    Validate("81/" + protocol, Reachability()
                                   .ExpectPeer({"x", ""}, {"x", "a"}, false)
                                   .ExpectPeer({"y", ""}, {"x", "a"}, true)
                                   .ExpectPeer({"z", ""}, {"x", "a"}, false));
    Validate("80/" + protocol, Reachability().ExpectAllIngress("x/a", false));
  }
}

// "should enforce multiple, stacked policies with overlapping podSelectors"
TEST_F(Probe, StackedPoliciesOverlappingPodSelectors) {
  const std::string port81 =
      Policy("x", "allow-client-a-via-ns-selector",
             "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
             "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n    ports:\n    - {port: 81, protocol: TCP}\n");
  const Reachability allow = Reachability()
                                 .ExpectPeer({"x", ""}, {"x", "a"}, false)
                                 .ExpectPeer({"y", ""}, {"x", "a"}, true)
                                 .ExpectPeer({"z", ""}, {"x", "a"}, false);
  Apply(port81);
  Validate("81/TCP", allow);
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false));
  Apply(port81 + Policy("x", "allow-client-a-via-ns-selector-80",
                        "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
                        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
                        "    ports:\n    - {port: 80, protocol: TCP}\n"));
  Validate("80/TCP", allow);
  Validate("81/TCP", allow);
}

// "should support allow-all policy"
TEST_F(Probe, AllowAll) {
  Apply(Policy("x", "allow-all", "  podSelector: {}\n  ingress:\n  - {}\n"));
  Validate("80/TCP", Reachability());
  Validate("81/TCP", Reachability());
}

// "should allow ingress access on one named port"
TEST_F(Probe, IngressNamedPort) {
  Apply(Policy("x", "allow-all", "  podSelector: {}\n  ingress:\n  - ports:\n    - port: serve-81-tcp\n"));
  Validate("81/TCP", Reachability());
  Validate("80/TCP", Reachability().ExpectPeer({}, {"x", ""}, false));
}

// "should allow ingress access from namespace on one named port"
TEST_F(Probe, IngressNamedPortFromNamespace) {
  Apply(Policy("x", "allow-client-a-via-ns-selector-80",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
               "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
               "    ports:\n    - {port: serve-80-tcp, protocol: TCP}\n"));
  Validate("80/TCP", Reachability().ExpectPeer({"x", ""}, {"x", "a"}, false).ExpectPeer({"z", ""}, {"x", "a"}, false));
  Validate("81/TCP", Reachability().ExpectAllIngress("x/a", false));
}

// "should allow egress access on one named port" (SetSpecEgressRules sets policyTypes [Egress]; without it the
// API's defaulting adds Ingress too, which isolates x's ingress as well).
TEST_F(Probe, EgressNamedPort) {
  Apply(Policy("x", "allow-egress", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - port: serve-80-tcp\n"));
  Validate("80/TCP", Reachability());
  Validate("81/TCP", Reachability().ExpectPeer({"x", ""}, {}, false));
}

// "should enforce updated policy": allow-all, then the same policy with no ingress rules.
TEST_F(Probe, UpdatedPolicy) {
  Apply(Policy("x", "allow-all-mutate-to-deny-all", "  podSelector: {}\n  ingress:\n  - {}\n"));
  Validate("81/TCP", Reachability());
  Apply(Policy("x", "allow-all-mutate-to-deny-all", "  podSelector: {}\n  ingress: []\n"));
  Validate("81/TCP", Reachability().ExpectPeer({}, {"x", ""}, false));
}

// "should allow ingress access from updated namespace": ns y gains ns2=updated.
TEST_F(Probe, IngressFromUpdatedNamespace) {
  const std::string policy = Policy("x", "allow-client-a-via-ns-selector",
                                    "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
                                    "    - namespaceSelector: {matchLabels: {ns2: updated}}\n");
  Apply(policy);
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false));
  std::string model = ModelYaml();
  const std::string from = "  name: y\n  labels: {ns: y,";
  const size_t at = model.find(from);
  ASSERT_NE(at, std::string::npos);
  model.replace(at, from.size(), "  name: y\n  labels: {ns: y, ns2: updated,");
  Apply(policy, model);
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false).ExpectPeer({"y", ""}, {}, true));
}

// "should deny ingress from pods on other namespaces"
TEST_F(Probe, DenyIngressFromOtherNamespaces) {
  Apply(Policy("x", "deny-empty-policy", "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {}}\n"));
  Validate("80/TCP", Reachability().ExpectPeer({"y", ""}, {"x", ""}, false).ExpectPeer({"z", ""}, {"x", ""}, false));
}

// "should deny egress from pods based on PodSelector"
TEST_F(Probe, DenyEgressFromPod) {
  Apply(Policy("x", "deny-egress-pod-a", "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n"));
  Validate("80/TCP", Reachability().ExpectAllEgress("x/a", false));
}

// "should deny egress from all pods in a namespace"
TEST_F(Probe, DenyEgressFromNamespace) {
  Apply(Policy("x", "deny-egress-ns-x", "  podSelector: {}\n  policyTypes: [Egress]\n"));
  Validate("80/TCP", Reachability().ExpectPeer({"x", ""}, {}, false));
}

// "should work with Ingress, Egress specified together"
TEST_F(Probe, IngressAndEgressTogether) {
  Apply(Policy("x", "allow-client-a-via-pod-selector",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress, Ingress]\n"
               "  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n"
               "  egress:\n  - ports:\n    - port: 80\n"));
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false).Expect("x/b", "x/a", true));
  Validate("81/TCP", Reachability()
                         .ExpectAllIngress("x/a", false)
                         .ExpectAllEgress("x/a", false)
                         .Expect("x/b", "x/a", true));
}

// "should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"
TEST_F(Probe, EgressDeniedOnClientSide) {
  const std::string from_xa = "  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}\n"
                              "      podSelector: {matchLabels: {pod: a}}\n";
  Apply(Policy("x", "allow-to-ns-y-pod-a",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
               "      podSelector: {matchLabels: {pod: a}}\n") +
        Policy("y", "allow-from-xa-on-ya-match-selector", "  podSelector: {matchLabels: {pod: a}}\n" + from_xa) +
        Policy("y", "allow-from-xa-on-yb-match-selector", "  podSelector: {matchLabels: {pod: b}}\n" + from_xa));
  Validate("80/TCP", Reachability()
                         .ExpectPeer({"x", "a"}, {}, false)
                         .ExpectPeer({}, {"y", "a"}, false)
                         .ExpectPeer({"x", "a"}, {"y", "a"}, true)
                         .ExpectPeer({}, {"y", "b"}, false));
}

// "should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and
// NamespaceSelector"
TEST_F(Probe, EgressToPodInOtherNamespace) {
  Apply(Policy("x", "allow-to-ns-y-pod-a",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n"
               "      podSelector: {matchLabels: {pod: a}}\n"));
  Validate("80/TCP", Reachability().ExpectAllEgress("x/a", false).Expect("x/a", "y/a", true));
}

// "should enforce ingress policy allowing any port traffic to a server on a specific protocol"
TEST_F(Probe, IngressAnyPortOnOneProtocol) {
  Apply(Policy("x", "allow-ingress-by-proto",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - protocol: TCP\n"));
  Validate("80/TCP", Reachability());
  Validate("80/UDP", Reachability().ExpectPeer({}, {"x", "a"}, false));
}

// "should enforce multiple ingress policies with ingress allow-all policy taking precedence"
TEST_F(Probe, IngressAllowAllTakesPrecedence) {
  const std::string only80 = Policy("x", "allow-ingress-port-80", "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n");
  Apply(only80);
  Validate("81/TCP", Reachability().ExpectPeer({}, {"x", ""}, false));
  Apply(only80 + Policy("x", "allow-ingress", "  podSelector: {}\n  ingress:\n  - {}\n"));
  Validate("81/TCP", Reachability());
}

// "should enforce multiple egress policies with egress allow-all policy taking precedence"
TEST_F(Probe, EgressAllowAllTakesPrecedence) {
  const std::string only80 = Policy("x", "allow-egress-port-80", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - port: 80\n");
  Apply(only80);
  Validate("81/TCP", Reachability().ExpectPeer({"x", ""}, {}, false));
  Apply(only80 + Policy("x", "allow-egress", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - {}\n"));
  Validate("81/TCP", Reachability());
}

// "should allow egress access to server in CIDR block"
TEST_F(Probe, EgressToCidr) {
  Apply(Policy("x", "allow-client-a-via-cidr-egress-rule",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - ipBlock: {cidr: " + PodIp("y", "b") + "/32}\n"));
  Validate("80/TCP", Reachability().ExpectAllEgress("x/a", false).Expect("x/a", "y/b", true));
}

// "should enforce except clause while egress access to server in CIDR block" (makeLargeCIDRForIP: the /4
// around the pod), then "should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed"
// (the policy updated to allow exactly x/b).
TEST_F(Probe, EgressCidrExcept) {
  Apply(Policy("x", "allow-client-a-via-cidr-egress-rule",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - ipBlock: {cidr: 0.0.0.0/4, except: [" + PodIp("x", "b") + "/32]}\n"));
  Validate("80/TCP", Reachability().Expect("x/a", "x/b", false));
  Apply(Policy("x", "allow-client-a-via-cidr-egress-rule",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - ipBlock: {cidr: " + PodIp("x", "b") + "/32}\n"));
  Validate("80/TCP", Reachability().ExpectAllEgress("x/a", false).Expect("x/a", "x/b", true));
}

// "should enforce policies to check ingress and egress policies can be controlled independently based on
// PodSelector"
TEST_F(Probe, IngressAndEgressIndependent) {
  const std::string egress = Policy("x", "allow-egress-for-target",
                                    "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - {}\n");
  Apply(egress);
  Validate("80/TCP", Reachability());
  Apply(egress + Policy("x", "deny-ingress-via-label-selector",
                        "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Ingress]\n"));
  Validate("80/TCP", Reachability().ExpectAllIngress("x/a", false));
}

// "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP"
TEST_F(Probe, SctpIsNotTcp) {
  Apply(Policy("x", "deny-ingress", kDenyIngress) +
        Policy("x", "allow-only-sctp-ingress-on-port-81",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - {port: 81, protocol: SCTP}\n"));
  Validate("81/TCP", Reachability().ExpectPeer({}, {"x", ""}, false));
  Validate("81/SCTP", Reachability().ExpectPeer({}, {"x", ""}, false).ExpectAllIngress("x/a", true));
}

// "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP"
// and "should not allow access by TCP when a policy specifies only UDP".
TEST_F(Probe, OtherProtocolPolicyIsolates) {
  Apply(Policy("x", "allow-only-sctp-ingress-on-port-80",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - {port: 80, protocol: SCTP}\n"));
  Validate("81/TCP", Reachability().ExpectAllIngress("x/a", false));
  Apply(Policy("x", "allow-only-udp-ingress-on-port-81",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - ports:\n    - {port: 81, protocol: UDP}\n"));
  Validate("81/TCP", Reachability().ExpectAllIngress("x/a", false));
  Validate("81/UDP", Reachability());
}

// "should enforce policy based on NamespaceSelector with MatchExpressions using default ns label" (egress NotIn y)
TEST_F(Probe, EgressNamespaceNotIn) {
  Apply(Policy("x", "allow-ns-y-match-selector-for-immutable-ns-label",
               "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
               "    - namespaceSelector:\n"
               "        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]\n"));
  Validate("80/TCP", Reachability().ExpectPeer({"x", "a"}, {"y", ""}, false));
}

// "should deny ingress access to updated pod": x/a gains target=isolated.
TEST_F(Probe, IngressDeniedToUpdatedPod) {
  const std::string policy = Policy("x", "deny-ingress-via-label-selector",
                                    "  podSelector: {matchLabels: {target: isolated}}\n  policyTypes: [Ingress]\n");
  Apply(policy);
  Validate("80/TCP", Reachability());
  std::string model = ModelYaml();
  const std::string from = "  name: a\n  namespace: x\n  labels: {pod: a}";
  const size_t at = model.find(from);
  ASSERT_NE(at, std::string::npos);
  model.replace(at, from.size(), "  name: a\n  namespace: x\n  labels: {pod: a, target: isolated}");
  k8s::LoadResult loaded;
  k8s::LoadManifestText(model + policy, "probe.yaml", loaded);
  ASSERT_TRUE(loaded.failures.empty());
  Result<ProbeWorld> world = BuildProbeWorld(std::move(loaded.state));
  ASSERT_TRUE(world.ok());
  for (const std::string& line : ProbeLines(*world, *ParseProbePorts("80/TCP"))) {
    const bool to_xa = line.find(" x/a 80/TCP") != std::string::npos;
    const bool self = line.rfind("x/a x/a", 0) == 0;
    EXPECT_EQ(line.substr(line.rfind(' ') + 1), to_xa && !self ? "deny" : "allow") << line;
  }
}

// endPort (networking.k8s.io/v1 port ranges): no truth table of its own upstream in the netpol suite at the
// revision read; modelled on "should enforce policy based on Ports" with port 80, endPort 81.
TEST_F(Probe, EndPortRange) {
  Apply(Policy("x", "allow-range-from-y",
               "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
               "    - namespaceSelector: {matchLabels: {ns: y}}\n    ports:\n    - {port: 80, endPort: 81, protocol: TCP}\n"));
  const Reachability from_y =
      Reachability().ExpectPeer({"x", ""}, {"x", "a"}, false).ExpectPeer({"z", ""}, {"x", "a"}, false);
  Validate("80/TCP", from_y);
  Validate("81/TCP", from_y);
  Validate("80/UDP", Reachability().ExpectAllIngress("x/a", false));
  Apply(Policy("x", "egress-range", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n"
                                    "    - {port: 81, endPort: 90, protocol: UDP}\n"));
  Validate("81/UDP", Reachability());
  Validate("80/UDP", Reachability().ExpectPeer({"x", ""}, {}, false));
}

// --- trace ------------------------------------------------------------------

TEST_F(Probe, TraceExplainsDenyAndAllow) {
  Apply(Policy("x", "deny-ingress", kDenyIngress) +
        Policy("x", "allow-y", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n"
                               "    - namespaceSelector: {matchLabels: {ns: y}}\n    ports:\n    - port: serve-80-tcp\n"));
  const std::string allowed = Trace("y/b", "x/a", "80/TCP");
  EXPECT_NE(allowed.find("verdict: allow"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("egress of y/b (10.2.0.2): not isolated"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("ingress of x/a (10.1.0.1): isolated by x/allow-y x/deny-ingress"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("ALLOWED by x/allow-y ingress rule 0"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("peer: from[0] namespaceSelector"), std::string::npos) << allowed;
  EXPECT_NE(allowed.find("port: ports[0] port \"serve-80-tcp\"/TCP"), std::string::npos) << allowed;
  EXPECT_EQ(allowed.find("inconsistency"), std::string::npos) << allowed;

  const std::string denied_port = Trace("y/b", "x/a", "81/TCP");
  EXPECT_NE(denied_port.find("verdict: deny"), std::string::npos) << denied_port;
  EXPECT_NE(denied_port.find("x/deny-ingress: no ingress rules (denies all)"), std::string::npos) << denied_port;
  EXPECT_NE(denied_port.find("named port \"serve-80-tcp\" is 80 on the destination"), std::string::npos) << denied_port;

  const std::string denied_peer = Trace("z/a", "10.1.0.1", "80/TCP");
  EXPECT_NE(denied_peer.find("verdict: deny"), std::string::npos) << denied_peer;
  EXPECT_NE(denied_peer.find("no from peer matches z/a (10.3.0.1)"), std::string::npos) << denied_peer;
  EXPECT_EQ(denied_peer.find("inconsistency"), std::string::npos) << denied_peer;

  const std::string self = Trace("x/a", "x/a", "81/TCP");
  EXPECT_NE(self.find("verdict: allow (a pod reaching itself is always allowed)"), std::string::npos) << self;

  Result<std::vector<ProbePort>> port = ParseProbePorts("80/TCP");
  EXPECT_FALSE(TraceFlow(world_, "x/nope", "x/a", port->front()).ok());
}

TEST_F(Probe, PortsFlag) {
  Result<std::vector<ProbePort>> ports = ParseProbePorts("80/tcp,81,53/UDP,9/SCTP");
  ASSERT_TRUE(ports.ok());
  ASSERT_EQ(ports->size(), 4u);
  EXPECT_EQ((*ports)[0].text, "80/TCP");
  EXPECT_EQ((*ports)[1].text, "81/TCP");
  EXPECT_EQ((*ports)[2].protocol, 17);
  EXPECT_EQ((*ports)[3].protocol, 132);
  EXPECT_FALSE(ParseProbePorts("http/TCP").ok());
  EXPECT_FALSE(ParseProbePorts("80/ICMP").ok());
  EXPECT_FALSE(ParseProbePorts("0/TCP").ok());
}

#ifdef NP_NPCTL
// The command itself: a directory of multi-document files, exact output.
std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  *status = pclose(pipe);
  return out;
}

TEST(ProbeCommand, OutputIsExactlyTheContract) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("np-probe-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "00-model.yaml") << ModelYaml();
  std::ofstream(dir / "10-policy.yml") << Policy("x", "deny-ingress", kDenyIngress)
                                       << Policy("x", "allow-81", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
                                                                  "  - ports:\n    - port: serve-81-udp\n      protocol: UDP\n");
  int status = -1;
  const std::string out =
      RunCommand(std::string(NP_NPCTL) + " policy probe --manifests " + dir.string() + " --ports 80/TCP,81/UDP 2>/dev/null", &status);
  EXPECT_EQ(status, 0);
  std::vector<std::string> want;
  for (const std::string& from : AllPods())
    for (const std::string& to : AllPods()) {
      const bool into_x = to[0] == 'x' && from != to;
      want.push_back(from + " " + to + " 80/TCP " + (into_x ? "deny" : "allow"));
      want.push_back(from + " " + to + " 81/UDP " + (into_x && to != "x/a" ? "deny" : "allow"));
    }
  std::sort(want.begin(), want.end());
  std::string expected;
  for (const std::string& line : want) expected += line + "\n";
  EXPECT_EQ(out, expected);

  const std::string trace =
      RunCommand(std::string(NP_NPCTL) + " policy trace y/c x/b 81/UDP --manifests " + dir.string() + " 2>&1", &status);
  EXPECT_EQ(status, 0);
  EXPECT_NE(trace.find("verdict: deny"), std::string::npos) << trace;
  EXPECT_NE(trace.find("x/deny-ingress: no ingress rules (denies all)"), std::string::npos) << trace;
  RunCommand(std::string(NP_NPCTL) + " policy probe --manifests " + (dir / "missing").string() + " 2>/dev/null", &status);
  EXPECT_NE(status, 0);
  std::filesystem::remove_all(dir);
}
#endif

}  // namespace
}  // namespace np::cli
