// Services compilation (control/compile): kube-proxy semantics into the
// services image, and Node objects into routes.
#include "control/compile/services_compiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <set>

#include "common/maglev.h"
#include "control/compile/routes_compiler.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"

namespace np::compile {
namespace {

using k8s::Ipv4ToString;

NodeImage TestNode() {
  NodeImage node;
  node.node_name = "node-a";
  node.info.node_ipv4[0] = 0xc0a8640a;  // 192.168.100.10
  node.info.node_ipv4[1] = 0xc0a8650a;  // 192.168.101.10
  node.info.node_ipv4_count = 2;
  node.info.pod_cidr = 0x0af40100;
  node.info.pod_cidr_len = 24;
  node.info.maglev_seed = 1;
  node.info.snat_port_min = 61000;
  node.info.snat_port_max = 65535;
  node.info.conntrack_capacity = 1024;
  abi::PortRecord uplink{};
  uplink.port_id = config::PortIdForName("uplink");
  uplink.role = abi::PortRole::kUplink;
  node.ports.push_back(uplink);
  node.port_names.push_back("uplink");
  node.port_devargs.push_back("net_null0");
  return node;
}

k8s::ClusterState Load(const std::string& yaml) {
  k8s::LoadResult result;
  k8s::LoadManifestText(yaml, "test.yaml", result);
  for (const k8s::LoadFailure& failure : result.failures)
    for (const std::string& message : failure.messages) ADD_FAILURE() << message;
  return result.state;
}

std::string Service(const std::string& name, const std::string& spec) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: web}\nspec:\n" + spec + "---\n";
}

// An EndpointSlice of Service `service`; `endpoints` is YAML list items.
std::string Slice(const std::string& name, const std::string& service, const std::string& ports,
                  const std::string& endpoints, const std::string& address_type = "IPv4") {
  return "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "\n  namespace: web\n  labels: {kubernetes.io/service-name: " + service + "}\naddressType: " + address_type +
         "\nports: " + ports + "\nendpoints:\n" + endpoints + "---\n";
}

std::string Endpoint(const std::string& ip, const std::string& node, const std::string& conditions = "{ready: true}") {
  return "- addresses: [" + ip + "]\n  nodeName: " + node + "\n  conditions: " + conditions + "\n";
}

const abi::ServicePortRecord& PortNamed(const ServicesImage& image, const std::string& name) {
  for (size_t i = 0; i < image.service_ports.size(); ++i)
    if (image.service_port_names[i] == name) return image.service_ports[i];
  ADD_FAILURE() << "no service port " << name;
  static const abi::ServicePortRecord kNone{};
  return kNone;
}

std::vector<std::string> Frontends(const ServicesImage& image, abi::FrontendKind kind) {
  std::vector<std::string> out;
  for (const abi::FrontendRecord& frontend : image.frontends)
    if (frontend.kind == kind)
      out.push_back(Ipv4ToString(frontend.ipv4) + ":" + std::to_string(frontend.port) + " " +
                    image.service_port_names[frontend.service_port_index]);
  return out;
}

std::vector<std::string> Backends(const ServicesImage& image, const abi::ServicePortRecord& port) {
  std::vector<std::string> out;
  for (uint32_t i = 0; i < port.backend_count; ++i) {
    const abi::BackendRecord& backend = image.backends[port.backend_first + i];
    std::string text = Ipv4ToString(backend.ipv4) + ":" + std::to_string(backend.port);
    if (backend.flags & abi::kBackendLocal) text += " local";
    if (backend.flags & abi::kBackendTerminating) text += " terminating";
    out.push_back(text);
  }
  return out;
}

// Backends (relative indices) a Maglev table uses.
std::set<uint32_t> MaglevMembers(const ServicesImage& image, uint32_t first, uint32_t size) {
  return std::set<uint32_t>(image.maglev.begin() + first, image.maglev.begin() + first + size);
}

