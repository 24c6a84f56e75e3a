// Prometheus metrics of nodeplane, served by nodeplane-control on
// --metrics-address (default 0.0.0.0:10249, kube-proxy's metrics port, so
// existing scrape configs keep working) at GET /metrics, in the text
// exposition format 0.0.4.
//
// What a scrape shows is plain data (MetricsSnapshot): the dataplane's part
// is read from its shared memory by a collector injected into the daemon
// (metrics_collect.h, it needs the dataplane's shm-file library); the
// control plane's part (generations published, apply latency) is kept here.
// FormatMetrics() is a pure function of the snapshot.
//
// Families (all prefixed nodeplane_):
//   port_{rx,tx}_{packets,bytes}_total, port_tx_dropped_packets_total, port_up   {port}
//   service_{packets,bytes,connections,no_endpoint_rejects}_total      {namespace,service,port}
//   conntrack_entries, conntrack_capacity, conntrack_table_full_total, conntrack_{inserts,early_drops,expired}_total
//   drops_total                                                          {reason}
//   table_{published,applied,refused}_generation                         {section}
//   table_apply_latency_seconds (histogram: publish -> applied)           {section}
//   lcore_busy_ratio (since the previous collection), lcore_{busy_,}cycles_total, lcore_{busy_,}loops_total {lcore}
//   dataplane_up, dataplane_heartbeat_age_seconds, dataplane_boot_time_seconds
//   metrics_collection_errors_total
//   flows_total {verdict,src_namespace,src_workload,dst_namespace,dst_workload}  new connections (flow collector)
//   flow_records_total, flow_records_dropped_total, flows_active            (when the flows region is attached)
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/shm_abi.h"
#include "common/shm_region.h"
#include "common/stats_abi.h"

namespace np::daemon {

// Upper bounds (seconds) of the apply-latency buckets; +Inf is implied.
inline constexpr std::array<double, 14> kApplyLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

struct Histogram {
  std::array<uint64_t, kApplyLatencyBuckets.size()> buckets{};  // per bucket, not cumulative
  uint64_t count = 0;  // includes observations above the last bound
  double sum = 0;
  void Observe(double value);
};

struct PortMetrics {
  std::string name;
  bool up = false;
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, tx_dropped = 0;
};

struct ServicePortMetrics {
  std::string namespace_, service, port;  // from "namespace/service:port"
  uint64_t packets = 0, bytes = 0, connections = 0, no_endpoint_rejects = 0;
};

struct LcoreMetrics {
  uint32_t lcore = 0;
  uint64_t loops = 0, busy_loops = 0, busy_cycles = 0, total_cycles = 0;
  double busy_ratio = 0;  // over the interval since the previous collection
};

struct ConntrackMetrics {
  uint64_t entries = 0, capacity = 0, table_full = 0, inserts = 0, early_drops = 0, expired = 0;
};

struct SectionMetrics {
  std::string name;  // "node", "services"
  uint64_t published = 0, applied = 0, refused = 0;
  Histogram apply_latency;
};

// New connections between two workloads with one verdict (workloads, not
// pods; "external" and "node" rather than addresses: the label cardinality
// stays bounded by the deployment's shape).
struct FlowPairMetrics {
  std::string verdict, src_namespace, src_workload, dst_namespace, dst_workload;
  uint64_t connections = 0;
};

struct FlowCollectorMetrics {
  std::vector<FlowPairMetrics> pairs;
  uint64_t records = 0, records_dropped = 0, active = 0;
};

struct MetricsSnapshot {
  bool stats_available = false;  // the dataplane's stats region exists
  std::vector<PortMetrics> ports;
  std::vector<ServicePortMetrics> service_ports;
  std::vector<LcoreMetrics> lcores;
  std::array<uint64_t, static_cast<size_t>(stats::DropReason::kCount)> drops{};
  std::optional<ConntrackMetrics> conntrack;  // nullopt: no conntrack table
  std::vector<SectionMetrics> sections;
  bool dataplane_up = false;
  double heartbeat_age_seconds = -1;  // < 0: never seen
  double boot_time_seconds = 0;       // unix time of the dataplane's start, 0: never
  uint64_t collection_errors = 0;
  std::optional<FlowCollectorMetrics> flows;  // nullopt: the flows region is not attached
};

// The text exposition format 0.0.4: "# HELP", "# TYPE", then samples.
std::string FormatMetrics(const MetricsSnapshot& snapshot);
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Helpers of the format (tested on their own).
std::string EscapeLabelValue(const std::string& value);  // \ " and newline
std::string FormatSampleValue(double value);              // shortest round trip, +Inf, -Inf, NaN

// "ns/svc:port" -> {ns, svc, port}; a name without '/' or ':' keeps what it has.
ServicePortMetrics SplitServicePort(const std::string& name);

// busy_ratio of each lcore over the interval since the previous call (the
// cumulative ratio on the first call or after a counter reset).
class BusyRatioTracker {
 public:
  void Update(std::vector<LcoreMetrics>& lcores);

