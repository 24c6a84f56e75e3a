#include "control/cli/collect.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "control/daemon/section_publisher.h"
#include "control/daemon/services_sync.h"

namespace np::cli {
namespace {

uint32_t BlockCount(const stats::StatsHeader& stats) { return std::min(stats.lcore_count, stats::kMaxLcores); }

uint64_t Load(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

std::string SlotNameText(const stats::SlotName& slot) {
  return std::string(slot.name, strnlen(slot.name, stats::kNameLength));
}

}  // namespace

Result<TablesRegion> OpenTablesRegion(const std::string& instance) {
  const std::string path = "/dev/shm" + ShmName(instance, "tables");
  Result<TablesRegion> region = TablesRegion::Open(instance);
  if (!region && !std::filesystem::exists(path)) return MakeError("nodeplane is not running (no " + path + ")");
  return region;
}

Result<ServicesImage> ReadPublishedServices(const TablesRegion& region) {
  if (region.PublishedGeneration(abi::SectionKind::kServices) == 0)
    return MakeError("no services section has been published yet (is nodeplane-control running?)");
  // The published base with the published delta on top (services_sync.h).
  std::optional<ServicesImage> state = daemon::ReadPublishedServicesState(region);
  if (!state) return MakeError("could not copy the published services section (it kept changing or is corrupted); try again");
  return std::move(*state);
}

StatusView CollectStatus(const std::string& instance, const TablesRegion& region, const StatsRegion* stats) {
  StatusView view;
  view.instance = instance;
  for (abi::SectionKind kind : abi::kPublishedSections) {
    view.sections.push_back(SectionStatus{abi::SectionKindName(kind), region.PublishedGeneration(kind),
                                          region.AppliedGeneration(kind), region.RefusedGeneration(kind),
                                          region.RefusedGeneration(kind) != 0 ? region.RefusalReason(kind) : "",
                                          region.section(kind).applied_at_ns.load(std::memory_order_acquire)});
  }
  const abi::DataplaneStatus& dataplane = region.header().dataplane;
  view.dataplane_pid = dataplane.pid.load(std::memory_order_relaxed);
  view.boot_epoch_ns = dataplane.boot_epoch.load(std::memory_order_acquire);
  view.heartbeat_ns = dataplane.heartbeat_ns.load(std::memory_order_acquire);
  view.now_ns = RealtimeNanoseconds();
  if (stats == nullptr) return view;
  view.stats_available = true;
  const stats::StatsHeader& header = stats->header();
  view.ports = CollectPorts(header);
  for (uint32_t block = 0; block < BlockCount(header); ++block) {
    const stats::LcoreCounters& lcore = header.lcores[block];
    const double cycles_per_us = header.tsc_hz == 0 ? 0.0 : static_cast<double>(header.tsc_hz) / 1e6;
    auto microseconds = [&](uint64_t cycles) { return cycles_per_us == 0 ? 0.0 : static_cast<double>(cycles) / cycles_per_us; };
    view.lcores.push_back(LcoreStatus{header.worker_lcores[block].load(std::memory_order_relaxed), Load(lcore.loops),
                                      Load(lcore.busy_loops), Load(lcore.busy_cycles), Load(lcore.total_cycles),
                                      microseconds(Load(lcore.longest_loop_cycles)),
                                      microseconds(Load(lcore.longest_swap_loop_cycles))});
  }
  return view;
}

std::vector<PortStatus> CollectPorts(const stats::StatsHeader& stats) {
  std::vector<PortStatus> ports;
  for (uint32_t slot = 0; slot < stats::kMaxPorts; ++slot) {
    const stats::SlotName& name = stats.ports[slot];
    if (name.in_use.load(std::memory_order_acquire) == 0) continue;
    PortStatus port{SlotNameText(name), name.state.load(std::memory_order_relaxed) == 1};
    for (uint32_t block = 0; block < BlockCount(stats); ++block) {
      const stats::PortCounters& counters = stats.lcores[block].ports[slot];
      port.rx_packets += Load(counters.rx_packets);
      port.rx_bytes += Load(counters.rx_bytes);
      port.tx_packets += Load(counters.tx_packets);
      port.tx_bytes += Load(counters.tx_bytes);
      port.tx_dropped += Load(counters.tx_dropped);
    }
    ports.push_back(std::move(port));
  }
  std::sort(ports.begin(), ports.end(), [](const PortStatus& a, const PortStatus& b) { return a.name < b.name; });
  return ports;
}

std::map<uint32_t, ServiceCounterSums> CollectServiceCounters(const stats::StatsHeader& stats) {
  std::map<uint32_t, ServiceCounterSums> sums;
  for (uint32_t slot = 0; slot < stats::kMaxServicePorts; ++slot) {
    const stats::SlotName& name = stats.service_ports[slot];
    if (name.in_use.load(std::memory_order_acquire) == 0) continue;
    ServiceCounterSums& sum = sums[name.id];
    for (uint32_t block = 0; block < BlockCount(stats); ++block) {
      const stats::ServiceCounters& counters = stats.lcores[block].service_ports[slot];
      sum.packets += Load(counters.packets);
      sum.bytes += Load(counters.bytes);
      sum.connections += Load(counters.new_connections);
      sum.no_endpoint_rejects += Load(counters.no_endpoint_rejects);
    }
  }
  return sums;
}

CountersView CollectCounters(const stats::StatsHeader* stats, const ct::Table* conntrack) {
  CountersView view;
  if (stats != nullptr) {
    for (uint32_t block = 0; block < BlockCount(*stats); ++block) {
      const stats::LcoreCounters& lcore = stats->lcores[block];
      for (size_t i = 0; i < view.drops.size(); ++i) view.drops[i] += Load(lcore.drops[i]);
      view.conntrack_hits += Load(lcore.conntrack_hits);
      for (const stats::PortCounters& port : lcore.ports) view.rx_packets += Load(port.rx_packets);
      view.conntrack_inserts += Load(lcore.conntrack_inserts);
      view.conntrack_early_drops += Load(lcore.conntrack_early_drops);
      view.arp_replies += Load(lcore.arp_replies);
      view.arp_requests += Load(lcore.arp_requests);
      view.icmp_generated += Load(lcore.icmp_generated);
      view.to_host += Load(lcore.to_host);
      view.from_host += Load(lcore.from_host);
      view.fragments += Load(lcore.fragments);
      view.policy_allowed_connections += Load(lcore.policy_allowed_connections);
      view.policy_denied_packets += Load(lcore.policy_denied_packets);
      view.policy_would_deny_connections += Load(lcore.policy_would_deny_connections);
    }
  }
  if (conntrack != nullptr) view.conntrack = conntrack->ReadCounters();
  return view;
}

uint32_t ConntrackClockSeconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint32_t>(now.tv_sec);
}

}  // namespace np::cli
