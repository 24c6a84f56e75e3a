// The decoded cluster: every object nodeplane uses, keyed by namespace and
// name (cluster-scoped kinds have an empty namespace). std::map keeps the
// iteration order deterministic, which the compiler relies on.
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control/k8s/objects.h"

namespace np::k8s {

struct NamespacedName {
  std::string namespace_;
  std::string name;
  friend auto operator<=>(const NamespacedName&, const NamespacedName&) = default;
  std::string ToString() const { return namespace_.empty() ? name : namespace_ + "/" + name; }
};
struct NamespacedNameHash {
  size_t operator()(const NamespacedName& id) const {
    const size_t a = std::hash<std::string>{}(id.namespace_), b = std::hash<std::string>{}(id.name);
    return a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  }
};

// Which object a load failure belongs to: "Service default/vote".
struct ObjectKey {
  std::string kind;
  NamespacedName id;
  friend auto operator<=>(const ObjectKey&, const ObjectKey&) = default;
  std::string ToString() const { return kind + " " + id.ToString(); }
};

struct ClusterState {
  std::map<NamespacedName, Service> services;
  std::map<NamespacedName, EndpointSlice> endpoint_slices;
  std::map<NamespacedName, Pod> pods;
  std::map<NamespacedName, Namespace> namespaces;
  std::map<NamespacedName, Node> nodes;
  std::map<NamespacedName, NetworkPolicy> network_policies;
  std::map<ObjectKey, OtherObject> others;  // kinds not decoded here, e.g. Ingress

  bool Contains(const ObjectKey& key) const;
  // Copies the object `key` names from `from` into this state (no-op when
  // `from` lacks it). Returns whether it copied.
  bool CopyObject(const ObjectKey& key, const ClusterState& from);
  // Every object's key and the file it came from.
  std::vector<std::pair<ObjectKey, std::string>> Inventory() const;
  size_t ObjectCount() const;
};

// One object (or document, or file) that could not be loaded.
struct LoadFailure {
  std::string file;
  std::optional<ObjectKey> object;  // unknown when the document did not parse
  std::vector<std::string> messages;
};

struct LoadResult {
  ClusterState state;                  // the objects that decoded cleanly
  std::vector<LoadFailure> failures;
  std::vector<std::string> warnings;   // unknown fields, ignored kinds
};

// The state to compile after a reload: `load.state`, plus the previous
// version of every object whose new version failed to load, so that one bad
// edit does not withdraw a working Service. When a failure names no object
// (a document that is not even YAML, an unreadable file), the previous
// objects from that file that are missing from the new load are kept.
// `kept` (optional) lists what was taken from `previous`.
ClusterState MergeKeepingLastGood(const ClusterState& previous, const LoadResult& load,
                                  std::vector<ObjectKey>* kept = nullptr);

}  // namespace np::k8s
