#include "control/k8s/objects.h"

namespace np::k8s {

const char* ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTCP: return "TCP";
    case Protocol::kUDP: return "UDP";
    case Protocol::kSCTP: return "SCTP";
  }
  return "?";
}

std::string EndpointSlice::ServiceName() const {
  auto label = meta.labels.find(kServiceNameLabel);
  return label == meta.labels.end() ? std::string() : label->second;
}

std::optional<uint32_t> Node::InternalIpv4() const {
  for (const NodeAddress& address : addresses) {
    if (address.type != "InternalIP") continue;
    std::optional<IpAddress> ip = ParseIp(address.address);
    if (ip && ip->is_v4()) return ip->v4;
  }
  return std::nullopt;
}

}  // namespace np::k8s
