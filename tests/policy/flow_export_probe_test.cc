// `npctl map export` judged by the real policy compiler and classifier (the
// `npctl policy probe` evaluator): the voting app's observed flows, resolved
// to workloads from config/voting-app, exported as NetworkPolicies, applied
// to the same pods: exactly the observed (client pod, server pod, port)
// triples are allowed, every other pair and port is denied.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <tuple>

#include "control/cli/policy_probe.h"
#include "control/flows/identity.h"
#include "control/flows/policy_export.h"
#include "control/flows/traffic_map.h"
#include "control/k8s/loader.h"

namespace np::cli {
namespace {

uint32_t Ip(const char* text) { return k8s::ParseIp(text)->v4; }

// The workload part of "voting-app/vote-5d8f7c9b6-4hx2z".
std::string WorkloadOfPodName(const std::string& pod) {
  for (const char* workload : {"ingress-nginx-controller", "vote", "result", "redis", "worker", "db"})
    if (pod.find(std::string("/") + workload + "-") != std::string::npos) return workload;
  return pod;
}

TEST(FlowExportProbe, ExportedPoliciesAllowExactlyTheObservedFlows) {
  ASSERT_TRUE(InitProbeEal().ok());
  Result<k8s::LoadResult> app = k8s::LoadManifestDirectory(NP_CONFIG_DIR "/voting-app");
  ASSERT_TRUE(app.ok()) << app.error().message;
  const flows::IdentityResolver resolver(app->state, {"node-a", {Ip("192.168.100.10")}}, {});

  struct Observed {
    const char* client;
    const char* server;
    uint16_t port;
  };
  const Observed observed[] = {
      {"192.168.100.1", "10.244.1.10", 80},                                      // user -> ingress
      {"10.244.1.10", "10.244.1.11", 80}, {"10.244.1.10", "10.244.1.12", 80},  // ingress -> vote (both)
      {"10.244.1.10", "10.244.1.13", 80},                                      // ingress -> result
      {"10.244.1.11", "10.244.1.14", 6379}, {"10.244.1.12", "10.244.1.14", 6379},  // vote -> redis
      {"10.244.1.16", "10.244.1.14", 6379},                                    // worker -> redis
      {"10.244.1.16", "10.244.1.15", 5432},                                    // worker -> db
      {"10.244.1.13", "10.244.1.15", 5432},                                    // result -> db
  };
  flows::TrafficMap map;
  for (const Observed& flow : observed) {
    flows::FlowLogEntry entry;
    entry.event = "start";
    entry.protocol = "TCP";
    entry.verdict = "no-policy";
    entry.backend_port = flow.port;
    entry.client = resolver.Resolve(Ip(flow.client));
    entry.server = resolver.Resolve(Ip(flow.server));
    map.Observe(entry, true);
  }
  flows::TrafficMapFile file;
  file.edges = map.Edges();
  ASSERT_EQ(file.edges.size(), 7u);

  k8s::LoadResult loaded;
  loaded.state = app->state;
  for (const auto& [name, text] : flows::ExportPolicies(file).files)
    if (name.starts_with("networkpolicies/")) k8s::LoadManifestText(text, name, loaded);
  ASSERT_TRUE(loaded.failures.empty()) << loaded.failures[0].messages[0];
  Result<ProbeWorld> world = BuildProbeWorld(std::move(loaded.state));
  ASSERT_TRUE(world.ok()) << world.error().message;
  Result<std::vector<ProbePort>> ports = ParseProbePorts("80/TCP,6379/TCP,5432/TCP,8080/TCP,53/UDP");
  ASSERT_TRUE(ports.ok());

  const std::set<std::tuple<std::string, std::string, std::string>> allowed = {
      {"ingress-nginx-controller", "vote", "80/TCP"}, {"ingress-nginx-controller", "result", "80/TCP"},
      {"vote", "redis", "6379/TCP"},   {"worker", "redis", "6379/TCP"},
      {"worker", "db", "5432/TCP"},    {"result", "db", "5432/TCP"}};
  size_t checked = 0;
  for (const std::string& line : ProbeLines(*world, *ports)) {
    std::istringstream fields(line);
    std::string from, to, port, verdict;
    fields >> from >> to >> port >> verdict;
    if (from == to) continue;  // a pod to itself: always allowed
    const bool expected = allowed.count({WorkloadOfPodName(from), WorkloadOfPodName(to), port}) != 0;
    EXPECT_EQ(verdict, expected ? "allow" : "deny") << line;
    ++checked;
  }
  EXPECT_EQ(checked, 7u * 6u * 5u);  // 7 pods, ordered pairs, 5 ports
}

}  // namespace
}  // namespace np::cli
