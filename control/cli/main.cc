// npctl: inspect a running nodeplane (kubectl/cilium style).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <optional>
#include <string>
#include <vector>

#include "control/cli/apply.h"
#include "control/cli/collect.h"
#include "control/cli/debug_commands.h"
#include "control/cli/format_flows.h"
#include "control/cli/format_policy.h"
#include "control/cli/format.h"
#include "control/cli/policy_probe.h"
#include "control/daemon/section_publisher.h"
#include "control/flows/policy_export.h"
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
    "  flows               live and recent connections with their workloads, service, verdict\n"
    "                      [-n NAMESPACE] [--workload W] [--service S] [--verdict V] [--limit N (200)]\n"
    "                      [--follow] (stream new events)\n"
    "  map [-o table|json|dot|svg]\n"
    "                      which workload talks to which, on which ports (learned from flows)\n"
    "  map export --dir DIR\n"
    "                      DIR/networkpolicies/<namespace>.yaml: NetworkPolicies allowing exactly\n"
    "                      the observed traffic (default deny, DNS, one ingress policy per server,\n"
    "                      one egress policy per client); DIR/clientintents/: Otterize ClientIntents\n"
    "apply/delete flags: -f may repeat; --timeout 30s; --run-dir DIR (where nodeplane-control\n"
    "  writes <instance>.control, .flows.jsonl and .map.json; default $NODEPLANE_RUN_DIR or\n"
    "  /run/nodeplane; flows and map read it too)\n";

