// The subset of the Kubernetes object model nodeplane acts on, decoded and
// validated. Field names follow the API; defaults are applied at decode time
// (protocol TCP, targetPort = port, affinity timeout 10800 s, ...).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control/k8s/ip.h"

namespace np::k8s {

enum class Protocol : uint8_t { kTCP, kUDP, kSCTP };
const char* ProtocolName(Protocol protocol);  // "TCP", "UDP", "SCTP"

// metadata.ownerReferences[]: who created the object (a pod's ReplicaSet,
// StatefulSet, DaemonSet or Job; a ReplicaSet's Deployment).
struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  bool controller = false;

  friend bool operator==(const OwnerReference&, const OwnerReference&) = default;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "" for cluster-scoped kinds
  std::map<std::string, std::string> labels;
  std::string uid;
  std::string resource_version;
  std::vector<OwnerReference> owner_references;
  std::string source_file;  // the file it was loaded from (for last-good fallbacks)

  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

// targetPort / containerPort references: a number or a named container port.
struct IntOrString {
  bool is_name = false;
  uint16_t number = 0;
  std::string name;

  friend bool operator==(const IntOrString&, const IntOrString&) = default;
};

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTCP;
  uint16_t port = 0;
  IntOrString target_port;
  uint16_t node_port = 0;  // 0 = not allocated

  friend bool operator==(const ServicePort&, const ServicePort&) = default;
};

enum class ServiceType : uint8_t { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy : uint8_t { kCluster, kLocal };

inline constexpr uint32_t kDefaultAffinityTimeoutSeconds = 10800;

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::kClusterIP;
  bool headless = false;               // clusterIP: None
  std::vector<IpAddress> cluster_ips;  // clusterIPs (clusterIP first); empty = not allocated
  std::vector<ServicePort> ports;
  std::map<std::string, std::string> selector;
  std::vector<IpAddress> external_ips;
  std::string external_name;
  bool affinity_client_ip = false;
  uint32_t affinity_timeout_s = kDefaultAffinityTimeoutSeconds;
  TrafficPolicy external_traffic_policy = TrafficPolicy::kCluster;
  TrafficPolicy internal_traffic_policy = TrafficPolicy::kCluster;
  uint16_t health_check_node_port = 0;
  std::vector<IpCidr> load_balancer_source_ranges;
  std::vector<IpAddress> load_balancer_ingress_ips;  // status.loadBalancer.ingress[].ip

  friend bool operator==(const Service&, const Service&) = default;
};

enum class AddressType : uint8_t { kIPv4, kIPv6, kFQDN };

struct ObjectReference {
  std::string kind;
  std::string namespace_;
  std::string name;

  friend bool operator==(const ObjectReference&, const ObjectReference&) = default;
};

struct Endpoint {
  std::vector<std::string> addresses;      // as written (FQDN slices hold names)
  std::vector<IpAddress> ip_addresses;     // parsed, for IPv4/IPv6 slices
  // API semantics of absent conditions: ready unknown => ready, serving
  // absent => same as ready, terminating absent => false.
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;
  std::string node_name;
  std::optional<ObjectReference> target_ref;

  bool IsReady() const { return ready.value_or(true); }
  bool IsServing() const { return serving.value_or(IsReady()); }
  bool IsTerminating() const { return terminating.value_or(false); }

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct EndpointPort {
  std::string name;                 // "" matches an unnamed Service port
  std::optional<uint16_t> port;     // absent: unusable (kube-proxy skips it)
  Protocol protocol = Protocol::kTCP;

  friend bool operator==(const EndpointPort&, const EndpointPort&) = default;
};

inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

struct EndpointSlice {
  ObjectMeta meta;
  AddressType address_type = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;

  // The owning Service's name (label kubernetes.io/service-name), or "".
  std::string ServiceName() const;

  friend bool operator==(const EndpointSlice&, const EndpointSlice&) = default;
};

struct ContainerPort {
  std::string name;
  uint16_t container_port = 0;
  Protocol protocol = Protocol::kTCP;
  uint16_t host_port = 0;

  friend bool operator==(const ContainerPort&, const ContainerPort&) = default;
};

struct Container {
  std::string name;
  std::vector<ContainerPort> ports;

  friend bool operator==(const Container&, const Container&) = default;
};

struct Pod {
  ObjectMeta meta;
  std::string node_name;
  std::vector<Container> containers;
  std::optional<IpAddress> pod_ip;
  std::vector<IpAddress> pod_ips;  // podIPs (podIP first)
  std::string phase;

  friend bool operator==(const Pod&, const Pod&) = default;
};

// Annotation that puts a namespace's pods in NetworkPolicy audit mode:
// denials are recorded as "would deny" and the packets pass (a safe way to
// roll out default-deny).
inline constexpr const char* kPolicyAuditAnnotation = "nodeplane.io/policy-audit";

struct Namespace {
  ObjectMeta meta;
  bool policy_audit = false;  // kPolicyAuditAnnotation is "true"
};

struct NodeAddress {
  std::string type;     // InternalIP, ExternalIP, Hostname, ...
  std::string address;  // as written (Hostname entries are not IPs)
};

struct Node {
  ObjectMeta meta;
  std::vector<IpCidr> pod_cidrs;  // spec.podCIDRs, or spec.podCIDR
  std::vector<NodeAddress> addresses;

  // The first InternalIP that is an IPv4 address.
  std::optional<uint32_t> InternalIpv4() const;
};

// --- NetworkPolicy (networking.k8s.io/v1) -----------------------------------
// Decoded by decode_networkpolicy.cc; compiled by control/policy/.

struct LabelSelectorRequirement {
  enum class Operator : uint8_t { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Operator op = Operator::kIn;
  std::vector<std::string> values;  // In/NotIn: non-empty; Exists/DoesNotExist: empty
};

// matchLabels AND matchExpressions; an empty selector selects everything.
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelSelectorRequirement> match_expressions;
};

struct IpBlock {
  IpCidr cidr;
  std::vector<IpCidr> except;  // each strictly inside `cidr`, same family
};

// Exactly one of: pod_selector and/or namespace_selector (both = AND), or ip_block.
struct NetworkPolicyPeer {
  std::optional<LabelSelector> pod_selector;
  std::optional<LabelSelector> namespace_selector;
  std::optional<IpBlock> ip_block;
};

struct NetworkPolicyPort {
  Protocol protocol = Protocol::kTCP;
  std::optional<IntOrString> port;  // absent: every port of `protocol`
  std::optional<uint16_t> end_port; // only with a numeric port; >= port
};

// One ingress (from) or egress (to) rule. Empty peers: every peer; empty
// ports: every port and protocol.
struct NetworkPolicyRule {
  std::vector<NetworkPolicyPeer> peers;
  std::vector<NetworkPolicyPort> ports;
};

struct NetworkPolicy {
  ObjectMeta meta;
  LabelSelector pod_selector;
  std::vector<NetworkPolicyRule> ingress;
  std::vector<NetworkPolicyRule> egress;
  // policyTypes after the API's defaulting: Ingress always when absent,
  // Egress when absent and spec.egress is non-empty.
  bool affects_ingress = false;
  bool affects_egress = false;
};

// Objects of kinds nodeplane does not decode (yet): kept as parsed YAML so a
// later stage (e.g. NetworkPolicy) can decode them itself.
struct OtherObject {
  std::string api_version;
  std::string kind;
  ObjectMeta meta;
  YAML::Node document;
};

}  // namespace np::k8s
