#include "control/daemon/health_targets.h"

#include <algorithm>
#include <map>
#include <set>
#include <span>

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

namespace {

// Every port of a Service shares its healthCheckNodePort: one entry per
// port number, counting an endpoint once even when it serves several ports.
class HealthCheckBuilder {
 public:
  void Add(const abi::ServicePortRecord& record, const std::string& name, std::span<const abi::BackendRecord> backends) {
    if (!(record.flags & abi::kExternalTrafficLocal) || record.health_check_node_port == 0) return;
    Pending& pending = by_port_.try_emplace(record.health_check_node_port, Pending{SplitServicePortName(name), {}})
                           .first->second;
    for (const abi::BackendRecord& backend : backends)
      if ((backend.flags & abi::kBackendLocal) && !(backend.flags & abi::kBackendTerminating))
        pending.local_ips.insert(backend.ipv4);
  }
  std::vector<ServiceHealthCheck> Checks() const {
    std::vector<ServiceHealthCheck> checks;
    for (const auto& [port, pending] : by_port_)
      checks.push_back(ServiceHealthCheck{port, pending.service.namespace_, pending.service.name,
                                          static_cast<uint32_t>(pending.local_ips.size())});
    return checks;
  }

 private:
  struct Pending {
    ServiceName service;
    std::set<uint32_t> local_ips;
  };
  std::map<uint16_t, Pending> by_port_;
};

}  // namespace

std::vector<ServiceHealthCheck> ServiceHealthChecks(const ServicesImage& image) {
  HealthCheckBuilder builder;
  for (size_t i = 0; i < image.service_ports.size(); ++i) {
    const abi::ServicePortRecord& record = image.service_ports[i];
    const size_t first = std::min<size_t>(record.backend_first, image.backends.size());
    const size_t count = std::min<size_t>(record.backend_count, image.backends.size() - first);
    builder.Add(record, i < image.service_port_names.size() ? image.service_port_names[i] : "",
                std::span<const abi::BackendRecord>(image.backends.data() + first, count));
  }
  return builder.Checks();
}

std::vector<ServiceHealthCheck> ServiceHealthChecks(const compile::ServicesModel& model) {
  HealthCheckBuilder builder;
  model.ForEachPort([&](const compile::CompiledServicePort& port) { builder.Add(port.record, port.name, port.backends); });
  return builder.Checks();
}

ProxyHealth AssessProxyHealth(uint64_t now_ns, uint64_t heartbeat_ns, uint64_t last_applied_ns,
                              uint64_t pending_since_ns, uint64_t max_heartbeat_age_ns, uint64_t max_pending_ns) {
  // A heartbeat slightly ahead of our clock read is fresh, not 584 years old.
  const bool dataplane_alive = heartbeat_ns != 0 && (heartbeat_ns >= now_ns || now_ns - heartbeat_ns <= max_heartbeat_age_ns);
  const bool up_to_date = pending_since_ns == 0 || pending_since_ns >= now_ns || now_ns - pending_since_ns <= max_pending_ns;
  return ProxyHealth{dataplane_alive && up_to_date, last_applied_ns};
}

}  // namespace np::daemon
