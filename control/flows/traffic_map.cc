#include "control/flows/traffic_map.h"

#include <algorithm>

namespace np::flows {
namespace {

FlowPeer WorkloadOnly(FlowPeer peer) {
  peer.pod.clear();
  return peer;
}

FlowPeer AnyExternal(const FlowPeer& peer) {
  if (peer.kind != "external") return peer;
  return FlowPeer{"external", "", "0.0.0.0/0", "", "", {}};
}

}  // namespace

void TrafficMap::Observe(const FlowLogEntry& entry, bool new_connection) {
  FlowPeer client = entry.client, server = entry.server;
  Key key{client.Key(), server.Key(), entry.backend_port, entry.protocol};
  if (edges_.size() >= max_edges_ && edges_.count(key) == 0) {
    client = AnyExternal(client);
    server = AnyExternal(server);
    const Key merged{client.Key(), server.Key(), entry.backend_port, entry.protocol};
    // Edges to or from "0.0.0.0/0" are at most one per workload and port:
    // they may pass the bound; any other new edge is refused.
    if (merged == key) {
      ++overflow_;
      return;
    }
    key = merged;
  }
  auto [it, inserted] = edges_.try_emplace(key);
  MapEdge& edge = it->second;
  if (inserted) {
    edge.client = WorkloadOnly(client);
    edge.server = WorkloadOnly(server);
    edge.port = entry.backend_port;
    edge.protocol = entry.protocol;
    edge.first_seen_ns = entry.start_ns ? entry.start_ns : entry.time_ns;
  }
  if (new_connection) ++edge.connections;
  if (!entry.service.empty()) edge.services.insert(entry.service);
  if (!entry.verdict.empty()) edge.verdicts.insert(entry.verdict);
  edge.first_seen_ns = std::min(edge.first_seen_ns, entry.start_ns ? entry.start_ns : entry.time_ns);
  edge.last_seen_ns = std::max(edge.last_seen_ns, entry.time_ns);
}

void TrafficMap::Restore(const std::vector<MapEdge>& edges) {
  for (const MapEdge& edge : edges) {
    const Key key{edge.client.Key(), edge.server.Key(), edge.port, edge.protocol};
    auto [it, inserted] = edges_.try_emplace(key, edge);
    if (inserted) continue;
    MapEdge& kept = it->second;
    kept.connections += edge.connections;
    kept.services.insert(edge.services.begin(), edge.services.end());
    kept.verdicts.insert(edge.verdicts.begin(), edge.verdicts.end());
    kept.first_seen_ns = std::min(kept.first_seen_ns, edge.first_seen_ns);
    kept.last_seen_ns = std::max(kept.last_seen_ns, edge.last_seen_ns);
  }
}

std::vector<MapEdge> TrafficMap::Edges() const {
  std::vector<MapEdge> edges;
  edges.reserve(edges_.size());
  for (const auto& [key, edge] : edges_) edges.push_back(edge);
  std::sort(edges.begin(), edges.end(), [](const MapEdge& a, const MapEdge& b) {
    return std::tuple(a.client.Label(), a.server.Label(), a.port, a.protocol) <
           std::tuple(b.client.Label(), b.server.Label(), b.port, b.protocol);
  });
  return edges;
}

}  // namespace np::flows