const std::string kTwoSlices =
    Slice("vote-a", "vote", "[{name: http, port: 8080, protocol: TCP}, {name: metrics, port: 9090}]",
          Endpoint("10.244.1.11", "node-a") + Endpoint("10.244.2.12", "node-b")) +
    Slice("vote-b", "vote", "[{name: metrics, port: 9090}, {name: http, port: 8080}]",
          Endpoint("10.244.2.13", "node-b") + Endpoint("10.244.2.12", "node-b"));

TEST(CompileServices, NodePortOnEveryNodeIpAndClusterIp) {
  const auto state = Load(Service("vote", "  type: NodePort\n  clusterIP: 10.96.0.10\n  ports:\n  - {name: http, port: 80, targetPort: 8080, nodePort: 31000}\n") + kTwoSlices);
  const ServicesCompilation out = CompileServices(state, TestNode());
  EXPECT_TRUE(out.warnings.empty());
  ASSERT_EQ(out.image.service_ports.size(), 1u);
  EXPECT_THAT(Frontends(out.image, abi::FrontendKind::kClusterIP), ::testing::ElementsAre("10.96.0.10:80 web/vote:http"));
  EXPECT_THAT(Frontends(out.image, abi::FrontendKind::kNodePort),
              ::testing::ElementsAre("192.168.100.10:31000 web/vote:http", "192.168.101.10:31000 web/vote:http"));
}

TEST(CompileServices, PortMatchedByNameAcrossTwoSlicesAndDeduplicated) {
  const auto state = Load(Service("vote", "  clusterIP: 10.96.0.10\n  ports:\n  - {name: http, port: 80}\n  - {name: metrics, port: 9000}\n") + kTwoSlices);
  const ServicesImage image = CompileServices(state, TestNode()).image;
  const abi::ServicePortRecord& http = PortNamed(image, "web/vote:http");
  EXPECT_THAT(Backends(image, http),
              ::testing::ElementsAre("10.244.1.11:8080 local", "10.244.2.12:8080", "10.244.2.13:8080"));
  EXPECT_THAT(Backends(image, PortNamed(image, "web/vote:metrics")),
              ::testing::ElementsAre("10.244.1.11:9090 local", "10.244.2.12:9090", "10.244.2.13:9090"));
  EXPECT_EQ(http.maglev_size, MaglevTableSize(3));
  EXPECT_EQ(MaglevMembers(image, http.maglev_first, http.maglev_size), (std::set<uint32_t>{0, 1, 2}));
  EXPECT_EQ(http.local_maglev_size, MaglevTableSize(1));
  EXPECT_EQ(MaglevMembers(image, http.local_maglev_first, http.local_maglev_size), (std::set<uint32_t>{0}));
}

TEST(CompileServices, AServicePortLoadBalancesOverAtMostWhatAMaglevEntryIndexes) {
  k8s::ClusterState state = Load(Service("big", "  clusterIP: 10.96.0.20\n  ports:\n  - {name: http, port: 80}\n"));
  k8s::EndpointSlice slice;
  slice.meta.name = "big-1";
  slice.meta.namespace_ = "web";
  slice.meta.labels = {{k8s::kServiceNameLabel, "big"}};
  slice.ports = {k8s::EndpointPort{"http", 8080, k8s::Protocol::kTCP}};
  for (uint32_t i = 0; i < abi::kMaxBackendsPerServicePort + 10; ++i) {
    k8s::Endpoint endpoint;
    const uint32_t address = 0x0a800000u + i;  // 10.128.0.0 + i
    endpoint.ip_addresses = {k8s::IpAddress{false, address, {}}};
    endpoint.ready = true;
    slice.endpoints.push_back(endpoint);
  }
  state.endpoint_slices[k8s::NamespacedName{"web", "big-1"}] = slice;
  const ServicesCompilation out = CompileServices(state, TestNode());
  const abi::ServicePortRecord& port = PortNamed(out.image, "web/big:http");
  EXPECT_EQ(port.backend_count, abi::kMaxBackendsPerServicePort);
  EXPECT_EQ(out.image.backends[port.backend_first + port.backend_count - 1].ipv4,
            0x0a800000u + abi::kMaxBackendsPerServicePort - 1);  // the lowest addresses are kept
  EXPECT_THAT(out.warnings, ::testing::Contains(::testing::HasSubstr("65535 endpoints (by address) are load-balanced")));
  const std::vector<uint8_t> bytes = EncodeServicesSection(out.image);
  EXPECT_TRUE(DecodeServicesSection(bytes.data(), bytes.size(), nullptr).ok());
}

