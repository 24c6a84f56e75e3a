// Counters the dataplane exports in its stats region (a POSIX shm file
// "/nodeplane.<instance>.stats"). Counters are per lcore: each worker writes
// only its own block with relaxed stores and readers (npctl, metrics) sum
// the blocks. Nobody asks a worker to read stats.
//
// Ports and service ports get a counter slot from the dataplane's loader;
// the slot keeps its meaning across table generations while the object
// exists (the slot directory below names each slot's owner).
#pragma once

#include <atomic>
#include <cstdint>

namespace np::stats {

inline constexpr uint32_t kStatsMagic = 0x54534e4eu;  // "NNST"
inline constexpr uint32_t kStatsVersion = 5;  // 5: policy_would_deny_connections, sample flags
inline constexpr uint32_t kMaxLcores = 16;
inline constexpr uint32_t kMaxPorts = 64;
inline constexpr uint32_t kMaxServicePorts = 4096;
inline constexpr uint32_t kNameLength = 64;
// Policy rules counted one by one; rules past this share the last counter.
inline constexpr uint32_t kMaxPolicyRules = 16384;
inline constexpr uint32_t kPolicyDropSamples = 64;  // per lcore, a ring of the newest

// Why a packet was dropped. Add at the end only: the CLI prints by index.
enum class DropReason : uint16_t {
  kParseError,
  kIpv6NotForwarded,
  kUnsupportedProtocol,
  kTtlExceeded,
  kNoRoute,
  kNeighborUnresolved,
  kSpoofedSource,
  kNoEndpoints,
  kNoLocalEndpoints,
  kSourceRangeDenied,
  kConntrackFull,
  kSnatPortsExhausted,
  kFragmentWithoutHead,
  kHostRateLimited,
  kTxQueueFull,
  kNoMbufs,
  kNotForUs,
  kPolicyDenied,
  kCount,
};

inline constexpr const char* kDropReasonNames[] = {
    "parse_error",         "ipv6_not_forwarded",   "unsupported_protocol", "ttl_exceeded",
    "no_route",            "neighbor_unresolved",  "spoofed_source",       "no_endpoints",
    "no_local_endpoints",  "source_range_denied",  "conntrack_full",       "snat_ports_exhausted",
    "fragment_without_head", "host_rate_limited",  "tx_queue_full",        "no_mbufs",
    "not_for_us",          "policy_denied",
};
static_assert(std::size(kDropReasonNames) == static_cast<size_t>(DropReason::kCount));

struct PortCounters {
  std::atomic<uint64_t> rx_packets, rx_bytes, tx_packets, tx_bytes, tx_dropped;
};

struct ServiceCounters {
  std::atomic<uint64_t> packets, bytes, new_connections, no_endpoint_rejects;
};

// A denied new connection, for `npctl get policy-drops`: which flow, and
// who it was between. `sequence` is written last (release): a reader that
// sees it unchanged before and after copying has a whole sample.
struct PolicyDropSample {
  std::atomic<uint64_t> sequence;  // 0 = empty
  uint64_t time_ns;                // CLOCK_REALTIME
  uint32_t src_ip, dst_ip;         // source before SNAT, destination after DNAT
  uint16_t dst_port;
  uint8_t protocol;
  uint8_t reason;                  // policy::Reason
  uint32_t src_identity, dst_identity;
  uint8_t flags;                   // PolicySampleFlags
  uint8_t reserved[3];
};

enum PolicySampleFlags : uint8_t {
  kSampleWouldDeny = 1u << 0,  // audit mode: denied by policy, but the packets passed
};

struct alignas(64) LcoreCounters {
  std::atomic<uint64_t> loops, busy_loops, busy_cycles, total_cycles;
  std::atomic<uint64_t> drops[static_cast<size_t>(DropReason::kCount)];
  std::atomic<uint64_t> conntrack_hits, conntrack_inserts, conntrack_early_drops;
  std::atomic<uint64_t> arp_replies, arp_requests, icmp_generated, to_host, from_host;
  std::atomic<uint64_t> fragments;
  std::atomic<uint64_t> policy_allowed_connections, policy_denied_packets, policy_revalidations;
  // New connections each policy rule allowed (index = rule of the policy
  // generation in StatsHeader::policy_counters_generation).
  std::atomic<uint64_t> policy_rule_connections[kMaxPolicyRules];
  std::atomic<uint64_t> policy_drop_sequence;  // samples written so far
  PolicyDropSample policy_drops[kPolicyDropSamples];
  PortCounters ports[kMaxPorts];
  ServiceCounters service_ports[kMaxServicePorts];
  // New connections that policy denies but audit mode let through.
  std::atomic<uint64_t> policy_would_deny_connections;
};

struct SlotName {
  std::atomic<uint32_t> in_use;
  std::atomic<uint32_t> state;  // ports: 1 = link up
  uint32_t id;
  uint32_t reserved;
  char name[kNameLength];
};

struct StatsHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t lcore_count;
  uint32_t reserved;
  uint64_t tsc_hz;  // converts the cycle counters below into time
  std::atomic<uint64_t> policy_counters_generation;  // rule counters restart with each policy generation
  std::atomic<uint32_t> worker_lcores[kMaxLcores];  // lcore id of each block, for display
  SlotName ports[kMaxPorts];
  SlotName service_ports[kMaxServicePorts];
  LcoreCounters lcores[kMaxLcores];
};

}  // namespace np::stats
