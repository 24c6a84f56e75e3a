// kube-proxy-compatible health checks over plain POSIX sockets: one thread
// polls every listener and connection.
//  - healthz port (default 10256): GET /healthz -> 200/503 with
//    {"lastUpdated": ..., "currentTime": ...}
//  - each Service health-check node port: any path -> 200 when the Service
//    has local endpoints, else 503, body
//    {"service":{"namespace":"ns","name":"svc"},"localEndpoints":N}
// Listeners follow SetHealthzPort()/SetServices(); a port that cannot be
// bound is logged (once) and retried on the next change, never fatal.
//  - metrics (SetMetrics, before Start): GET /metrics on its own address
//    -> the Prometheus text rendered by the callback, on this thread.
// Responses larger than the socket buffer are written as the socket drains.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "control/daemon/health_targets.h"

namespace np::daemon {

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type/Length
  std::string content_type;  // empty: JSON when the body starts with '{', else text/plain
};

// Pure: what each endpoint answers.
HttpResponse HealthzResponse(const std::string& path, const ProxyHealth& health, uint64_t now_ns);
HttpResponse ServiceHealthResponse(const ServiceHealthCheck& check);
std::string SerializeHttpResponse(const HttpResponse& response);
std::string Rfc3339(uint64_t realtime_ns);  // "2024-05-02T10:00:00.123Z"

struct HealthServerOptions {
  std::string bind_address = "0.0.0.0";
  std::function<void(const std::string&)> log = [](const std::string&) {};
};

class HealthServer {
 public:
  explicit HealthServer(HealthServerOptions options);
  ~HealthServer();  // stops the thread and closes every socket
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  // Serves GET /metrics on address:port with what `render` returns (called
  // on the server thread, per request). Call before Start(). Port 0 picks a
  // free port (see MetricsPort()).
  void SetMetrics(std::string address, uint16_t port, std::function<std::string()> render);
  // A metrics address that cannot be bound is logged, never fatal.
  Status Start();
  void SetHealthzPort(uint16_t port);  // 0: no healthz listener
  void SetProxyHealth(const ProxyHealth& health);
  void SetServices(std::vector<ServiceHealthCheck> services);

  // The ports listened on right now (tests wait for a listener with it).
  std::set<uint16_t> ListeningPorts() const;
  uint16_t MetricsPort() const;  // 0: no metrics listener

 private:
  struct Connection {
    int fd = -1;
    uint16_t local_port = 0;
    std::string request;
    uint64_t deadline_ns = 0;
    bool metrics = false;
    std::string out;  // response bytes not sent yet
    size_t sent = 0;
  };
  void Run();
  void Wake();
  void Reconcile();
  void Accept(int listener_fd, uint16_t port);
  bool ServeReadable(Connection& connection);  // false: done, close it
  bool SendPending(Connection& connection);    // false: done, close it
  HttpResponse RespondMetrics(const std::string& path);
  HttpResponse Respond(uint16_t port, const std::string& path);

  HealthServerOptions options_;
  int wake_fd_ = -1;
  std::thread thread_;

  mutable std::mutex mutex_;  // guards what the setters write and the thread reads
  bool stopping_ = false;
  uint16_t healthz_port_ = 0;
  ProxyHealth health_;
  std::map<uint16_t, ServiceHealthCheck> services_;
  std::set<uint16_t> listening_;
  std::string metrics_address_;
  uint16_t metrics_port_ = 0;
  std::function<std::string()> render_metrics_;
  int metrics_fd_ = -1;

  // Owned by the server thread only.
  std::map<uint16_t, int> listeners_;  // port -> fd
  std::set<uint16_t> failed_ports_;    // bind failures already logged
  std::vector<Connection> connections_;
};

}  // namespace np::daemon
