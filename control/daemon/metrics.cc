#include "control/daemon/metrics.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace np::daemon {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string EscapeHelp(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i != 0) out += ',';
    out += labels[i].first + "=\"" + EscapeLabelValue(labels[i].second) + "\"";
  }
  return out + "}";
}

// "0.0001" rather than "1e-04": le labels as client libraries write them.
std::string BucketBound(double bound) {
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), bound, std::chars_format::fixed);
  return error == std::errc() ? std::string(text, end) : FormatSampleValue(bound);
}

// One family at a time: HELP and TYPE first, then its samples.
class Writer {
 public:
  void Family(const std::string& name, const char* type, const std::string& help) {
    name_ = "nodeplane_" + name;
    out_ += "# HELP " + name_ + " " + EscapeHelp(help) + "\n# TYPE " + name_ + " " + type + "\n";
  }
  void Sample(const Labels& labels, uint64_t value) { Line(name_, labels, std::to_string(value)); }
  void Sample(const Labels& labels, double value) { Line(name_, labels, FormatSampleValue(value)); }
  void HistogramSamples(Labels labels, const Histogram& histogram) {
    uint64_t cumulative = 0;
    labels.emplace_back("le", "");
    for (size_t i = 0; i < kApplyLatencyBuckets.size(); ++i) {
      cumulative += histogram.buckets[i];
      labels.back().second = BucketBound(kApplyLatencyBuckets[i]);
      Line(name_ + "_bucket", labels, std::to_string(cumulative));
    }
    labels.back().second = "+Inf";
    Line(name_ + "_bucket", labels, std::to_string(histogram.count));
    labels.pop_back();
    Line(name_ + "_sum", labels, FormatSampleValue(histogram.sum));
    Line(name_ + "_count", labels, std::to_string(histogram.count));
  }
  std::string Take() { return std::move(out_); }

 private:
  void Line(const std::string& name, const Labels& labels, const std::string& value) {
    out_ += name + FormatLabels(labels) + " " + value + "\n";
  }
  std::string name_;
  std::string out_;
};

template <class Row, class Field>
void PerPort(Writer& writer, const std::vector<Row>& rows, const std::string& name, const std::string& help,
             Field field) {
  writer.Family(name, "counter", help);
  for (const Row& row : rows) writer.Sample({{"port", row.name}}, field(row));
}

template <class Field>
void PerService(Writer& writer, const std::vector<ServicePortMetrics>& rows, const std::string& name,
                const std::string& help, Field field) {
  writer.Family(name, "counter", help);
  for (const ServicePortMetrics& row : rows)
    writer.Sample({{"namespace", row.namespace_}, {"service", row.service}, {"port", row.port}}, field(row));
}

template <class Field>
void PerLcoreCounter(Writer& writer, const std::vector<LcoreMetrics>& rows, const std::string& name,
                     const std::string& help, Field field) {
  writer.Family(name, "counter", help);
  for (const LcoreMetrics& row : rows) writer.Sample({{"lcore", std::to_string(row.lcore)}}, field(row));
}

}  // namespace

void Histogram::Observe(double value) {
  for (size_t i = 0; i < kApplyLatencyBuckets.size(); ++i) {
    if (value <= kApplyLatencyBuckets[i]) {
      ++buckets[i];
      break;
    }
  }
  ++count;
  sum += value;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  if (error != std::errc()) return "NaN";
  return std::string(text, end);
}

ServicePortMetrics SplitServicePort(const std::string& name) {
  ServicePortMetrics out;
  const size_t slash = name.find('/');
  const size_t colon = name.rfind(':');
  const size_t service_start = slash == std::string::npos ? 0 : slash + 1;
  if (slash != std::string::npos) out.namespace_ = name.substr(0, slash);
  if (colon != std::string::npos && colon >= service_start) {
    out.service = name.substr(service_start, colon - service_start);
    out.port = name.substr(colon + 1);
  } else {
    out.service = name.substr(service_start);
  }
  return out;
}

void BusyRatioTracker::Update(std::vector<LcoreMetrics>& lcores) {
  std::map<uint32_t, Sample> current;
  for (LcoreMetrics& lcore : lcores) {
    uint64_t busy = lcore.busy_cycles, total = lcore.total_cycles;
    auto found = previous_.find(lcore.lcore);
    if (found != previous_.end() && total > found->second.total_cycles && busy >= found->second.busy_cycles) {
      busy -= found->second.busy_cycles;
      total -= found->second.total_cycles;
    }
    lcore.busy_ratio = total == 0 ? 0.0 : std::min(1.0, static_cast<double>(busy) / static_cast<double>(total));
    current[lcore.lcore] = Sample{lcore.busy_cycles, lcore.total_cycles};
  }
  previous_ = std::move(current);
}

void ApplyLatencyTracker::OnPublished(abi::SectionKind kind, uint64_t generation, uint64_t published_at_ns) {
  std::lock_guard lock(mutex_);
  pending_[static_cast<uint32_t>(kind)] = Pending{generation, published_at_ns};
}

