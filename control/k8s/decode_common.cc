// Decoders shared by every kind (metadata, protocols) and the small kinds:
// Pod, Namespace, Node.
#include <algorithm>

#include "control/k8s/decode.h"

namespace np::k8s {

ObjectMeta DecodeMeta(const Field& metadata, bool namespaced) {
  metadata.ExpectMap({"name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                      "generation", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "managedFields", "ownerReferences", "finalizers",
                      "generateName", "selfLink"});
  ObjectMeta meta;
  meta.name = metadata["name"].String().value_or("");
  if (meta.name.empty()) metadata["name"].Error("required");
  if (namespaced) meta.namespace_ = metadata["namespace"].String().value_or("");
  if (namespaced && meta.namespace_.empty()) meta.namespace_ = "default";
  meta.labels = metadata["labels"].StringMap();
  meta.uid = metadata["uid"].String().value_or("");
  meta.resource_version = metadata["resourceVersion"].String().value_or("");
  for (const Field& item : metadata["ownerReferences"].Items()) {
    item.ExpectMap({"apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion"});
    OwnerReference owner;
    owner.api_version = item["apiVersion"].String().value_or("");
    owner.kind = item["kind"].String().value_or("");
    owner.name = item["name"].String().value_or("");
    owner.controller = item["controller"].Bool().value_or(false);
    if (owner.kind.empty()) item["kind"].Error("required");
    if (owner.name.empty()) item["name"].Error("required");
    meta.owner_references.push_back(std::move(owner));
  }
  return meta;
}

std::optional<Protocol> DecodeProtocol(const Field& field) {
  std::optional<std::string> name = field.Enum({"TCP", "UDP", "SCTP"}, "TCP");
  if (!name) return std::nullopt;
  if (*name == "UDP") return Protocol::kUDP;
  if (*name == "SCTP") return Protocol::kSCTP;
  return Protocol::kTCP;
}

bool IsValidPortName(std::string_view name) {
  if (name.empty() || name.size() > 15 || name.front() == '-' || name.back() == '-') return false;
  if (name.find("--") != std::string_view::npos) return false;
  bool has_letter = false;
  for (char c : name) {
    const bool letter = c >= 'a' && c <= 'z';
    if (!letter && !(c >= '0' && c <= '9') && c != '-') return false;
    has_letter |= letter;
  }
  return has_letter;
}

namespace {

ContainerPort DecodeContainerPort(const Field& field) {
  field.ExpectMap({"name", "containerPort", "protocol", "hostPort", "hostIP"});
  ContainerPort port;
  port.name = field["name"].String().value_or("");
  if (!port.name.empty() && !IsValidPortName(port.name))
    field["name"].Error("\"" + port.name + "\" is not a valid port name");
  if (!field["containerPort"].present()) field["containerPort"].Error("required");
  port.container_port = field["containerPort"].Port().value_or(0);
  port.protocol = DecodeProtocol(field["protocol"]).value_or(Protocol::kTCP);
  if (field["hostPort"].present()) port.host_port = field["hostPort"].Port().value_or(0);
  return port;
}

}  // namespace

std::optional<Pod> DecodePod(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "spec", "status"});
  Pod pod;
  pod.meta = DecodeMeta(root["metadata"], true);
  const Field spec = root["spec"];
  spec.ExpectMap({}, /*open=*/true);  // dozens of fields nodeplane does not use
  pod.node_name = spec["nodeName"].String().value_or("");
  for (const Field& item : spec["containers"].Items()) {
    item.ExpectMap({}, /*open=*/true);
    Container container;
    container.name = item["name"].String().value_or("");
    for (const Field& port : item["ports"].Items()) container.ports.push_back(DecodeContainerPort(port));
    pod.containers.push_back(std::move(container));
  }
  const Field status = root["status"];
  status.ExpectMap({}, /*open=*/true);
  pod.pod_ip = status["podIP"].Ip();
  for (const Field& item : status["podIPs"].Items()) {
    item.ExpectMap({"ip"});
    if (std::optional<IpAddress> ip = item["ip"].Ip()) pod.pod_ips.push_back(*ip);
  }
  if (pod.pod_ips.empty() && pod.pod_ip) pod.pod_ips.push_back(*pod.pod_ip);
  if (pod.pod_ip && pod.pod_ips.front() != *pod.pod_ip)
    status["podIPs"].Error("podIPs[0] must equal podIP " + pod.pod_ip->ToString());
  pod.phase = status["phase"].String().value_or("");
  if (root.report()->failed()) return std::nullopt;
  return pod;
}

std::optional<Namespace> DecodeNamespace(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "spec", "status"});
  Namespace ns;
  ns.meta = DecodeMeta(root["metadata"], false);
  const std::map<std::string, std::string> annotations = root["metadata"]["annotations"].StringMap();
  if (auto audit = annotations.find(kPolicyAuditAnnotation); audit != annotations.end()) {
    if (audit->second == "true") ns.policy_audit = true;
    else if (audit->second != "false")
      root["metadata"]["annotations"].Error(std::string(kPolicyAuditAnnotation) + " must be \"true\" or \"false\", not \"" +
                                            audit->second + "\"");
  }
  root["spec"].ExpectMap({"finalizers"});
  root["status"].ExpectMap({}, /*open=*/true);
  if (root.report()->failed()) return std::nullopt;
  return ns;
}

std::optional<Node> DecodeNode(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "spec", "status"});
  Node node;
  node.meta = DecodeMeta(root["metadata"], false);
  const Field spec = root["spec"];
  spec.ExpectMap({}, /*open=*/true);  // taints, providerID, unschedulable, ...
  for (const Field& item : spec["podCIDRs"].Items())
    if (std::optional<IpCidr> cidr = item.Cidr()) node.pod_cidrs.push_back(*cidr);
  if (std::optional<IpCidr> cidr = spec["podCIDR"].Cidr()) {
    if (node.pod_cidrs.empty()) node.pod_cidrs.push_back(*cidr);
    else if (node.pod_cidrs.front() != *cidr)
      spec["podCIDRs"].Error("podCIDRs[0] must equal podCIDR " + cidr->ToString());
  }
  const Field status = root["status"];
  status.ExpectMap({}, /*open=*/true);  // capacity, conditions, images, ...
  for (const Field& item : status["addresses"].Items()) {
    item.ExpectMap({"type", "address"});
    NodeAddress address{item["type"].String().value_or(""), item["address"].String().value_or("")};
    if (address.type.empty()) item["type"].Error("required");
    if ((address.type == "InternalIP" || address.type == "ExternalIP")) item["address"].Ip();
    node.addresses.push_back(std::move(address));
  }
  if (root.report()->failed()) return std::nullopt;
  return node;
}

}  // namespace np::k8s
