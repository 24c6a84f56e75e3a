// What npctl shows, as plain data copied out of the shared-memory regions.
// collect.h fills these; format.h turns them into text or JSON (pure
// functions, tested without any region).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "common/stats_abi.h"
#include "dataplane/conntrack/table.h"

namespace np::cli {

enum class OutputFormat { kTable, kJson };

struct SectionStatus {
  std::string name;  // "node", "services"
  uint64_t published = 0;
  uint64_t applied = 0;
  uint64_t refused = 0;
  std::string refusal_reason;
  uint64_t applied_at_ns = 0;  // CLOCK_REALTIME
};

struct PortStatus {
  std::string name;
  bool link_up = false;
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0, tx_dropped = 0;
};

struct LcoreStatus {
  uint32_t lcore = 0;
  uint64_t loops = 0, busy_loops = 0, busy_cycles = 0, total_cycles = 0;
  double longest_loop_us = 0;       // the worst stall a worker saw
  double longest_swap_loop_us = 0;  // ... in a loop that met a new table snapshot
};

struct StatusView {
  std::string instance;
  std::vector<SectionStatus> sections;
  uint32_t dataplane_pid = 0;
  uint64_t boot_epoch_ns = 0;  // CLOCK_REALTIME of the dataplane's start
  uint64_t heartbeat_ns = 0;
  uint64_t now_ns = 0;
  bool stats_available = false;  // false: no stats region (dataplane never ran)
  std::vector<PortStatus> ports;
  std::vector<LcoreStatus> lcores;
};

struct ServiceCounterSums {
  uint64_t packets = 0, bytes = 0, connections = 0, no_endpoint_rejects = 0;
};

struct CountersView {
  std::array<uint64_t, static_cast<size_t>(stats::DropReason::kCount)> drops{};
  uint64_t conntrack_hits = 0, conntrack_inserts = 0, conntrack_early_drops = 0;
  uint64_t rx_packets = 0;  // every port, from the same read as the counters above
  uint64_t arp_replies = 0, arp_requests = 0, icmp_generated = 0, to_host = 0, from_host = 0, fragments = 0;
  uint64_t policy_allowed_connections = 0, policy_denied_packets = 0;
  uint64_t policy_would_deny_connections = 0;  // audit mode: denied by policy, let through
  std::optional<ct::CtCounters> conntrack;  // from the table itself, when attached
};

}  // namespace np::cli
