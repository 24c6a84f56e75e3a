#include "dataplane/flows/sweep_reporter.h"

namespace np::flows {

ct::SweepResult SweepReporter::Sweep(uint32_t now_s, uint32_t max_entries) {
  if (!emitter_.enabled()) return table_.Sweep(now_s, max_entries);
  now_s_ = now_s;
  emitter_.BeginBurst();
  const ct::SweepObserver observer{this, &SweepReporter::OnExpired, &SweepReporter::OnLive};
  return table_.Sweep(now_s, max_entries, &observer);
}

void SweepReporter::OnExpired(void* context, uint32_t entry) {
  auto& self = *static_cast<SweepReporter*>(context);
  self.emitter_.End(self.table_, entry, EndReason::kExpired);
}

void SweepReporter::OnLive(void* context, uint32_t entry) {
  auto& self = *static_cast<SweepReporter*>(context);
  std::atomic<uint16_t>& last_report = self.table_.At(entry).last_report_s;
  // 16 bits of seconds: the difference is right modulo 18 hours, which is
  // all an interval of seconds needs.
  const auto since = static_cast<uint16_t>(static_cast<uint16_t>(self.now_s_) - last_report.load(std::memory_order_relaxed));
  if (since < kUpdateIntervalSeconds) return;
  last_report.store(static_cast<uint16_t>(self.now_s_), std::memory_order_relaxed);
  self.emitter_.Update(self.table_, entry);
}

}  // namespace np::flows
