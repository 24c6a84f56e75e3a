// Services -> the services section image, with kube-proxy's semantics.
//
// One ServicePortRecord per (Service, port) of every Service kube-proxy
// would program (not ExternalName, not headless, with an IPv4 cluster IP).
// Frontends: each IPv4 clusterIP, the nodePort on every node IP (NodePort
// and LoadBalancer), the LoadBalancer ingress IPs, the externalIPs.
// Backends: the IPv4 EndpointSlices labelled kubernetes.io/service-name,
// merged and de-duplicated, port matched by name and protocol. Per
// kube-proxy's categorizeEndpoints: the cluster set is the ready endpoints,
// or, when none is ready, the serving+terminating ones; the local set is
// the same choice among this node's endpoints only. The backend table holds
// the union; the Maglev table spans the cluster set, the local Maglev table
// the local set.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/maglev.h"
#include "common/section_image.h"
#include "control/k8s/cluster_state.h"

namespace np::compile {

struct ServicesCompileOptions {
  // IDs handed out before (name -> id, e.g. read back from the image the
  // dataplane applied): kept for names that still exist, so that a new
  // Service whose hash collides never renumbers an existing one.
  std::map<std::string, uint32_t> previous_ids;
  // Threads that compile Services side by side when many changed (a full
  // resync: Maglev tables are most of it); 0: one per core, at most
  // kMaxCompileThreads. The result does not depend on it.
  unsigned threads = 0;
};
inline constexpr unsigned kMaxCompileThreads = 4;

struct ServicesCompilation {
  ServicesImage image;                // generation 0: the publisher sets it
  std::vector<std::string> warnings;  // per object: skipped frontends, ports, ...
};

ServicesCompilation CompileServices(const k8s::ClusterState& state, const NodeImage& node,
                                    const ServicesCompileOptions& options = {});

// The objects that changed between two states, as a Kubernetes watch would
// report them (added, modified or deleted), for ServicesModel::Update.
struct ServicesChanges {
  std::set<k8s::NamespacedName> services, endpoint_slices, pods;
  bool empty() const { return services.empty() && endpoint_slices.empty() && pods.empty(); }
};
// By comparing the objects of both states (O(objects)): for callers that
// get whole states (a reload of manifest files) rather than watch events.
ServicesChanges DiffServiceInputs(const k8s::ClusterState& before, const k8s::ClusterState& after);

// One compiled service port, self-contained (common/section_image.h), and
// what its Maglev tables were built from: a port compiled again with the
// same backends, members and seed takes its tables as they are (building
// them is most of a compile; a cache of tables apart from the ports cost a
// 10k-Service full resync ~15 ms in memory it kept, perf/RESULTS.md).
struct CompiledServicePort : ServicePortTables {
  CompiledServicePort() = default;
  explicit CompiledServicePort(ServicePortTables tables) : ServicePortTables(std::move(tables)) {}
  // Indices into backends of the main and local tables' members, and the
  // seed; a port taken from an image has none (its tables are never reused).
  std::vector<uint32_t> maglev_members, local_maglev_members;
  std::optional<uint32_t> maglev_seed;
};

// The services compiler with memory: one compiled fragment per Service (and
// per Pod with hostPorts), so that a change recompiles only the objects it
// touches, and a base (the last full services image published) against
// which it reports the delta. The full image it assembles is by
// construction what CompileServices() gives for the same state.
class ServicesModel {
 public:
  // Compiles everything (IDs of names in `previous_ids` kept).
  void Rebuild(const k8s::ClusterState& state, const NodeImage& node, const ServicesCompileOptions& options);
  // Recompiles the Services, EndpointSlices and Pods `changes` names, with
  // `state` holding their new versions. Falls back to Rebuild (returning
  // false) when a frontend is contested between Services: which Service
  // wins depends on the whole state.
  bool Update(const k8s::ClusterState& state, const ServicesChanges& changes);
  // Maglev tables the last Rebuild or Update built, and took from the ports
  // they compiled before (the rest of the ports kept theirs).
  uint64_t maglev_tables_built() const { return maglev_built_; }
  uint64_t maglev_tables_reused() const { return maglev_reused_; }
  bool built() const { return built_; }
  const NodeImage& node() const { return node_; }

  ServicesCompilation Compilation() const;  // the full image (generation 0) and warnings: O(Services)
  size_t service_port_count() const { return ports_.size(); }
  std::vector<std::string> Warnings() const;  // as Compilation() gives them, without assembling the image
  // The warnings of what the last Rebuild or Update compiled (all, after a Rebuild).
  const std::vector<std::string>& LastWarnings() const { return last_warnings_; }
  std::map<std::string, uint32_t> Ids() const;
  // Every compiled port, in image order (no image assembled).
  template <class Visit>
  void ForEachPort(Visit&& visit) const {
    for (const auto& [owner, fragment] : fragments_)
      for (const std::string& name : fragment.port_names) visit(*ports_.at(name));
  }

