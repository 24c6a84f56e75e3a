// The traffic map: flow events aggregated per (client workload, server
// workload, server port after DNAT, protocol). Pods of one workload are one
// node of the map; the pod names are dropped, the labels that select the
// workload's pods are kept (for the generated NetworkPolicies).
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "control/flows/flow_model.h"

namespace np::flows {

class TrafficMap {
 public:
  // Bounded: past `max_edges`, a new edge's external peer is merged into
  // "0.0.0.0/0" (internet clients must not grow the map one address at a
  // time); a new edge that still does not fit is counted in overflow().
  explicit TrafficMap(size_t max_edges = 20000) : max_edges_(max_edges) {}

  // A start or denied event is a new connection; an end event only
  // refreshes last_seen (the connection was counted when it started).
  // `new_connection` false: an event of a connection already counted.
  void Observe(const FlowLogEntry& entry, bool new_connection);
  // Seeds the map with edges read back (a restarted control plane keeps
  // what it learned); an edge already present is merged.
  void Restore(const std::vector<MapEdge>& edges);
  std::vector<MapEdge> Edges() const;  // sorted by client, server, port, protocol
  size_t size() const { return edges_.size(); }
  uint64_t overflow() const { return overflow_; }

 private:
  using Key = std::tuple<std::string, std::string, uint16_t, std::string>;
  std::map<Key, MapEdge> edges_;
  size_t max_edges_;
  uint64_t overflow_ = 0;
};

}  // namespace np::flows
