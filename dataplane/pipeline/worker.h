// One worker per lcore, run to completion: rx burst → parse → ARP or
// (fragments → conntrack → service → backend → NAT) → route → neighbour →
// tx batch per port. No locks, no allocation (mbufs come from the pool), no
// exceptions, no virtual calls on this path.
//
// How both directions of a NATed connection find their state when RSS
// spreads them over several workers: there is ONE conntrack table shared by
// all workers (dataplane/conntrack/table.h), each connection indexed under
// its original and its reply tuple. RSS keeps every packet of one direction
// on one queue, so a connection is created by exactly one worker; the reply
// may be handled by any worker, which finds the same entry through the
// reply key. SNAT ports are partitioned per worker, so allocation never
// contends. Fragments of one datagram are hashed on addresses only by RSS,
// so each worker keeps its own fragment table.
//
// NetworkPolicy is judged once per connection, when its first packet
// misses conntrack: on the source before SNAT and the destination after
// DNAT (policy_tables.h). Flows that involve an isolated pod get a
// conntrack entry even without NAT, so that their replies pass (with flow
// records on, every TCP/UDP/SCTP flow does, so that it is recorded:
// dataplane/flows/flow_emitter.h); an entry
// remembers the policy generation it was judged under and is judged again
// on its next packet after a policy change (cut if now denied), so no
// update ever scans the table.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <vector>

#include "common/stats_abi.h"
#include "dataplane/conntrack/snat_ports.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_emitter.h"
#include "dataplane/debug/debug_tap.h"
#include "dataplane/frag/fragment_table.h"
#include "dataplane/packet/parse.h"
#include "dataplane/policy/policy_tables.h"
#include "dataplane/pipeline/rate_limiter.h"
#include "dataplane/route/node_tables.h"
#include "dataplane/runtime/shared_state.h"
#include "dataplane/service/service_tables.h"

namespace np {

inline constexpr uint16_t kBurstSize = 32;

class Worker {
 public:
  Worker(SharedState& shared, uint16_t index);

  // The lcore loop, until shared.stop. Reports RCU quiescence once a loop
  // and goes offline while it sleeps when idle.
  void Run();

  // One pass over every rx queue this worker owns. Returns packets received.
  uint32_t PollOnce();

  // The per-burst pipeline (public so tests and the pcap replay drive it).
  void ProcessBurst(const NodeTables& node, const ServiceTables* services, uint8_t rx_slot,
                    rte_mbuf** packets, uint16_t count);
  void Flush(const NodeTables& node);

  // Once per loop, never waiting: starts a grace period for the entries
  // this worker retired since the last call and reclaims, into its entry
  // cache, those whose grace period has passed. Returns entries reclaimed.
  uint32_t ReclaimRetiredEntries();

 private:
  // A new Service flow planned ahead of the packet loop (PlanNewFlows).
  struct ServicePlan {
    const abi::FrontendRecord* frontend;  // nullptr: not planned (look it up)
    const abi::BackendRecord* backend;    // nullptr: NewServiceFlow picks
    uint32_t snat_first_choice;           // SnatPortAllocator::FirstChoice for backend, or kNoFirstChoice
  };
  struct TxBatch {
    uint16_t count = 0;
    rte_mbuf* packets[2 * kBurstSize];
  };
  struct Context {  // what every stage of one packet needs
    const NodeTables& node;
    const ServiceTables* services;
    const policy::PolicyTables* policy;  // null: no NetworkPolicy
    const PortRuntime& in;
    rte_mbuf* mbuf;
    uint8_t* data;
    PacketMeta& meta;
  };

