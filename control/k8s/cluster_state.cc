#include "control/k8s/cluster_state.h"

namespace np::k8s {
namespace {

// Applies `visit(map)` to the typed map that holds `kind`; false for kinds
// kept in `others`.
template <class State, class Visit>
bool WithTypedMap(State& state, const std::string& kind, Visit&& visit) {
  if (kind == "Service") return visit(state.services), true;
  if (kind == "EndpointSlice") return visit(state.endpoint_slices), true;
  if (kind == "Pod") return visit(state.pods), true;
  if (kind == "Namespace") return visit(state.namespaces), true;
  if (kind == "Node") return visit(state.nodes), true;
  if (kind == "NetworkPolicy") return visit(state.network_policies), true;
  return false;
}

template <class Map>
void AddInventory(const char* kind, const Map& objects,
                  std::vector<std::pair<ObjectKey, std::string>>& out) {
  for (const auto& [id, object] : objects) out.push_back({ObjectKey{kind, id}, object.meta.source_file});
}

}  // namespace

bool ClusterState::Contains(const ObjectKey& key) const {
  bool found = false;
  const bool typed = WithTypedMap(*this, key.kind, [&](const auto& objects) {
    found = objects.count(key.id) != 0;
  });
  return typed ? found : others.count(key) != 0;
}

bool ClusterState::CopyObject(const ObjectKey& key, const ClusterState& from) {
  auto copy = [&](auto& to, const auto& source, const auto& id) {
    auto it = source.find(id);
    if (it == source.end()) return false;
    to.insert_or_assign(id, it->second);
    return true;
  };
  if (key.kind == "Service") return copy(services, from.services, key.id);
  if (key.kind == "EndpointSlice") return copy(endpoint_slices, from.endpoint_slices, key.id);
  if (key.kind == "Pod") return copy(pods, from.pods, key.id);
  if (key.kind == "Namespace") return copy(namespaces, from.namespaces, key.id);
  if (key.kind == "Node") return copy(nodes, from.nodes, key.id);
  if (key.kind == "NetworkPolicy") return copy(network_policies, from.network_policies, key.id);
  return copy(others, from.others, key);
}

std::vector<std::pair<ObjectKey, std::string>> ClusterState::Inventory() const {
  std::vector<std::pair<ObjectKey, std::string>> out;
  AddInventory("Service", services, out);
  AddInventory("EndpointSlice", endpoint_slices, out);
  AddInventory("Pod", pods, out);
  AddInventory("Namespace", namespaces, out);
  AddInventory("Node", nodes, out);
  AddInventory("NetworkPolicy", network_policies, out);
  for (const auto& [key, object] : others) out.push_back({key, object.meta.source_file});
  return out;
}

size_t ClusterState::ObjectCount() const {
  return services.size() + endpoint_slices.size() + pods.size() + namespaces.size() + nodes.size() +
         network_policies.size() + others.size();
}

ClusterState MergeKeepingLastGood(const ClusterState& previous, const LoadResult& load,
                                  std::vector<ObjectKey>* kept) {
  ClusterState merged = load.state;
  auto keep = [&](const ObjectKey& key) {
    if (merged.Contains(key)) return;  // a valid definition elsewhere wins
    if (merged.CopyObject(key, previous) && kept) kept->push_back(key);
  };
  std::vector<std::pair<ObjectKey, std::string>> previous_inventory;
  for (const LoadFailure& failure : load.failures) {
    if (failure.object) {
      keep(*failure.object);
      continue;
    }
    if (previous_inventory.empty()) previous_inventory = previous.Inventory();
    for (const auto& [key, file] : previous_inventory)
      if (file == failure.file) keep(key);
  }
  return merged;
}

}  // namespace np::k8s
