// Command line of nodeplane-control.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace np::daemon {

struct DaemonOptions {
  std::string node_config;
  std::string manifests;
  std::string instance = "default";
  bool once = false;
  int timeout_ms = 10000;  // --once: how long to wait for the dataplane
  bool healthz = true;
  std::string healthz_bind_address = "0.0.0.0";
  int poll_interval_ms = 300;
  // Prometheus metrics (GET /metrics). 10249 is kube-proxy's metrics port:
  // nodeplane replaces kube-proxy, so scrape configs keep working.
  bool metrics = true;
  std::string metrics_address = "0.0.0.0";
  uint16_t metrics_port = 10249;
  // Where the control record (control_record.h) for npctl is written.
  std::string run_dir = "/run/nodeplane";
};

extern const char* const kDaemonUsage;

// An Error names the bad argument; "help" as the message asks for usage.
Result<DaemonOptions> ParseDaemonOptions(int argc, const char* const* argv);

}  // namespace np::daemon
