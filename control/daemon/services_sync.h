// Brings the dataplane's services to a compiled state with the least work:
// the services model recompiles only the objects that changed, and the
// change travels as a services delta (shm_abi.h) against the last full
// services image the dataplane applied. A full image is published instead
// when there is no such base (first publication, a node change, a dataplane
// restart, a refused delta) or when the delta has grown past a fraction of
// the Services (then the full image becomes the new base).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/section_image.h"
#include "control/compile/services_compiler.h"
#include "control/daemon/section_publisher.h"

namespace np::daemon {

// The services state the region describes: the published services image
// with the published delta applied when it names that image as its base.
std::optional<ServicesImage> ReadPublishedServicesState(const TablesRegion& region);

class ServicesSync {
 public:
  // `previous_ids`: stable IDs to keep (e.g. read back from the region).
  ServicesSync(SectionPublisher& publisher, std::map<std::string, uint32_t> previous_ids);

  struct Outcome {
    abi::SectionKind kind = abi::SectionKind::kServices;  // what was (or would have been) published
    bool published = false;  // false: the dataplane already has this state
    uint64_t generation = 0;
    size_t delta_ports = 0;  // service ports in the delta (kServicesDelta)
    double compile_ms = 0, encode_ms = 0, publish_ms = 0;
  };
  // `changes`: what changed since the previous Sync (null: unknown, compile everything).
  Result<Outcome> Sync(const k8s::ClusterState& state, const NodeImage& node, const compile::ServicesChanges* changes,
                       std::vector<std::string>* warnings);

  const compile::ServicesModel& model() const { return model_; }
  // The full image of the current state (O(Services)).
  ServicesImage Image() const { return model_.Compilation().image; }

  // A delta may hold at most max(kMinDeltaLimit, Services / kDeltaFraction) service ports.
  static constexpr size_t kMinDeltaLimit = 64;
  static constexpr size_t kDeltaFraction = 32;

 private:
  bool CanPublishDelta() const;
  void AdoptPublishedBase();

  SectionPublisher& publisher_;
  std::map<std::string, uint32_t> previous_ids_;
  compile::ServicesModel model_;
  std::vector<uint8_t> node_bytes_;  // the node image the model was built for
  uint64_t last_delta_generation_ = 0;
  bool delta_since_base_ = false;
  bool adopted_ = false;  // looked for a base published by an earlier process  // a delta against the current base was published
};

}  // namespace np::daemon
