// nodeplane-control: compiles node config + Kubernetes manifests into
// tables, publishes them to the dataplane, serves kube-proxy health checks.
#include <cstdio>
#include <ctime>
#include <string>

#include "common/allocator_tuning.h"
#include "control/daemon/daemon.h"
#include "control/daemon/metrics_collect.h"

namespace {

void LogLine(const std::string& line) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm local{};
  localtime_r(&now.tv_sec, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &local);
  std::fprintf(stderr, "%s.%03ld nodeplane-control: %s\n", stamp, now.tv_nsec / 1000000, line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace np::daemon;
  np::KeepTableMemoryMapped();
  np::Result<DaemonOptions> options = ParseDaemonOptions(argc, argv);
  if (!options) {
    const bool help = options.error().message == "help";
    if (!help) std::fprintf(stderr, "nodeplane-control: %s\n", options.error().message.c_str());
    std::fputs(kDaemonUsage, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  PipelineInputs inputs{options->node_config, options->manifests};
  inputs.last_good_manifests = std::filesystem::path(options->run_dir) / (options->instance + ".last-good");
  if (options->once) return RunOnce(*options, inputs, LogLine);
  // Before any thread starts, so every thread inherits the blocked mask.
  np::Result<TerminationSignals> signals = TerminationSignals::Install();
  if (!signals) {
    LogLine("error: " + signals.error().message);
    return 1;
  }
  const TerminationSignals& wake = *signals;
  return RunWatch(
      *options, inputs, [&wake](int timeout_ms) { return wake.Wait(timeout_ms); },
      MakeShmCollector(options->instance), LogLine);
}
