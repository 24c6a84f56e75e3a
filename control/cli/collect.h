// Reading the dataplane's shared memory for npctl: the tables region (read
// without claiming: only the dataplane claims), the stats region (per-lcore
// counters summed here) and the conntrack table (observed read-only).
#pragma once

#include <map>
#include <string>

#include "common/result.h"
#include "common/shm_region.h"
#include "control/cli/views.h"
#include "dataplane/runtime/stats_region.h"

namespace np::cli {

// The error says "nodeplane is not running (no /dev/shm/nodeplane.<instance>.tables)"
// when the region does not exist.
Result<TablesRegion> OpenTablesRegion(const std::string& instance);

// The published services image, decoded (retried on a torn copy).
Result<ServicesImage> ReadPublishedServices(const TablesRegion& region);

StatusView CollectStatus(const std::string& instance, const TablesRegion& region, const StatsRegion* stats);
std::vector<PortStatus> CollectPorts(const stats::StatsHeader& stats);
std::map<uint32_t, ServiceCounterSums> CollectServiceCounters(const stats::StatsHeader& stats);
CountersView CollectCounters(const stats::StatsHeader* stats, const ct::Table* conntrack);

uint32_t ConntrackClockSeconds();  // the dataplane's conntrack clock: CLOCK_MONOTONIC seconds

}  // namespace np::cli
