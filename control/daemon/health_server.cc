#include "control/daemon/health_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/shm_region.h"
#include "control/daemon/metrics.h"

namespace np::daemon {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr uint64_t kClientTimeoutNs = 5'000'000'000ull;
constexpr size_t kMaxConnections = 256;

uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string JsonQuote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;  // names never hold control characters
    out += c;
  }
  return out + "\"";
}

// Returns -1 and fills `error` on failure.
int OpenListener(const std::string& address, uint16_t port, std::string* error) {
  sockaddr_in bind_address{};
  bind_address.sin_family = AF_INET;
  bind_address.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &bind_address.sin_addr) != 1) {
    *error = "\"" + address + "\" is not an IPv4 address";
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_address), sizeof(bind_address)) != 0 || listen(fd, 64) != 0) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string Rfc3339(uint64_t realtime_ns) {
  const time_t seconds = static_cast<time_t>(realtime_ns / 1'000'000'000ull);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const size_t length = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof(text) - length, ".%03uZ",
                static_cast<unsigned>(realtime_ns / 1'000'000ull % 1000));
  return text;
}

HttpResponse HealthzResponse(const std::string& path, const ProxyHealth& health, uint64_t now_ns) {
  if (path != "/healthz" && path != "/livez") return HttpResponse{404, "404 page not found\n", {}};
  // kube-proxy writes "" for a proxier that never synced.
  const std::string last_updated = health.last_updated_ns == 0 ? "" : Rfc3339(health.last_updated_ns);
  return HttpResponse{health.healthy ? 200 : 503,
                      "{\"lastUpdated\": " + JsonQuote(last_updated) + ",\"currentTime\": " + JsonQuote(Rfc3339(now_ns)) +
                          "}",
                      {{"X-Content-Type-Options", "nosniff"}}};
}

HttpResponse ServiceHealthResponse(const ServiceHealthCheck& check) {
  return HttpResponse{check.local_endpoints > 0 ? 200 : 503,
                      "{\"service\":{\"namespace\":" + JsonQuote(check.namespace_) + ",\"name\":" +
                          JsonQuote(check.name) + "},\"localEndpoints\":" + std::to_string(check.local_endpoints) + "}",
                      {{"X-Content-Type-Options", "nosniff"},
                       {"X-Load-Balancing-Endpoint-Weight", std::to_string(check.local_endpoints)}}};
}

std::string SerializeHttpResponse(const HttpResponse& response) {
  const bool json = !response.body.empty() && response.body.front() == '{';
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + ReasonPhrase(response.status) + "\r\n";
  const std::string content_type = !response.content_type.empty() ? response.content_type
                                   : json                          ? "application/json"
                                                                   : "text/plain; charset=utf-8";
  out += "Content-Type: " + content_type + "\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\nConnection: close\r\n\r\n";
  return out + response.body;
}

HealthServer::HealthServer(HealthServerOptions options) : options_(std::move(options)) {}

