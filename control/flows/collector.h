// nodeplane-control's flow collector: the single consumer of the
// dataplane's flow rings (common/flow_abi.h).
//
// Each Poll() attaches the flows region when the dataplane has created it
// (and re-attaches when its boot_epoch changes: a restarted dataplane),
// drains every ring, stores the consumer heartbeat, joins start / update /
// end records by flow_id, resolves both ends (identity.h) and persists for
// npctl (flow_model.h): the JSON-lines flow log (appended, rotated past
// Options::log_max_bytes) and the traffic map (rewritten whole when it
// changed, at most every Options::map_interval_ns). A map file left by a
// previous control plane of the instance is read back at construction: a
// restarted control plane keeps the map.
//
// Threading: Poll() runs on one thread (FlowCollectorThread); SetResolver(),
// Metrics() and Map() may be called from any thread.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "common/flow_abi.h"
#include "common/shm_file.h"
#include "control/flows/identity.h"
#include "control/flows/traffic_map.h"

namespace np::flows {

// New connections per (verdict, client ns, client workload, server ns,
// server workload): workloads, not pods, and "external"/"node" rather than
// addresses, to bound the label cardinality.
using FlowPairKey = std::array<std::string, 5>;

struct FlowMetrics {
  bool attached = false;
  std::map<FlowPairKey, uint64_t> flows_total;
  uint64_t records = 0;
  uint64_t records_dropped = 0;  // by full rings, over every dataplane boot seen
  uint64_t active = 0;
};

struct FlowCollectorOptions {
  std::string instance = "default";
  std::filesystem::path run_dir = "/run/nodeplane";
  uint64_t log_max_bytes = 16ull << 20;  // then <log>.1 replaces the previous one
  uint64_t map_interval_ns = 300'000'000;  // npctl map trails the traffic by at most this (+ a poll)
  uint64_t reattach_check_ns = 1'000'000'000;  // how often to look for a new boot_epoch
  size_t max_active_flows = 1u << 18;  // beyond: new flows are logged and mapped, not joined
  // A denied connection attempt is retried by the client (SYN retransmits,
  // DNS retries) with the same tuple: one attempt, not several connections.
  uint64_t denied_retry_window_ns = 10'000'000'000ull;
};

class FlowCollector {
 public:
  explicit FlowCollector(FlowCollectorOptions options);

  // Poll() reads no record before the first resolver is set.
  void SetResolver(std::shared_ptr<const IdentityResolver> resolver);
  // One round; `now_ns` is CLOCK_REALTIME. Returns the records read.
  uint64_t Poll(uint64_t now_ns);
  FlowMetrics Metrics() const;
  TrafficMapFile Map() const;
  // Messages for the daemon's log (attach, re-attach, write failures), taken.
  std::vector<std::string> TakeLog();

 private:
  bool EnsureAttached(uint64_t now_ns);
  void Process(const FlowRecord& record, const IdentityResolver& resolver);
  FlowLogEntry Describe(const FlowRecord& record, const IdentityResolver& resolver) const;
  void Count(const FlowLogEntry& entry);
  void AppendLog(const FlowLogEntry& entry);
  void FlushLog();
  void Warn(const std::string& message);        // takes the lock
  void WarnLocked(const std::string& message);  // the lock is held
  void WriteMap(uint64_t now_ns);

  FlowCollectorOptions options_;
  mutable std::mutex mutex_;  // guards everything below that other threads read
  std::shared_ptr<const IdentityResolver> resolver_;
  FlowMetrics metrics_;
  TrafficMap map_;
  std::vector<std::string> log_messages_;
  std::string last_warning_;

  // Poll thread only.
  std::optional<SharedMemoryFile> region_;
  uint64_t boot_epoch_ = 0;
  uint64_t restored_map_ns_ = 0;  // when the restored map was written (0: none)
  uint64_t last_reattach_check_ns_ = 0;
  uint64_t dropped_previous_boots_ = 0;
  uint64_t dropped_this_boot_ = 0;
  std::unordered_map<uint64_t, FlowLogEntry> active_;
  std::map<std::tuple<uint32_t, uint32_t, uint16_t, uint16_t, uint8_t>, uint64_t> recent_denials_;  // tuple -> time_ns
  std::ofstream log_;
  std::string pending_log_;
  bool map_dirty_ = true;
  uint64_t map_written_ns_ = 0;
};

// Runs FlowCollector::Poll every `interval` on its own thread (sleeping in
// between, never spinning) until destroyed.
class FlowCollectorThread {
 public:
  FlowCollectorThread(FlowCollector& collector, std::chrono::milliseconds interval);
  ~FlowCollectorThread();
  FlowCollectorThread(const FlowCollectorThread&) = delete;
  FlowCollectorThread& operator=(const FlowCollectorThread&) = delete;

 private:
  FlowCollector& collector_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

const char* VerdictName(uint8_t verdict);      // "allowed", ...
const char* EndReasonName(uint8_t reason);     // "expired", ...
std::string ProtocolText(uint8_t protocol);    // "TCP", ... or the number

}  // namespace np::flows
