#include "control/daemon/options.h"

#include <charconv>
#include <string_view>

namespace np::daemon {

const char* const kDaemonUsage =
    "usage: nodeplane-control --node-config FILE --manifests DIR [--instance NAME] [--once]\n"
    "                         [--timeout-ms N] [--no-healthz] [--healthz-bind-address IP]\n"
    "  Compiles the node config and the Kubernetes manifests into tables and publishes\n"
    "  them to the dataplane; watches both and republishes on change.\n"
    "  --once        publish, wait until the dataplane applied (or refused) them, exit 0/1\n"
    "  --timeout-ms  how long --once waits for the dataplane (default 10000)\n"
    "  --no-healthz  no kube-proxy compatible health-check server\n";

Result<DaemonOptions> ParseDaemonOptions(int argc, const char* const* argv) {
  DaemonOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string text;
    if (arg == "--help" || arg == "-h") return MakeError("help");
    if (arg == "--node-config") {
      if (!value(options.node_config)) return MakeError("--node-config needs a file");
    } else if (arg == "--manifests") {
      if (!value(options.manifests)) return MakeError("--manifests needs a directory");
    } else if (arg == "--instance") {
      if (!value(options.instance) || options.instance.empty()) return MakeError("--instance needs a name");
    } else if (arg == "--healthz-bind-address") {
      if (!value(options.healthz_bind_address)) return MakeError("--healthz-bind-address needs an address");
    } else if (arg == "--once") {
      options.once = true;
    } else if (arg == "--no-healthz") {
      options.healthz = false;
    } else if (arg == "--timeout-ms") {
      if (!value(text)) return MakeError("--timeout-ms needs a number");
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), options.timeout_ms);
      if (error != std::errc() || end != text.data() + text.size() || options.timeout_ms < 0)
        return MakeError("--timeout-ms: \"" + text + "\" is not a number of milliseconds");
    } else {
      return MakeError("unknown argument \"" + std::string(arg) + "\"");
    }
  }
  if (options.node_config.empty()) return MakeError("--node-config is required");
  if (options.manifests.empty()) return MakeError("--manifests is required");
  return options;
}

}  // namespace np::daemon
