#include "control/daemon/health_targets.h"

#include <map>
#include <set>

namespace np::daemon {

ServiceName SplitServicePortName(const std::string& service_port_name) {
  const size_t slash = service_port_name.find('/');
  const size_t colon = service_port_name.rfind(':');
  ServiceName out;
  if (slash == std::string::npos) {
    out.name = service_port_name.substr(0, colon);
    return out;
  }
  out.namespace_ = service_port_name.substr(0, slash);
  const size_t end = colon == std::string::npos || colon < slash ? service_port_name.size() : colon;
  out.name = service_port_name.substr(slash + 1, end - slash - 1);
  return out;
}

std::vector<ServiceHealthCheck> ServiceHealthChecks(const ServicesImage& image) {
  struct Pending {
    ServiceName service;
    std::set<uint32_t> local_ips;
  };
  std::map<uint16_t, Pending> by_port;
  for (size_t i = 0; i < image.service_ports.size(); ++i) {
    const abi::ServicePortRecord& record = image.service_ports[i];
    if (!(record.flags & abi::kExternalTrafficLocal) || record.health_check_node_port == 0) continue;
    const std::string name = i < image.service_port_names.size() ? image.service_port_names[i] : "";
    // Every port of a Service shares its healthCheckNodePort: one entry,
    // counting an endpoint once even when it serves several ports.
    Pending& pending = by_port.try_emplace(record.health_check_node_port, Pending{SplitServicePortName(name), {}})
                           .first->second;
    for (uint32_t b = record.backend_first;
         b < record.backend_first + record.backend_count && b < image.backends.size(); ++b) {
      const abi::BackendRecord& backend = image.backends[b];
      if ((backend.flags & abi::kBackendLocal) && !(backend.flags & abi::kBackendTerminating))
        pending.local_ips.insert(backend.ipv4);
    }
  }
  std::vector<ServiceHealthCheck> checks;
  for (const auto& [port, pending] : by_port)
    checks.push_back(ServiceHealthCheck{port, pending.service.namespace_, pending.service.name,
                                        static_cast<uint32_t>(pending.local_ips.size())});
  return checks;
}

ProxyHealth AssessProxyHealth(uint64_t now_ns, uint64_t heartbeat_ns, uint64_t last_applied_ns,
                              uint64_t pending_since_ns, uint64_t max_heartbeat_age_ns, uint64_t max_pending_ns) {
  // A heartbeat slightly ahead of our clock read is fresh, not 584 years old.
  const bool dataplane_alive = heartbeat_ns != 0 && (heartbeat_ns >= now_ns || now_ns - heartbeat_ns <= max_heartbeat_age_ns);
  const bool up_to_date = pending_since_ns == 0 || pending_since_ns >= now_ns || now_ns - pending_since_ns <= max_pending_ns;
  return ProxyHealth{dataplane_alive && up_to_date, last_applied_ns};
}

}  // namespace np::daemon
