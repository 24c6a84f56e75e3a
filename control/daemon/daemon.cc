#include "control/daemon/daemon.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <optional>

#include "control/daemon/health_server.h"
#include "control/daemon/control_record.h"
#include "control/daemon/health_targets.h"
#include "control/daemon/input_watch.h"
#include "control/daemon/section_publisher.h"
#include "control/flows/collector.h"

namespace np::daemon {
namespace {

constexpr auto& kSections = abi::kPublishedSections;

// Logs the dataplane's verdict on each section once per generation.
class VerdictLog {
 public:
  void Update(const TablesRegion& region, const Logger& log) {
    for (abi::SectionKind kind : kSections) {
      const auto index = static_cast<size_t>(kind);
      const uint64_t applied = region.AppliedGeneration(kind);
      const uint64_t refused = region.RefusedGeneration(kind);
      if (applied != applied_[index] && applied != 0)
        log(std::string(abi::SectionKindName(kind)) + ": the dataplane applied generation " + std::to_string(applied));
      if (refused != refused_[index] && refused != 0)
        log(std::string(abi::SectionKindName(kind)) + ": the dataplane REFUSED generation " + std::to_string(refused) + ": " +
            region.RefusalReason(kind));
      applied_[index] = applied;
      refused_[index] = refused;
    }
  }

 private:
  std::array<uint64_t, std::size(abi::kPublishedSections)> applied_{};
  std::array<uint64_t, std::size(abi::kPublishedSections)> refused_{};
};

// Since when a published generation has been waiting for the dataplane.
class PendingClock {
 public:
  uint64_t Update(const TablesRegion& region, const SectionPublisher& publisher, uint64_t now_ns) {
    bool pending = false;
    for (abi::SectionKind kind : kSections)
      pending |= region.AppliedGeneration(kind) < publisher.LastGeneration(kind);
    if (!pending) since_ns_ = 0;
    else if (since_ns_ == 0) since_ns_ = now_ns;
    return since_ns_;
  }

 private:
  uint64_t since_ns_ = 0;
};

std::string AbsolutePath(const std::filesystem::path& path) {
  std::error_code error;
  const std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return (error ? path : absolute).lexically_normal().string();
}

// Records what a reload did, for npctl (control record) and metrics.
void RecordReload(const ReloadReport& report, uint64_t started_ns, const SectionPublisher& publisher,
                  ControlRecord& record) {
  ++record.reload_seq;
  record.reload_started_ns = started_ns;
  record.reload_finished_ns = RealtimeNanoseconds();
  record.published.clear();
  for (abi::SectionKind kind : kSections) record.generations[abi::SectionKindName(kind)] = publisher.LastGeneration(kind);
  for (const SectionResult& section : report.sections)
    if (section.published) record.published.push_back(abi::SectionKindName(section.kind));
  record.errors = report.errors;
  record.warnings = report.warnings;
}

// Drains the flow rings often enough that a ring of kRingRecords holds
// the records of a busy interval, without spinning.
constexpr std::chrono::milliseconds kFlowPollInterval(150);

std::shared_ptr<const flows::IdentityResolver> MakeResolver(const ReloadPipeline& pipeline) {
  flows::NodeIdentity node;
  if (pipeline.node_config()) {
    const abi::NodeInfo& info = pipeline.node_config()->info;
    node.name = pipeline.node_config()->node_name;
    for (uint32_t i = 0; i < info.node_ipv4_count && i < abi::kMaxNodeAddresses; ++i)
      node.addresses.push_back(info.node_ipv4[i]);
  }
  return std::make_shared<flows::IdentityResolver>(pipeline.cluster(), std::move(node), pipeline.ServicePortNames());
}

std::optional<FlowCollectorMetrics> FlowMetricsOf(const flows::FlowCollector& collector) {
  const flows::FlowMetrics metrics = collector.Metrics();
  if (!metrics.attached) return std::nullopt;
  FlowCollectorMetrics out;
  for (const auto& [key, count] : metrics.flows_total)
    out.pairs.push_back(FlowPairMetrics{key[0], key[1], key[2], key[3], key[4], count});
  out.records = metrics.records;
  out.records_dropped = metrics.records_dropped;
  out.active = metrics.active;
  return out;
}

uint64_t LastAppliedNs(const TablesRegion& region) {
  uint64_t last = 0;
  for (abi::SectionKind kind : kSections)
    last = std::max(last, region.section(kind).applied_at_ns.load(std::memory_order_acquire));
  return last;
}

}  // namespace

void LogReport(const ReloadReport& report, const Logger& log) {
  for (const std::string& error : report.errors) log("error: " + error);
  for (const std::string& warning : report.warnings) log("warning: " + warning);
  log(report.Summary());
}

Status WaitAppliedAll(const TablesRegion& region, const std::vector<SectionResult>& sections,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const SectionResult& section : sections) {
    const auto left = std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                 deadline - std::chrono::steady_clock::now()));
    if (Status status = region.WaitApplied(section.kind, section.generation, left); !status)
      return MakeError(std::string(abi::SectionKindName(section.kind)) + " section: " + status.error().message);
  }
  return Ok{};
}