HealthServer::~HealthServer() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    Wake();
    thread_.join();
  }
  for (const auto& [port, fd] : listeners_) close(fd);
  for (const Connection& connection : connections_) close(connection.fd);
  if (metrics_fd_ >= 0) close(metrics_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void HealthServer::SetMetrics(std::string address, uint16_t port, std::function<std::string()> render) {
  metrics_address_ = std::move(address);
  metrics_port_ = port;
  render_metrics_ = std::move(render);
}

Status HealthServer::Start() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return MakeError(std::string("health server: eventfd: ") + std::strerror(errno));
  if (render_metrics_) {
    std::string error;
    metrics_fd_ = OpenListener(metrics_address_, metrics_port_, &error);
    if (metrics_fd_ < 0) {
      options_.log("metrics: cannot listen on " + metrics_address_ + ":" + std::to_string(metrics_port_) + ": " +
                    error + " (no metrics)");
    } else {
      sockaddr_in bound{};
      socklen_t length = sizeof(bound);
      if (getsockname(metrics_fd_, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
        std::lock_guard lock(mutex_);
        metrics_port_ = ntohs(bound.sin_port);
      }
      options_.log("metrics: serving http://" + metrics_address_ + ":" + std::to_string(metrics_port_) +
                   "/metrics");
    }
  }
  thread_ = std::thread([this] { Run(); });
  return Ok{};
}

uint16_t HealthServer::MetricsPort() const {
  std::lock_guard lock(mutex_);
  return metrics_fd_ >= 0 ? metrics_port_ : 0;
}

void HealthServer::Wake() {
  const uint64_t one = 1;
  if (wake_fd_ < 0) return;
  [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof(one));
}

void HealthServer::SetHealthzPort(uint16_t port) {
  {
    std::lock_guard lock(mutex_);
    healthz_port_ = port;
  }
  Wake();
}

void HealthServer::SetProxyHealth(const ProxyHealth& health) {
  std::lock_guard lock(mutex_);
  health_ = health;  // read per request: no listener change, no wake-up
}

void HealthServer::SetServices(std::vector<ServiceHealthCheck> services) {
  {
    std::lock_guard lock(mutex_);
    services_.clear();
    for (ServiceHealthCheck& check : services) services_[check.port] = std::move(check);
  }
  Wake();
}

std::set<uint16_t> HealthServer::ListeningPorts() const {
  std::lock_guard lock(mutex_);
  return listening_;
}

void HealthServer::Reconcile() {
  std::set<uint16_t> wanted;
  {
    std::lock_guard lock(mutex_);
    if (healthz_port_ != 0) wanted.insert(healthz_port_);
    for (const auto& [port, check] : services_) {
      if (port == healthz_port_) {
        if (failed_ports_.insert(port).second)
          options_.log("health check of Service " + check.namespace_ + "/" + check.name + ": port " +
                       std::to_string(port) + " is the healthz port; not served");
        continue;
      }
      wanted.insert(port);
    }
  }
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (wanted.count(it->first) == 0) {
      close(it->second);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = failed_ports_.begin(); it != failed_ports_.end();)
    it = wanted.count(*it) == 0 ? failed_ports_.erase(it) : std::next(it);
  for (uint16_t port : wanted) {
    if (listeners_.count(port) != 0) continue;
    std::string error;
    const int fd = OpenListener(options_.bind_address, port, &error);
    if (fd < 0) {
      if (failed_ports_.insert(port).second)
        options_.log("health check: cannot listen on " + options_.bind_address + ":" + std::to_string(port) + ": " +
                     error);
      continue;
    }
    failed_ports_.erase(port);
    listeners_[port] = fd;
  }
  std::lock_guard lock(mutex_);
  listening_.clear();
  for (const auto& [port, fd] : listeners_) listening_.insert(port);
}

void HealthServer::Accept(int listener_fd, uint16_t port) {
  for (;;) {
    const int fd = accept4(listener_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (connections_.size() >= kMaxConnections) {
      close(fd);  // a flood of probes must not exhaust descriptors
      continue;
    }
    Connection connection{fd, port, {}, MonotonicNs() + kClientTimeoutNs};
    connection.metrics = listener_fd == metrics_fd_;
    connections_.push_back(std::move(connection));
  }
}

HttpResponse HealthServer::RespondMetrics(const std::string& path) {
  if (path == "/")
    return HttpResponse{200, "nodeplane-control\nmetrics: /metrics\n", {}, ""};
  if (path != "/metrics") return HttpResponse{404, "404 page not found\n", {}, ""};
  return HttpResponse{200, render_metrics_(), {}, kMetricsContentType};
}

bool HealthServer::SendPending(Connection& connection) {
  while (connection.sent < connection.out.size()) {
    const ssize_t sent = send(connection.fd, connection.out.data() + connection.sent,
                              connection.out.size() - connection.sent, MSG_NOSIGNAL);
    if (sent < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // wait for POLLOUT
    connection.sent += static_cast<size_t>(sent);
  }
  return false;  // all sent: close
}

HttpResponse HealthServer::Respond(uint16_t port, const std::string& path) {
  std::lock_guard lock(mutex_);
  if (port == healthz_port_) return HealthzResponse(path, health_, RealtimeNanoseconds());
  auto found = services_.find(port);
  if (found == services_.end()) return HttpResponse{404, "404 page not found\n", {}};
  return ServiceHealthResponse(found->second);
}

bool HealthServer::ServeReadable(Connection& connection) {
  char buffer[2048];
  for (;;) {
    const ssize_t received = recv(connection.fd, buffer, sizeof(buffer), 0);
    if (received == 0) return false;
    if (received < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    connection.request.append(buffer, static_cast<size_t>(received));
    if (connection.request.size() > kMaxRequestBytes) return false;
  }
  if (connection.request.find("\r\n\r\n") == std::string::npos &&
      connection.request.find("\n\n") == std::string::npos)
    return true;  // headers incomplete: wait for more

  // Request line: METHOD SP PATH SP VERSION.
  const std::string line = connection.request.substr(0, connection.request.find_first_of("\r\n"));
  const size_t first_space = line.find(' ');
  const size_t second_space = line.find(' ', first_space + 1);
  HttpResponse response;
  if (first_space == std::string::npos || second_space == std::string::npos) {
    response = HttpResponse{400, "bad request\n", {}};
  } else {
    const std::string method = line.substr(0, first_space);
    std::string path = line.substr(first_space + 1, second_space - first_space - 1);
    path = path.substr(0, path.find('?'));
    const bool get = method == "GET" || method == "HEAD";
    response = !get                 ? HttpResponse{405, "method not allowed\n", {}}
               : connection.metrics ? RespondMetrics(path)
                                    : Respond(connection.local_port, path);
    if (method == "HEAD") {
      std::string head = SerializeHttpResponse(response);
      head.resize(head.size() - response.body.size());
      [[maybe_unused]] ssize_t sent = send(connection.fd, head.data(), head.size(), MSG_NOSIGNAL);
      return false;
    }
  }
  // Health answers are far smaller than a socket buffer; metrics may not be:
  // what does not fit now is sent as the socket drains (POLLOUT).
  connection.out = SerializeHttpResponse(response);
  connection.sent = 0;
  connection.deadline_ns = MonotonicNs() + kClientTimeoutNs;
  return SendPending(connection);
}

void HealthServer::Run() {
  Reconcile();
  std::vector<pollfd> descriptors;
  std::vector<uint16_t> listener_ports;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    descriptors.clear();
    listener_ports.clear();
    descriptors.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& [port, fd] : listeners_) {
      descriptors.push_back(pollfd{fd, POLLIN, 0});
      listener_ports.push_back(port);
    }
    if (metrics_fd_ >= 0) {
      descriptors.push_back(pollfd{metrics_fd_, POLLIN, 0});
      listener_ports.push_back(0);
    }
    for (const Connection& connection : connections_)
      descriptors.push_back(pollfd{connection.fd, static_cast<short>(connection.out.empty() ? POLLIN : POLLOUT), 0});
    if (poll(descriptors.data(), descriptors.size(), 1000) < 0 && errno != EINTR) {
      options_.log(std::string("health server: poll: ") + std::strerror(errno));
      return;
    }
    const size_t listener_count = listener_ports.size();
    std::vector<bool> finished(connections_.size(), false);
    const uint64_t now = MonotonicNs();
    for (size_t i = 0; i < connections_.size(); ++i) {
      const pollfd& descriptor = descriptors[1 + listener_count + i];
      if (!connections_[i].out.empty()) {
        if (descriptor.revents & (POLLOUT | POLLHUP | POLLERR)) finished[i] = !SendPending(connections_[i]);
      } else if (descriptor.revents & (POLLIN | POLLHUP | POLLERR)) {
        finished[i] = !ServeReadable(connections_[i]);
      }
      if (!finished[i] && now > connections_[i].deadline_ns) finished[i] = true;
    }
    std::vector<Connection> open;
    for (size_t i = 0; i < connections_.size(); ++i) {
      if (finished[i]) close(connections_[i].fd);
      else open.push_back(std::move(connections_[i]));
    }
    connections_ = std::move(open);
    for (size_t i = 0; i < listener_count; ++i)
      if (descriptors[1 + i].revents & POLLIN) Accept(descriptors[1 + i].fd, listener_ports[i]);
    if (descriptors[0].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t drained = read(wake_fd_, &count, sizeof(count));
      Reconcile();  // may close listeners: after their descriptors were used above
    }
  }
}

}  // namespace np::daemon
