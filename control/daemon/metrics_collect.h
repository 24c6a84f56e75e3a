// The dataplane's half of a metrics scrape: per-lcore counters summed from
// its stats region and the conntrack table's counters, read from shared
// memory (both files are reopened per scrape: a restarted dataplane
// recreates them). Needs the dataplane's DPDK-free shm-file library, so it
// is linked into nodeplane-control and injected into the daemon as a
// DataplaneCollector (control/daemon/metrics.h).
#pragma once

#include <memory>
#include <string>

#include "control/daemon/metrics.h"

namespace np {
class StatsRegion;
}

namespace np::daemon {

// Fills the stats and conntrack parts of `snapshot`; service-port names come
// from `names` (the compiled services, by stable id), else from the stats
// slot directory. Returns false when some memory could not be read (a
// dataplane that never ran is not an error: its parts stay empty).
bool CollectStatsMetrics(const stats::StatsHeader& stats, const ServicePortNames& names, MetricsSnapshot& snapshot);

// A DataplaneCollector over the shared memory of `instance`. Keeps the
// previous lcore sample to compute busy ratios between scrapes.
DataplaneCollector MakeShmCollector(const std::string& instance);

}  // namespace np::daemon
