// npctl: inspect a running nodeplane (kubectl/cilium style).
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "control/cli/apply.h"
#include "control/cli/collect.h"
#include "control/cli/debug_commands.h"
#include "control/cli/format_policy.h"
#include "control/cli/format.h"
#include "control/cli/policy_probe.h"
#include "control/daemon/section_publisher.h"
#include "dataplane/runtime/conntrack_memory.h"

namespace {

using namespace np;
using namespace np::cli;

constexpr const char* kUsage =
    "usage: npctl [--instance NAME] <command> [-o table|json]\n"
    "commands:\n"
    "  status              table generations, dataplane liveness, ports, lcores\n"
    "  get services        service ports, frontends, flags, counters\n"
    "  get backends        one row per (service port, backend); alias: get endpoints\n"
    "  get conntrack       tracked connections and table counters\n"
    "  get ports           per-port link state and counters\n"
    "  get counters        drops by reason, datapath and conntrack counters\n"
    "  get policies        NetworkPolicy rules and the new connections each allowed\n"
    "  get policy-drops    the newest connections NetworkPolicy denied (a sample per lcore)\n"
    "  apply -f FILE|DIR   copy manifests into nodeplane-control's manifests directory, wait\n"
    "                      until the dataplane applied them, print how long it took\n"
    "  delete -f FILE|DIR  remove what apply -f copied, wait until applied\n"
    "  policy probe --manifests DIR [--ports 80/TCP,...]\n"
    "                      NetworkPolicy verdict of every ordered pod pair and port, offline\n"
    "  policy trace FROM TO PORT/PROTO --manifests DIR\n"
    "                      why one flow is allowed or denied (policies, isolation, rule)\n"
    "  trace --src IP[:PORT] --dst IP[:PORT] [--protocol tcp|udp|icmp] [-c N] [--timeout 10s]\n"
    "                      the walk of the next matching packets (and their replies)\n"
    "                      through the running dataplane: conntrack, service, backend,\n"
    "                      NAT, policy, port sent on\n"
    "  capture --port NAME -w FILE.pcap [--filter BPF] [-c N] [--duration S]\n"
    "          [--direction rx|tx|both] [--snaplen N]\n"
    "                      packets as the dataplane sees them on a port, to a pcap file\n"
    "apply/delete flags: -f may repeat; --timeout 30s; --run-dir DIR (where nodeplane-control\n"
    "  writes <instance>.control; default $NODEPLANE_RUN_DIR or /run/nodeplane)\n";

struct Arguments {
  std::string instance = "default";
  OutputFormat format = OutputFormat::kTable;
  std::vector<std::string> command;
  std::vector<std::string> files;  // -f
  std::string run_dir;
  int timeout_ms = 30000;
};

// "30s", "500ms", "2m" or plain seconds; -1 when malformed.
int ParseTimeoutMs(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || value < 0) return -1;
  const std::string unit = end;
  const double ms = unit == "ms" ? value : unit == "s" || unit.empty() ? value * 1000 : unit == "m" ? value * 60000 : -1;
  return ms < 0 || ms > 3'600'000 ? -1 : static_cast<int>(ms);
}

std::optional<Arguments> Parse(int argc, char** argv, std::string* error) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string output;
    if (arg == "--instance" && i + 1 < argc) {
      arguments.instance = argv[++i];
    } else if (arg.rfind("--instance=", 0) == 0) {
      arguments.instance = arg.substr(11);
    } else if ((arg == "-o" || arg == "--output") && i + 1 < argc) {
      output = argv[++i];
    } else if (arg.rfind("-o=", 0) == 0 || arg.rfind("--output=", 0) == 0) {
      output = arg.substr(arg.find('=') + 1);
    } else if (arg == "-ojson") {
      output = "json";
    } else if ((arg == "-f" || arg == "--filename") && i + 1 < argc) {
      arguments.files.push_back(argv[++i]);
    } else if (arg.rfind("--filename=", 0) == 0 || arg.rfind("-f=", 0) == 0) {
      arguments.files.push_back(arg.substr(arg.find('=') + 1));
    } else if (arg == "--run-dir" && i + 1 < argc) {
      arguments.run_dir = argv[++i];
    } else if (arg == "--timeout" && i + 1 < argc) {
      arguments.timeout_ms = ParseTimeoutMs(argv[++i]);
      if (arguments.timeout_ms < 0) {
        *error = std::string("--timeout: \"") + argv[i] + "\" is not a duration (30s, 500ms, 2m)";
        return std::nullopt;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      *error = arg == "-h" || arg == "--help" ? "" : "unknown flag " + arg;
      return std::nullopt;
    } else {
      arguments.command.push_back(arg);
    }
    if (!output.empty()) {
      if (output == "json") arguments.format = OutputFormat::kJson;
      else if (output == "table" || output == "wide") arguments.format = OutputFormat::kTable;
      else {
        *error = "unknown output format \"" + output + "\" (table, json)";
        return std::nullopt;
      }
    }
  }
  if (arguments.command.empty()) {
    *error = "";
    return std::nullopt;
  }
  return arguments;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "npctl: %s\n", message.c_str());
  return 1;
}

int Print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  return 0;
}

