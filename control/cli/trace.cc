#include "control/cli/trace.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "control/cli/json_writer.h"
#include "dataplane/conntrack/tcp_state.h"

namespace np::cli {
namespace {

using debug::StepKind;
using debug::TraceStep;

std::string Ip(uint32_t address) {
  char text[INET_ADDRSTRLEN];
  std::snprintf(text, sizeof(text), "%u.%u.%u.%u", address >> 24, (address >> 16) & 0xff, (address >> 8) & 0xff,
                address & 0xff);
  return text;
}

std::string Endpoint(uint32_t address, uint16_t port, uint8_t protocol) {
  const bool has_ports = protocol == 6 || protocol == 17 || protocol == 132;
  return has_ports ? Ip(address) + ":" + std::to_string(port) : Ip(address);
}

std::string ProtocolName(uint8_t protocol) {
  switch (protocol) {
    case 0: return "arp";
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 132: return "sctp";
  }
  return "proto " + std::to_string(protocol);
}

std::string TcpFlags(uint8_t flags) {
  static constexpr struct { uint8_t bit; char letter; } kFlags[] = {
      {0x02, 'S'}, {0x10, '.'}, {0x08, 'P'}, {0x01, 'F'}, {0x04, 'R'}};
  std::string text;
  for (const auto& flag : kFlags)
    if (flags & flag.bit) text += flag.letter;
  return "[" + text + "]";
}

std::string Mac(uint64_t packed) {
  char text[18];
  std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>((packed >> 40) & 0xff),
                static_cast<unsigned>((packed >> 32) & 0xff), static_cast<unsigned>((packed >> 24) & 0xff),
                static_cast<unsigned>((packed >> 16) & 0xff), static_cast<unsigned>((packed >> 8) & 0xff),
                static_cast<unsigned>(packed & 0xff));
  return text;
}

std::string Named(const std::map<uint32_t, std::string>& names, uint32_t key, const char* what) {
  const auto found = names.find(key);
  return found != names.end() ? found->second : std::string(what) + " " + std::to_string(key);
}

const char* FrontendKindName(uint8_t kind) {
  static constexpr const char* kNames[] = {"ClusterIP", "NodePort", "LoadBalancer", "externalIP"};  // abi::FrontendKind
  return kind < std::size(kNames) ? kNames[kind] : "frontend";
}

const char* BackendReasonName(uint8_t reason) {
  static constexpr const char* kNames[] = {"maglev", "maglev over local endpoints (traffic policy Local)",
                                           "session affinity: remembered", "session affinity: new, maglev on client IP"};
  return reason < std::size(kNames) ? kNames[reason] : "?";
}

// policy::Reason (dataplane/policy/policy_tables.h), by value.
const char* PolicyReasonName(uint8_t reason) {
  static constexpr const char* kNames[] = {"neither end isolated", "a pod reaching itself", "a pod and its node",
                                           "allowed by rule", "no ingress rule allows it", "no egress rule allows it"};
  return reason < std::size(kNames) ? kNames[reason] : "?";
}

std::string RuleText(const TraceNames& names, uint32_t rule) {
  return Named(names.policy_rules, rule, "rule");
}

struct StepText {
  std::string label;
  std::string detail;
};

StepText Describe(const TraceStep& step, uint8_t protocol, const TraceNames& names) {
  switch (static_cast<StepKind>(step.kind)) {
    case StepKind::kReceived:
      return {"rx", Named(names.ports, step.slot, "port")};
    case StepKind::kArp:
      return {"arp", (step.a == 1 ? "who-has " + Ip(step.ip[1]) + " tell " + Ip(step.ip[0])
                                  : "reply " + Ip(step.ip[0]) + " is-at sender, to " + Ip(step.ip[1]))};
    case StepKind::kArpReply:
      return {"arp", "answered on " + Named(names.ports, step.slot, "port")};
    case StepKind::kConntrack: {
      if (step.a == static_cast<uint8_t>(debug::ConntrackOutcome::kNew)) return {"conntrack", "new"};
      const char* state = ct::TcpStateName(static_cast<ct::TcpState>(std::min<uint32_t>(step.value[1], 
                                                                                       static_cast<uint32_t>(ct::TcpState::kCount))));
      std::string detail = std::string("hit, ") + (step.b == 0 ? "original" : "reply") + " direction (entry " +
                           std::to_string(step.value[0]);
      if (protocol == 6) detail += std::string(", was ") + state;
      return {"conntrack", detail + ")"};
    }
    case StepKind::kService:
      return {"service", Named(names.service_ports, step.value[0], "service port") + " via " +
                             FrontendKindName(step.a) + " " + Endpoint(step.ip[0], step.port[0], protocol)};
    case StepKind::kBackend:
      return {"backend", Endpoint(step.ip[0], step.port[0], protocol) + " (" + BackendReasonName(step.a) + ")"};
    case StepKind::kNat:
      break;  // expanded by the caller: one line per rewritten address
    case StepKind::kPolicy: {
      if (step.a == static_cast<uint8_t>(debug::PolicyVerdict::kNoPolicy)) return {"policy", "no NetworkPolicy"};
      if (step.b == 0) return {"policy", "no policy: neither end is an isolated pod"};  // policy::Reason::kNotJudged
      constexpr uint32_t kNoRule = 0xffffffffu;  // policy::kNoRule
      std::string detail = step.a == static_cast<uint8_t>(debug::PolicyVerdict::kAllowed) ? "allowed" : "DENIED";
      if (step.b == 3) {  // policy::Reason::kAllowedByRule: name the rules
        detail += " by";
        if (step.value[0] != kNoRule) detail += " " + RuleText(names, step.value[0]);
        if (step.value[0] != kNoRule && step.value[1] != kNoRule) detail += " and";
        if (step.value[1] != kNoRule) detail += " " + RuleText(names, step.value[1]);
      } else {
        detail += std::string(": ") + PolicyReasonName(step.b);
      }
      detail += "  " + Ip(step.ip[0]) + " [" + Named(names.identities, step.value[2], "identity") + "] → " +
                Endpoint(step.ip[1], step.port[1], protocol) + " [" + Named(names.identities, step.value[3], "identity") +
                "]";
      return {"policy", detail};
    }
    case StepKind::kDropped:
      return {"dropped", step.a < std::size(stats::kDropReasonNames) ? stats::kDropReasonNames[step.a] : "?"};
    case StepKind::kSent:
      return {"tx", Named(names.ports, step.slot, "port") + " → " + Mac(step.mac) + "  " +
                        Endpoint(step.ip[0], step.port[0], protocol) + " → " + Endpoint(step.ip[1], step.port[1], protocol)};
  }
  return {"?", "step kind " + std::to_string(step.kind)};
}

// A NAT step: the source and/or destination rewrite. In the original
// direction that is SNAT/DNAT; in the reply direction the same connection's
// translation undone.
std::vector<StepText> DescribeNat(const TraceStep& step, uint8_t protocol) {
  std::vector<StepText> lines;
  const bool reply = step.b != 0;
  const bool destination = step.ip[1] != step.ip[3] || step.port[1] != step.port[3];
  const bool source = step.ip[0] != step.ip[2] || step.port[0] != step.port[2];
  if (destination)
    lines.push_back({reply ? "un-SNAT" : "DNAT", Endpoint(step.ip[1], step.port[1], protocol) + " → " +
                                                     Endpoint(step.ip[3], step.port[3], protocol) + " (destination)"});
  if (source)
    lines.push_back({reply ? "un-DNAT" : "SNAT", Endpoint(step.ip[0], step.port[0], protocol) + " → " +
                                                     Endpoint(step.ip[2], step.port[2], protocol) + " (source)"});
  if (!source && !destination) lines.push_back({"NAT", "none"});
  return lines;
}

std::vector<StepText> DescribePacket(const TracedPacket& packet, const TraceNames& names, std::string* header) {
  uint8_t protocol = 0;
  std::vector<StepText> lines;
  for (const TraceStep& step : packet.steps) {
    if (step.kind == static_cast<uint8_t>(StepKind::kReceived)) {
      protocol = step.a;
      *header = ProtocolName(protocol) + " " + Endpoint(step.ip[0], step.port[0], protocol) + " → " +
                Endpoint(step.ip[1], step.port[1], protocol);
      if (protocol == 6 && (step.value[1] & debug::kReceivedHasL4)) *header += " " + TcpFlags(step.b);
      if (step.value[1] & debug::kReceivedFragment) *header += " fragment";
      *header += "  rx " + Named(names.ports, step.slot, "port") + " (worker " + std::to_string(step.value[0]) + ")";
      continue;
    }
    if (step.kind == static_cast<uint8_t>(StepKind::kNat)) {
      for (StepText& line : DescribeNat(step, protocol)) lines.push_back(std::move(line));
      continue;
    }
    lines.push_back(Describe(step, protocol, names));
  }
  return lines;
}

}  // namespace

