// Takes the services and services-delta sections from the tables region and
// builds the next ServiceTables snapshot: DPDK-free, so that the loader and
// the update benchmark run the same code.
//
// A delta is applied only on top of the base it names: one published before
// its base is applied waits (decoded, not re-read) for the base; one whose
// base was already replaced by a newer full section is dropped unreported
// (the control plane published that full section after it and waits for it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/section_image.h"
#include "common/shm_region.h"
#include "dataplane/service/service_tables.h"

namespace np {

class ServicesUpdater {
 public:
  explicit ServicesUpdater(const TablesRegion& region) : region_(region) {}

  struct Update {
    std::unique_ptr<ServiceTables> tables;
    abi::SectionKind kind;  // kServices or kServicesDelta
    uint64_t generation;    // of that section
  };
  // The next snapshot when a new section applies to `current`, else nullopt.
  // A section that fails validation or does not fit is reported refused to
  // the region (and described in *refusal) and `current` stays in force.
  std::optional<Update> Poll(const ServiceTables* current, const CounterSlotHooks& hooks, std::string* refusal);
  // After the snapshot is live: writes the applied generation back.
  void ReportApplied(const Update& update) const { region_.ReportApplied(update.kind, update.generation); }

 private:
  std::optional<Update> PollFull(const ServiceTables* current, const CounterSlotHooks& hooks, std::string* refusal);
  std::optional<Update> PollDelta(const ServiceTables* current, const CounterSlotHooks& hooks, std::string* refusal);

  const TablesRegion& region_;
  uint64_t full_seen_ = 0;
  uint64_t delta_seen_ = 0;
  std::optional<ServicesDelta> waiting_delta_;  // decoded, its base not applied yet
};

}  // namespace np
