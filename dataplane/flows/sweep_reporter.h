// Flow records from the conntrack sweeper (main lcore): kEnd for the entries
// that expire, and kUpdate for long connections - at most one per entry
// every kUpdateIntervalSeconds, so a collector sees counters of a
// connection that lasts hours before it ends.
#pragma once

#include <cstdint>

#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_emitter.h"

namespace np::flows {

inline constexpr uint32_t kUpdateIntervalSeconds = 10;

class SweepReporter {
 public:
  SweepReporter(FlowEmitter& emitter, const ct::Table& table) : emitter_(emitter), table_(table) {}

  // Sweeps like Table::Sweep and reports what it saw when the emitter is
  // enabled.
  ct::SweepResult Sweep(uint32_t now_s, uint32_t max_entries);

 private:
  static void OnExpired(void* context, uint32_t entry);
  static void OnLive(void* context, uint32_t entry);

  FlowEmitter& emitter_;
  const ct::Table& table_;
  uint32_t now_s_ = 0;
};

}  // namespace np::flows