Result<TraceRequest> ParseTraceFilter(const std::string& src, const std::string& dst, const std::string& protocol) {
  TraceRequest request;
  const auto endpoint = [](const std::string& text, const char* flag, uint32_t& ip, uint16_t& port) -> std::optional<Error> {
    if (text.empty()) return std::nullopt;
    const size_t colon = text.find(':');
    const std::string address = text.substr(0, colon);
    in_addr parsed{};
    if (inet_pton(AF_INET, address.c_str(), &parsed) != 1)
      return MakeError(std::string(flag) + ": \"" + address + "\" is not an IPv4 address");
    ip = ntohl(parsed.s_addr);
    if (colon != std::string::npos) {
      char* end = nullptr;
      const unsigned long value = std::strtoul(text.c_str() + colon + 1, &end, 10);
      if (end == text.c_str() + colon + 1 || *end != '\0' || value == 0 || value > 65535)
        return MakeError(std::string(flag) + ": \"" + text.substr(colon + 1) + "\" is not a port (1-65535)");
      port = static_cast<uint16_t>(value);
    }
    return std::nullopt;
  };
  if (auto error = endpoint(src, "--src", request.filter.src_ip, request.filter.src_port)) return *error;
  if (auto error = endpoint(dst, "--dst", request.filter.dst_ip, request.filter.dst_port)) return *error;
  if (protocol == "tcp") request.filter.protocol = 6;
  else if (protocol == "udp") request.filter.protocol = 17;
  else if (protocol == "icmp") request.filter.protocol = 1;
  else if (protocol == "sctp") request.filter.protocol = 132;
  else if (!protocol.empty()) return MakeError("--protocol: \"" + protocol + "\" is not tcp, udp, icmp or sctp");
  if (request.filter.src_ip == 0 && request.filter.dst_ip == 0)
    return MakeError("give --src and/or --dst: tracing every packet is not what a trace is for");
  return request;
}