struct Arguments {
  std::string instance = "default";
  OutputFormat format = OutputFormat::kTable;
  std::vector<std::string> command;
  std::vector<std::string> files;  // -f
  std::string run_dir;
  int timeout_ms = 30000;
  MapFormat map_format = MapFormat::kTable;
  FlowFilter filter;
  bool follow = false;
  size_t limit = 0;  // 0: flows' default
  std::string export_dir;
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
    } else if ((arg == "-n" || arg == "--namespace") && i + 1 < argc) {
      arguments.filter.namespace_ = argv[++i];
    } else if (arg == "--workload" && i + 1 < argc) {
      arguments.filter.workload = argv[++i];
    } else if (arg == "--service" && i + 1 < argc) {
      arguments.filter.service = argv[++i];
    } else if (arg == "--verdict" && i + 1 < argc) {
      arguments.filter.verdict = argv[++i];
    } else if (arg == "--follow" || arg == "-F") {
      arguments.follow = true;
    } else if (arg == "--dir" && i + 1 < argc) {
      arguments.export_dir = argv[++i];
    } else if (arg == "--limit" && i + 1 < argc) {
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (end == argv[i] || *end != '\0' || value < 0) {
        *error = std::string("--limit: \"") + argv[i] + "\" is not a count";
        return std::nullopt;
      }
      arguments.limit = static_cast<size_t>(value);
    } else if (!arg.empty() && arg[0] == '-') {
      *error = arg == "-h" || arg == "--help" ? "" : "unknown flag " + arg;
      return std::nullopt;
    } else {
      arguments.command.push_back(arg);
    }
    if (!output.empty()) {
      if (output == "json") arguments.format = OutputFormat::kJson, arguments.map_format = MapFormat::kJson;
      else if (output == "table" || output == "wide") arguments.format = OutputFormat::kTable;
      else if (output == "dot") arguments.map_format = MapFormat::kDot;
      else if (output == "svg") arguments.map_format = MapFormat::kSvg;
      else {
        *error = "unknown output format \"" + output + "\" (table, json; map also dot, svg)";
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

std::string RunDir(const Arguments& arguments) {
  const char* env_run_dir = std::getenv("NODEPLANE_RUN_DIR");
  return !arguments.run_dir.empty()              ? arguments.run_dir
         : env_run_dir != nullptr && *env_run_dir ? env_run_dir
                                                 : "/run/nodeplane";
}

// --follow: prints each new event of the log as it is appended; starts from
// the end; reopens the log when it was rotated (it shrank or was replaced).
int FollowFlows(const Arguments& arguments, const std::filesystem::path& path) {
  std::ifstream in;
  std::streamoff offset = 0;
  std::error_code error;
  if (std::filesystem::exists(path, error)) offset = static_cast<std::streamoff>(std::filesystem::file_size(path, error));
  std::string partial;
  while (true) {
    const auto size = std::filesystem::exists(path, error) ? std::filesystem::file_size(path, error) : 0;
    if (static_cast<std::streamoff>(size) < offset) offset = 0;  // rotated
    if (static_cast<std::streamoff>(size) > offset) {
      in.open(path, std::ios::binary);
      in.seekg(offset);
      std::string chunk(static_cast<size_t>(static_cast<std::streamoff>(size) - offset), '\0');
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<size_t>(in.gcount()));
      in.close();
      offset += static_cast<std::streamoff>(chunk.size());
      partial += chunk;
      for (size_t end; (end = partial.find('\n')) != std::string::npos; partial.erase(0, end + 1)) {
        Result<flows::FlowLogEntry> entry = flows::ParseFlowLogLine(partial.substr(0, end));
        if (entry && arguments.filter.Matches(*entry)) std::fputs(FormatFlowEvent(*entry, arguments.format).c_str(), stdout);
      }
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int RunFlows(const Arguments& arguments) {
  const std::filesystem::path path = flows::FlowLogPath(RunDir(arguments), arguments.instance);
  if (arguments.follow) return FollowFlows(arguments, path);
  Result<std::vector<flows::FlowLogEntry>> events = ReadFlowLog(path);
  if (!events) return Fail(events.error().message);
  return Print(FormatFlows(LatestPerFlow(*events), arguments.filter, arguments.limit == 0 ? 200 : arguments.limit,
                           RealtimeNanoseconds(), arguments.format));
}

int RunMap(const Arguments& arguments) {
  const std::filesystem::path path = flows::TrafficMapPath(RunDir(arguments), arguments.instance);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Fail("no traffic map " + path.string() +
                " (is nodeplane-control running for instance " + arguments.instance + " with this --run-dir?)");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<flows::TrafficMapFile> map = flows::ParseTrafficMapJson(text);
  if (!map) return Fail(path.string() + ": " + map.error().message);
  const std::vector<std::string>& command = arguments.command;
  if (command.size() > 1 && command[1] == "export") {
    if (arguments.export_dir.empty()) return Fail("map export needs --dir DIR");
    flows::TrafficMapFile selected = *map;
    selected.edges.clear();
    for (const flows::MapEdge& edge : map->edges)
      if (arguments.filter.Matches(edge)) selected.edges.push_back(edge);
    const flows::ExportedManifests manifests = flows::ExportPolicies(selected);
    for (const std::string& skipped : manifests.skipped)
      std::fprintf(stderr, "npctl: warning: not exported: %s\n", skipped.c_str());
    if (manifests.files.empty()) return Fail("nothing to export: the map has no edge between workloads yet");
    for (const auto& [name, content] : manifests.files) {
      const std::filesystem::path file = std::filesystem::path(arguments.export_dir) / name;
      std::error_code error;
      std::filesystem::create_directories(file.parent_path(), error);
      std::ofstream out(file, std::ios::trunc | std::ios::binary);
      out << content;
      if (!out) return Fail("cannot write " + file.string());
      std::printf("wrote %s\n", file.string().c_str());
    }
    return 0;
  }
  if (command.size() > 1) return Fail("map: unknown argument \"" + command[1] + "\" (map [export --dir DIR])");
  switch (arguments.map_format) {
    case MapFormat::kJson: return Print(FormatMapJson(*map, arguments.filter));
    case MapFormat::kDot: return Print(FormatMapDot(*map, arguments.filter));
    case MapFormat::kSvg: {
      Result<std::string> svg = RenderSvg(FormatMapDot(*map, arguments.filter));
      if (!svg) return Fail(svg.error().message);
      return Print(*svg);
    }
    case MapFormat::kTable: break;
  }
  return Print(FormatMapTable(*map, arguments.filter, RealtimeNanoseconds()));
}

int Run(const Arguments& arguments) {
  const std::vector<std::string>& command = arguments.command;
  const std::string verb = command[0];
  const std::string noun = command.size() > 1 ? command[1] : "";
  if ((arguments.map_format == MapFormat::kDot || arguments.map_format == MapFormat::kSvg) && verb != "map")
    return Fail("-o dot and -o svg are for `npctl map` (" + verb + " prints table or json)");
  // Files in the run directory: no shared memory needed.
  if (verb == "flows") return RunFlows(arguments);
  if (verb == "map") return RunMap(arguments);
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
