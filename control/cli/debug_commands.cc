#include "control/cli/debug_commands.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include "control/cli/capture.h"
#include "control/cli/collect.h"
#include "control/daemon/section_publisher.h"
#include "control/cli/trace.h"
#include "dataplane/runtime/debug_region.h"
#include "dataplane/runtime/stats_region.h"

namespace np::cli {
namespace {

// npctl renews its request's lease this often; a dead npctl's request lapses
// within kLeaseSeconds.
constexpr uint32_t kLeaseSeconds = 5;
constexpr int kPollMs = 10;

int Fail(const std::string& message) {
  std::fprintf(stderr, "npctl: %s\n", message.c_str());
  return 1;
}

uint32_t MonotonicSeconds() {  // the dataplane's clock (SharedState::now_s)
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint32_t>(now.tv_sec);
}

uint64_t MonotonicMs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

// SIGINT/SIGTERM through a signalfd: the wait loops poll it, so npctl always
// disarms before it exits. No handler, no global flag.
class TerminationSignals {
 public:
  TerminationSignals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~TerminationSignals() {
    if (fd_ >= 0) close(fd_);
  }
  // Waits up to timeout_ms; true when a termination signal arrived.
  bool Wait(int timeout_ms) {
    pollfd descriptor{fd_, POLLIN, 0};
    if (poll(&descriptor, 1, timeout_ms) <= 0) return false;
    signalfd_siginfo info{};
    return read(fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info));
  }

 private:
  int fd_ = -1;
};

// Flags of both commands: "--flag VALUE" or "--flag=VALUE".
struct Flags {
  std::map<std::string, std::string> values;
  std::string error;
};

Flags ParseFlags(const std::vector<std::string>& arguments, const std::vector<std::string>& known) {
  Flags flags;
  for (size_t i = 0; i < arguments.size(); ++i) {
    std::string name = arguments[i];
    std::optional<std::string> value;
    if (const size_t equals = name.find('='); equals != std::string::npos && name.rfind("--", 0) == 0) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
    }
    if (name == "-ojson") name = "-o", value = "json";
    bool found = false;
    for (const std::string& flag : known) found = found || flag == name;
    if (!found) {
      flags.error = "unknown argument \"" + arguments[i] + "\"";
      return flags;
    }
    if (!value) {
      if (i + 1 >= arguments.size()) {
        flags.error = name + " needs a value";
        return flags;
      }
      value = arguments[++i];
    }
    flags.values[name == "--output" ? "-o" : name == "--count" ? "-c" : name] = *value;
  }
  return flags;
}

std::string Value(const Flags& flags, const std::string& name, const std::string& fallback = "") {
  const auto found = flags.values.find(name);
  return found != flags.values.end() ? found->second : fallback;
}

// A positive whole number, or nullopt.
std::optional<uint32_t> Count(const std::string& text) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value == 0 || value > 1000000) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// "10", "10s", "500ms", "2m": milliseconds, or nullopt.
std::optional<uint64_t> DurationMs(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || value <= 0) return std::nullopt;
  const std::string unit = end;
  const double ms = unit == "ms" ? value : unit == "s" || unit.empty() ? value * 1000 : unit == "m" ? value * 60000 : -1;
  if (ms <= 0 || ms > 24.0 * 3600 * 1000) return std::nullopt;
  return static_cast<uint64_t>(ms);
}

// Names for the policy steps; a trace without them still prints numbers.
void AddPublishedPolicyNames(const std::string& instance, TraceNames& names) {
  Result<TablesRegion> region = OpenTablesRegion(instance);
  if (!region || region->PublishedGeneration(abi::SectionKind::kPolicy) == 0) return;
  std::optional<std::vector<uint8_t>> bytes = daemon::ReadPublishedImage(*region, abi::SectionKind::kPolicy);
  if (!bytes) return;
  Result<PolicyImage> image = DecodePolicySection(bytes->data(), bytes->size(), nullptr);
  if (image) AddPolicyNames(*image, names);
}

}  // namespace

