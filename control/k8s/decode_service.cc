// Service (v1) decoding and validation, following the API server's rules
// where nodeplane depends on them (ports, IPs, policies).
#include <set>
#include <utility>

#include "control/k8s/decode.h"

namespace np::k8s {
namespace {

std::optional<ServicePort> DecodeServicePort(const Field& field, bool name_required) {
  field.ExpectMap({"name", "protocol", "port", "targetPort", "nodePort", "appProtocol"});
  ServicePort port;
  port.name = field["name"].String().value_or("");
  if (port.name.empty() && name_required) field["name"].Error("required when a Service has several ports");
  if (!port.name.empty() && !IsValidPortName(port.name))
    field["name"].Error("\"" + port.name + "\" is not a valid port name");
  port.protocol = DecodeProtocol(field["protocol"]).value_or(Protocol::kTCP);
  if (!field["port"].present()) field["port"].Error("required");
  port.port = field["port"].Port().value_or(0);

  const Field target = field["targetPort"];
  if (!target.present()) {
    port.target_port.number = port.port;  // the API's default
  } else if (target.node().IsScalar() && target.node().Tag() == "!") {
    // A quoted value is the string half of IntOrString: a named port.
    port.target_port.is_name = true;
    port.target_port.name = target.node().Scalar();
    if (!IsValidPortName(port.target_port.name))
      target.Error("\"" + port.target_port.name + "\" is not a port number or a valid port name");
  } else if (target.node().IsScalar() && !target.node().Scalar().empty() &&
             (target.node().Scalar()[0] < '0' || target.node().Scalar()[0] > '9')) {
    port.target_port.is_name = true;
    port.target_port.name = target.node().Scalar();
    if (!IsValidPortName(port.target_port.name))
      target.Error("\"" + port.target_port.name + "\" is not a port number or a valid port name");
  } else {
    port.target_port.number = target.Port().value_or(0);
  }
  if (field["nodePort"].present()) port.node_port = field["nodePort"].Port().value_or(0);
  return port;
}

std::optional<TrafficPolicy> DecodeTrafficPolicy(const Field& field) {
  std::optional<std::string> name = field.Enum({"Cluster", "Local"}, "Cluster");
  if (!name) return std::nullopt;
  return *name == "Local" ? TrafficPolicy::kLocal : TrafficPolicy::kCluster;
}

void DecodeClusterIps(const Field& spec, Service& service) {
  const std::string cluster_ip = spec["clusterIP"].String().value_or("");
  const std::vector<Field> items = spec["clusterIPs"].Items();
  std::vector<std::pair<std::string, Field>> entries;  // text, where it was written
  for (const Field& item : items)
    if (std::optional<std::string> text = item.String()) entries.emplace_back(*text, item);
  if (!cluster_ip.empty()) {
    if (entries.empty()) entries.emplace_back(cluster_ip, spec["clusterIP"]);
    else if (entries.front().first != cluster_ip)
      spec["clusterIPs"].Error("clusterIPs[0] must equal clusterIP " + cluster_ip);
  }
  for (const auto& [text, field] : entries) {
    if (text == "None") {
      service.headless = true;
    } else if (std::optional<IpAddress> ip = ParseIp(text)) {
      service.cluster_ips.push_back(*ip);
    } else {
      field.Error(std::string("\"").append(text).append("\" is not an IP address or None"));
    }
  }
  if (service.headless && !service.cluster_ips.empty())
    spec["clusterIPs"].Error("None cannot be mixed with addresses");
}

void DecodePorts(const Field& spec, Service& service) {
  const std::vector<Field> items = spec["ports"].Items();
  std::set<std::string> names;
  std::set<std::pair<uint16_t, Protocol>> numbers;
  for (const Field& item : items) {
    std::optional<ServicePort> port = DecodeServicePort(item, items.size() > 1);
    if (!port) continue;
    if (!port->name.empty() && !names.insert(port->name).second)
      item["name"].Error("duplicate port name \"" + port->name + "\"");
    if (port->port != 0 && !numbers.insert({port->port, port->protocol}).second)
      item["port"].Error("duplicate port " + std::to_string(port->port) + "/" + ProtocolName(port->protocol));
    service.ports.push_back(std::move(*port));
  }
}

}  // namespace

std::optional<Service> DecodeService(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "spec", "status"});
  Service service;
  service.meta = DecodeMeta(root["metadata"], true);
  const Field spec = root["spec"];
  spec.ExpectMap({"type", "clusterIP", "clusterIPs", "ports", "selector", "externalIPs",
                  "externalName", "sessionAffinity", "sessionAffinityConfig",
                  "externalTrafficPolicy", "internalTrafficPolicy", "healthCheckNodePort",
                  "loadBalancerSourceRanges", "loadBalancerIP", "loadBalancerClass",
                  "allocateLoadBalancerNodePorts", "ipFamilies", "ipFamilyPolicy",
                  "publishNotReadyAddresses", "trafficDistribution"});

  const std::optional<std::string> type =
      spec["type"].Enum({"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"}, "ClusterIP");
  if (type == "NodePort") service.type = ServiceType::kNodePort;
  if (type == "LoadBalancer") service.type = ServiceType::kLoadBalancer;
  if (type == "ExternalName") service.type = ServiceType::kExternalName;

  DecodeClusterIps(spec, service);
  DecodePorts(spec, service);
  service.selector = spec["selector"].StringMap();
  for (const Field& item : spec["externalIPs"].Items())
    if (std::optional<IpAddress> ip = item.Ip()) service.external_ips.push_back(*ip);
  service.external_name = spec["externalName"].String().value_or("");
  if (service.type == ServiceType::kExternalName && service.external_name.empty())
    spec["externalName"].Error("required for type ExternalName");

  service.affinity_client_ip = spec["sessionAffinity"].Enum({"None", "ClientIP"}, "None") == "ClientIP";
  const Field affinity = spec["sessionAffinityConfig"];
  affinity.ExpectMap({"clientIP"});
  affinity["clientIP"].ExpectMap({"timeoutSeconds"});
  if (std::optional<int64_t> timeout = affinity["clientIP"]["timeoutSeconds"].Int(1, 86400))
    service.affinity_timeout_s = static_cast<uint32_t>(*timeout);

  service.external_traffic_policy = DecodeTrafficPolicy(spec["externalTrafficPolicy"]).value_or(TrafficPolicy::kCluster);
  service.internal_traffic_policy = DecodeTrafficPolicy(spec["internalTrafficPolicy"]).value_or(TrafficPolicy::kCluster);
  if (spec["healthCheckNodePort"].present())
    service.health_check_node_port = spec["healthCheckNodePort"].Port().value_or(0);
  for (const Field& item : spec["loadBalancerSourceRanges"].Items()) {
    // The API server trims spaces around each range; so do we.
    std::optional<std::string> text = item.String();
    if (!text) continue;
    const size_t first = text->find_first_not_of(" \t");
    const size_t last = text->find_last_not_of(" \t");
    const std::string trimmed = first == std::string::npos ? "" : text->substr(first, last - first + 1);
    if (std::optional<IpCidr> cidr = ParseCidr(trimmed)) service.load_balancer_source_ranges.push_back(*cidr);
    else item.Error("\"" + *text + "\" is not a CIDR (address/prefix-length)");
  }

  const Field status = root["status"];
  status.ExpectMap({"loadBalancer", "conditions"});
  status["loadBalancer"].ExpectMap({"ingress"});
  for (const Field& item : status["loadBalancer"]["ingress"].Items()) {
    item.ExpectMap({"ip", "hostname", "ipMode", "ports"});
    if (std::optional<IpAddress> ip = item["ip"].Ip()) service.load_balancer_ingress_ips.push_back(*ip);
  }
  if (root.report()->failed()) return std::nullopt;
  return service;
}

}  // namespace np::k8s
