#include "control/daemon/services_sync.h"

#include <algorithm>

#include "control/daemon/stage_timer.h"

namespace np::daemon {
namespace {

std::optional<ServicesDelta> ReadPublishedDelta(const TablesRegion& region) {
  if (region.section(abi::SectionKind::kServicesDelta).slot_capacity == 0) return std::nullopt;
  std::optional<std::vector<uint8_t>> bytes = ReadPublishedImage(region, abi::SectionKind::kServicesDelta);
  if (!bytes) return std::nullopt;
  Result<ServicesDelta> delta = DecodeServicesDeltaSection(bytes->data(), bytes->size(), nullptr);
  if (!delta) return std::nullopt;
  return std::move(delta).value();
}

}  // namespace

std::optional<ServicesImage> ReadPublishedServicesState(const TablesRegion& region) {
  std::optional<std::vector<uint8_t>> bytes = ReadPublishedImage(region, abi::SectionKind::kServices);
  if (!bytes) return std::nullopt;
  Result<ServicesImage> base = DecodeServicesSection(bytes->data(), bytes->size(), nullptr);
  if (!base) return std::nullopt;
  std::optional<ServicesDelta> delta = ReadPublishedDelta(region);
  if (!delta || delta->base_generation != base->generation) return std::move(base).value();
  Result<ServicesImage> merged = ApplyServicesDelta(*base, *delta);
  if (!merged) return std::move(base).value();
  return std::move(merged).value();
}

ServicesSync::ServicesSync(SectionPublisher& publisher, std::map<std::string, uint32_t> previous_ids)
    : publisher_(publisher), previous_ids_(std::move(previous_ids)) {}

// A restarted control plane continues against the base the region holds,
// so that the same state gives the same delta (nothing republished).
void ServicesSync::AdoptPublishedBase() {
  adopted_ = true;
  const TablesRegion& region = publisher_.region();
  const uint64_t generation = region.PublishedGeneration(abi::SectionKind::kServices);
  if (generation == 0 || region.RefusedGeneration(abi::SectionKind::kServices) >= generation) return;
  std::optional<std::vector<uint8_t>> bytes = ReadPublishedImage(region, abi::SectionKind::kServices);
  if (!bytes) return;
  Result<ServicesImage> base = DecodeServicesSection(bytes->data(), bytes->size(), nullptr);
  if (!base || base->generation != generation) return;
  model_.AdoptBase(*base);
  if (std::optional<ServicesDelta> delta = ReadPublishedDelta(region); delta && delta->base_generation == generation) {
    delta_since_base_ = true;
    last_delta_generation_ = delta->generation;
  }
}

bool ServicesSync::CanPublishDelta() const {
  const TablesRegion& region = publisher_.region();
  if (!model_.has_base() || region.section(abi::SectionKind::kServicesDelta).slot_capacity == 0) return false;
  // The base must be what the region publishes (the dataplane applies a
  // delta once it holds the base), not refused, and our last delta not refused.
  const uint64_t base = model_.base_generation();
  if (region.PublishedGeneration(abi::SectionKind::kServices) != base ||
      region.RefusedGeneration(abi::SectionKind::kServices) >= base)
    return false;
  if (last_delta_generation_ != 0 && region.RefusedGeneration(abi::SectionKind::kServicesDelta) >= last_delta_generation_)
    return false;
  const size_t limit = std::max(kMinDeltaLimit, model_.service_port_count() / kDeltaFraction);
  return model_.DeltaSize() <= limit;
}

Result<ServicesSync::Outcome> ServicesSync::Sync(const k8s::ClusterState& state, const NodeImage& node,
                                                 const compile::ServicesChanges* changes,
                                                 std::vector<std::string>* warnings) {
  Outcome outcome;
  StageTimer compile;
  std::vector<uint8_t> node_bytes = EncodeNodeSection(node);
  const bool same_node = model_.built() && node_bytes == node_bytes_;
  if (!same_node || changes == nullptr || !model_.Update(state, *changes)) {
    if (!same_node || changes == nullptr)
      model_.Rebuild(state, node, compile::ServicesCompileOptions{model_.built() ? model_.Ids() : previous_ids_});
    if (!same_node) model_.ForgetBase();  // NodePort frontends follow the node's addresses
  }
  node_bytes_ = std::move(node_bytes);
  if (!adopted_) AdoptPublishedBase();
  // After a dataplane restart the publisher republishes everything: a full image.
  if (adopted_ && model_.has_base() && !publisher_.KnowsPublished(abi::SectionKind::kServices)) model_.ForgetBase();
  outcome.compile_ms = compile.ElapsedMs();
  if (warnings != nullptr)  // what this sync compiled: a delta reports on the objects that changed
    warnings->insert(warnings->end(), model_.LastWarnings().begin(), model_.LastWarnings().end());
  if (CanPublishDelta()) {
    StageTimer encode;
    ServicesDelta delta = model_.Delta();
    outcome.delta_ports = delta.changed.service_ports.size() + delta.removed_ids.size();
    if (outcome.delta_ports == 0 && !delta_since_base_) {  // the base is the state: nothing to say
      outcome.generation = model_.base_generation();
      return outcome;
    }
    outcome.kind = abi::SectionKind::kServicesDelta;
    std::vector<uint8_t> bytes = EncodeServicesDeltaSection(delta);
    outcome.encode_ms = encode.ElapsedMs();
    StageTimer publish;
    Result<SectionPublisher::Outcome> published = publisher_.PublishIfChanged(abi::SectionKind::kServicesDelta, bytes);
    outcome.publish_ms = publish.ElapsedMs();
    if (!published) return published.error();
    outcome.published = published->published;
    outcome.generation = published->generation;
    if (published->published) last_delta_generation_ = published->generation;
    delta_since_base_ = true;
    return outcome;
  }
  StageTimer encode;
  std::vector<const ServicePortTables*> ports;
  ports.reserve(model_.service_port_count());
  model_.ForEachPort([&](const compile::CompiledServicePort& port) { ports.push_back(&port); });
  std::vector<uint8_t> bytes = EncodeServicesSection(ports);
  outcome.encode_ms = encode.ElapsedMs();
  StageTimer publish;
  Result<SectionPublisher::Outcome> published = publisher_.PublishIfChanged(abi::SectionKind::kServices, std::move(bytes));
  if (!published) return published.error();
  outcome.published = published->published;
  outcome.generation = published->generation;
  model_.MarkBase(published->generation);
  delta_since_base_ = false;
  last_delta_generation_ = 0;  // a refused delta is history once a new base is out
  if (!published->published) {
    // The same image as published, but a delta may still be in force on top
    // of it (e.g. published before this process restarted): withdraw it.
    std::optional<ServicesDelta> in_force = ReadPublishedDelta(publisher_.region());
    if (in_force && in_force->base_generation == published->generation &&
        (!in_force->changed.service_ports.empty() || !in_force->removed_ids.empty())) {
      Result<SectionPublisher::Outcome> withdrawn =
          publisher_.PublishIfChanged(abi::SectionKind::kServicesDelta, EncodeServicesDeltaSection(model_.Delta()));
      if (!withdrawn) return withdrawn.error();
      outcome.kind = abi::SectionKind::kServicesDelta;
      outcome.published = withdrawn->published;
      outcome.generation = withdrawn->generation;
      if (withdrawn->published) last_delta_generation_ = withdrawn->generation;
    }
  }
  outcome.publish_ms = publish.ElapsedMs();
  return outcome;
}

}  // namespace np::daemon
