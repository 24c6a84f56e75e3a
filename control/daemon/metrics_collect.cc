#include "control/daemon/metrics_collect.h"

#include <algorithm>
#include <tuple>
#include <cstring>
#include <filesystem>
#include <memory>

#include "dataplane/runtime/conntrack_memory.h"
#include "dataplane/runtime/stats_region.h"

namespace np::daemon {
namespace {

uint64_t Load(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

std::string SlotNameText(const stats::SlotName& slot) {
  return std::string(slot.name, strnlen(slot.name, stats::kNameLength));
}

}  // namespace

bool CollectStatsMetrics(const stats::StatsHeader& stats, const ServicePortNames& names, MetricsSnapshot& snapshot) {
  snapshot.stats_available = true;
  const uint32_t blocks = std::min(stats.lcore_count, stats::kMaxLcores);
  for (uint32_t slot = 0; slot < stats::kMaxPorts; ++slot) {
    const stats::SlotName& name = stats.ports[slot];
    if (name.in_use.load(std::memory_order_acquire) == 0) continue;
    PortMetrics port{SlotNameText(name), name.state.load(std::memory_order_relaxed) == 1};
    for (uint32_t block = 0; block < blocks; ++block) {
      const stats::PortCounters& counters = stats.lcores[block].ports[slot];
      port.rx_packets += Load(counters.rx_packets);
      port.rx_bytes += Load(counters.rx_bytes);
      port.tx_packets += Load(counters.tx_packets);
      port.tx_bytes += Load(counters.tx_bytes);
      port.tx_dropped += Load(counters.tx_dropped);
    }
    snapshot.ports.push_back(std::move(port));
  }
  std::sort(snapshot.ports.begin(), snapshot.ports.end(),
            [](const PortMetrics& a, const PortMetrics& b) { return a.name < b.name; });

  // By id: a slot directory that overflowed shares its last slot; sum per id.
  std::map<uint32_t, ServicePortMetrics> by_id;
  for (uint32_t slot = 0; slot < stats::kMaxServicePorts; ++slot) {
    const stats::SlotName& name = stats.service_ports[slot];
    if (name.in_use.load(std::memory_order_acquire) == 0) continue;
    auto [it, inserted] = by_id.try_emplace(name.id);
    if (inserted) {
      auto named = names.find(name.id);
      it->second = SplitServicePort(named != names.end() ? named->second : SlotNameText(name));
    }
    for (uint32_t block = 0; block < blocks; ++block) {
      const stats::ServiceCounters& counters = stats.lcores[block].service_ports[slot];
      it->second.packets += Load(counters.packets);
      it->second.bytes += Load(counters.bytes);
      it->second.connections += Load(counters.new_connections);
      it->second.no_endpoint_rejects += Load(counters.no_endpoint_rejects);
    }
  }
  for (auto& [id, service_port] : by_id) snapshot.service_ports.push_back(std::move(service_port));
  std::sort(snapshot.service_ports.begin(), snapshot.service_ports.end(),
            [](const ServicePortMetrics& a, const ServicePortMetrics& b) {
              return std::tie(a.namespace_, a.service, a.port) < std::tie(b.namespace_, b.service, b.port);
            });

  for (uint32_t block = 0; block < blocks; ++block) {
    const stats::LcoreCounters& lcore = stats.lcores[block];
    for (size_t i = 0; i < snapshot.drops.size(); ++i) snapshot.drops[i] += Load(lcore.drops[i]);
    snapshot.lcores.push_back(LcoreMetrics{stats.worker_lcores[block].load(std::memory_order_relaxed),
                                           Load(lcore.loops), Load(lcore.busy_loops), Load(lcore.busy_cycles),
                                           Load(lcore.total_cycles)});
  }
  return true;
}

DataplaneCollector MakeShmCollector(const std::string& instance) {
  auto busy = std::make_shared<BusyRatioTracker>();
  return [instance, busy](const ServicePortNames& names, MetricsSnapshot& snapshot) {
    bool ok = true;
    if (Result<StatsRegion> stats = StatsRegion::Open(instance)) {
      ok &= CollectStatsMetrics(stats->header(), names, snapshot);
      busy->Update(snapshot.lcores);
    } else if (std::filesystem::exists("/dev/shm" + ShmName(instance, "stats"))) {
      ok = false;  // there but unreadable (truncated, another format)
    }
    if (Result<ConntrackMemory> conntrack = ConntrackMemory::Observe(instance)) {
      const ct::CtCounters counters = conntrack->table().ReadCounters();
      snapshot.conntrack = ConntrackMetrics{counters.entries, counters.capacity, counters.table_full,
                                            counters.inserts, counters.early_drops, counters.expired};
    } else if (std::filesystem::exists("/dev/shm" + ShmName(instance, "conntrack"))) {
      ok = false;
    }
    return ok;
  };
}

}  // namespace np::daemon