  bool PrepareTracked(const NodeTables& node, const ServiceTables* services, const policy::PolicyTables* policy,
                      const PortRuntime& in, rte_mbuf* mbuf, PacketMeta& meta, ct::FlowKey& key);
  bool PrepareIpv4(Context& packet, ct::FlowKey& key);
  void HandleTracked(Context& packet, const ct::FlowKey& key, ct::LookupResult found);
  void LearnSender(Context& packet);
  bool PolicyAllows(Context& packet, uint32_t source, uint32_t destination, uint16_t destination_port);
  void PlanNewFlows(const NodeTables& node, const ServiceTables* services, const policy::PolicyTables* policy,
                    const PortRuntime& in, const PacketMeta* metas, const ct::FlowKey* keys,
                    const ct::LookupResult* found, uint16_t count);
  // Returns the SNAT first choice it computed, or kNoFirstChoice.
  uint32_t PrefetchReplyBucket(const NodeTables& node, const PacketMeta& meta, const ct::FlowKey& key,
                               const abi::BackendRecord& backend, bool external, bool local_only) const;
  bool TakePrefetchedVerdict(const policy::FlowQuery& query, policy::FlowVerdict* verdict);
  bool ReopensClosedConnection(const PacketMeta& meta, ct::LookupResult found) const;
  bool PolicyAudited(const policy::PolicyTables& policy, const policy::FlowQuery& query,
                     const policy::FlowVerdict& verdict) const;
  bool RevalidatePolicy(Context& packet, uint32_t entry);
  void NewPolicedFlow(Context& packet, const ct::FlowKey& key);
  void CountPolicyAllowed(const policy::FlowVerdict& verdict);
  void SamplePolicyDrop(const policy::FlowQuery& query, const policy::FlowVerdict& verdict, uint8_t sample_flags);
  // Flow records (dataplane/flows/): the verdict of the flow being created.
  flows::FlowPolicy LastFlowPolicy(const Context& packet) const;
  void RecordDenied(const Context& packet, const ct::FlowKey& original, const ct::FlowKey& reply,
                    uint32_t service_port_id, uint8_t nat_flags);
  void RemoveTracked(uint32_t entry, flows::EndReason reason);
  void RecordEvictions(const ct::InsertResult& inserted);
  void HandleArp(Context& packet);
  void HandleIcmpError(Context& packet);
  bool TranslateTracked(Context& packet, uint32_t entry, ct::Direction direction);
  void NewServiceFlow(Context& packet, const abi::FrontendRecord& frontend, const ct::FlowKey& key,
                      const ServicePlan* plan);
  void RejectNoEndpoints(Context& packet, uint32_t service_port_index);
  void Forward(Context& packet, uint32_t destination);
  void SendArpRequest(const NodeTables& node, const PortRuntime& out, uint32_t target);
  void Enqueue(const PortRuntime& out, rte_mbuf* mbuf);
  static uint8_t* RetagForPort(rte_mbuf* mbuf, uint8_t* frame, bool tagged, uint16_t vlan);
  void Drop(rte_mbuf* mbuf, stats::DropReason reason);
  void RefreshForNode(const NodeTables& node);
  void CountService(uint32_t counter_slot, uint32_t bytes, bool created);

  SharedState& shared_;
  uint16_t index_;
  stats::LcoreCounters& counters_;
  // This worker's free and retired conntrack entries (process memory: see
  // entry_cache.h for what a crash leaves behind). conntrack_ goes through it.
  ct::EntryCache entry_cache_;
  // Counted per packet here, added to the table's shared counters once per
  // burst: both workers' atomic adds on one line were a tenth of churn.
  ct::LocalCounters conntrack_counts_;
  ct::Table conntrack_;
  ct::SnatPortAllocator snat_;
  std::vector<FragmentEntry> fragment_storage_;
  FragmentTable fragments_;
  uint64_t node_generation_ = 0;
  uint64_t table_mutations_ = 0;  // inserts and removals by this worker
  uint32_t now_s_ = 0;
  uint64_t now_tsc_ = 0;
  RateLimiter host_limiter_;  // exception path to the node's kernel, per worker
  RateLimiter icmp_limiter_;  // generated ICMP errors
  uint64_t arp_request_budget_tsc_ = 0;
  // Snapshots of the previous poll: a loop that meets new ones is timed apart.
  const ServiceTables* last_services_ = nullptr;
  const policy::PolicyTables* last_policy_ = nullptr;
  bool saw_new_snapshot_ = false;
  // Flow records and audit mode (NodeInfo flags, refreshed with the node).
  flows::FlowEmitter flow_emitter_;
  bool track_all_flows_ = false;     // kNodeFlowRecords: every TCP/UDP/SCTP flow gets an entry
  bool policy_audit_node_ = false;   // kNodePolicyAudit: every denial passes as "would deny"
  policy::FlowVerdict flow_verdict_{};  // the newest PolicyAllows verdict
  bool flow_would_deny_ = false;        // ... denied, but audit mode let it pass
  // A burst's new Service flows, planned ahead of the packet loop
  // (PlanNewFlows): the frontend, and the Maglev backend unless session
  // affinity decides it, so that NewServiceFlow looks neither up again and
  // the reply key's conntrack bucket is on its way before the insert.
  // Valid while `active`, for the packet `current_packet_`.
  struct ServicePlans {
    bool active = false;
    ServicePlan of[kBurstSize];
  };
  ServicePlans plans_;
  // Policy verdicts of a burst's new connections, classified together
  // (PlanNewFlows); valid while `active`, for the packet `current_packet_`.
  struct PrefetchedVerdicts {
    bool active = false;
    int16_t slot_of[kBurstSize];  // per pending packet: its query, or -1
    policy::FlowQuery queries[kBurstSize];
    policy::FlowVerdict verdicts[kBurstSize];
  };
  PrefetchedVerdicts prefetched_;
  uint16_t current_packet_ = 0;
  TxBatch tx_[kMaxDpdkPorts];
  DebugTap debug_;  // npctl trace/capture hooks: one load per burst when disarmed
};

}  // namespace np