void ApplyLatencyTracker::OnRegionState(abi::SectionKind kind, uint64_t applied_generation,
                                        uint64_t applied_at_ns) {
  std::lock_guard lock(mutex_);
  std::optional<Pending>& pending = pending_[static_cast<uint32_t>(kind)];
  if (!pending || applied_generation < pending->generation) return;
  // A newer generation than ours was applied: its apply time is not ours,
  // but it bounds ours from above (ours was superseded or applied before).
  const uint64_t latency_ns = applied_at_ns > pending->published_at_ns ? applied_at_ns - pending->published_at_ns : 0;
  latency_[static_cast<uint32_t>(kind)].Observe(static_cast<double>(latency_ns) / 1e9);
  pending.reset();
}

Histogram ApplyLatencyTracker::Latency(abi::SectionKind kind) const {
  std::lock_guard lock(mutex_);
  return latency_[static_cast<uint32_t>(kind)];
}

std::string FormatMetrics(const MetricsSnapshot& s) {
  Writer w;
  w.Family("dataplane_up", "gauge", "1 when the dataplane's heartbeat is fresh (under 3 s old).");
  w.Sample({}, uint64_t{s.dataplane_up ? 1u : 0u});
  if (s.heartbeat_age_seconds >= 0) {
    w.Family("dataplane_heartbeat_age_seconds", "gauge", "Age of the dataplane loader's last heartbeat.");
    w.Sample({}, s.heartbeat_age_seconds);
  }
  w.Family("dataplane_boot_time_seconds", "gauge", "Unix time the running dataplane started (its boot epoch).");
  w.Sample({}, s.boot_time_seconds);

  // Tables: what the control plane published and what the dataplane did with it.
  w.Family("table_published_generation", "gauge", "Newest generation of each table section published.");
  for (const SectionMetrics& section : s.sections) w.Sample({{"section", section.name}}, section.published);
  w.Family("table_applied_generation", "gauge", "Newest generation of each table section the dataplane applied.");
  for (const SectionMetrics& section : s.sections) w.Sample({{"section", section.name}}, section.applied);
  w.Family("table_refused_generation", "gauge",
           "Newest generation of each table section the dataplane refused (0: none).");
  for (const SectionMetrics& section : s.sections) w.Sample({{"section", section.name}}, section.refused);
  w.Family("table_apply_latency_seconds", "histogram",
           "Time from publishing a table section to the dataplane applying it.");
  for (const SectionMetrics& section : s.sections) w.HistogramSamples({{"section", section.name}}, section.apply_latency);

  if (s.stats_available) {
    w.Family("port_up", "gauge", "1 when the port's link is up.");
    for (const PortMetrics& port : s.ports) w.Sample({{"port", port.name}}, uint64_t{port.up ? 1u : 0u});
    PerPort(w, s.ports, "port_rx_packets_total", "Packets received on the port.",
            [](const PortMetrics& p) { return p.rx_packets; });
    PerPort(w, s.ports, "port_rx_bytes_total", "Bytes received on the port.",
            [](const PortMetrics& p) { return p.rx_bytes; });
    PerPort(w, s.ports, "port_tx_packets_total", "Packets transmitted on the port.",
            [](const PortMetrics& p) { return p.tx_packets; });
    PerPort(w, s.ports, "port_tx_bytes_total", "Bytes transmitted on the port.",
            [](const PortMetrics& p) { return p.tx_bytes; });
    PerPort(w, s.ports, "port_tx_dropped_packets_total", "Packets dropped on transmit (queue full).",
            [](const PortMetrics& p) { return p.tx_dropped; });

    PerService(w, s.service_ports, "service_packets_total", "Packets forwarded for the service port.",
               [](const ServicePortMetrics& p) { return p.packets; });
    PerService(w, s.service_ports, "service_bytes_total", "Bytes forwarded for the service port.",
               [](const ServicePortMetrics& p) { return p.bytes; });
    PerService(w, s.service_ports, "service_connections_total", "New connections to the service port.",
               [](const ServicePortMetrics& p) { return p.connections; });
    PerService(w, s.service_ports, "service_no_endpoint_rejects_total",
               "Connections rejected because the service port had no endpoint.",
               [](const ServicePortMetrics& p) { return p.no_endpoint_rejects; });

    w.Family("drops_total", "counter", "Packets dropped by the dataplane, by reason.");
    for (size_t i = 0; i < s.drops.size(); ++i) w.Sample({{"reason", stats::kDropReasonNames[i]}}, s.drops[i]);

    w.Family("lcore_busy_ratio", "gauge",
             "Share of the lcore's cycles spent on packets, over the interval since the previous scrape.");
    for (const LcoreMetrics& lcore : s.lcores) w.Sample({{"lcore", std::to_string(lcore.lcore)}}, lcore.busy_ratio);
    PerLcoreCounter(w, s.lcores, "lcore_busy_cycles_total", "TSC cycles the lcore spent on packets.",
                    [](const LcoreMetrics& l) { return l.busy_cycles; });
    PerLcoreCounter(w, s.lcores, "lcore_cycles_total", "TSC cycles the lcore ran its loop.",
                    [](const LcoreMetrics& l) { return l.total_cycles; });
    PerLcoreCounter(w, s.lcores, "lcore_loops_total", "Loop iterations of the lcore.",
                    [](const LcoreMetrics& l) { return l.loops; });
    PerLcoreCounter(w, s.lcores, "lcore_busy_loops_total", "Loop iterations that handled packets.",
                    [](const LcoreMetrics& l) { return l.busy_loops; });
  }

  if (s.conntrack) {
    const ConntrackMetrics& ct = *s.conntrack;
    w.Family("conntrack_entries", "gauge", "Connections tracked now.");
    w.Sample({}, ct.entries);
    w.Family("conntrack_capacity", "gauge", "Connections the conntrack table holds at most.");
    w.Sample({}, ct.capacity);
    w.Family("conntrack_table_full_total", "counter", "New connections refused because the table was full.");
    w.Sample({}, ct.table_full);
    w.Family("conntrack_inserts_total", "counter", "Connections inserted into the table.");
    w.Sample({}, ct.inserts);
    w.Family("conntrack_early_drops_total", "counter", "Entries evicted early to make room.");
    w.Sample({}, ct.early_drops);
    w.Family("conntrack_expired_total", "counter", "Entries removed after their timeout.");
    w.Sample({}, ct.expired);
  }

  if (s.flows) {
    const FlowCollectorMetrics& flows = *s.flows;
    w.Family("flows_total", "counter", "New connections seen by the flow collector, per workload pair and verdict.");
    for (const FlowPairMetrics& pair : flows.pairs)
      w.Sample({{"verdict", pair.verdict},
                {"src_namespace", pair.src_namespace},
                {"src_workload", pair.src_workload},
                {"dst_namespace", pair.dst_namespace},
                {"dst_workload", pair.dst_workload}},
               pair.connections);
    w.Family("flow_records_total", "counter", "Flow records read from the dataplane's rings.");
    w.Sample({}, flows.records);
    w.Family("flow_records_dropped_total", "counter",
             "Flow records the dataplane dropped because a ring was full (the collector fell behind).");
    w.Sample({}, flows.records_dropped);
    w.Family("flows_active", "gauge", "Connections started and not ended, as the flow collector knows them.");
    w.Sample({}, flows.active);
  }

  w.Family("metrics_collection_errors_total", "counter", "Scrapes that could not read some dataplane memory.");
  w.Sample({}, s.collection_errors);
  return w.Take();
}

}  // namespace np::daemon

