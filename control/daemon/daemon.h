// The control-plane process: reload pipeline + watch loop + health checks.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/shm_region.h"
#include "control/daemon/metrics.h"
#include "control/daemon/options.h"
#include "control/daemon/reload_pipeline.h"
#include "control/daemon/signals.h"

namespace np::daemon {

using Logger = std::function<void(const std::string&)>;

// Prints a reload's errors, warnings and summary line.
void LogReport(const ReloadReport& report, const Logger& log);

// Waits until the dataplane applied the last generation of every section in
// `sections`, sharing one deadline. The error says which section failed and
// why (the dataplane's refusal reason, or the timeout).
Status WaitAppliedAll(const TablesRegion& region, const std::vector<SectionResult>& sections,
                      std::chrono::milliseconds timeout);

// --once: publish, wait, report. Returns the process exit code.
int RunOnce(const DaemonOptions& options, const PipelineInputs& inputs, const Logger& log);

// Waits up to its argument (ms) for a stop or reload request.
using WaitFunction = std::function<Wake(int timeout_ms)>;

// Watches the inputs until `wait` says stop, reloading on change and on
// Wake::kReload (SIGHUP); serves health checks and metrics (`collector`
// fills the dataplane's part of a scrape; empty: control-plane metrics only);
// keeps the control record (control_record.h) for npctl. Returns the exit code.
int RunWatch(const DaemonOptions& options, const PipelineInputs& inputs, const WaitFunction& wait,
             const DataplaneCollector& collector, const Logger& log);

}  // namespace np::daemon