TraceNames TraceNamesFromStats(const stats::StatsHeader& stats) {
  TraceNames names;
  names.identities = {{abi::kIdentityHost, "host"},
                      {abi::kIdentityWorld, "world"},
                      {abi::kIdentityUnknownCluster, "cluster, no known pod"}};
  for (uint32_t slot = 0; slot < stats::kMaxPorts; ++slot)
    if (stats.ports[slot].in_use.load(std::memory_order_acquire) != 0)
      names.ports[slot] = std::string(stats.ports[slot].name, strnlen(stats.ports[slot].name, stats::kNameLength));
  for (uint32_t slot = 0; slot < stats::kMaxServicePorts; ++slot) {
    const stats::SlotName& name = stats.service_ports[slot];
    if (name.in_use.load(std::memory_order_acquire) != 0)
      names.service_ports[name.id] = std::string(name.name, strnlen(name.name, stats::kNameLength));
  }
  return names;
}

void AddPolicyNames(const PolicyImage& image, TraceNames& names) {
  for (uint32_t index = 0; index < image.rules.size(); ++index) {
    const abi::PolicyRuleRecord& rule = image.rules[index];
    const std::string policy =
        rule.policy_index < image.policy_names.size() ? image.policy_names[rule.policy_index] : "policy ?";
    const bool ingress = rule.direction == static_cast<uint8_t>(abi::PolicyDirection::kIngress);
    names.policy_rules[index] = policy + (ingress ? " ingress" : " egress") + " rule " + std::to_string(rule.rule_index);
  }
  for (size_t i = 0; i < image.identities.size() && i < image.identity_names.size(); ++i)
    names.identities[image.identities[i].id] = image.identity_names[i];
}

