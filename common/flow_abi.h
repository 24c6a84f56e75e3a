// Flow records: what the dataplane tells the control plane about each
// connection (issue "See the traffic"). A POSIX shm file
// "/nodeplane.<instance>.flows" holds one single-producer/single-consumer
// ring per producer: one per worker lcore, and one for the main lcore, which
// sweeps expired connections and so reports their end.
//
// Never blocking: a producer that finds its ring full drops the record and
// counts it (Ring::dropped); the worker carries on. The consumer is the
// control plane's flow collector; it reads records between `tail` and
// `head` and then publishes the new tail (release), which is the only
// thing it writes. The ring's layout and logic are common/spsc_ring.h's
// (Ring::Push, Ring::Pop).
//
// Versioning like the tables: kFlowsVersionMajor must match; minor versions
// only add fields in reserved space or new record events.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/spsc_ring.h"
#include "common/stats_abi.h"

namespace np::flows {

inline constexpr uint32_t kFlowsMagic = 0x4c464e4eu;  // "NNFL"
inline constexpr uint16_t kFlowsVersionMajor = 1;
inline constexpr uint16_t kFlowsVersionMinor = 0;
inline constexpr uint32_t kRingRecords = 8192;  // per producer; a power of two
inline constexpr uint32_t kMaxProducers = stats::kMaxLcores + 1;
inline constexpr uint32_t kNoRule = 0xffffffffu;
inline constexpr uint32_t kNoServicePort = 0xffffffffu;

enum class FlowEvent : uint8_t {
  kStart = 1,   // a connection entered conntrack (its first packet passed)
  kUpdate = 2,  // a long connection, periodically: counters so far
  kEnd = 3,     // the entry left conntrack (end_reason says why)
  kDenied = 4,  // a new connection NetworkPolicy refused: no entry, no end
};

enum class Verdict : uint8_t {
  kNoPolicy = 0,   // neither end isolated
  kAllowed = 1,    // allowed by a rule (ingress_rule / egress_rule say which)
  kDenied = 2,
  kWouldDeny = 3,  // audit mode: policy denies, the packets passed
  kAlwaysAllowed = 4,  // same pod (hairpin) or node <-> its own pods
};

enum class EndReason : uint8_t {
  kNone = 0,
  kExpired = 1,      // idle past its timeout
  kTcpReused = 2,    // a new SYN on a closed connection's tuple
  kPolicyCut = 3,    // a policy change denies it now
  kBackendGone = 4,  // a UDP flow whose backend left (re-balanced)
  kEvicted = 5,      // early drop when the table was full
};

// 128 bytes. Addresses in host byte order, like the rest of the ABI.
// "original" is the tuple as the client sent it (before NAT); "reply" is the
// tuple the answer travels with (after NAT: source = the backend, destination
// = the SNAT address when SNAT applied). Without NAT, reply = original
// reversed.
struct FlowRecord {
  uint64_t flow_id;  // (incarnation << 32) | conntrack entry index; 0 for kDenied
  uint64_t start_ns;  // CLOCK_REALTIME of the first packet
  uint64_t time_ns;   // when this record was written
  uint32_t original_src_ip, original_dst_ip;
  uint16_t original_src_port, original_dst_port;
  uint32_t reply_src_ip, reply_dst_ip;
  uint16_t reply_src_port, reply_dst_port;
  uint8_t protocol;
  uint8_t event;        // FlowEvent
  uint8_t verdict;      // Verdict
  uint8_t end_reason;   // EndReason (kEnd only)
  uint8_t nat_flags;    // ct::NatFlags
  uint8_t origin_flags; // ct::OriginFlags
  uint8_t tcp_state;    // ct::TcpState at the time of the record
  uint8_t producer;     // ring index
  uint32_t service_port_id;  // stable service-port ID, or kNoServicePort
  uint32_t egress_rule, ingress_rule;  // policy rule indices (kNoRule: none decided)
  uint32_t src_identity, dst_identity;  // policy identities (0: none known)
  uint32_t policy_generation;  // the generation the rule indices refer to
  uint32_t reserved0[4];  // 0; room for minor versions (also keeps the counters at offset 96)
  uint64_t packets[2];  // [0] original direction, [1] reply
  uint64_t bytes[2];
};
static_assert(sizeof(FlowRecord) == 128);

// One producer's ring (common/spsc_ring.h): records in `slots`,
// `written`/`dropped` counted by the producer.
using Ring = SpscRing<FlowRecord, kRingRecords>;
static_assert(sizeof(Ring) == 192 + kRingRecords * sizeof(FlowRecord));

struct FlowsHeader {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t producer_count;  // rings in use: workers first, then the main lcore
  uint32_t ring_records;
  uint64_t boot_epoch;      // changes each time the dataplane starts
  std::atomic<uint64_t> consumer_heartbeat_ns;  // last time the collector drained (0: none yet)
  uint8_t pad[32];
  Ring rings[kMaxProducers];
};
static_assert(offsetof(FlowsHeader, rings) == 64);

}  // namespace np::flows