int RunTraceCommand(const std::vector<std::string>& arguments) {
  const Flags flags = ParseFlags(arguments, {"--instance", "-o", "--output", "--src", "--dst", "--protocol", "-c",
                                             "--count", "--timeout"});
  if (!flags.error.empty())
    return Fail("trace: " + flags.error +
                "\nusage: npctl trace --src IP[:PORT] --dst IP[:PORT] [--protocol tcp|udp|icmp] [-c N] "
                "[--timeout 10s] [-o json]");
  auto request = ParseTraceFilter(Value(flags, "--src"), Value(flags, "--dst"), Value(flags, "--protocol"));
  if (!request) return Fail("trace: " + request.error().message);
  const std::optional<uint32_t> max_packets = Count(Value(flags, "-c", "10"));
  if (!max_packets) return Fail("trace: -c wants a packet count (1 or more)");
  request->max_packets = *max_packets;
  const std::optional<uint64_t> timeout_ms = DurationMs(Value(flags, "--timeout", "10s"));
  if (!timeout_ms) return Fail("trace: --timeout wants a duration (10s, 500ms, 2m)");
  const std::string output = Value(flags, "-o", "text");
  if (output != "text" && output != "table" && output != "json")
    return Fail("trace: unknown output format \"" + output + "\" (text, json)");
  const std::string instance = Value(flags, "--instance", "default");

  Result<DebugRegion> region = DebugRegion::Open(instance);
  if (!region) return Fail("no dataplane debug file (is nodeplane-dataplane running?): " + region.error().message);
  Result<StatsRegion> stats = StatsRegion::Open(instance);
  debug::DebugHeader& header = region->header();

  TerminationSignals signals;
  auto sequence = ArmTrace(header, *request, MonotonicSeconds(), MonotonicSeconds() + kLeaseSeconds);
  if (!sequence) return Fail("trace: " + sequence.error().message);
  std::fprintf(stderr, "tracing up to %u packet(s) for %.1fs...\n", request->max_packets,
               static_cast<double>(*timeout_ms) / 1000);
  std::map<uint32_t, TracedPacket> packets;
  const uint64_t deadline = MonotonicMs() + *timeout_ms;
  uint64_t lost = 0;
  std::optional<uint64_t> complete_at;
  while (MonotonicMs() < deadline) {
    if (signals.Wait(kPollMs)) break;
    RenewTrace(header, MonotonicSeconds() + kLeaseSeconds);
    lost = CollectTrace(header, *sequence, packets);
    // Every packet number handed out: the last packet's steps are written
    // within one burst, so a short grace period sees them all.
    if (!complete_at && TracePacketsStarted(header) >= request->max_packets) complete_at = MonotonicMs() + 50;
    if (complete_at && MonotonicMs() >= *complete_at) break;
  }
  DisarmTrace(header);
  usleep(2000);  // workers finishing a burst with the old state
  lost = CollectTrace(header, *sequence, packets);

  TraceNames names = stats ? TraceNamesFromStats(stats->header()) : TraceNames{};
  AddPublishedPolicyNames(instance, names);
  const std::string text = output == "json" ? FormatTraceJson(packets, names) : FormatTraceText(packets, names);
  std::fputs(text.c_str(), stdout);
  if (packets.empty()) std::fprintf(stderr, "no packet matched\n");
  if (lost != 0) std::fprintf(stderr, "%llu trace step(s) lost to full rings\n", static_cast<unsigned long long>(lost));
  return 0;
}

