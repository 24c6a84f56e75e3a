// EndpointSlice (discovery.k8s.io/v1) decoding and validation.
#include "control/k8s/decode.h"

namespace np::k8s {
namespace {

std::optional<bool> OptionalBool(const Field& field) { return field.present() ? field.Bool() : std::nullopt; }

Endpoint DecodeEndpoint(const Field& field, AddressType address_type) {
  field.ExpectMap({"addresses", "conditions", "hostname", "nodeName", "targetRef", "zone", "hints",
                   "deprecatedTopology"});
  Endpoint endpoint;
  const Field addresses = field["addresses"];
  const std::vector<Field> items = addresses.Items();
  if (items.empty() && (!addresses.present() || addresses.node().IsSequence()))
    addresses.Error("at least one address is required");
  for (const Field& item : items) {
    std::optional<std::string> text = item.String();
    if (!text) continue;
    endpoint.addresses.push_back(*text);
    if (address_type == AddressType::kFQDN) continue;
    std::optional<IpAddress> ip = ParseIp(*text);
    if (!ip) item.Error("\"" + *text + "\" is not an IP address");
    else if (ip->is_v6 != (address_type == AddressType::kIPv6))
      item.Error(*text + " does not match addressType " + (ip->is_v6 ? "IPv4" : "IPv6"));
    else endpoint.ip_addresses.push_back(*ip);
  }

  const Field conditions = field["conditions"];
  conditions.ExpectMap({"ready", "serving", "terminating"});
  endpoint.ready = OptionalBool(conditions["ready"]);
  endpoint.serving = OptionalBool(conditions["serving"]);
  endpoint.terminating = OptionalBool(conditions["terminating"]);
  endpoint.node_name = field["nodeName"].String().value_or("");

  const Field target = field["targetRef"];
  if (target.present() && target.ExpectMap({"kind", "namespace", "name", "uid", "apiVersion",
                                            "resourceVersion", "fieldPath"})) {
    endpoint.target_ref = ObjectReference{target["kind"].String().value_or(""),
                                          target["namespace"].String().value_or(""),
                                          target["name"].String().value_or("")};
  }
  return endpoint;
}

EndpointPort DecodeEndpointPort(const Field& field) {
  field.ExpectMap({"name", "port", "protocol", "appProtocol"});
  EndpointPort port;
  port.name = field["name"].String().value_or("");
  if (field["port"].present()) port.port = field["port"].Port();
  port.protocol = DecodeProtocol(field["protocol"]).value_or(Protocol::kTCP);
  return port;
}

}  // namespace

std::optional<EndpointSlice> DecodeEndpointSlice(const Field& root) {
  root.ExpectMap({"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
  EndpointSlice slice;
  slice.meta = DecodeMeta(root["metadata"], true);
  const Field address_type = root["addressType"];
  if (!address_type.present()) address_type.Error("required");
  const std::optional<std::string> type = address_type.Enum({"IPv4", "IPv6", "FQDN"}, "IPv4");
  if (type == "IPv6") slice.address_type = AddressType::kIPv6;
  if (type == "FQDN") slice.address_type = AddressType::kFQDN;
  for (const Field& item : root["endpoints"].Items())
    slice.endpoints.push_back(DecodeEndpoint(item, slice.address_type));
  for (const Field& item : root["ports"].Items()) slice.ports.push_back(DecodeEndpointPort(item));
  if (root.report()->failed()) return std::nullopt;
  return slice;
}

}  // namespace np::k8s