 private:
  struct Sample {
    uint64_t busy_cycles = 0, total_cycles = 0;
  };
  std::map<uint32_t, Sample> previous_;
};

// The control plane's half of the metrics: generations and apply latency,
// fed by the watch loop, read by the metrics server thread (thread-safe).
// Latency = the dataplane's applied_at_ns - the publication's time (both
// CLOCK_REALTIME on this node), observed once per published generation
// when the control plane sees it applied. A generation superseded before
// it was applied is not observed (its successor is).
class ApplyLatencyTracker {
 public:
  void OnPublished(abi::SectionKind kind, uint64_t generation, uint64_t published_at_ns);
  // Call with what the region says; records the latency once per generation.
  void OnRegionState(abi::SectionKind kind, uint64_t applied_generation, uint64_t applied_at_ns);
  Histogram Latency(abi::SectionKind kind) const;

 private:
  struct Pending {
    uint64_t generation = 0;
    uint64_t published_at_ns = 0;
  };
  mutable std::mutex mutex_;
  std::array<std::optional<Pending>, abi::kMaxSections> pending_;
  std::array<Histogram, abi::kMaxSections> latency_;
};

// Stable service-port id -> "namespace/service:port" (the compiled services).
using ServicePortNames = std::map<uint32_t, std::string>;
// Fills the dataplane's part of a snapshot (stats, conntrack); returns false
// when some memory could not be read. Called on the metrics server thread.
using DataplaneCollector = std::function<bool(const ServicePortNames& names, MetricsSnapshot& snapshot)>;

// Everything a scrape needs, shared by the watch loop (writer) and the
// metrics server thread (Render). Thread-safe.
class MetricsRegistry {
 public:
  MetricsRegistry(const TablesRegion& region, DataplaneCollector collector)
      : region_(region), collector_(std::move(collector)) {}
  ApplyLatencyTracker& latency() { return latency_; }
  void SetServicePortNames(ServicePortNames names);
  // Fills MetricsSnapshot::flows on each scrape (the flow collector).
  void SetFlowSource(std::function<std::optional<FlowCollectorMetrics>()> source);
  // Feeds the latency tracker with what the region says now.
  void ObserveRegion();
  MetricsSnapshot Snapshot(uint64_t now_ns);
  std::string Render() { return FormatMetrics(Snapshot(RealtimeNanoseconds())); }

 private:
  const TablesRegion& region_;
  DataplaneCollector collector_;
  ApplyLatencyTracker latency_;
  std::mutex mutex_;  // names_, errors_ and the collector's state
  ServicePortNames names_;
  uint64_t errors_ = 0;
  std::function<std::optional<FlowCollectorMetrics>()> flow_source_;
};

}  // namespace np::daemon
