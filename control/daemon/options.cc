#include "control/daemon/options.h"

#include <charconv>
#include <string_view>

namespace np::daemon {

const char* const kDaemonUsage =
    "usage: nodeplane-control --node-config FILE --manifests DIR [--instance NAME] [--once]\n"
    "                         [--timeout-ms N] [--no-healthz] [--healthz-bind-address IP]\n"
    "                         [--metrics-address IP:PORT] [--no-metrics] [--run-dir DIR]\n"
    "  Compiles the node config and the Kubernetes manifests into tables and publishes\n"
    "  them to the dataplane; watches both and republishes on change.\n"
    "  --once        publish, wait until the dataplane applied (or refused) them, exit 0/1\n"
    "  --timeout-ms  how long --once waits for the dataplane (default 10000)\n"
    "  --no-healthz  no kube-proxy compatible health-check server\n"
    "  --metrics-address  Prometheus metrics at http://IP:PORT/metrics (default 0.0.0.0:10249,\n"
    "                kube-proxy's metrics port); --no-metrics: none\n"
    "  --run-dir     where the control record npctl reads is written (default /run/nodeplane):\n"
    "                <run-dir>/<instance>.control names the manifests directory for npctl apply;\n"
    "                <instance>.last-good/ keeps each manifest file's last clean version (a restart\n"
    "                keeps serving an object that is broken now); <instance>.flows.jsonl and\n"
    "                <instance>.map.json are the flow log and the traffic map npctl reads\n"
    "  SIGHUP reloads the inputs at once (npctl apply/delete send it).\n";

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
    } else if (arg == "--metrics-address") {
      if (!value(text)) return MakeError("--metrics-address needs IP:PORT");
      const size_t colon = text.rfind(':');
      unsigned port = 0;
      const char* port_begin = text.data() + colon + 1;
      const auto [end, error] =
          colon == std::string::npos ? std::from_chars_result{port_begin, std::errc::invalid_argument}
                                     : std::from_chars(port_begin, text.data() + text.size(), port);
      if (colon == 0 || error != std::errc() || end != text.data() + text.size() || port > 65535)
        return MakeError("--metrics-address: \"" + text + "\" is not IP:PORT");
      options.metrics_address = text.substr(0, colon);
      options.metrics_port = static_cast<uint16_t>(port);
    } else if (arg == "--no-metrics") {
      options.metrics = false;
    } else if (arg == "--run-dir") {
      if (!value(options.run_dir) || options.run_dir.empty()) return MakeError("--run-dir needs a directory");
    } else if (arg == "--poll-interval-ms") {
      if (!value(text)) return MakeError("--poll-interval-ms needs a number");
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), options.poll_interval_ms);
      if (error != std::errc() || end != text.data() + text.size() || options.poll_interval_ms <= 0)
        return MakeError("--poll-interval-ms: \"" + text + "\" is not a number of milliseconds");
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
