// kube-proxy compatible health checks: targets from the services image, the
// responses, and the server over real sockets on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/daemon/health_server.h"
#include "control/daemon/health_targets.h"
#include "control/k8s/loader.h"
#include "tests/control_daemon/test_support.h"

namespace np::daemon {
namespace {

using np::testing::HttpBody;
using np::testing::HttpGet;

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A port the kernel just handed out: free unless someone races us for it.
uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 400; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(ServiceHealthChecks, FromTheCompiledFixtureCluster) {
  Result<NodeImage> node = config::LoadNodeConfig(NP_CONTROL_FIXTURES "/node-a.yaml", np::testing::EveryDeviceExists());
  ASSERT_TRUE(node.ok()) << node.error().message;
  Result<k8s::LoadResult> load = k8s::LoadManifestDirectory(NP_CONTROL_FIXTURES "/cluster");
  ASSERT_TRUE(load.ok());
  const ServicesImage services = compile::CompileServices(load->state, *node).image;
  // vote/vote: LoadBalancer, externalTrafficPolicy Local, healthCheckNodePort
  // 32001, one ready endpoint on node-a and one on node-b.
  EXPECT_THAT(ServiceHealthChecks(services),
              ::testing::ElementsAre(ServiceHealthCheck{32001, "vote", "vote", 1}));
}

TEST(ServiceHealthChecks, CountsDistinctLocalReadyEndpointsPerService) {
  ServicesImage image;
  auto add_port = [&](const std::string& name, uint16_t hc, uint32_t first, uint32_t count) {
    abi::ServicePortRecord record{};
    record.flags = abi::kExternalTrafficLocal;
    record.health_check_node_port = hc;
    record.backend_first = first;
    record.backend_count = count;
    image.service_ports.push_back(record);
    image.service_port_names.push_back(name);
  };
  image.backends = {
      {0x0af4010b, 80, abi::kBackendLocal, 0},                                 // local, ready
      {0x0af4010c, 80, abi::kBackendLocal | abi::kBackendTerminating, 0},      // terminating: not counted
      {0x0af4020b, 80, 0, 0},                                                  // remote
      {0x0af4010b, 443, abi::kBackendLocal, 0},                                // same pod, other port
  };
  add_port("web/front:http", 30100, 0, 3);
  add_port("web/front:https", 30100, 3, 1);
  add_port("web/empty:http", 30200, 2, 1);
  abi::ServicePortRecord cluster_policy{};  // no health check
  image.service_ports.push_back(cluster_policy);
  image.service_port_names.push_back("web/other:http");
  EXPECT_THAT(ServiceHealthChecks(image), ::testing::ElementsAre(ServiceHealthCheck{30100, "web", "front", 1},
                                                                 ServiceHealthCheck{30200, "web", "empty", 0}));
}

TEST(HealthResponses, ServiceBodiesAreKubeProxys) {
  const HttpResponse healthy = ServiceHealthResponse(ServiceHealthCheck{32001, "vote", "vote", 2});
  EXPECT_EQ(healthy.status, 200);
  EXPECT_EQ(healthy.body, R"({"service":{"namespace":"vote","name":"vote"},"localEndpoints":2})");
  const HttpResponse none = ServiceHealthResponse(ServiceHealthCheck{32001, "vote", "vote", 0});
  EXPECT_EQ(none.status, 503);
  EXPECT_EQ(none.body, R"({"service":{"namespace":"vote","name":"vote"},"localEndpoints":0})");
}

TEST(HealthResponses, Healthz) {
  const uint64_t now = 1714644000123000000ull;  // 2024-05-02T10:00:00.123Z
  const HttpResponse ok = HealthzResponse("/healthz", ProxyHealth{true, now - 1'000'000'000ull}, now);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, R"({"lastUpdated": "2024-05-02T09:59:59.123Z","currentTime": "2024-05-02T10:00:00.123Z"})");
  EXPECT_EQ(HealthzResponse("/healthz", ProxyHealth{false, 0}, now).status, 503);
  EXPECT_EQ(HealthzResponse("/metrics", ProxyHealth{true, now}, now).status, 404);
}

TEST(HealthResponses, ProxyHealthFollowsHeartbeatAndPendingUpdates) {
  const uint64_t s = 1'000'000'000ull;
  EXPECT_TRUE(AssessProxyHealth(100 * s, 99 * s, 50 * s, 0).healthy);
  EXPECT_FALSE(AssessProxyHealth(100 * s, 0, 50 * s, 0).healthy);        // never ran
  EXPECT_FALSE(AssessProxyHealth(100 * s, 90 * s, 50 * s, 0).healthy);   // stale heartbeat
  EXPECT_TRUE(AssessProxyHealth(100 * s, 101 * s, 50 * s, 0).healthy);   // heartbeat read after "now"
  EXPECT_TRUE(AssessProxyHealth(100 * s, 99 * s, 50 * s, 95 * s).healthy);
  EXPECT_FALSE(AssessProxyHealth(100 * s, 99 * s, 50 * s, 80 * s).healthy);  // update stuck for 20 s
  EXPECT_EQ(AssessProxyHealth(100 * s, 99 * s, 50 * s, 0).last_updated_ns, 50 * s);
}

TEST(HealthServer, ServesHealthzAndServicePortsAndFollowsChanges) {
  std::mutex log_mutex;
  std::vector<std::string> log_lines;
  HealthServer server(HealthServerOptions{"127.0.0.1", [&](const std::string& line) {
                                            std::lock_guard lock(log_mutex);
                                            log_lines.push_back(line);
                                          }});
  ASSERT_TRUE(server.Start().ok());
  const uint16_t healthz = FreePort(), first = FreePort(), second = FreePort();
  server.SetProxyHealth(ProxyHealth{true, RealtimeNanoseconds()});
  server.SetHealthzPort(healthz);
  server.SetServices({ServiceHealthCheck{first, "vote", "vote", 1}});
  ASSERT_TRUE(WaitFor([&] { return server.ListeningPorts() == std::set<uint16_t>{healthz, first}; }));

  const std::string ok = HttpGet(healthz, "/healthz");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: application/json\r\n"));
  EXPECT_THAT(HttpBody(ok), ::testing::MatchesRegex(R"(\{"lastUpdated": "[-0-9T:.]+Z","currentTime": "[-0-9T:.]+Z"\})"));
  EXPECT_THAT(HttpGet(healthz, "/nope"), StartsWith("HTTP/1.1 404"));

  const std::string service = HttpGet(first, "/");
  EXPECT_THAT(service, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(HttpBody(service), R"({"service":{"namespace":"vote","name":"vote"},"localEndpoints":1})");

  server.SetProxyHealth(ProxyHealth{false, 0});
  EXPECT_THAT(HttpGet(healthz, "/healthz"), StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));

  // The table changes: the first Service lost its local endpoints, a second
  // one appeared elsewhere; then the first goes away.
  server.SetServices({ServiceHealthCheck{first, "vote", "vote", 0}, ServiceHealthCheck{second, "vote", "result", 2}});
  ASSERT_TRUE(WaitFor([&] { return server.ListeningPorts().count(second) == 1; }));
  EXPECT_THAT(HttpGet(first, "/"), StartsWith("HTTP/1.1 503"));
  EXPECT_EQ(HttpBody(HttpGet(second, "/")), R"({"service":{"namespace":"vote","name":"result"},"localEndpoints":2})");
  server.SetServices({ServiceHealthCheck{second, "vote", "result", 2}});
  ASSERT_TRUE(WaitFor([&] { return server.ListeningPorts().count(first) == 0; }));
  EXPECT_EQ(HttpGet(first, "/"), "");
  std::lock_guard lock(log_mutex);
  EXPECT_THAT(log_lines, ::testing::IsEmpty());
}

TEST(HealthServer, ABindFailureIsLoggedNotFatal) {
  // Someone else holds this port.
  const int holder = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t length = sizeof(address);
  getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t taken = ntohs(address.sin_port);

  std::mutex log_mutex;
  std::vector<std::string> log_lines;
  HealthServer server(HealthServerOptions{"127.0.0.1", [&](const std::string& line) {
                                            std::lock_guard lock(log_mutex);
                                            log_lines.push_back(line);
                                          }});
  ASSERT_TRUE(server.Start().ok());
  const uint16_t free_port = FreePort();
  server.SetServices({ServiceHealthCheck{taken, "a", "b", 1}, ServiceHealthCheck{free_port, "c", "d", 1}});
  ASSERT_TRUE(WaitFor([&] { return server.ListeningPorts().count(free_port) == 1; }));
  EXPECT_EQ(server.ListeningPorts().count(taken), 0u);
  EXPECT_THAT(HttpGet(free_port, "/"), StartsWith("HTTP/1.1 200"));
  std::lock_guard lock(log_mutex);
  EXPECT_THAT(log_lines, ::testing::ElementsAre(HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(taken))));
  close(holder);
}

}  // namespace
}  // namespace np::daemon