namespace np::daemon {
namespace {

constexpr auto& kMetricSections = abi::kPublishedSections;
constexpr uint64_t kHeartbeatFreshNs = 3'000'000'000ull;

}  // namespace

void MetricsRegistry::SetServicePortNames(ServicePortNames names) {
  std::lock_guard lock(mutex_);
  names_ = std::move(names);
}

void MetricsRegistry::SetFlowSource(std::function<std::optional<FlowCollectorMetrics>()> source) {
  std::lock_guard lock(mutex_);
  flow_source_ = std::move(source);
}

void MetricsRegistry::ObserveRegion() {
  for (abi::SectionKind kind : kMetricSections) {
    const uint64_t applied = region_.AppliedGeneration(kind);  // acquire: applied_at_ns is at least as new
    latency_.OnRegionState(kind, applied, region_.section(kind).applied_at_ns.load(std::memory_order_relaxed));
  }
}

MetricsSnapshot MetricsRegistry::Snapshot(uint64_t now_ns) {
  ObserveRegion();
  MetricsSnapshot snapshot;
  for (abi::SectionKind kind : kMetricSections)
    snapshot.sections.push_back(SectionMetrics{abi::SectionKindName(kind), region_.PublishedGeneration(kind),
                                               region_.AppliedGeneration(kind), region_.RefusedGeneration(kind),
                                               latency_.Latency(kind)});
  const abi::DataplaneStatus& dataplane = region_.header().dataplane;
  const uint64_t heartbeat = dataplane.heartbeat_ns.load(std::memory_order_acquire);
  if (heartbeat != 0) {
    const uint64_t age = now_ns > heartbeat ? now_ns - heartbeat : 0;
    snapshot.heartbeat_age_seconds = static_cast<double>(age) / 1e9;
    snapshot.dataplane_up = age <= kHeartbeatFreshNs;
  }
  snapshot.boot_time_seconds =
      static_cast<double>(dataplane.boot_epoch.load(std::memory_order_acquire) / 1'000'000) / 1e3;
  std::lock_guard lock(mutex_);
  if (collector_ && !collector_(names_, snapshot)) ++errors_;
  snapshot.collection_errors = errors_;
  if (flow_source_) snapshot.flows = flow_source_();
  return snapshot;
}

}  // namespace np::daemon
