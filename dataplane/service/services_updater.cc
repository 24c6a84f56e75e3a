#include "dataplane/service/services_updater.h"

namespace np {

std::optional<ServicesUpdater::Update> ServicesUpdater::Poll(const ServiceTables* current, const CounterSlotHooks& hooks,
                                                             std::string* refusal) {
  // A full section first: a delta published with it names it as its base.
  if (auto update = PollFull(current, hooks, refusal)) return update;
  return PollDelta(current, hooks, refusal);
}

std::optional<ServicesUpdater::Update> ServicesUpdater::PollFull(const ServiceTables* current,
                                                                 const CounterSlotHooks& hooks, std::string* refusal) {
  // Decoded per service port: the snapshot takes the ports' tables as they are.
  auto image = region_.TakeDecoded(abi::SectionKind::kServices, &full_seen_, DecodeServicesSectionPorts);
  if (!image) return std::nullopt;
  if (!*image) {
    if (refusal)
      *refusal = "refused services generation " + std::to_string(full_seen_) + ": " + image->error().message;
    return std::nullopt;
  }
  // A restarted dataplane meets conntrack entries stamped by its predecessor
  // (the table outlives it): start the versions somewhere they are not.
  const uint32_t first_version = static_cast<uint32_t>(RealtimeNanoseconds() >> 10) | 1u;
  return Update{ServiceTables::FromPorts(std::move(*image).value(), hooks, current, first_version),
                abi::SectionKind::kServices, full_seen_};
}

std::optional<ServicesUpdater::Update> ServicesUpdater::PollDelta(const ServiceTables* current,
                                                                  const CounterSlotHooks& hooks, std::string* refusal) {
  if (region_.section(abi::SectionKind::kServicesDelta).slot_capacity == 0) return std::nullopt;  // an older region
  if (auto delta = region_.TakeDecoded(abi::SectionKind::kServicesDelta, &delta_seen_, DecodeServicesDeltaSection)) {
    waiting_delta_.reset();
    if (!*delta) {
      if (refusal) *refusal = "refused services delta " + std::to_string(delta_seen_) + ": " + delta->error().message;
      return std::nullopt;
    }
    waiting_delta_ = std::move(*delta).value();
  }
  if (!waiting_delta_ || current == nullptr) return std::nullopt;
  if (waiting_delta_->base_generation > current->base_generation()) return std::nullopt;  // its base comes next
  const ServicesDelta delta = std::move(*waiting_delta_);
  waiting_delta_.reset();
  if (delta.base_generation < current->base_generation()) return std::nullopt;  // superseded by a newer base
  auto next = current->WithDelta(delta, hooks);
  if (!next) {
    region_.ReportRefused(abi::SectionKind::kServicesDelta, delta.generation, next.error().message);
    if (refusal) *refusal = "refused " + next.error().message;
    return std::nullopt;
  }
  return Update{std::move(next).value(), abi::SectionKind::kServicesDelta, delta.generation};
}

}  // namespace np