TEST(CompileServices, TerminatingEndpointsAreTheFallback) {
  const std::string terminating = "{ready: false, serving: true, terminating: true}";
  const std::string not_serving = "{ready: false, serving: false, terminating: true}";
  // Some ready: terminating ones are left out.
  auto state = Load(Service("a", "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n") +
                    Slice("a1", "a", "[{port: 8080}]", Endpoint("10.244.2.1", "node-b") + Endpoint("10.244.2.2", "node-b", terminating)));
  ServicesImage image = CompileServices(state, TestNode()).image;
  EXPECT_THAT(Backends(image, PortNamed(image, "web/a:80")), ::testing::ElementsAre("10.244.2.1:8080"));
  // None ready: the serving terminating ones, flagged.
  state = Load(Service("a", "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n") +
               Slice("a1", "a", "[{port: 8080}]", Endpoint("10.244.2.2", "node-b", terminating) + Endpoint("10.244.2.3", "node-b", not_serving)));
  image = CompileServices(state, TestNode()).image;
  const abi::ServicePortRecord& port = PortNamed(image, "web/a:80");
  EXPECT_THAT(Backends(image, port), ::testing::ElementsAre("10.244.2.2:8080 terminating"));
  EXPECT_EQ(port.maglev_size, MaglevTableSize(1));
  // None at all: no backends, no table.
  state = Load(Service("a", "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n"));
  image = CompileServices(state, TestNode()).image;
  EXPECT_EQ(PortNamed(image, "web/a:80").backend_count, 0u);
  EXPECT_EQ(PortNamed(image, "web/a:80").maglev_size, 0u);
}

TEST(CompileServices, LocalSetFallsBackToLocalTerminatingEndpoints) {
  const std::string terminating = "{ready: false, serving: true, terminating: true}";
  const auto state = Load(Service("a", "  type: NodePort\n  clusterIP: 10.96.0.10\n  externalTrafficPolicy: Local\n  internalTrafficPolicy: Local\n  healthCheckNodePort: 32100\n  ports: [{port: 80, nodePort: 30080}]\n") +
                          Slice("a1", "a", "[{port: 8080}]", Endpoint("10.244.2.1", "node-b") + Endpoint("10.244.1.5", "node-a", terminating)));
  const ServicesImage image = CompileServices(state, TestNode()).image;
  const abi::ServicePortRecord& port = PortNamed(image, "web/a:80");
  EXPECT_EQ(port.flags, abi::kExternalTrafficLocal | abi::kInternalTrafficLocal);
  EXPECT_EQ(port.health_check_node_port, 32100);
  EXPECT_THAT(Backends(image, port), ::testing::ElementsAre("10.244.1.5:8080 local terminating", "10.244.2.1:8080"));
  EXPECT_EQ(MaglevMembers(image, port.maglev_first, port.maglev_size), (std::set<uint32_t>{1}));
  EXPECT_EQ(MaglevMembers(image, port.local_maglev_first, port.local_maglev_size), (std::set<uint32_t>{0}));
}

