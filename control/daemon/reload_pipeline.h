// One reload of the control plane: node config + manifests -> compiled
// images -> published sections, in timed stages. A bad input never
// withdraws what works: a node config that fails keeps the previous good
// one, a manifest that fails keeps the previous version of its objects.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/config/device_check.h"
#include "control/daemon/section_publisher.h"
#include "control/daemon/services_sync.h"
#include "control/k8s/cluster_state.h"
#include "control/k8s/manifest_cache.h"

namespace np::daemon {

struct PipelineInputs {
  std::filesystem::path node_config;
  std::filesystem::path manifests;
  config::PathExists path_exists = config::RealPathExists();
  // Copies of each manifest file's last version that loaded cleanly, so that
  // a restart keeps serving the last good version of a now broken object
  // (empty: none kept, a restart knows only the files).
  std::filesystem::path last_good_manifests;
};

struct SectionResult {
  abi::SectionKind kind;
  bool published = false;  // false: unchanged (or failed, see errors)
  uint64_t generation = 0;
};

struct ReloadReport {
  double parse_ms = 0, compile_ms = 0, publish_ms = 0;
  std::vector<std::string> errors;    // each names its file and field/object
  std::vector<std::string> warnings;
  std::vector<SectionResult> sections;  // only sections that were offered to the publisher
  // "reload: parse 1.2 ms, compile 0.3 ms, publish 0.1 ms; node: generation 3 (unchanged), ..."
  std::string Summary() const;
};

class ReloadPipeline {
 public:
  // Seeds stable service-port IDs from the services image the region holds
  // (a restarted control plane keeps the IDs conntrack entries refer to).
  ReloadPipeline(PipelineInputs inputs, SectionPublisher& publisher);

  ReloadReport Run();

  // The last good inputs and what was compiled from them.
  const std::optional<NodeImage>& node_config() const { return node_config_; }
  const k8s::ClusterState& cluster() const { return cluster_; }
  // The whole services image (assembled on demand: O(Services)).
  const std::optional<ServicesImage>& services() const;
  // The compiled services, for what needs them without an image.
  const compile::ServicesModel& services_model() const { return services_sync_->model(); }
  std::map<uint32_t, std::string> ServicePortNames() const;

 private:
  void LoadNodeConfig(ReloadReport& report);
  void Publish(abi::SectionKind kind, std::vector<uint8_t> image, ReloadReport& report);
  // Returns the Services, EndpointSlices and Pods that changed.
  compile::ServicesChanges LoadManifestsAndDiff(ReloadReport& report);

  PipelineInputs inputs_;
  SectionPublisher& publisher_;
  std::optional<NodeImage> node_config_;  // as loaded: static routes only
  k8s::ClusterState cluster_;
  k8s::ManifestDirectoryCache manifest_cache_;  // a reload parses only the files that changed
  mutable std::optional<ServicesImage> services_;  // cache of services(), dropped by Run
  // Recompiles only the Services whose objects changed and publishes them
  // as a services delta (services_sync.h).
  std::optional<ServicesSync> services_sync_;
  bool services_synced_ = false;
  std::map<std::string, uint32_t> policy_identity_ids_;  // stable identity numbers
};

}  // namespace np::daemon
