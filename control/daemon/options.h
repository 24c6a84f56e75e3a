// Command line of nodeplane-control.
#pragma once

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
};

extern const char* const kDaemonUsage;

// An Error names the bad argument; "help" as the message asks for usage.
Result<DaemonOptions> ParseDaemonOptions(int argc, const char* const* argv);

}  // namespace np::daemon