TEST(CompileServices, LoadBalancerIngressSourceRangesAffinityExternalIps) {
  const auto state = Load(Service("lb", "  type: LoadBalancer\n  clusterIP: 10.96.0.20\n  externalIPs: [203.0.113.5]\n  sessionAffinity: ClientIP\n  loadBalancerSourceRanges: [192.168.0.0/16, 2001:db8::/32, \" 10.1.0.0/16 \"]\n  ports: [{name: https, port: 443, nodePort: 30443}]\nstatus:\n  loadBalancer:\n    ingress: [{ip: 192.168.100.200}, {hostname: lb.example.com}]\n"));
  const ServicesCompilation out = CompileServices(state, TestNode());
  const ServicesImage& image = out.image;
  EXPECT_THAT(Frontends(image, abi::FrontendKind::kLoadBalancer), ::testing::ElementsAre("192.168.100.200:443 web/lb:https"));
  EXPECT_THAT(Frontends(image, abi::FrontendKind::kExternalIP), ::testing::ElementsAre("203.0.113.5:443 web/lb:https"));
  EXPECT_EQ(Frontends(image, abi::FrontendKind::kNodePort).size(), 2u);
  const abi::ServicePortRecord& port = PortNamed(image, "web/lb:https");
  EXPECT_EQ(port.flags, abi::kAffinityClientIP);
  EXPECT_EQ(port.affinity_timeout_s, 10800u);
  ASSERT_EQ(port.source_range_count, 2u);  // IPv6 ranges are not for the IPv4 tables
  EXPECT_EQ(image.source_ranges[port.source_range_first].prefix, 0xc0a80000u);
  EXPECT_EQ(image.source_ranges[port.source_range_first].prefix_len, 16);
  EXPECT_EQ(image.source_ranges[port.source_range_first + 1].prefix, 0x0a010000u);
}

TEST(CompileServices, HeadlessExternalNameAndUnallocatedAreSkipped) {
  const auto state = Load(Service("headless", "  clusterIP: None\n  ports: [{port: 80}]\n") +
                          Service("ext", "  type: ExternalName\n  externalName: db.example.com\n") +
                          Service("pending", "  ports: [{port: 80}]\n") +
                          Slice("h1", "headless", "[{port: 80}]", Endpoint("10.244.1.11", "node-a")));
  const ServicesCompilation out = CompileServices(state, TestNode());
  EXPECT_TRUE(out.image.service_ports.empty());
  EXPECT_TRUE(out.image.frontends.empty());
  EXPECT_TRUE(out.image.backends.empty());
}

TEST(CompileServices, SlicesOfOtherNamespacesFamiliesAndProtocolsAreIgnored) {
  const auto state = Load(
      Service("dns", "  clusterIP: 10.96.0.10\n  ports: [{name: dns, port: 53, protocol: UDP}]\n") +
      Slice("dns-tcp", "dns", "[{name: dns, port: 53, protocol: TCP}]", Endpoint("10.244.1.1", "node-a")) +
      Slice("dns-v6", "dns", "[{name: dns, port: 53, protocol: UDP}]", Endpoint("fd00::1", "node-a"), "IPv6") +
      Slice("dns-udp", "dns", "[{name: dns, port: 53, protocol: UDP}]", Endpoint("10.244.1.2", "node-a")) +
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: other-ns\n  namespace: kube-system\n"
      "  labels: {kubernetes.io/service-name: dns}\naddressType: IPv4\nports: [{name: dns, port: 53, protocol: UDP}]\n"
      "endpoints: [{addresses: [10.244.1.3]}]\n");
  const ServicesImage image = CompileServices(state, TestNode()).image;
  const abi::ServicePortRecord& port = PortNamed(image, "web/dns:dns");
  EXPECT_EQ(port.protocol, abi::kProtoUdp);
  EXPECT_THAT(Backends(image, port), ::testing::ElementsAre("10.244.1.2:53 local"));
}

TEST(CompileServices, ConflictingFrontendIsSkippedWithAWarning) {
  const auto state = Load(Service("a", "  clusterIP: 10.96.0.10\n  externalIPs: [203.0.113.5]\n  ports: [{port: 80}]\n") +
                          Service("b", "  clusterIP: 10.96.0.11\n  externalIPs: [203.0.113.5]\n  ports: [{port: 80}]\n"));
  const ServicesCompilation out = CompileServices(state, TestNode());
  EXPECT_THAT(Frontends(out.image, abi::FrontendKind::kExternalIP), ::testing::ElementsAre("203.0.113.5:80 web/a:80"));
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_EQ(out.warnings[0], "Service web/b: port 80: frontend 203.0.113.5:80 already belongs to web/a:80; skipped");
}