int RunOnce(const DaemonOptions& options, const PipelineInputs& inputs, const Logger& log) {
  Result<TablesRegion> region = TablesRegion::OpenOrCreate(options.instance, DefaultRegionLayout());
  if (!region) {
    log("error: " + region.error().message);
    return 1;
  }
  SectionPublisher publisher(*region);
  ReloadPipeline pipeline(inputs, publisher);
  const ReloadReport report = pipeline.Run();
  LogReport(report, log);
  // Node, services (a full section or a delta) and policy.
  if (report.sections.size() != std::size(kSections) - 1) {
    log("error: nothing consistent to publish (see the errors above)");
    return 1;
  }
  if (Status status = WaitAppliedAll(*region, report.sections, std::chrono::milliseconds(options.timeout_ms));
      !status) {
    log("error: " + status.error().message);
    return 1;
  }
  std::string applied = "applied:";
  for (const SectionResult& section : report.sections)
    applied += std::string(" ") + abi::SectionKindName(section.kind) + " generation " + std::to_string(section.generation);
  log(applied);
  return 0;  // applied; load errors were printed above and kept the last good objects
}

int RunWatch(const DaemonOptions& options, const PipelineInputs& inputs, const WaitFunction& wait,
             const DataplaneCollector& collector, const Logger& log) {
  Result<TablesRegion> region = TablesRegion::OpenOrCreate(options.instance, DefaultRegionLayout());
  if (!region) {
    log("error: " + region.error().message);
    return 1;
  }
  SectionPublisher publisher(*region);
  ReloadPipeline pipeline(inputs, publisher);
  InputWatch watch(inputs.node_config, inputs.manifests);
  MetricsRegistry metrics(*region, collector);
  flows::FlowCollector flow_collector(flows::FlowCollectorOptions{options.instance, options.run_dir});
  metrics.SetFlowSource([&flow_collector] { return FlowMetricsOf(flow_collector); });

  // Declared after the region and the registry: its thread stops first.
  std::unique_ptr<HealthServer> health;
  if (options.healthz || options.metrics) {
    health = std::make_unique<HealthServer>(HealthServerOptions{options.healthz_bind_address, log});
    if (options.metrics)
      health->SetMetrics(options.metrics_address, options.metrics_port, [&metrics] { return metrics.Render(); });
    if (Status started = health->Start(); !started) {
      log("warning: " + started.error().message + " (health checks and metrics disabled)");
      health.reset();
    }
  }
  const bool healthz = health && options.healthz;

  const pid_t pid = getpid();
  const std::filesystem::path record_path = ControlRecordPath(options.run_dir, options.instance);
  ControlRecord record;
  record.pid = pid;
  record.instance = options.instance;
  record.node_config = AbsolutePath(inputs.node_config);
  record.manifests = AbsolutePath(inputs.manifests);
  if (health && health->MetricsPort() != 0)
    record.metrics = options.metrics_address + ":" + std::to_string(health->MetricsPort());
  record.started_ns = RealtimeNanoseconds();
  auto write_record = [&] {
    if (Status written = WriteControlRecord(record_path, record); !written)
      log("warning: control record for npctl: " + written.error().message);
  };
  write_record();

  // Declared after the collector and the registry: its thread stops first.
  flows::FlowCollectorThread flow_thread(flow_collector, kFlowPollInterval);
  VerdictLog verdicts;
  PendingClock pending;
  std::optional<uint16_t> healthz_port;
  log("watching " + inputs.node_config.string() + " and " + inputs.manifests.string() + " (instance " +
      options.instance + ", control record " + record_path.string() + ")");
  Wake woke = Wake::kTimeout;
  do {
    bool reload = watch.Changed();
    if (woke == Wake::kReload) {
      log("SIGHUP: reloading the inputs");
      reload = true;
    }
    if (publisher.CheckDataplaneRestart()) {
      log("the dataplane restarted (pid " + std::to_string(region->header().dataplane.pid.load()) +
          "): republishing every section");
      reload = true;
    }
    if (reload) {
      const uint64_t started = RealtimeNanoseconds();
      const ReloadReport report = pipeline.Run();
      LogReport(report, log);
      for (const SectionResult& section : report.sections)
        if (section.published)
          metrics.latency().OnPublished(section.kind, section.generation,
                                        publisher.LastPublishedAtNs(section.kind));
      metrics.SetServicePortNames(pipeline.ServicePortNames());
      flow_collector.SetResolver(MakeResolver(pipeline));
      RecordReload(report, started, publisher, record);
      write_record();
      if (healthz && pipeline.node_config() && healthz_port != pipeline.node_config()->info.healthz_port) {
        healthz_port = pipeline.node_config()->info.healthz_port;
        health->SetHealthzPort(*healthz_port);
      }
      if (healthz && pipeline.node_config()) health->SetServices(ServiceHealthChecks(pipeline.services_model()));
    }
    verdicts.Update(*region, log);
    for (const std::string& message : flow_collector.TakeLog()) log(message);
    metrics.ObserveRegion();
    const uint64_t now = RealtimeNanoseconds();
    const uint64_t pending_since = pending.Update(*region, publisher, now);
    if (healthz)
      health->SetProxyHealth(AssessProxyHealth(now, region->header().dataplane.heartbeat_ns.load(),
                                               LastAppliedNs(*region), pending_since));
    woke = wait(options.poll_interval_ms);
  } while (woke != Wake::kTerminate);
  RemoveControlRecord(record_path, pid);
  log("terminating; the dataplane keeps forwarding with the tables it applied");
  return 0;
}

}  // namespace np::daemon
