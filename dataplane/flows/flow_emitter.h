// Writes flow records (common/flow_abi.h) into one producer's ring: each
// worker owns one emitter, the main lcore (sweeper) another.
//
// Cost: records are written only when a connection starts, ends, is denied
// or (sweeper) is reported as long-lived - never per packet of an
// established flow. A record is 128 bytes copied into the ring; the wall
// clock is read at most once per burst (BeginBurst clears it, the first
// record of the burst reads CLOCK_REALTIME through the vDSO, ~20 ns), so
// a burst of new connections shares one clock read. A full ring drops the
// record and counts it (Ring::dropped): the producer never waits.
//
// kStart and kDenied carry the policy verdict; kUpdate and kEnd do not (an
// entry does not keep it, and the sweeper never judged it): a collector
// takes it from the kStart with the same flow_id.
//
// DPDK-free, so unit tests drive it on plain memory.
#pragma once

#include <cstdint>

#include "common/flow_abi.h"
#include "common/shm_region.h"  // RealtimeNanoseconds
#include "dataplane/conntrack/table.h"

namespace np::flows {

// What policy said about a new connection, as the record carries it.
struct FlowPolicy {
  Verdict verdict = Verdict::kNoPolicy;
  uint32_t egress_rule = kNoRule;
  uint32_t ingress_rule = kNoRule;
  uint32_t src_identity = 0;
  uint32_t dst_identity = 0;
  uint32_t generation = 0;
};

// A connection refused before it got an entry: its tuples as they would
// have been (after DNAT when a Service led to the refused backend).
struct DeniedFlow {
  ct::FlowKey original;
  ct::FlowKey reply;
  uint32_t service_port_id = kNoServicePort;
  uint8_t nat_flags = 0;
  uint32_t bytes = 0;  // of the refused packet
};

class FlowEmitter {
 public:
  FlowEmitter() = default;  // writes nothing
  FlowEmitter(Ring* ring, uint8_t producer) : ring_(ring), producer_(producer) {}

  // Records are written when there is a ring and the node wants them
  // (NodeInfo kNodeFlowRecords).
  void SetEnabled(bool enabled) { enabled_ = enabled && ring_ != nullptr; }
  bool enabled() const { return enabled_; }

  // Once per burst: records of one burst share one clock read.
  void BeginBurst() { now_ns_ = 0; }
  uint64_t NowNs() {
    if (now_ns_ == 0) now_ns_ = RealtimeNanoseconds();
    return now_ns_;
  }

  void Start(const ct::Table& table, uint32_t entry, const FlowPolicy& policy);
  void Update(const ct::Table& table, uint32_t entry);
  void End(const ct::Table& table, uint32_t entry, EndReason reason);
  void Denied(const DeniedFlow& flow, const FlowPolicy& policy);

 private:
  void FromEntry(const ct::Table& table, uint32_t entry, FlowEvent event, FlowRecord& record);

  // Each record is built only once ring_->HasRoom() said yes (a full ring
  // counts the drop there): a collector that fell behind costs the producer
  // no record building.
  Ring* ring_ = nullptr;
  uint8_t producer_ = 0;
  bool enabled_ = false;
  uint64_t now_ns_ = 0;
};

}  // namespace np::flows
