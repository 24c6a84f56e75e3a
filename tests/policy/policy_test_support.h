// Helpers for the policy tests: manifests written inline, a test node, and
// the compile -> encode -> decode path the daemon and dataplane take.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/policy_image.h"
#include "common/section_image.h"
#include "control/k8s/loader.h"
#include "control/policy/policy_compiler.h"

namespace np::policy::testing {

inline NodeImage TestNode() {
  NodeImage node;
  node.node_name = "node-a";
  node.info.node_ipv4[0] = 0xc0a8640a;  // 192.168.100.10
  node.info.node_ipv4_count = 1;
  node.info.pod_cidr = 0x0af40100;  // 10.244.1.0/24
  node.info.pod_cidr_len = 24;
  node.info.cluster_cidr = 0x0af40000;  // 10.244.0.0/16
  node.info.cluster_cidr_len = 16;
  node.info.pod_gateway_ipv4 = 0x0af40101;
  return node;
}

inline uint32_t Ip(const std::string& text) {
  auto ip = k8s::ParseIp(text);
  EXPECT_TRUE(ip && ip->is_v4()) << text;
  return ip ? ip->v4 : 0;
}

struct PortSpec {
  std::string name;
  uint16_t number;
  std::string protocol = "TCP";
};

// One Pod document. labels: "app: vote" lines (YAML flow map body, e.g. "app: vote, tier: web").
inline std::string PodYaml(const std::string& ns, const std::string& name, const std::string& ip,
                           const std::string& labels, const std::vector<PortSpec>& ports = {},
                           const std::string& node = "node-a") {
  std::string text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
                     "\n  labels: {" + labels + "}\nspec:\n  nodeName: " + node +
                     "\n  containers:\n  - name: main\n";
  if (!ports.empty()) {
    text += "    ports:\n";
    for (const PortSpec& port : ports)
      text += "    - containerPort: " + std::to_string(port.number) + "\n      protocol: " + port.protocol +
              (port.name.empty() ? "" : "\n      name: " + port.name) + "\n";
  }
  text += "status:\n  phase: Running\n  podIP: " + ip + "\n---\n";
  return text;
}

inline std::string NamespaceYaml(const std::string& name, const std::string& labels = "") {
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n  labels: {" +
         (labels.empty() ? "" : labels + ", ") + "kubernetes.io/metadata.name: " + name + "}\n---\n";
}

inline k8s::LoadResult LoadText(const std::string& text) {
  k8s::LoadResult result;
  k8s::LoadManifestText(text, "test.yaml", result);
  return result;
}

inline std::string Failures(const k8s::LoadResult& result) {
  std::string out;
  for (const k8s::LoadFailure& failure : result.failures)
    for (const std::string& message : failure.messages) out += message + "\n";
  return out;
}

// Compile, then encode and decode as the dataplane would.
inline PolicyImage CompileRoundTrip(const k8s::ClusterState& state, const PolicyCompileOptions& options = {},
                                    PolicyCompilation* compilation = nullptr) {
  PolicyCompilation compiled = CompilePolicies(state, TestNode(), options);
  const std::vector<uint8_t> bytes = EncodePolicySection(compiled.image);
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  auto decoded = DecodePolicySection(bytes.data(), bytes.size(), &crc);
  EXPECT_TRUE(decoded.ok()) << (decoded ? "" : decoded.error().message);
  if (compilation) *compilation = std::move(compiled);
  return decoded ? std::move(decoded).value() : PolicyImage{};
}

}  // namespace np::policy::testing