TEST(CompileServices, IdsAreStableAndCollisionsResolveDeterministically) {
  const auto state = Load(Service("a", "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80}]\n") +
                          Service("b", "  clusterIP: 10.96.0.11\n  ports: [{name: http, port: 80}]\n"));
  const ServicesImage image = CompileServices(state, TestNode()).image;
  EXPECT_EQ(PortNamed(image, "web/a:http").id, ServicePortHashId("web/a:http/TCP"));
  EXPECT_EQ(PortNamed(image, "web/b:http").id, ServicePortHashId("web/b:http/TCP"));
  // Previous IDs win, even over another port's hash: the new port re-hashes.
  ServicesCompileOptions options;
  options.previous_ids["web/b:http"] = ServicePortHashId("web/a:http/TCP");
  const ServicesImage again = CompileServices(state, TestNode(), options).image;
  EXPECT_EQ(PortNamed(again, "web/b:http").id, ServicePortHashId("web/a:http/TCP"));
  EXPECT_EQ(PortNamed(again, "web/a:http").id, ServicePortHashId("web/a:http/TCP#1"));
  EXPECT_EQ(ServicePortIds(again).at("web/a:http"), PortNamed(again, "web/a:http").id);
}

TEST(CompileServices, MaglevTablesAreTheSameOnEveryNode) {
  const auto state = Load(Service("vote", "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80}]\n") + kTwoSlices);
  NodeImage other = TestNode();
  other.node_name = "node-b";
  const ServicesImage a = CompileServices(state, TestNode()).image;
  const ServicesImage b = CompileServices(state, other).image;
  const abi::ServicePortRecord& pa = PortNamed(a, "web/vote:http");
  const abi::ServicePortRecord& pb = PortNamed(b, "web/vote:http");
  EXPECT_EQ(std::vector<abi::MaglevEntry>(a.maglev.begin() + pa.maglev_first, a.maglev.begin() + pa.maglev_first + pa.maglev_size),
            std::vector<abi::MaglevEntry>(b.maglev.begin() + pb.maglev_first, b.maglev.begin() + pb.maglev_first + pb.maglev_size));
}

TEST(CompileServices, MaglevKeysAreAddressAndPort) {
  // Every node, and every version, must build the same table from the same endpoints.
  const auto state = Load(Service("vote", "  clusterIP: 10.96.0.10\n  ports: [{name: http, port: 80}]\n") + kTwoSlices);
  const ServicesImage image = CompileServices(state, TestNode()).image;
  const abi::ServicePortRecord& port = PortNamed(image, "web/vote:http");
  const std::vector<uint32_t> expected =
      BuildMaglevTable({MaglevKeyOf(0x0af4010bu, 8080), MaglevKeyOf(0x0af4020cu, 8080), MaglevKeyOf(0x0af4020du, 8080)},
                       MaglevTableSize(3), 1);
  EXPECT_EQ(std::vector<uint32_t>(image.maglev.begin() + port.maglev_first,
                                  image.maglev.begin() + port.maglev_first + port.maglev_size),
            expected);
  EXPECT_EQ(k8s::Ipv4PortToString(0xffffffffu, 65535), "255.255.255.255:65535");
  EXPECT_EQ(k8s::Ipv4PortToString(0x0a000001u, 0), "10.0.0.1:0");
}

TEST(CompileServices, EncodeDecodeRoundTrip) {
  const auto state = Load(Service("vote", "  type: LoadBalancer\n  clusterIP: 10.96.0.10\n  externalTrafficPolicy: Local\n  loadBalancerSourceRanges: [192.168.0.0/16]\n  ports: [{name: http, port: 80, nodePort: 31000}]\nstatus: {loadBalancer: {ingress: [{ip: 192.168.100.200}]}}\n") + kTwoSlices);
  ServicesImage image = CompileServices(state, TestNode()).image;
  image.generation = 42;
  const std::vector<uint8_t> bytes = EncodeServicesSection(image);
  Result<ServicesImage> decoded = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->generation, 42u);
  EXPECT_EQ(decoded->service_port_names, image.service_port_names);
  ASSERT_EQ(decoded->service_ports.size(), image.service_ports.size());
  EXPECT_EQ(0, std::memcmp(&decoded->service_ports[0].backend_first, &image.service_ports[0].backend_first,
                           sizeof(abi::ServicePortRecord) - offsetof(abi::ServicePortRecord, backend_first)));
  EXPECT_EQ(decoded->maglev, image.maglev);
  EXPECT_EQ(decoded->frontends.size(), image.frontends.size());
  EXPECT_EQ(decoded->backends.size(), image.backends.size());
  EXPECT_EQ(decoded->source_ranges.size(), image.source_ranges.size());
}