int Run(const Arguments& arguments) {
  const std::vector<std::string>& command = arguments.command;
  const std::string verb = command[0];
  const std::string noun = command.size() > 1 ? command[1] : "";
  const bool manifests = verb == "apply" || verb == "delete";
  if (verb != "status" && verb != "get" && !manifests)
    return Fail("unknown command \"" + verb + "\"\n" + kUsage);

  Result<TablesRegion> region = OpenTablesRegion(arguments.instance);
  if (!region) return Fail(region.error().message);

  if (manifests) {
    if (arguments.files.empty()) return Fail(verb + " needs -f FILE|DIR");
    if (command.size() > 1) return Fail(verb + " takes no arguments besides -f (got \"" + command[1] + "\")");
    ManifestRequest request;
    request.verb = verb == "apply" ? ManifestVerb::kApply : ManifestVerb::kDelete;
    for (const std::string& file : arguments.files) request.paths.emplace_back(file);
    request.instance = arguments.instance;
    const char* env_run_dir = std::getenv("NODEPLANE_RUN_DIR");
    request.run_dir = !arguments.run_dir.empty()              ? arguments.run_dir
                      : env_run_dir != nullptr && *env_run_dir ? env_run_dir
                                                              : "/run/nodeplane";
    request.timeout = std::chrono::milliseconds(arguments.timeout_ms);
    const ManifestOutcome outcome = RunManifestCommand(request, *region);
    std::fputs(outcome.out.c_str(), stdout);
    std::fputs(outcome.err.c_str(), stderr);
    return outcome.exit_code;
  }
  Result<StatsRegion> stats = StatsRegion::Open(arguments.instance);
  const stats::StatsHeader* stats_header = stats ? &stats->header() : nullptr;

  if (verb == "status")
    return Print(FormatStatus(CollectStatus(arguments.instance, *region, stats ? &*stats : nullptr), arguments.format));

  if (noun == "services" || noun == "service" || noun == "svc") {
    Result<ServicesImage> services = ReadPublishedServices(*region);
    if (!services) return Fail(services.error().message);
    return Print(FormatServices(*services, stats_header ? CollectServiceCounters(*stats_header)
                                                        : std::map<uint32_t, ServiceCounterSums>{},
                                arguments.format));
  }
  if (noun == "backends" || noun == "endpoints" || noun == "ep") {
    Result<ServicesImage> services = ReadPublishedServices(*region);
    if (!services) return Fail(services.error().message);
    return Print(FormatBackends(*services, arguments.format));
  }
  if (noun == "conntrack" || noun == "ct") {
    Result<ConntrackMemory> conntrack = ConntrackMemory::Observe(arguments.instance);
    if (!conntrack) return Fail("no conntrack table: " + conntrack.error().message);
    Result<ServicesImage> services = ReadPublishedServices(*region);  // names only: optional
    std::vector<ct::EntrySnapshot> entries;
    conntrack->table().ForEach([&](const ct::EntrySnapshot& entry) { entries.push_back(entry); });
    return Print(FormatConntrack(entries, conntrack->table().ReadCounters(), services ? &*services : nullptr,
                                 ConntrackClockSeconds(), arguments.format));
  }
  if (noun == "ports") {
    if (!stats) return Fail("no stats region: " + stats.error().message);
    return Print(FormatPorts(CollectPorts(*stats_header), arguments.format));
  }
  if (noun == "counters") {
    Result<ConntrackMemory> conntrack = ConntrackMemory::Observe(arguments.instance);
    if (!stats && !conntrack) return Fail("no stats region: " + stats.error().message);
    return Print(FormatCounters(CollectCounters(stats_header, conntrack ? &conntrack->table() : nullptr),
                                arguments.format));
  }
  if (noun == "policies" || noun == "policy-drops") {
    if (region->PublishedGeneration(abi::SectionKind::kPolicy) == 0) return Fail("no policy section has been published yet");
    std::optional<std::vector<uint8_t>> bytes = daemon::ReadPublishedImage(*region, abi::SectionKind::kPolicy);
    if (!bytes) return Fail("could not copy the published policy section (it kept changing); try again");
    Result<PolicyImage> image = DecodePolicySection(bytes->data(), bytes->size(), nullptr);
    if (!image) return Fail(image.error().message);
    image->generation = region->PublishedGeneration(abi::SectionKind::kPolicy);
    if (noun == "policies") {
      std::optional<uint64_t> would_deny;
      if (stats_header != nullptr) would_deny = CollectWouldDenyConnections(*stats_header);
      return Print(FormatPolicyRules(CollectPolicyRules(*image, stats_header), arguments.format, would_deny));
    }
    if (!stats) return Fail("no stats region: " + stats.error().message);
    return Print(FormatPolicyDrops(CollectPolicyDrops(*image, *stats_header), arguments.format));
  }
  return Fail("get what? \"" + noun +
              "\" is not one of services, backends, endpoints, conntrack, ports, counters, policies, policy-drops");
}

}  // namespace

int main(int argc, char** argv) {
  // `npctl policy ...` works offline on manifests and has its own flags.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--instance" || arg == "-o" || arg == "--output") {
      ++i;
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    if (arg == "policy") return np::cli::RunPolicyCommand(std::vector<std::string>(argv + i + 1, argv + argc));
    if (arg == "trace" || arg == "capture") {  // their own flags; global ones (--instance, -o) too
      std::vector<std::string> rest(argv + 1, argv + i);
      rest.insert(rest.end(), argv + i + 1, argv + argc);
      return arg == "trace" ? np::cli::RunTraceCommand(rest) : np::cli::RunCaptureCommand(rest);
    }
    break;
  }
  std::string error;
  std::optional<Arguments> arguments = Parse(argc, argv, &error);
  if (!arguments) {
    if (!error.empty()) std::fprintf(stderr, "npctl: %s\n", error.c_str());
    std::fputs(kUsage, error.empty() ? stdout : stderr);
    return error.empty() ? 0 : 2;
  }
  return Run(*arguments);
}
