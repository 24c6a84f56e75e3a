// The traffic map (control/flows/traffic_map.h), its JSON form, `npctl map`'s
// table and DOT output (golden), and `npctl map export` read back by our own
// manifest loader.
#include "control/flows/traffic_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/cli/format_flows.h"
#include "control/flows/policy_export.h"
#include "control/k8s/loader.h"

namespace np::flows {
namespace {

FlowPeer Pod(const std::string& ns, const std::string& workload, const std::string& pod, const std::string& app) {
  return FlowPeer{"pod", ns, workload, "Deployment", pod, {{"app", app}}};
}
FlowPeer External(const std::string& cidr) { return FlowPeer{"external", "", cidr, "", "", {}}; }

FlowLogEntry Event(const FlowPeer& client, const FlowPeer& server, uint16_t port, const std::string& verdict,
                   const std::string& service = "") {
  FlowLogEntry entry;
  entry.event = verdict == "denied" ? "denied" : "start";
  entry.start_ns = entry.time_ns = 1'000'000'000;
  entry.protocol = "TCP";
  entry.backend_port = port;
  entry.verdict = verdict;
  entry.service = service;
  entry.client = client;
  entry.server = server;
  return entry;
}

TrafficMapFile VotingAppMap() {
  const FlowPeer user = External("192.168.100.1/32");
  const FlowPeer ingress{"pod", "ingress-nginx", "ingress-nginx-controller", "Deployment", "",
                         {{"app.kubernetes.io/component", "controller"}, {"app.kubernetes.io/name", "ingress-nginx"}}};
  const FlowPeer vote1 = Pod("voting-app", "vote", "vote-1", "vote");
  const FlowPeer vote2 = Pod("voting-app", "vote", "vote-2", "vote");
  const FlowPeer result = Pod("voting-app", "result", "result-1", "result");
  const FlowPeer redis = Pod("voting-app", "redis", "redis-1", "redis");
  const FlowPeer worker = Pod("voting-app", "worker", "worker-1", "worker");
  FlowPeer db = Pod("voting-app", "db", "db-0", "db");
  db.workload_kind = "StatefulSet";
  TrafficMap map;
  map.Observe(Event(user, ingress, 80, "allowed", "ingress-nginx/ingress-nginx-controller:http"), true);
  map.Observe(Event(ingress, vote1, 80, "allowed", "voting-app/vote:http"), true);
  map.Observe(Event(ingress, vote2, 80, "allowed", "voting-app/vote:http"), true);
  map.Observe(Event(ingress, result, 80, "no-policy"), true);
  map.Observe(Event(vote1, redis, 6379, "allowed"), true);
  map.Observe(Event(vote2, redis, 6379, "allowed"), true);
  map.Observe(Event(worker, redis, 6379, "allowed"), true);
  map.Observe(Event(worker, db, 5432, "allowed"), true);
  map.Observe(Event(result, db, 5432, "allowed"), true);
  map.Observe(Event(vote1, db, 5432, "denied"), true);
  TrafficMapFile file;
  file.edges = map.Edges();
  return file;
}

TEST(TrafficMap, PodsOfOneWorkloadAreOneEdgeKeepingVerdictsAndServices) {
  const TrafficMapFile map = VotingAppMap();
  ASSERT_EQ(map.edges.size(), 8u);
  const MapEdge& ingress_vote = map.edges[2];
  EXPECT_EQ(ingress_vote.client.Label(), "ingress-nginx/ingress-nginx-controller");
  EXPECT_EQ(ingress_vote.server.Label(), "voting-app/vote");
  EXPECT_EQ(ingress_vote.connections, 2u);
  EXPECT_TRUE(ingress_vote.server.pod.empty());  // the map is per workload
  EXPECT_EQ(ingress_vote.services, (std::set<std::string>{"voting-app/vote:http"}));
  const MapEdge& vote_db = map.edges[4];
  EXPECT_EQ(vote_db.client.Label() + " -> " + vote_db.server.Label(), "voting-app/vote -> voting-app/db");
  EXPECT_FALSE(vote_db.Passed());
}

TEST(TrafficMap, PastItsBoundExternalPeersMergeIntoAnyAddressAndOtherNewEdgesAreCounted) {
  TrafficMap map(/*max_edges=*/2);
  const FlowPeer web = Pod("shop", "web", "web-1", "web");
  map.Observe(Event(External("1.1.1.1/32"), web, 80, "allowed"), true);
  map.Observe(Event(External("2.2.2.2/32"), web, 80, "allowed"), true);
  map.Observe(Event(External("3.3.3.3/32"), web, 80, "allowed"), true);
  map.Observe(Event(External("4.4.4.4/32"), web, 80, "allowed"), true);
  map.Observe(Event(External("1.1.1.1/32"), web, 80, "allowed"), true);  // known: still its own edge
  map.Observe(Event(web, Pod("shop", "db", "db-0", "db"), 5432, "allowed"), true);
  const std::vector<MapEdge> edges = map.Edges();
  ASSERT_EQ(edges.size(), 3u);
  EXPECT_EQ(edges[0].client.Label(), "external 0.0.0.0/0");
  EXPECT_EQ(edges[0].connections, 2u);
  EXPECT_EQ(edges[1].client.Label(), "external 1.1.1.1/32");
  EXPECT_EQ(edges[1].connections, 2u);
  EXPECT_EQ(map.overflow(), 1u);  // web -> db did not fit
}

TEST(TrafficMap, JsonRoundTrip) {
  TrafficMapFile map = VotingAppMap();
  map.records = 12;
  map.records_dropped = 3;
  map.edges_overflow = 4;
  Result<TrafficMapFile> parsed = ParseTrafficMapJson(FormatTrafficMapJson(map));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(FormatTrafficMapJson(*parsed), FormatTrafficMapJson(map));
  EXPECT_FALSE(ParseTrafficMapJson("{\"edges\": 3}").ok());
  EXPECT_THAT(ParseTrafficMapJson("[").error().message, ::testing::HasSubstr("not valid JSON"));
}

TEST(TrafficMap, DotGolden) {
  const std::vector<MapEdge> all = VotingAppMap().edges;
  TrafficMapFile map;
  map.edges = {all[0], all[2], all[7]};  // user->ingress, ingress->vote, worker->redis
  EXPECT_EQ(cli::FormatMapDot(map, {}),
            "digraph traffic {\n"
            "  rankdir=LR;\n"
            "  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
            "  edge [fontname=\"Helvetica\", fontsize=10];\n"
            "  \"external 192.168.100.1/32\" [label=\"external 192.168.100.1/32\", shape=ellipse];\n"
            "  subgraph \"cluster_ingress-nginx\" {\n"
            "    label=\"ingress-nginx\";\n"
            "    \"ingress-nginx/ingress-nginx-controller\" [label=\"ingress-nginx-controller\\nDeployment\"];\n"
            "  }\n"
            "  subgraph \"cluster_voting-app\" {\n"
            "    label=\"voting-app\";\n"
            "    \"voting-app/redis\" [label=\"redis\\nDeployment\"];\n"
            "    \"voting-app/vote\" [label=\"vote\\nDeployment\"];\n"
            "    \"voting-app/worker\" [label=\"worker\\nDeployment\"];\n"
            "  }\n"
            "  \"external 192.168.100.1/32\" -> \"ingress-nginx/ingress-nginx-controller\" [label=\"80/TCP x1\"];\n"
            "  \"ingress-nginx/ingress-nginx-controller\" -> \"voting-app/vote\" [label=\"80/TCP x2\"];\n"
            "  \"voting-app/worker\" -> \"voting-app/redis\" [label=\"6379/TCP x1\"];\n"
            "}\n");
}

TEST(TrafficMap, TableFiltersByNamespaceWorkloadServiceAndVerdict) {
  const TrafficMapFile map = VotingAppMap();
  const uint64_t now = 61'000'000'000;
  const std::string by_verdict = cli::FormatMapTable(map, cli::FlowFilter{"", "", "", "denied"}, now);
  EXPECT_EQ(by_verdict,
            "CLIENT            SERVER          PORT       CONNECTIONS   VIA   VERDICTS   LAST SEEN\n"
            "voting-app/vote   voting-app/db   5432/TCP   1             -     denied     1m ago\n");
  const std::string by_service = cli::FormatMapTable(map, cli::FlowFilter{"", "", "vote", ""}, now);
  EXPECT_THAT(by_service, ::testing::HasSubstr("ingress-nginx/ingress-nginx-controller   voting-app/vote"));
  EXPECT_EQ(std::count(by_service.begin(), by_service.end(), '\n'), 2);
  const std::string by_workload = cli::FormatMapTable(map, cli::FlowFilter{"", "voting-app/db", "", ""}, now);
  EXPECT_EQ(std::count(by_workload.begin(), by_workload.end(), '\n'), 4);  // header + worker, result, vote
  const std::string by_namespace = cli::FormatMapTable(map, cli::FlowFilter{"ingress-nginx", "", "", ""}, now);
  EXPECT_EQ(std::count(by_namespace.begin(), by_namespace.end(), '\n'), 4);
}

TEST(PolicyExport, APodWithoutLabelsIsNotExportedRatherThanSelectingItsWholeNamespace) {
  TrafficMap map;
  const FlowPeer bare{"pod", "shop", "debug", "Pod", "debug", {}};
  map.Observe(Event(bare, Pod("shop", "db", "db-0", "db"), 5432, "allowed"), true);
  map.Observe(Event(Pod("shop", "web", "web-1", "web"), Pod("shop", "db", "db-0", "db"), 5432, "allowed"), true);
  TrafficMapFile file;
  file.edges = map.Edges();
  const ExportedManifests exported = ExportPolicies(file);
  ASSERT_EQ(exported.skipped.size(), 1u);
  EXPECT_EQ(exported.skipped[0], "shop/debug -> shop/db 5432/TCP: shop/debug has no labels to select its pods by");
  const std::string& policies = exported.files.at("networkpolicies/shop.yaml");
  EXPECT_EQ(policies.find("debug"), std::string::npos) << policies;
  EXPECT_NE(policies.find("name: web-egress"), std::string::npos) << policies;
}

TEST(PolicyExport, WouldDenyConnectionsOfAuditModeAreObservedTrafficAndDeniedOnesAreNot) {
  TrafficMap map;
  map.Observe(Event(Pod("shop", "web", "web-1", "web"), Pod("shop", "db", "db-0", "db"), 5432, "would-deny"), true);
  map.Observe(Event(Pod("shop", "web", "web-1", "web"), Pod("shop", "cache", "cache-0", "cache"), 6379, "denied"), true);
  TrafficMapFile file;
  file.edges = map.Edges();
  const ExportedManifests exported = ExportPolicies(file);
  const std::string& policies = exported.files.at("networkpolicies/shop.yaml");
  EXPECT_NE(policies.find("name: db-ingress"), std::string::npos) << policies;
  EXPECT_EQ(policies.find("cache"), std::string::npos) << policies;
}

TEST(PolicyExport, ManifestsLoadBackThroughOurLoader) {
  const ExportedManifests exported = ExportPolicies(VotingAppMap());
  std::vector<std::string> names;
  for (const auto& [name, text] : exported.files) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("clientintents/ingress-nginx-ingress-nginx-controller.yaml",
                                            "clientintents/voting-app-result.yaml", "clientintents/voting-app-vote.yaml",
                                            "clientintents/voting-app-worker.yaml", "networkpolicies/ingress-nginx.yaml",
                                            "networkpolicies/voting-app.yaml"));
  k8s::LoadResult loaded;
  for (const auto& [name, text] : exported.files) k8s::LoadManifestText(text, name, loaded);
  for (const k8s::LoadFailure& failure : loaded.failures)
    for (const std::string& message : failure.messages) ADD_FAILURE() << message;
  for (const std::string& warning : loaded.warnings) ADD_FAILURE() << "warning: " << warning;
  std::vector<std::string> policies;
  for (const auto& [id, policy] : loaded.state.network_policies) policies.push_back(id.ToString());
  EXPECT_THAT(policies, ::testing::ElementsAre(
                            "ingress-nginx/allow-dns-egress", "ingress-nginx/default-deny",
                            "ingress-nginx/ingress-nginx-controller-egress", "ingress-nginx/ingress-nginx-controller-ingress",
                            "voting-app/allow-dns-egress", "voting-app/db-ingress", "voting-app/default-deny",
                            "voting-app/redis-ingress", "voting-app/result-egress", "voting-app/result-ingress",
                            "voting-app/vote-egress", "voting-app/vote-ingress", "voting-app/worker-egress"));
  const k8s::NetworkPolicy& db = loaded.state.network_policies.at({"voting-app", "db-ingress"});
  EXPECT_TRUE(db.affects_ingress);
  EXPECT_FALSE(db.affects_egress);
  EXPECT_EQ(db.pod_selector.match_labels, (std::map<std::string, std::string>{{"app", "db"}}));
  ASSERT_EQ(db.ingress.size(), 2u);  // result and worker; vote's denied attempt is not allowed
  const k8s::NetworkPolicy& ingress = loaded.state.network_policies.at({"ingress-nginx", "ingress-nginx-controller-ingress"});
  ASSERT_EQ(ingress.ingress.size(), 1u);
  ASSERT_TRUE(ingress.ingress[0].peers.at(0).ip_block.has_value());
  EXPECT_EQ(ingress.ingress[0].peers[0].ip_block->cidr.ToString(), "192.168.100.1/32");
  EXPECT_EQ(loaded.state.others.count({"ClientIntents", {"voting-app", "vote"}}), 1u);
}

}  // namespace
}  // namespace np::flows