  // The base is the state of the last full image the dataplane was given.
  void MarkBase(uint64_t generation);
  // Takes a full image published earlier (e.g. by a previous process) as
  // the base: the delta is then what differs from it. O(Services).
  void AdoptBase(const ServicesImage& image);
  bool has_base() const { return has_base_; }
  uint64_t base_generation() const { return base_generation_; }
  void ForgetBase() { has_base_ = false; }
  // Service ports that differ from the base (changed, added or removed).
  size_t DeltaSize() const;
  // What the dataplane needs to turn the base into the current state (generation 0).
  ServicesDelta Delta() const;

 private:
  struct PortDraft {
    CompiledServicePort port;  // record.id unset, frontends as wanted; no tables (they are in `assembled`)
    std::string id_key;        // "ns/name:port/PROTO": hashed into the stable ID
    std::string port_label;
    k8s::NamespacedName owner;
    // The port to place, made on the compiling thread (record.id unset);
    // taken when the draft is placed, which happens once.
    std::shared_ptr<CompiledServicePort> assembled;
  };
  struct Fragment {
    std::vector<PortDraft> drafts;
    std::vector<std::string> warnings;
    std::vector<std::string> conflict_warnings;  // frontends another Service holds
    std::vector<std::string> port_names;         // assembled ports, in order
    uint32_t maglev_built = 0, maglev_reused = 0;
  };
  using OwnerKey = std::pair<int, k8s::NamespacedName>;  // 0: Service, 1: Pod (hostPorts)

  Fragment CompileOwner(const k8s::ClusterState& state, const OwnerKey& owner) const;
  // CompileOwner of each, on threads_ threads when there are enough of them.
  std::vector<Fragment> CompileOwners(const k8s::ClusterState& state, const std::vector<OwnerKey>& owners) const;
  void IndexSlices(const k8s::ClusterState& state);
  void AssembleAll(const std::map<std::string, uint32_t>& previous_ids);
  using PortsById = std::unordered_map<uint32_t, std::shared_ptr<const CompiledServicePort>>;
  // `id` may now differ from the base; `as_of_base` holds its port as the
  // base has it unless it is dirty already (by_id_ before it changes).
  void MarkDirty(uint32_t id, const PortsById& as_of_base);
  void MarkDirty(uint32_t id) { MarkDirty(id, by_id_); }
  uint32_t NewId(const std::string& id_key);
  void CountMaglevTables(const std::vector<Fragment>& compiled);
  // Takes `port` in under `id` (by name and by id).
  void Place(std::shared_ptr<CompiledServicePort> port, uint32_t id);

  bool built_ = false;
  NodeImage node_;
  unsigned threads_ = 1;
  uint64_t maglev_built_ = 0, maglev_reused_ = 0;
  std::map<OwnerKey, Fragment> fragments_;
  // Hashed: a full resync replaces every entry (image order comes from fragments_).
  std::unordered_map<std::string, std::shared_ptr<const CompiledServicePort>> ports_;  // by name
  PortsById by_id_;
  std::unordered_map<uint64_t, std::string> frontend_owner_;  // FrontendKey -> port name
  std::unordered_set<uint32_t> taken_ids_;
  // Frontends more than one port wants: who gets them depends on the whole
  // state, so a change that touches one is compiled in full.
  std::unordered_set<uint64_t> contested_frontends_;  // FrontendKey
  std::vector<std::string> last_warnings_;
  std::unordered_map<k8s::NamespacedName, k8s::NamespacedName, k8s::NamespacedNameHash> slice_service_;  // slice -> its Service
  // Slices in name order: merging them is order-sensitive.
  std::unordered_map<k8s::NamespacedName, std::set<k8s::NamespacedName>, k8s::NamespacedNameHash> service_slices_;
  bool has_base_ = false;
  uint64_t base_generation_ = 0;
  // The base (the ports of the last full image, by id) as what differs
  // from by_id_: the base's port of each dirty id (null: not in the base),
  // taken when the id first got dirty; every other id is in the base as
  // by_id_ has it. Marking a base costs the ids dirtied since, not a copy
  // of every port (10k Services: 2.2 ms on each full resync).
  std::set<uint32_t> dirty_ids_;  // ids that may differ from the base
  PortsById base_of_dirty_;
  size_t base_port_count_ = 0;
};

// The stable ID of a service port before collision handling:
// FNV-1a 32 of "namespace/name:port/PROTOCOL", never 0.
uint32_t ServicePortHashId(const std::string& key);

// The map previous_ids wants, from an image.
std::map<std::string, uint32_t> ServicePortIds(const ServicesImage& image);

}  // namespace np::compile