Result<uint32_t> ArmTrace(debug::DebugHeader& header, const TraceRequest& request, uint32_t now_s,
                          uint32_t lease_until_s) {
  const uint32_t previous_lease = header.trace.expiry_s.load(std::memory_order_relaxed);
  if ((header.armed.load(std::memory_order_acquire) & debug::kTraceArmed) &&
      (previous_lease == 0 || now_s <= previous_lease))
    return MakeError("a trace is already running on this dataplane (another npctl trace?)");
  debug::TraceControl& control = header.trace;
  control.filter = request.filter;
  control.max_packets = std::max<uint32_t>(1, request.max_packets);
  control.expiry_s.store(lease_until_s, std::memory_order_relaxed);
  control.packets_started.store(0, std::memory_order_relaxed);
  for (auto& entry : control.traced_entries) entry.store(debug::kNoEntry, std::memory_order_relaxed);
  control.traced_entry_count.store(0, std::memory_order_relaxed);
  const uint32_t sequence = control.sequence.load(std::memory_order_relaxed) + 1;
  control.sequence.store(sequence, std::memory_order_release);
  // Steps of an earlier trace nobody read: skip them.
  for (uint32_t worker = 0; worker < header.worker_count; ++worker)
    header.trace_rings[worker].Drain([](const TraceStep&) {});
  header.armed.fetch_or(debug::kTraceArmed, std::memory_order_release);
  return sequence;
}

void RenewTrace(debug::DebugHeader& header, uint32_t lease_until_s) {
  header.trace.expiry_s.store(lease_until_s, std::memory_order_relaxed);
}

void DisarmTrace(debug::DebugHeader& header) { header.armed.fetch_and(~debug::kTraceArmed, std::memory_order_release); }

uint64_t CollectTrace(debug::DebugHeader& header, uint32_t sequence, std::map<uint32_t, TracedPacket>& packets) {
  uint64_t dropped = 0;
  for (uint32_t worker = 0; worker < header.worker_count; ++worker) {
    debug::TraceRing& ring = header.trace_rings[worker];
    ring.Drain([&](const TraceStep& step) {
      if (step.sequence != sequence) return;
      TracedPacket& packet = packets[step.packet];
      packet.number = step.packet;
      packet.steps.push_back(step);
    });
    dropped += ring.dropped.load(std::memory_order_relaxed);
  }
  return dropped;
}

uint32_t TracePacketsStarted(const debug::DebugHeader& header) {
  return std::min(header.trace.packets_started.load(std::memory_order_relaxed), header.trace.max_packets);
}

std::string FormatTraceText(const std::map<uint32_t, TracedPacket>& packets, const TraceNames& names) {
  std::string text;
  for (const auto& [number, packet] : packets) {
    std::string header = "(received step lost)";
    const std::vector<StepText> lines = DescribePacket(packet, names, &header);
    text += "packet " + std::to_string(number) + "  " + header + "\n";
    for (const StepText& line : lines) {
      std::string label = line.label;
      label.resize(std::max<size_t>(label.size() + 1, 11), ' ');
      text += "  " + label + line.detail + "\n";
    }
  }
  return text;
}

std::string FormatTraceJson(const std::map<uint32_t, TracedPacket>& packets, const TraceNames& names) {
  JsonWriter json;
  json.BeginArray();
  for (const auto& [number, packet] : packets) {
    std::string header;
    const std::vector<StepText> lines = DescribePacket(packet, names, &header);
    json.BeginObject().Field("packet", number).Field("summary", header).Key("steps").BeginArray();
    for (const StepText& line : lines) json.BeginObject().Field("step", line.label).Field("detail", line.detail).EndObject();
    json.EndArray().EndObject();
  }
  json.EndArray();
  return json.Finish();
}

}  // namespace np::cli