int RunCaptureCommand(const std::vector<std::string>& arguments) {
  const Flags flags = ParseFlags(arguments, {"--instance", "--port", "--filter", "-w", "-c", "--count", "--duration",
                                             "--direction", "--snaplen"});
  constexpr const char* kCaptureUsage =
      "usage: npctl capture --port NAME -w FILE.pcap [--filter BPF] [-c N] [--duration S] "
      "[--direction rx|tx|both] [--snaplen N]";
  if (!flags.error.empty()) return Fail("capture: " + flags.error + "\n" + kCaptureUsage);
  const std::string port = Value(flags, "--port");
  const std::string path = Value(flags, "-w");
  if (port.empty() || path.empty()) return Fail(std::string("capture: --port and -w are required\n") + kCaptureUsage);
  std::optional<uint32_t> limit;
  if (flags.values.count("-c") && !(limit = Count(Value(flags, "-c"))))
    return Fail("capture: -c wants a packet count (1 or more)");
  std::optional<uint64_t> duration_ms;
  if (flags.values.count("--duration") && !(duration_ms = DurationMs(Value(flags, "--duration"))))
    return Fail("capture: --duration wants a duration (10s, 500ms, 2m)");
  auto direction = ParseCaptureDirection(Value(flags, "--direction"));
  if (!direction) return Fail("capture: " + direction.error().message);
  CaptureRequest request;
  request.direction = *direction;
  if (flags.values.count("--snaplen")) {
    const std::optional<uint32_t> snaplen = Count(Value(flags, "--snaplen"));
    if (!snaplen || *snaplen < 64 || *snaplen > debug::kCaptureBytes)
      return Fail("capture: --snaplen wants 64 to " + std::to_string(debug::kCaptureBytes) + " bytes");
    request.snaplen = *snaplen;
  }
  const std::string instance = Value(flags, "--instance", "default");

  Result<StatsRegion> stats = StatsRegion::Open(instance);
  if (!stats) return Fail("no dataplane stats file (is nodeplane-dataplane running?): " + stats.error().message);
  const TraceNames names = TraceNamesFromStats(stats->header());
  std::optional<uint32_t> slot;
  std::string known;
  for (const auto& [index, name] : names.ports) {
    if (name == port) slot = index;
    known += (known.empty() ? "" : ", ") + name;
  }
  if (!slot) return Fail("capture: no port named \"" + port + "\" (ports: " + known + ")");
  request.port_slot = *slot;
  Result<DebugRegion> region = DebugRegion::Open(instance);
  if (!region) return Fail("no dataplane debug file: " + region.error().message);
  auto sink = PcapSink::Open(path, request.snaplen, Value(flags, "--filter"));
  if (!sink) return Fail("capture: " + sink.error().message);
  debug::DebugHeader& header = region->header();

  TerminationSignals signals;
  const uint64_t dropped_before = DrainCapture(header, 0, [](const debug::CaptureRecord&) {});
  auto sequence = ArmCapture(header, request, MonotonicSeconds(), MonotonicSeconds() + kLeaseSeconds);
  if (!sequence) return Fail("capture: " + sequence.error().message);
  std::fprintf(stderr, "capturing on %s (%s)...\n", port.c_str(), Value(flags, "--direction", "both").c_str());
  uint64_t captured = 0, seen = 0, dropped = dropped_before;
  // Each worker has its own ring: a poll's records are put in time order
  // before they are written, so that the file reads in order.
  std::vector<debug::CaptureRecord> batch;
  const auto drain = [&] {
    batch.clear();
    dropped = DrainCapture(header, *sequence, [&](const debug::CaptureRecord& record) { batch.push_back(record); });
    std::stable_sort(batch.begin(), batch.end(), [](const debug::CaptureRecord& a, const debug::CaptureRecord& b) {
      return a.time_ns < b.time_ns;
    });
    for (const debug::CaptureRecord& record : batch) {
      if (limit && captured >= *limit) return;
      ++seen;
      if (sink->Write(record)) ++captured;
    }
  };
  const uint64_t deadline = duration_ms ? MonotonicMs() + *duration_ms : UINT64_MAX;
  while (MonotonicMs() < deadline && !(limit && captured >= *limit)) {
    if (signals.Wait(kPollMs)) break;
    RenewCapture(header, MonotonicSeconds() + kLeaseSeconds);
    drain();
  }
  DisarmCapture(header);
  usleep(2000);
  drain();
  sink->Flush();
  std::fprintf(stderr, "%llu packets captured (%llu seen, %llu filtered out), %llu dropped (capture ring full)\n",
               static_cast<unsigned long long>(captured), static_cast<unsigned long long>(seen),
               static_cast<unsigned long long>(seen - captured),
               static_cast<unsigned long long>(dropped - dropped_before));
  return 0;
}

}  // namespace np::cli
