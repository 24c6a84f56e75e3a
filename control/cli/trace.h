// `npctl trace`: arm the dataplane's trace control block
// (common/debug_abi.h), collect the steps the workers record and print the
// packet walk, one block per packet. The golden test (tests/pcap, the
// `trace` steps of np-pcap-replay) uses the same functions, so what it pins
// is what npctl prints.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/debug_abi.h"
#include "common/policy_image.h"
#include "common/result.h"
#include "common/stats_abi.h"

namespace np::cli {

struct TraceRequest {
  debug::TraceFilter filter{};
  uint32_t max_packets = 10;
};

// "--src IP[:PORT] --dst IP[:PORT] --protocol tcp|udp|icmp" pieces.
Result<TraceRequest> ParseTraceFilter(const std::string& src, const std::string& dst, const std::string& protocol);

// Names the steps refer to by number, from the dataplane's stats file.
struct TraceNames {
  std::map<uint32_t, std::string> ports;          // stats port slot -> port name
  std::map<uint32_t, std::string> service_ports;  // service-port id -> "namespace/service:port"
  std::map<uint32_t, std::string> policy_rules;   // image rule index -> "namespace/policy ingress rule N"
  std::map<uint32_t, std::string> identities;     // policy identity -> "namespace/labels"
};
TraceNames TraceNamesFromStats(const stats::StatsHeader& stats);
// Rule and identity names of the published policy section. Rule indices in
// the trace refer to the generation the worker judged with: right unless
// policies changed during the trace.
void AddPolicyNames(const PolicyImage& image, TraceNames& names);

struct TracedPacket {
  uint32_t number = 0;
  std::vector<debug::TraceStep> steps;
};

// Arms a trace; fails when one is armed already (and its lease has not
// lapsed). Returns its sequence. The request lapses at `lease_until_s`
// unless renewed; times are the dataplane's clock (CLOCK_MONOTONIC seconds,
// SharedState::now_s); 0: never.
Result<uint32_t> ArmTrace(debug::DebugHeader& header, const TraceRequest& request, uint32_t now_s,
                          uint32_t lease_until_s);
void RenewTrace(debug::DebugHeader& header, uint32_t lease_until_s);
void DisarmTrace(debug::DebugHeader& header);
// Moves every step of `sequence` out of the workers' rings into `packets`
// (grouped by packet number). Returns steps lost to full rings so far.
uint64_t CollectTrace(debug::DebugHeader& header, uint32_t sequence, std::map<uint32_t, TracedPacket>& packets);
// Packets started so far (numbers handed out, capped at the request's max).
uint32_t TracePacketsStarted(const debug::DebugHeader& header);

std::string FormatTraceText(const std::map<uint32_t, TracedPacket>& packets, const TraceNames& names);
std::string FormatTraceJson(const std::map<uint32_t, TracedPacket>& packets, const TraceNames& names);

}  // namespace np::cli
