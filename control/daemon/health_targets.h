// What the kube-proxy-compatible health checks answer, derived from the
// compiled services image (pure, so it is testable without sockets).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/compile/services_compiler.h"

namespace np::daemon {

// One LoadBalancer Service with externalTrafficPolicy Local and a
// healthCheckNodePort: cloud load balancers probe that port on every node
// and send traffic only to nodes that answer 200 (local endpoints exist).
struct ServiceHealthCheck {
  uint16_t port = 0;
  std::string namespace_;
  std::string name;
  uint32_t local_endpoints = 0;  // distinct local ready (not terminating) backend IPs
  friend bool operator==(const ServiceHealthCheck&, const ServiceHealthCheck&) = default;
};

// One entry per health-check port, sorted by port.
std::vector<ServiceHealthCheck> ServiceHealthChecks(const ServicesImage& image);
// The same from the compiled model, without assembling the image.
std::vector<ServiceHealthCheck> ServiceHealthChecks(const compile::ServicesModel& model);

// "ns/name:port" -> {"ns", "name"}.
struct ServiceName {
  std::string namespace_;
  std::string name;
};
ServiceName SplitServicePortName(const std::string& service_port_name);

// The state of the whole proxy, answered on /healthz.
struct ProxyHealth {
  bool healthy = false;
  uint64_t last_updated_ns = 0;  // CLOCK_REALTIME of the last applied update; 0 = never
};

// Healthy when the dataplane's heartbeat is fresh and no published update
// has waited for the dataplane longer than `max_pending_ns` (kube-proxy
// likewise turns 503 when its rules are stale).
ProxyHealth AssessProxyHealth(uint64_t now_ns, uint64_t heartbeat_ns, uint64_t last_applied_ns,
                              uint64_t pending_since_ns, uint64_t max_heartbeat_age_ns = 3'000'000'000ull,
                              uint64_t max_pending_ns = 10'000'000'000ull);

}  // namespace np::daemon