TEST(CompileServices, HostPortsOfLocalPodsBecomeNodeFrontendsKeepingTheClient) {
  const std::string pods =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: dns-0, namespace: web}\n"
      "spec:\n  nodeName: node-a\n  containers:\n  - name: dns\n    ports:\n"
      "    - {containerPort: 53, hostPort: 5353, protocol: UDP}\n    - {containerPort: 80}\n"
      "status: {podIP: 10.244.1.30}\n---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: elsewhere, namespace: web}\n"
      "spec:\n  nodeName: node-b\n  containers:\n  - name: x\n    ports:\n    - {containerPort: 80, hostPort: 8080}\n"
      "status: {podIP: 10.244.2.30}\n";
  const ServicesImage image = CompileServices(Load(pods), TestNode()).image;
  ASSERT_EQ(image.service_ports.size(), 1u);
  const abi::ServicePortRecord& record = image.service_ports[0];
  EXPECT_EQ(image.service_port_names[0], "web/dns-0:hostPort/5353");
  EXPECT_EQ(record.protocol, abi::kProtoUdp);
  EXPECT_TRUE(record.flags & abi::kExternalTrafficLocal);  // no SNAT: the client address is kept
  ASSERT_EQ(record.backend_count, 1u);
  EXPECT_EQ(Ipv4ToString(image.backends[record.backend_first].ipv4), "10.244.1.30");
  EXPECT_EQ(image.backends[record.backend_first].port, 53);
  EXPECT_GT(record.local_maglev_size, 0u);
  ASSERT_EQ(image.frontends.size(), 2u);  // one per node IP
  for (const abi::FrontendRecord& frontend : image.frontends) {
    EXPECT_EQ(frontend.port, 5353);
    EXPECT_EQ(frontend.kind, abi::FrontendKind::kNodePort);
  }
}

TEST(CompileRoutes, OtherNodesPodCidrsViaTheirInternalIp) {
  const auto state = Load(
      "apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nspec: {podCIDR: 10.244.1.0/24}\nstatus: {addresses: [{type: InternalIP, address: 192.168.100.10}]}\n---\n"
      "apiVersion: v1\nkind: Node\nmetadata: {name: node-c}\nspec: {podCIDR: 10.244.3.0/24}\nstatus: {addresses: [{type: Hostname, address: node-c}, {type: InternalIP, address: 192.168.100.12}]}\n---\n"
      "apiVersion: v1\nkind: Node\nmetadata: {name: node-b}\nspec: {podCIDRs: [10.244.2.0/24, 'fd00:2::/64']}\nstatus: {addresses: [{type: InternalIP, address: 192.168.100.11}]}\n---\n"
      "apiVersion: v1\nkind: Node\nmetadata: {name: node-d}\nspec: {podCIDR: 10.244.4.0/24}\n");
  std::vector<std::string> warnings;
  const std::vector<abi::RouteRecord> routes = CompileRoutes(state, TestNode(), &warnings);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].prefix, 0x0af40200u);
  EXPECT_EQ(routes[0].prefix_len, 24);
  EXPECT_EQ(routes[0].next_hop_ipv4, 0xc0a8640bu);
  EXPECT_EQ(routes[0].port_id, config::PortIdForName("uplink"));
  EXPECT_EQ(routes[1].prefix, 0x0af40300u);
  EXPECT_EQ(routes[1].next_hop_ipv4, 0xc0a8640cu);
  EXPECT_THAT(warnings, ::testing::ElementsAre("Node node-d: no IPv4 InternalIP; no route to its pods"));
}

}  // namespace
}  // namespace np::compile
