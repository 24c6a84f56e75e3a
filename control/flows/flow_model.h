// What nodeplane-control learns from the dataplane's flow records and keeps
// for npctl in its run directory (beside the control record):
//
//   <instance>.flows.jsonl     one JSON object per line and per flow event
//                              (start, end, denied), appended; rotated to
//                              <instance>.flows.jsonl.1 past a size bound
//   <instance>.map.json        the traffic map: who talks to whom on which
//                              port, rewritten whole (temporary file + rename)
//
// Plain data with its JSON form; the collector writes it, npctl reads it
// (yaml-cpp parses JSON) and formats it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace np::flows {

// An address resolved to what it is. `kind`:
//   pod          namespace, workload (+ workload_kind), pod, pod_labels
//   node         workload = the node's name (this node's own addresses)
//   service-vip  namespace, workload = the Service's name (a VIP that was not
//                translated, e.g. no endpoint)
//   external     workload = a CIDR ("192.168.100.1/32")
struct FlowPeer {
  std::string kind;
  std::string namespace_;
  std::string workload;
  std::string workload_kind;
  std::string pod;
  std::map<std::string, std::string> pod_labels;  // labels that select the workload's pods

  // "voting-app/vote", "external 192.168.100.1/32", "node node-a",
  // "service voting-app/db": the name a map edge shows.
  std::string Label() const;
  // The aggregation key: the same workload (not pod) gives the same key.
  std::string Key() const { return kind + "|" + namespace_ + "|" + workload; }
};

struct FlowLogEntry {
  std::string event;  // start, end, denied
  uint64_t flow_id = 0;
  uint64_t start_ns = 0, time_ns = 0;  // CLOCK_REALTIME
  std::string protocol;                // TCP, UDP, SCTP, ICMP, or the number
  std::string src_ip, dst_ip;          // as the client sent them (before NAT)
  uint16_t src_port = 0, dst_port = 0;
  std::string backend_ip;              // who answered (after DNAT)
  uint16_t backend_port = 0;
  std::string verdict;                 // no-policy, allowed, denied, would-deny, always-allowed
  std::string end_reason;              // end events: expired, tcp-reused, policy-cut, backend-gone, evicted
  std::string service;                 // "ns/name:port" when a Service was involved
  FlowPeer client, server;             // server: the backend
  uint64_t packets[2] = {0, 0}, bytes[2] = {0, 0};  // [0] client -> server, [1] back
};

// One line of <instance>.flows.jsonl (newline-terminated).
std::string FormatFlowLogLine(const FlowLogEntry& entry);
Result<FlowLogEntry> ParseFlowLogLine(std::string_view line);

// client -> server on one port: the server's port after DNAT (what a
// NetworkPolicy names).
struct MapEdge {
  FlowPeer client, server;  // pod fields other than the workload's are left empty
  uint16_t port = 0;
  std::string protocol;
  uint64_t connections = 0;  // new connections (start or denied events)
  std::set<std::string> services;  // "ns/name:port" the clients went through
  std::set<std::string> verdicts;
  uint64_t first_seen_ns = 0, last_seen_ns = 0;

  // Whether the connections passed at least once (a verdict other than denied).
  bool Passed() const;
};

struct TrafficMapFile {
  uint64_t updated_ns = 0;
  uint64_t records = 0;          // flow records read from the dataplane
  uint64_t records_dropped = 0;  // refused by full rings (Ring::dropped), this dataplane boot
  uint64_t active_flows = 0;
  uint64_t edges_overflow = 0;   // new edges refused: the map reached its bound
  std::vector<MapEdge> edges;    // sorted by client, server, port
};

std::string FormatTrafficMapJson(const TrafficMapFile& map);
Result<TrafficMapFile> ParseTrafficMapJson(std::string_view text);

// `text` in double quotes, with `"` and `\` escaped by a backslash: a
// YAML double-quoted scalar (map export's label values read back as the
// same string) and a Graphviz DOT ID (npctl map -o dot) alike.
std::string DoubleQuote(std::string_view text);

std::filesystem::path FlowLogPath(const std::filesystem::path& run_dir, const std::string& instance);
std::filesystem::path TrafficMapPath(const std::filesystem::path& run_dir, const std::string& instance);

}  // namespace np::flows
