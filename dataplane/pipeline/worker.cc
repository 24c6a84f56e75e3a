#include "dataplane/pipeline/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>

#include <time.h>

#include <algorithm>
#include <cstring>

#include "common/flow_hash.h"
#include "dataplane/conntrack/affinity.h"
#include "dataplane/flows/flow_policy.h"
#include "dataplane/flows/flow_region.h"
#include "dataplane/nat/rewrite.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/packet/build.h"
#include "dataplane/runtime/stats_region.h"

namespace np {
namespace {

using stats::DropReason;

constexpr uint32_t kFragmentTableSize = 4096;
constexpr uint32_t kIdleLoopsBeforeSleep = 256;
constexpr uint32_t kMaxSleepMicroseconds = 1000;
// Linux's icmp_ratelimit allows about 1000 errors a second per host.
constexpr uint64_t kIcmpErrorsPerSecond = 1000;

void Increment(std::atomic<uint64_t>& counter, uint64_t amount = 1) {
  // Only this lcore writes its block: a plain load+store is enough.
  counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}

MacAddress ToMac(uint64_t packed) {
  MacAddress mac;
  NeighborTable::MacToBytes(packed, mac.bytes);
  return mac;
}

bool IsTrackedProtocol(uint8_t protocol) {
  return protocol == kProtocolTcp || protocol == kProtocolUdp || protocol == kProtocolSctp ||
         protocol == kProtocolIcmp;
}

debug::BackendReason TraceBackendReason(uint16_t service_flags, bool affinity_remembered, bool local_only) {
  if (service_flags & abi::kAffinityClientIP)
    return affinity_remembered ? debug::BackendReason::kAffinityHit : debug::BackendReason::kAffinityNew;
  return local_only ? debug::BackendReason::kMaglevLocal : debug::BackendReason::kMaglev;
}

// Local traffic policies: external clients of NodePort/LB/external IPs
// with externalTrafficPolicy Local; in-cluster clients with
// internalTrafficPolicy Local.
bool IsExternalClient(const NodeTables& node, const PortRuntime& in, uint32_t source) {
  return in.role == abi::PortRole::kUplink && !node.InCluster(source);
}
bool LocalEndpointsOnly(bool external, const abi::FrontendRecord& frontend, const abi::ServicePortRecord& sp) {
  return external ? (sp.flags & abi::kExternalTrafficLocal) && frontend.kind != abi::FrontendKind::kClusterIP
                  : (sp.flags & abi::kInternalTrafficLocal) != 0;
}

// SNAT: a pod reaching itself through its Service is SNATed to the pod
// gateway (else it would answer itself directly); external traffic with
// externalTrafficPolicy Cluster is SNATed to the node, as kube-proxy's
// masquerade does, so replies come back through this node. 0: no SNAT.
uint32_t SnatAddressFor(const NodeTables& node, const PacketMeta& meta, const abi::BackendRecord& backend,
                        bool external, bool local_only) {
  if (meta.src_ip == backend.ipv4) return node.info().pod_gateway_ipv4;
  if (external && !local_only) return node.IsNodeAddress(meta.dst_ip) ? meta.dst_ip : node.primary_node_address();
  return 0;
}

bool SameQuery(const policy::FlowQuery& a, const policy::FlowQuery& b) {
  return a.src_ipv4 == b.src_ipv4 && a.dst_ipv4 == b.dst_ipv4 && a.dst_port == b.dst_port && a.protocol == b.protocol;
}

uint32_t SourceAddressFor(const NodeTables& node, const PortRuntime& port) {
  return port.role == abi::PortRole::kUplink ? node.primary_node_address() : node.info().pod_gateway_ipv4;
}

}  // namespace

Worker::Worker(SharedState& shared, uint16_t index)
    : shared_(shared),
      index_(index),
      counters_(shared.stats->lcore(index)),
      entry_cache_(shared.conntrack->memory().pool),
      conntrack_(*shared.conntrack),
      fragment_storage_(kFragmentTableSize),
      fragments_(fragment_storage_, rte_get_tsc_hz() * 2),
      debug_(shared.debug, index) {
  if (shared.flows != nullptr && index < shared.flows->producer_count())
    flow_emitter_ = flows::FlowEmitter(&shared.flows->ring(index), static_cast<uint8_t>(index));
  conntrack_.UseCache(&entry_cache_, index_);
  conntrack_.UseLocalCounters(&conntrack_counts_);
}

void Worker::RefreshForNode(const NodeTables& node) {
  node_generation_ = node.generation();
  const abi::NodeInfo& info = node.info();
  snat_ = ct::SnatPortAllocator(info.snat_port_min, info.snat_port_max, index_, shared_.worker_count,
                                info.maglev_seed);
  const uint64_t host_rate = std::max<uint64_t>(1, info.host_rate_limit_pps / shared_.worker_count);
  host_limiter_.Configure(host_rate, std::max<uint64_t>(32, host_rate / 10));
  icmp_limiter_.Configure(kIcmpErrorsPerSecond, kIcmpErrorsPerSecond / 10);
  track_all_flows_ = (info.flags & abi::kNodeFlowRecords) != 0;
  flow_emitter_.SetEnabled(track_all_flows_);
  policy_audit_node_ = (info.flags & abi::kNodePolicyAudit) != 0;
  // Pods with a configured MAC need no ARP before their first packet.
  for (const PortRuntime& port : node.ports())
    if (port.role == abi::PortRole::kPod && port.peer_mac != 0)
      shared_.neighbors->Learn(port.ipv4, port.peer_mac, port.dpdk_port, shared_.now_s.load(std::memory_order_relaxed));
}

void Worker::Run() {
  rte_rcu_qsbr_thread_register(shared_.rcu, index_);
  rte_rcu_qsbr_thread_online(shared_.rcu, index_);
  uint32_t idle_loops = 0;
  uint64_t last_tsc = rte_rdtsc();
  while (!shared_.stop.load(std::memory_order_acquire)) {
    rte_rcu_qsbr_quiescent(shared_.rcu, index_);
    const uint32_t received = PollOnce();
    ReclaimRetiredEntries();
    const uint64_t tsc = rte_rdtsc();
    Increment(counters_.loops);
    Increment(counters_.total_cycles, tsc - last_tsc);
    if (received > 0) {
      Increment(counters_.busy_loops);
      Increment(counters_.busy_cycles, tsc - last_tsc);
      if (tsc - last_tsc > counters_.longest_loop_cycles.load(std::memory_order_relaxed))
        counters_.longest_loop_cycles.store(tsc - last_tsc, std::memory_order_relaxed);
      if (saw_new_snapshot_ && tsc - last_tsc > counters_.longest_swap_loop_cycles.load(std::memory_order_relaxed))
        counters_.longest_swap_loop_cycles.store(tsc - last_tsc, std::memory_order_relaxed);
      idle_loops = 0;
    } else if (++idle_loops > kIdleLoopsBeforeSleep) {
      // Idle backoff: an idle dataplane must not burn a core. Offline while
      // asleep, so table swaps never wait for a sleeping worker.
      const uint32_t sleep_us = std::min<uint32_t>(kMaxSleepMicroseconds, (idle_loops - kIdleLoopsBeforeSleep) * 4);
      rte_rcu_qsbr_thread_offline(shared_.rcu, index_);
      const timespec pause{0, static_cast<long>(sleep_us) * 1000};
      nanosleep(&pause, nullptr);
      rte_rcu_qsbr_thread_online(shared_.rcu, index_);
    }
    last_tsc = rte_rdtsc();
  }
  rte_rcu_qsbr_thread_offline(shared_.rcu, index_);
  rte_rcu_qsbr_thread_unregister(shared_.rcu, index_);
  // What this worker still holds goes back to the shared lists; the main
  // lcore reclaims the retired part after its own grace period.
  entry_cache_.Drain();
}

uint32_t Worker::ReclaimRetiredEntries() {
  // The token is taken after this loop's unlinks (rte_rcu_qsbr_start is a
  // release): a reader that found one of them reports a later quiescent
  // state before the check below lets the entry go.
  const uint32_t reclaimed =
      conntrack_.ReclaimCached([&] { return rte_rcu_qsbr_start(shared_.rcu); },
                               [&](uint64_t token) { return rte_rcu_qsbr_check(shared_.rcu, token, false) == 1; });
  if (reclaimed != 0) conntrack_.FlushCounters();
  return reclaimed;
}

uint32_t Worker::PollOnce() {
  const NodeTables* node = shared_.node.load(std::memory_order_acquire);
  if (node == nullptr) return 0;
  const ServiceTables* services = shared_.services.load(std::memory_order_acquire);
  const policy::PolicyTables* policy = shared_.policy.load(std::memory_order_acquire);
  saw_new_snapshot_ = services != last_services_ || policy != last_policy_;
  last_services_ = services;
  last_policy_ = policy;
  uint32_t received = 0;
  rte_mbuf* packets[kBurstSize];
  const auto& ports = node->ports();
  for (uint8_t slot = 0; slot < ports.size(); ++slot) {
    const PortRuntime& port = ports[slot];
    for (uint16_t queue = index_; queue < port.rx_queues; queue += shared_.worker_count) {
      const uint16_t count = rte_eth_rx_burst(port.dpdk_port, queue, packets, kBurstSize);
      if (count == 0) continue;
      received += count;
      ProcessBurst(*node, services, slot, packets, count);
    }
  }
  Flush(*node);
  return received;
}

void Worker::ProcessBurst(const NodeTables& node, const ServiceTables* services, uint8_t rx_slot,
                          rte_mbuf** packets, uint16_t count) {
  if (node.generation() != node_generation_) RefreshForNode(node);
  now_s_ = shared_.now_s.load(std::memory_order_relaxed);
  now_tsc_ = rte_rdtsc();
  flow_emitter_.BeginBurst();
  const policy::PolicyTables* policy = shared_.policy.load(std::memory_order_acquire);
  const PortRuntime& in = node.port(rx_slot);
  stats::PortCounters& port_counters = counters_.ports[in.counter_slot];
  debug_.BeginBurst(now_s_);
  if (debug_.capture.armed()) debug_.capture.Received(in.counter_slot, packets, count);
  // Two stages over the burst: parse everything and finish what needs no
  // connection state (ARP, drops, fragments without head, ICMP errors...),
  // then look the rest up in conntrack in one batch (the table prefetches
  // every bucket first) and carry on packet by packet.
  PacketMeta metas[kBurstSize];
  rte_mbuf* pending[kBurstSize];
  ct::FlowKey keys[kBurstSize];
  ct::LookupResult found[kBurstSize];
  for (uint16_t first = 0; first < count; first += kBurstSize) {
    const uint16_t chunk = std::min<uint16_t>(kBurstSize, static_cast<uint16_t>(count - first));
    uint64_t bytes = 0;
    uint16_t tracked = 0;
    // Every packet's headers on their way before the first is parsed.
    for (uint16_t i = 0; i < chunk; ++i) rte_prefetch0(rte_pktmbuf_mtod(packets[first + i], void*));
    for (uint16_t i = 0; i < chunk; ++i) {
      rte_mbuf* mbuf = packets[first + i];
      bytes += rte_pktmbuf_pkt_len(mbuf);
      if (PrepareTracked(node, services, policy, in, mbuf, metas[tracked], keys[tracked])) pending[tracked++] = mbuf;
    }
    Increment(port_counters.rx_packets, chunk);
    Increment(port_counters.rx_bytes, bytes);
    if (tracked == 0) continue;
    conntrack_.LookupBurst(keys, tracked, found);
    PlanNewFlows(node, services, policy, in, metas, keys, found, tracked);
    const uint64_t mutations_at_lookup = table_mutations_;
    for (uint16_t i = 0; i < tracked; ++i) {
      current_packet_ = i;
      // An earlier packet of this burst created or removed an entry: the
      // batched answer may be stale for this one.
      if (table_mutations_ != mutations_at_lookup) found[i] = conntrack_.Lookup(keys[i]);
      Context packet{node, services, policy, in, pending[i], rte_pktmbuf_mtod(pending[i], uint8_t*), metas[i]};
      if (debug_.trace.armed()) debug_.trace.SelectTracked(pending[i], metas[i], in.counter_slot, found[i]);
      HandleTracked(packet, keys[i], found[i]);
    }
    prefetched_.active = false;
    plans_.active = false;
  }
  conntrack_.FlushCounters();
}

// Stage one for one packet. Returns true when the packet needs its
// connection looked up (key filled); every other packet is finished here.
bool Worker::PrepareTracked(const NodeTables& node, const ServiceTables* services, const policy::PolicyTables* policy,
                            const PortRuntime& in, rte_mbuf* mbuf, PacketMeta& meta, ct::FlowKey& key) {
  if (mbuf->nb_segs > 1 && rte_pktmbuf_linearize(mbuf) != 0) return Drop(mbuf, DropReason::kParseError), false;
  uint8_t* data = rte_pktmbuf_mtod(mbuf, uint8_t*);
  const ParseResult parsed = Parse(data, rte_pktmbuf_data_len(mbuf), meta);
  if (debug_.trace.armed())
    debug_.trace.SelectParsed(parsed == ParseResult::kOk ? mbuf : nullptr, meta, in.counter_slot);
  if (parsed == ParseResult::kIpv6) return Drop(mbuf, DropReason::kIpv6NotForwarded), false;
  if (parsed != ParseResult::kOk) return Drop(mbuf, DropReason::kParseError), false;
  Context packet{node, services, policy, in, mbuf, data, meta};
  if (meta.ethertype == kEtherTypeArp) return HandleArp(packet), false;
  // Ethernet padding must not travel on as IP payload.
  if (meta.frame_length < rte_pktmbuf_data_len(mbuf))
    rte_pktmbuf_trim(mbuf, static_cast<uint16_t>(rte_pktmbuf_data_len(mbuf) - meta.frame_length));
  return PrepareIpv4(packet, key);
}

void Worker::HandleArp(Context& packet) {
  const ArpMeta& arp = packet.meta.arp;
  const PortRuntime& in = packet.in;
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Arp(arp, in.counter_slot);
  // A pod may only speak for its own address (anti-spoofing).
  const bool sender_trusted = in.role != abi::PortRole::kPod || arp.sender_ip == in.ipv4;
  if (arp.sender_ip != 0 && sender_trusted)
    shared_.neighbors->Learn(arp.sender_ip, NeighborTable::MacFromBytes(arp.sender_mac.bytes), in.dpdk_port, now_s_);
  if (arp.opcode != kArpOpRequest || arp.target_ip == arp.sender_ip) {
    rte_pktmbuf_free(packet.mbuf);
    return;
  }
  bool answer = false;
  switch (in.role) {
    case abi::PortRole::kUplink:
      answer = packet.node.IsNodeAddress(arp.target_ip) ||
               (packet.services != nullptr && packet.services->OwnsAddress(arp.target_ip));
      break;
    case abi::PortRole::kPod:  // everything a pod reaches goes through us (proxy ARP)
      answer = sender_trusted && arp.target_ip != in.ipv4;
      break;
    case abi::PortRole::kHost:  // likewise for the node's kernel, except its own addresses
      answer = !packet.node.IsNodeAddress(arp.target_ip);
      break;
  }
  if (!answer) {
    Drop(packet.mbuf, DropReason::kNotForUs);
    return;
  }
  const ArpMeta request = arp;
  const uint32_t length = BuildArpReply(packet.data, rte_pktmbuf_data_len(packet.mbuf) + rte_pktmbuf_tailroom(packet.mbuf),
                                        ToMac(in.mac), request.target_ip, request.sender_mac, request.sender_ip,
                                        packet.meta.has_vlan ? packet.meta.vlan_id : 0);
  if (length == 0) return Drop(packet.mbuf, DropReason::kParseError);
  packet.mbuf->data_len = static_cast<uint16_t>(length);
  packet.mbuf->pkt_len = length;
  Increment(counters_.arp_replies);
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.ArpReply(in.counter_slot);
  Enqueue(in, packet.mbuf);
}

bool Worker::PrepareIpv4(Context& packet, ct::FlowKey& key) {
  PacketMeta& meta = packet.meta;
  const PortRuntime& in = packet.in;
  if (in.role == abi::PortRole::kPod && meta.src_ip != in.ipv4)
    return Drop(packet.mbuf, DropReason::kSpoofedSource), false;

  if (meta.is_fragment) {
    Increment(counters_.fragments);
    if (meta.first_fragment) {
      fragments_.RememberFirst(meta, now_tsc_);
    } else if (fragments_.Lookup(meta, now_tsc_, meta.src_port, meta.dst_port)) {
      // Later fragments follow their first one's conntrack entry and NAT.
    } else {
      return Drop(packet.mbuf, DropReason::kFragmentWithoutHead), false;
    }
  }
  if (meta.is_icmp_error || !IsTrackedProtocol(meta.protocol)) LearnSender(packet);
  if (meta.is_icmp_error) return HandleIcmpError(packet), false;
  if (!IsTrackedProtocol(meta.protocol)) {
    if (!PolicyAllows(packet, meta.src_ip, meta.dst_ip, 0)) return Drop(packet.mbuf, DropReason::kPolicyDenied), false;
    return Forward(packet, meta.dst_ip), false;
  }
  key = ct::FlowKey{meta.src_ip, meta.dst_ip, meta.src_port, meta.dst_port, meta.protocol};
  return true;
}

// Stage two: the packet's connection is known (or known to be new).
void Worker::HandleTracked(Context& packet, const ct::FlowKey& key, ct::LookupResult found) {
  PacketMeta& meta = packet.meta;
  const PortRuntime& in = packet.in;
  if (ReopensClosedConnection(meta, found)) {
    RemoveTracked(found.entry, flows::EndReason::kTcpReused);
    found = ct::LookupResult{};
  }
  if (found.hit()) {
    ct::Entry& entry = conntrack_.At(found.entry);
    const ServiceTables* services = packet.services;
    if (services != nullptr && entry.service_port_id != ct::kNoServicePort &&
        entry.services_generation.load(std::memory_order_relaxed) != services->version()) {
      // Lazy revalidation after a table update: a UDP flow whose backend was
      // removed is re-balanced at once (no stale-UDP blackhole, kubernetes
      // #48370); TCP keeps its backend while the connection lives.
      if (services->HasBackend(entry.service_port_id, entry.backend_ip(), entry.backend_port()) ||
          meta.protocol == kProtocolTcp) {
        entry.services_generation.store(services->version(), std::memory_order_relaxed);
        // The service's counter slot, current for this generation.
        if (auto index = services->IndexOf(entry.service_port_id))
          entry.counter_slot.store(static_cast<uint16_t>(services->counter_slot(*index)), std::memory_order_relaxed);
      } else {
        RemoveTracked(found.entry, flows::EndReason::kBackendGone);
        found = ct::LookupResult{};
      }
    }
  }
  if (found.hit() && packet.policy != nullptr &&
      conntrack_.At(found.entry).policy_epoch.load(std::memory_order_relaxed) !=
          static_cast<uint32_t>(packet.policy->generation()) &&
      !RevalidatePolicy(packet, found.entry)) {
    RemoveTracked(found.entry, flows::EndReason::kPolicyCut);  // the new policy denies this connection: cut it
    return Drop(packet.mbuf, DropReason::kPolicyDenied);
  }
  if (found.hit()) {
    // Keep the sender's neighbour entry fresh, at most once a second per
    // connection (established packets otherwise skip learning).
    if (conntrack_.At(found.entry).last_seen_s.load(std::memory_order_relaxed) != now_s_) LearnSender(packet);
    if (debug_.trace.Selected(packet.mbuf))
      debug_.trace.Conntrack(debug::ConntrackOutcome::kHit, found, &conntrack_.At(found.entry));
    if (!TranslateTracked(packet, found.entry, found.direction)) return;
    const ct::Entry& entry = conntrack_.At(found.entry);
    Increment(counters_.conntrack_hits);
    if (entry.service_port_id != ct::kNoServicePort)
      CountService(entry.counter_slot.load(std::memory_order_relaxed), rte_pktmbuf_pkt_len(packet.mbuf), false);
    const ct::FlowKey& other = entry.tuple[1 - static_cast<int>(found.direction)];
    return Forward(packet, other.src_ip);
  }

  LearnSender(packet);
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Conntrack(debug::ConntrackOutcome::kNew, found, nullptr);
  if (packet.services != nullptr && meta.protocol != kProtocolIcmp && (meta.has_l4 || meta.is_fragment)) {
    const ServicePlan* plan =
        plans_.active && plans_.of[current_packet_].frontend != nullptr ? &plans_.of[current_packet_] : nullptr;
    const abi::FrontendRecord* frontend =
        plan != nullptr ? plan->frontend : packet.services->FindFrontend(meta.dst_ip, meta.dst_port, meta.protocol);
    if (frontend != nullptr) return NewServiceFlow(packet, *frontend, key, plan);
  }

  if (packet.node.IsNodeAddress(meta.dst_ip) && in.role == abi::PortRole::kHost)
    return Drop(packet.mbuf, DropReason::kNotForUs);
  if (packet.policy != nullptr && (packet.policy->Isolated(meta.src_ip, abi::PolicyDirection::kEgress) ||
                                   packet.policy->Isolated(meta.dst_ip, abi::PolicyDirection::kIngress)))
    return NewPolicedFlow(packet, key);
  // Flow records on: every connection gets an entry (without NAT), so that
  // its start and end are recorded; established packets cost no more.
  if (track_all_flows_ && meta.protocol != kProtocolIcmp) return NewPolicedFlow(packet, key);
  Forward(packet, meta.dst_ip);
}

// Replies go back to the MAC a flow came from. On an uplink with a gateway,
// off-link sources are reached through the gateway anyway: learning every
// client there would only fill the table.
void Worker::LearnSender(Context& packet) {
  const PortRuntime& in = packet.in;
  const uint32_t source = packet.meta.src_ip;
  const bool learn = in.role != abi::PortRole::kUplink ||
                     (packet.node.info().uplink_gateway_ipv4 == 0 && !packet.node.IsNodeAddress(source));
  if (learn)
    shared_.neighbors->Learn(source, NeighborTable::MacFromBytes(packet.data + kEthSrcOffset), in.dpdk_port, now_s_);
}

// A new SYN on a closed connection's tuple (the client reuses its port, or
// a churn of short connections): a new connection, with a fresh backend
// choice, as Linux's conntrack does.
bool Worker::ReopensClosedConnection(const PacketMeta& meta, ct::LookupResult found) const {
  if (!found.hit() || meta.protocol != kProtocolTcp || found.direction != ct::Direction::kOriginal ||
      (meta.tcp_flags & (ct::tcp_flags::kSyn | ct::tcp_flags::kAck)) != ct::tcp_flags::kSyn)
    return false;
  const auto state = static_cast<ct::TcpState>(conntrack_.At(found.entry).tcp_state.load(std::memory_order_relaxed));
  return state == ct::TcpState::kTimeWait || state == ct::TcpState::kClose;
}

// The burst's new connections, before the packet loop:
//  - A Service flow's frontend and Maglev backend (a pure function of the
//    flow) are chosen once, here, for NewServiceFlow (plans_), and the
//    conntrack bucket of the reply key it will insert is prefetched. Flows
//    whose choice has side effects (session affinity) are left to the
//    per-packet path. A packet whose lookup turns stale within the burst
//    (an earlier packet created or removed its entry) just ignores or lacks
//    its plan.
//  - The verdicts they will ask for are classified in one Check call:
//    rte_acl classifies many flows at once with SIMD, while one flow per
//    call walks the tries alone (a scalar search, latency bound). A Service
//    flow is judged on its backend. A prefetched verdict is used only for
//    the very query it answers, so a wrong guess costs a second
//    classification, never a wrong verdict.
void Worker::PlanNewFlows(const NodeTables& node, const ServiceTables* services, const policy::PolicyTables* policy,
                          const PortRuntime& in, const PacketMeta* metas, const ct::FlowKey* keys,
                          const ct::LookupResult* found, uint16_t count) {
  // No pod isolated: no verdict to batch (each new flow's Check is two
  // address lookups).
  const bool judging = policy != nullptr && policy->isolates_any();
  uint16_t queries = 0;
  bool planned = false;
  for (uint16_t i = 0; i < count; ++i) {
    prefetched_.slot_of[i] = -1;
    plans_.of[i] = ServicePlan{nullptr, nullptr, ct::SnatPortAllocator::kNoFirstChoice};
    if (found[i].hit() && !ReopensClosedConnection(metas[i], found[i])) continue;
    const PacketMeta& meta = metas[i];
    const ct::FlowKey& key = keys[i];
    policy::FlowQuery query{key.src_ip, key.dst_ip, key.dst_port, key.protocol, 0};
    const abi::FrontendRecord* frontend =
        services != nullptr && meta.protocol != kProtocolIcmp && (meta.has_l4 || meta.is_fragment)
            ? services->FindFrontend(meta.dst_ip, meta.dst_port, meta.protocol)
            : nullptr;
    if (frontend != nullptr) {
      plans_.of[i].frontend = frontend;
      planned = true;
      const abi::ServicePortRecord& sp = services->service_port(frontend->service_port_index);
      if ((sp.flags & abi::kAffinityClientIP) || sp.backend_count == 0) continue;
      const bool external = IsExternalClient(node, in, meta.src_ip);
      const bool local_only = LocalEndpointsOnly(external, *frontend, sp);
      const abi::BackendRecord* picked = services->PickBackend(
          frontend->service_port_index,
          FlowHash(key.src_ip, key.src_port, key.dst_ip, key.dst_port, key.protocol, node.info().maglev_seed),
          local_only);
      if (picked == nullptr) continue;
      plans_.of[i].backend = picked;
      plans_.of[i].snat_first_choice = PrefetchReplyBucket(node, meta, key, *picked, external, local_only);
      if (!judging) continue;
      query.dst_ipv4 = picked->ipv4;
      query.dst_port = picked->port;
      if (!policy->Isolated(query.src_ipv4, abi::PolicyDirection::kEgress) &&
          !policy->Isolated(query.dst_ipv4, abi::PolicyDirection::kIngress))
        continue;  // not judged either
    } else if (!judging || (!policy->Isolated(key.src_ip, abi::PolicyDirection::kEgress) &&
                            !policy->Isolated(key.dst_ip, abi::PolicyDirection::kIngress))) {
      continue;  // not judged: nothing to classify
    }
    // The packets of one connection often share a burst (SYN then data or
    // RST): the same question is asked once.
    if (queries > 0 && SameQuery(prefetched_.queries[queries - 1], query)) {
      prefetched_.slot_of[i] = static_cast<int16_t>(queries - 1);
      continue;
    }
    prefetched_.slot_of[i] = static_cast<int16_t>(queries);
    prefetched_.queries[queries++] = query;
  }
  plans_.active = planned;
  prefetched_.active = queries > 1;  // one flow alone gains nothing from the batch
  if (prefetched_.active) policy->Check(prefetched_.queries, queries, prefetched_.verdicts);
}

// The reply key NewServiceFlow will insert (its first SNAT port when the
// flow is SNATed) lives in a bucket no packet of this burst touched yet:
// fetched now, it is in cache by the time the insert locks it.
uint32_t Worker::PrefetchReplyBucket(const NodeTables& node, const PacketMeta& meta, const ct::FlowKey& key,
                                     const abi::BackendRecord& backend, bool external, bool local_only) const {
  const uint32_t snat_ip = SnatAddressFor(node, meta, backend, external, local_only);
  if (snat_ip == 0) {
    conntrack_.PrefetchHome(ct::FlowKey{backend.ipv4, key.src_ip, backend.port, key.src_port, key.protocol});
    return ct::SnatPortAllocator::kNoFirstChoice;
  }
  const ct::SnatRequest request{key, backend.ipv4, backend.port, snat_ip};
  const uint32_t first_choice = snat_.FirstChoice(request);
  conntrack_.PrefetchHome(ct::SnatPortAllocator::ReplyKey(request, snat_.PortAt(first_choice)));
  return first_choice;
}

bool Worker::TakePrefetchedVerdict(const policy::FlowQuery& query, policy::FlowVerdict* verdict) {
  if (!prefetched_.active) return false;
  const int16_t slot = prefetched_.slot_of[current_packet_];
  if (slot < 0 || !SameQuery(prefetched_.queries[slot], query)) return false;
  prefetched_.slot_of[current_packet_] = -1;  // one answer per packet
  *verdict = prefetched_.verdicts[slot];
  return true;
}

// One flow's verdict. Cheap when no NetworkPolicy applies to either end.
bool Worker::PolicyAllows(Context& packet, uint32_t source, uint32_t destination, uint16_t destination_port) {
  flow_would_deny_ = false;
  if (packet.policy == nullptr) {
    flow_verdict_ = policy::FlowVerdict{true, policy::Reason::kNotJudged, 0, 0, policy::kNoRule, policy::kNoRule};
    if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Policy(nullptr, nullptr);
    return true;
  }
  const policy::FlowQuery query{source, destination, destination_port, packet.meta.protocol, 0};
  policy::FlowVerdict& verdict = flow_verdict_;
  if (!TakePrefetchedVerdict(query, &verdict)) packet.policy->Check(&query, 1, &verdict);
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Policy(&query, &verdict);
  if (verdict.allowed) {
    if (verdict.reason == policy::Reason::kAllowedByRule) CountPolicyAllowed(verdict);
    return true;
  }
  if (PolicyAudited(*packet.policy, query, verdict)) {
    // Audit mode: what would be denied passes, tracked like an allowed
    // connection, and is counted and logged as "would deny".
    flow_would_deny_ = true;
    Increment(counters_.policy_would_deny_connections);
    SamplePolicyDrop(query, verdict, stats::kSampleWouldDeny);
    return true;
  }
  SamplePolicyDrop(query, verdict, 0);
  return false;
}

// A denial passes when every pod whose policy denies (the source for
// egress, the destination for ingress) is in audit mode: its namespace is
// annotated, or the whole node is.
bool Worker::PolicyAudited(const policy::PolicyTables& policy, const policy::FlowQuery& query,
                           const policy::FlowVerdict& verdict) const {
  if (policy_audit_node_) return true;
  const bool egress_denies =
      verdict.egress_rule == policy::kNoRule && policy.Isolated(query.src_ipv4, abi::PolicyDirection::kEgress);
  const bool ingress_denies =
      verdict.ingress_rule == policy::kNoRule && policy.Isolated(query.dst_ipv4, abi::PolicyDirection::kIngress);
  const auto audited = [&](uint32_t ipv4) { return (policy.Lookup(ipv4).identity_flags & abi::kIdentityPolicyAudit) != 0; };
  return (egress_denies || ingress_denies) && (!egress_denies || audited(query.src_ipv4)) &&
         (!ingress_denies || audited(query.dst_ipv4));
}

void Worker::CountPolicyAllowed(const policy::FlowVerdict& verdict) {
  Increment(counters_.policy_allowed_connections);
  for (uint32_t rule : {verdict.egress_rule, verdict.ingress_rule})
    if (rule != policy::kNoRule) Increment(counters_.policy_rule_connections[std::min(rule, stats::kMaxPolicyRules - 1)]);
}

// The drop log: the newest denied connections, a ring per lcore.
void Worker::SamplePolicyDrop(const policy::FlowQuery& query, const policy::FlowVerdict& verdict,
                              uint8_t sample_flags) {
  if (!(sample_flags & stats::kSampleWouldDeny)) Increment(counters_.policy_denied_packets);
  const uint64_t sequence = counters_.policy_drop_sequence.load(std::memory_order_relaxed) + 1;
  stats::PolicyDropSample& sample = counters_.policy_drops[sequence % stats::kPolicyDropSamples];
  sample.sequence.store(0, std::memory_order_relaxed);  // torn while rewritten
  std::atomic_thread_fence(std::memory_order_release);
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  sample.time_ns = static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
  sample.src_ip = query.src_ipv4;
  sample.dst_ip = query.dst_ipv4;
  sample.dst_port = query.dst_port;
  sample.protocol = query.protocol;
  sample.reason = static_cast<uint8_t>(verdict.reason);
  sample.src_identity = verdict.src_identity;
  sample.dst_identity = verdict.dst_identity;
  sample.flags = sample_flags;
  sample.sequence.store(sequence, std::memory_order_release);
  counters_.policy_drop_sequence.store(sequence, std::memory_order_release);
}

// A tracked connection after a policy change: judged again as when it
// started (original source, destination after DNAT).
bool Worker::RevalidatePolicy(Context& packet, uint32_t entry_index) {
  ct::Entry& entry = conntrack_.At(entry_index);
  const ct::FlowKey& original = entry.tuple[static_cast<int>(ct::Direction::kOriginal)];
  const ct::FlowKey& reply = entry.tuple[static_cast<int>(ct::Direction::kReply)];
  Increment(counters_.policy_revalidations);
  const policy::FlowQuery query{original.src_ip, reply.src_ip, reply.src_port, original.protocol, 0};
  policy::FlowVerdict verdict;
  packet.policy->Check(&query, 1, &verdict);
  if (!verdict.allowed) {
    // Audit mode keeps it (sampled as "would deny"; the counter is for new
    // connections only).
    const bool audited = PolicyAudited(*packet.policy, query, verdict);
    SamplePolicyDrop(query, verdict, audited ? stats::kSampleWouldDeny : 0);
    if (!audited) return false;
  }
  entry.policy_epoch.store(static_cast<uint32_t>(packet.policy->generation()), std::memory_order_relaxed);
  return true;
}

// A new connection without NAT to or from an isolated pod (or any, when
// flow records are on): judged once, then tracked so that its replies (and
// the rest of it) pass. A TCP segment without SYN is judged like a SYN: a
// deny cannot be walked around.
void Worker::NewPolicedFlow(Context& packet, const ct::FlowKey& key) {
  if (!PolicyAllows(packet, key.src_ip, key.dst_ip, key.dst_port)) {
    RecordDenied(packet, key, key.Reversed(), ct::kNoServicePort, 0);
    return Drop(packet.mbuf, DropReason::kPolicyDenied);
  }
  ct::EntryInit init;
  init.policy_epoch = packet.policy != nullptr ? static_cast<uint32_t>(packet.policy->generation()) : 0;
  if (packet.meta.protocol == kProtocolTcp) init.tcp_state = ct::InitialTcpState(packet.meta.tcp_flags).state;
  if (flow_emitter_.enabled()) init.start_ns = flow_emitter_.NowNs();
  const ct::InsertResult inserted = conntrack_.Insert(key, key.Reversed(), init, now_s_);
  ++table_mutations_;
  RecordEvictions(inserted);
  if (inserted.status == ct::InsertStatus::kInserted) {
    Increment(counters_.conntrack_inserts);
    conntrack_.Touch(inserted.entry, ct::Direction::kOriginal, rte_pktmbuf_pkt_len(packet.mbuf), now_s_);
    flow_emitter_.Start(conntrack_, inserted.entry, LastFlowPolicy(packet));
  }
  // Untracked (table full): the packet still passes; its replies will be
  // judged on their own.
  Forward(packet, key.dst_ip);
}

// Rewrites a packet of a tracked connection travelling in `direction`: its
// addresses become those of the other direction's tuple, reversed.
bool Worker::TranslateTracked(Context& packet, uint32_t entry_index, ct::Direction direction) {
  const ct::Entry& entry = conntrack_.At(entry_index);
  const ct::FlowKey& other = entry.tuple[1 - static_cast<int>(direction)];
  const PacketMeta& meta = packet.meta;
  // Most packets are ACKs of established connections: no state to move.
  constexpr uint8_t kStateChangingFlags = ct::tcp_flags::kSyn | ct::tcp_flags::kFin | ct::tcp_flags::kRst;
  if (meta.protocol == kProtocolTcp && meta.has_l4 &&
      ((meta.tcp_flags & kStateChangingFlags) != 0 ||
       entry.tcp_state.load(std::memory_order_relaxed) != static_cast<uint8_t>(ct::TcpState::kEstablished)))
    conntrack_.UpdateTcpState(entry_index, direction, meta.tcp_flags);
  conntrack_.Touch(entry_index, direction, rte_pktmbuf_pkt_len(packet.mbuf), now_s_);
  const bool source_changes = other.dst_ip != meta.src_ip || other.dst_port != meta.src_port;
  const bool destination_changes = other.src_ip != meta.dst_ip || other.src_port != meta.dst_port;
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Nat(meta, other, entry_index, direction);
  bool ok = true;
  if (source_changes && destination_changes)
    ok = RewriteSourceAndDestination(packet.data, meta, other.dst_ip, other.dst_port, other.src_ip, other.src_port);
  else if (source_changes)
    ok = RewriteSource(packet.data, meta, other.dst_ip, other.dst_port);
  else if (destination_changes)
    ok = RewriteDestination(packet.data, meta, other.src_ip, other.src_port);
  if (!ok) Drop(packet.mbuf, DropReason::kUnsupportedProtocol);
  return ok;
}

void Worker::NewServiceFlow(Context& packet, const abi::FrontendRecord& frontend, const ct::FlowKey& key,
                            const ServicePlan* plan) {
  const ServiceTables& services = *packet.services;
  const NodeTables& node = packet.node;
  const PacketMeta& meta = packet.meta;
  const uint32_t sp_index = frontend.service_port_index;
  const abi::ServicePortRecord& sp = services.service_port(sp_index);
  if (debug_.trace.Selected(packet.mbuf))
    debug_.trace.Service(frontend.ipv4, frontend.port, static_cast<uint8_t>(frontend.kind), sp.id);
  if (frontend.kind == abi::FrontendKind::kLoadBalancer && !services.SourceAllowed(sp_index, meta.src_ip))
    return Drop(packet.mbuf, DropReason::kSourceRangeDenied);
  if (sp.backend_count == 0) return RejectNoEndpoints(packet, sp_index);

  const bool external = IsExternalClient(node, packet.in, meta.src_ip);
  const bool local_only = LocalEndpointsOnly(external, frontend, sp);
  const uint32_t seed = node.info().maglev_seed;
  const abi::BackendRecord* picked = nullptr;
  bool affinity_remembered = false;  // for the trace: why this backend
  if (sp.flags & abi::kAffinityClientIP) {
    const ct::AffinityKey affinity_key{meta.src_ip, sp.id};
    const ct::AffinityLookup remembered = shared_.affinity->Lookup(affinity_key, now_s_);
    if (remembered.hit) picked = services.FindBackend(sp_index, remembered.backend.ip, remembered.backend.port);
    affinity_remembered = picked != nullptr;
    if (picked == nullptr) {
      picked = services.PickBackend(sp_index, ClientHash(meta.src_ip, seed), local_only);
      if (picked != nullptr) {
        const ct::AffinityResult result = shared_.affinity->Remember(
            affinity_key, ct::AffinityBackend{picked->ipv4, picked->port}, sp.affinity_timeout_s, now_s_, remembered.hit);
        if (result.backend != ct::AffinityBackend{picked->ipv4, picked->port})  // another worker was first
          if (const abi::BackendRecord* first = services.FindBackend(sp_index, result.backend.ip, result.backend.port))
            picked = first;
      }
    }
  } else if (plan != nullptr && plan->backend != nullptr) {
    picked = plan->backend;  // PlanNewFlows' pick: the same Maglev lookup, made ahead
  } else {
    picked = services.PickBackend(sp_index, FlowHash(key.src_ip, key.src_port, key.dst_ip, key.dst_port, key.protocol, seed),
                                  local_only);
  }
  if (picked == nullptr) return Drop(packet.mbuf, DropReason::kNoLocalEndpoints);
  const abi::BackendRecord& backend = *picked;
  if (debug_.trace.Selected(packet.mbuf))
    debug_.trace.Backend(backend.ipv4, backend.port, TraceBackendReason(sp.flags, affinity_remembered, local_only),
                         sp.id);
  // A Service is judged on the backend it leads to, the client before SNAT.
  if (!PolicyAllows(packet, meta.src_ip, backend.ipv4, backend.port)) {
    RecordDenied(packet, key, ct::FlowKey{backend.ipv4, key.src_ip, backend.port, key.src_port, key.protocol}, sp.id,
                 ct::kNatDnat);
    return Drop(packet.mbuf, DropReason::kPolicyDenied);
  }

  const bool hairpin = meta.src_ip == backend.ipv4;
  uint32_t snat_ip = SnatAddressFor(node, meta, backend, external, local_only);

  ct::EntryInit init;
  init.service_port_id = sp.id;
  init.nat_flags = ct::kNatDnat;
  init.origin_flags = static_cast<uint8_t>((external ? ct::kFromOutsideCluster : 0) | (hairpin ? ct::kHairpin : 0));
  init.services_generation = services.version();
  init.counter_slot = services.counter_slot(sp_index);
  init.policy_epoch = packet.policy != nullptr ? static_cast<uint32_t>(packet.policy->generation()) : 0;
  if (meta.protocol == kProtocolTcp) init.tcp_state = ct::InitialTcpState(meta.tcp_flags).state;
  if (flow_emitter_.enabled()) init.start_ns = flow_emitter_.NowNs();

  ct::InsertResult inserted;
  ++table_mutations_;
  if (snat_ip == 0) {
    const ct::FlowKey reply{backend.ipv4, key.src_ip, backend.port, key.src_port, key.protocol};
    inserted = conntrack_.Insert(key, reply, init, now_s_);
    RecordEvictions(inserted);
    // The same client port already talks to this backend through another
    // frontend: tell the two connections apart by SNATing this one.
    if (inserted.status == ct::InsertStatus::kReplyExists) snat_ip = node.primary_node_address();
  }
  if (snat_ip != 0) {
    const ct::SnatRequest request{key, backend.ipv4, backend.port, snat_ip};
    // The plan's first choice (kNoFirstChoice unless it expected SNAT for
    // its backend, which is then `backend`) depends on the flow and the
    // backend only, not on the SNAT address.
    const uint32_t first_choice = plan != nullptr ? plan->snat_first_choice : ct::SnatPortAllocator::kNoFirstChoice;
    inserted = snat_.AllocateAndInsert(conntrack_, request, init, now_s_, first_choice).insert;
    RecordEvictions(inserted);
  }
  switch (inserted.status) {
    case ct::InsertStatus::kInserted:
      Increment(counters_.conntrack_inserts);
      CountService(services.counter_slot(sp_index), rte_pktmbuf_pkt_len(packet.mbuf), true);
      break;
    case ct::InsertStatus::kExists:  // created meanwhile (e.g. after a revalidation race)
      break;
    case ct::InsertStatus::kReplyExists:
      return Drop(packet.mbuf, DropReason::kSnatPortsExhausted);
    case ct::InsertStatus::kTableFull:
    case ct::InsertStatus::kInvalidKey:
      return Drop(packet.mbuf, DropReason::kConntrackFull);
  }
  const bool translated = TranslateTracked(packet, inserted.entry, inserted.direction);
  if (inserted.status == ct::InsertStatus::kInserted)
    flow_emitter_.Start(conntrack_, inserted.entry, LastFlowPolicy(packet));
  if (!translated) return;
  const ct::FlowKey& other = conntrack_.At(inserted.entry).tuple[1 - static_cast<int>(inserted.direction)];
  Forward(packet, other.src_ip);
}

// kube-proxy REJECTs Services without endpoints (ICMP port unreachable) so
// that clients fail at once instead of timing out.
void Worker::RejectNoEndpoints(Context& packet, uint32_t service_port_index) {
  Increment(counters_.service_ports[packet.services->counter_slot(service_port_index)].no_endpoint_rejects);
  rte_mbuf* reply = icmp_limiter_.Allow(now_tsc_) ? rte_pktmbuf_alloc(shared_.pool) : nullptr;
  if (reply != nullptr) {
    const uint32_t length = BuildIcmpPortUnreachable(rte_pktmbuf_mtod(reply, uint8_t*), rte_pktmbuf_tailroom(reply),
                                                     packet.data, packet.meta, packet.meta.dst_ip);
    if (length == 0) {
      rte_pktmbuf_free(reply);
    } else {
      reply->data_len = static_cast<uint16_t>(length);
      reply->pkt_len = length;
      Increment(counters_.icmp_generated);
      Enqueue(packet.in, reply);
    }
  }
  Drop(packet.mbuf, DropReason::kNoEndpoints);
}

// An ICMP error about a tracked connection travels in the direction whose
// reverse its quoted packet took; both its quoted header and its outer
// header are translated like that direction's packets.
void Worker::HandleIcmpError(Context& packet) {
  const IcmpInnerMeta& inner = packet.meta.inner;
  const ct::FlowKey quoted_reversed{inner.dst_ip, inner.src_ip, inner.dst_port, inner.src_port, inner.protocol};
  const ct::LookupResult found = inner.has_l4 ? conntrack_.Lookup(quoted_reversed) : ct::LookupResult{};
  if (!found.hit()) {
    // An error about no connection we know: it may not reach an isolated pod
    // (nor leave one) unless policy allows that ICMP on its own.
    if (!PolicyAllows(packet, packet.meta.src_ip, packet.meta.dst_ip, 0))
      return Drop(packet.mbuf, DropReason::kPolicyDenied);
    return Forward(packet, packet.meta.dst_ip);
  }
  const ct::Entry& entry = conntrack_.At(found.entry);
  const ct::FlowKey& same = entry.tuple[static_cast<int>(found.direction)];
  const ct::FlowKey& other = entry.tuple[1 - static_cast<int>(found.direction)];
  bool ok = RewriteIcmpErrorInner(packet.data, packet.meta, other.src_ip, other.src_port, other.dst_ip, other.dst_port);
  if (ok && packet.meta.src_ip == same.src_ip && packet.meta.dst_ip != other.src_ip)
    ok = RewriteSourceAndDestination(packet.data, packet.meta, other.dst_ip, 0, other.src_ip, 0);
  else if (ok && packet.meta.src_ip == same.src_ip)
    ok = RewriteSource(packet.data, packet.meta, other.dst_ip, 0);
  else if (ok && packet.meta.dst_ip != other.src_ip)
    ok = RewriteDestination(packet.data, packet.meta, other.src_ip, 0);
  if (!ok) return Drop(packet.mbuf, DropReason::kParseError);
  Forward(packet, other.src_ip);
}

void Worker::Forward(Context& packet, uint32_t destination) {
  const NodeTables& node = packet.node;
  const NextHop hop = node.Route(destination);
  if (hop.port_slot == kNoSlot) return Drop(packet.mbuf, DropReason::kNoRoute);
  const PortRuntime& out = node.port(hop.port_slot);
  if (out.role == abi::PortRole::kHost) {
    if (!host_limiter_.Allow(now_tsc_)) return Drop(packet.mbuf, DropReason::kHostRateLimited);
    Increment(counters_.to_host);
  }
  if (packet.in.role == abi::PortRole::kHost) Increment(counters_.from_host);
  if (!DecrementTtl(packet.data, packet.meta)) return Drop(packet.mbuf, DropReason::kTtlExceeded);
  NeighborBinding binding;
  if (!shared_.neighbors->Lookup(hop.ipv4, binding)) {
    SendArpRequest(node, out, hop.ipv4);
    return Drop(packet.mbuf, DropReason::kNeighborUnresolved);
  }
  uint8_t* frame = RetagForPort(packet.mbuf, packet.data, packet.meta.has_vlan, out.vlan);
  if (frame == nullptr) return Drop(packet.mbuf, DropReason::kNoMbufs);
  NeighborTable::MacToBytes(binding.mac, frame + kEthDstOffset);
  NeighborTable::MacToBytes(out.mac, frame + kEthSrcOffset);
  if (debug_.trace.Selected(packet.mbuf)) debug_.trace.Sent(out.counter_slot, binding.mac);
  Enqueue(out, packet.mbuf);
}

// The out port's VLAN decides the tag: strip, add or rewrite one 802.1Q tag.
// Returns the frame's new start, or nullptr when there is no headroom.
uint8_t* Worker::RetagForPort(rte_mbuf* mbuf, uint8_t* frame, bool tagged, uint16_t vlan) {
  if (!tagged && vlan == 0) return frame;
  if (tagged && vlan == 0) {
    std::memmove(frame + kVlanTagLength, frame, 2 * sizeof(MacAddress::bytes));
    return static_cast<uint8_t*>(static_cast<void*>(rte_pktmbuf_adj(mbuf, kVlanTagLength)));
  }
  if (!tagged) {
    auto* moved = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(mbuf, kVlanTagLength));
    if (moved == nullptr) return nullptr;
    std::memmove(moved, moved + kVlanTagLength, 2 * sizeof(MacAddress::bytes));
    StoreBe16(moved + kEthTypeOffset, kEtherTypeVlan);
    StoreBe16(moved + kEthTypeOffset + 2, static_cast<uint16_t>(vlan & 0x0fff));
    return moved;
  }
  const uint16_t tci = LoadBe16(frame + kEthTypeOffset + 2);
  StoreBe16(frame + kEthTypeOffset + 2, static_cast<uint16_t>((tci & 0xf000) | (vlan & 0x0fff)));
  return frame;
}

void Worker::SendArpRequest(const NodeTables& node, const PortRuntime& out, uint32_t target) {
  // At most one request per worker per millisecond: a burst to an unknown
  // neighbour must not become an ARP storm.
  if (now_tsc_ < arp_request_budget_tsc_) return;
  arp_request_budget_tsc_ = now_tsc_ + rte_get_tsc_hz() / 1000;
  rte_mbuf* request = rte_pktmbuf_alloc(shared_.pool);
  if (request == nullptr) return;
  const uint32_t length = BuildArpRequest(rte_pktmbuf_mtod(request, uint8_t*), rte_pktmbuf_tailroom(request),
                                          ToMac(out.mac), SourceAddressFor(node, out), target, out.vlan);
  if (length == 0) {
    rte_pktmbuf_free(request);
    return;
  }
  request->data_len = static_cast<uint16_t>(length);
  request->pkt_len = length;
  Increment(counters_.arp_requests);
  Enqueue(out, request);
}

void Worker::Enqueue(const PortRuntime& out, rte_mbuf* mbuf) {
  TxBatch& batch = tx_[out.dpdk_port];
  stats::PortCounters& port_counters = counters_.ports[out.counter_slot];
  Increment(port_counters.tx_packets);
  Increment(port_counters.tx_bytes, rte_pktmbuf_pkt_len(mbuf));
  if (debug_.capture.armed()) debug_.capture.Transmitted(out.counter_slot, mbuf);
  batch.packets[batch.count++] = mbuf;
  if (batch.count == std::size(batch.packets)) {
    const uint16_t sent = rte_eth_tx_burst(out.dpdk_port, index_, batch.packets, batch.count);
    for (uint16_t i = sent; i < batch.count; ++i) rte_pktmbuf_free(batch.packets[i]);
    if (sent < batch.count) {
      Increment(port_counters.tx_dropped, batch.count - sent);
      Increment(counters_.drops[static_cast<size_t>(DropReason::kTxQueueFull)], batch.count - sent);
    }
    batch.count = 0;
  }
}

void Worker::Flush(const NodeTables& node) {
  for (const PortRuntime& port : node.ports()) {
    TxBatch& batch = tx_[port.dpdk_port];
    if (batch.count == 0) continue;
    const uint16_t sent = rte_eth_tx_burst(port.dpdk_port, index_, batch.packets, batch.count);
    for (uint16_t i = sent; i < batch.count; ++i) rte_pktmbuf_free(batch.packets[i]);
    if (sent < batch.count) {
      Increment(counters_.ports[port.counter_slot].tx_dropped, batch.count - sent);
      Increment(counters_.drops[static_cast<size_t>(DropReason::kTxQueueFull)], batch.count - sent);
    }
    batch.count = 0;
  }
}

void Worker::Drop(rte_mbuf* mbuf, stats::DropReason reason) {
  Increment(counters_.drops[static_cast<size_t>(reason)]);
  if (debug_.trace.Selected(mbuf)) debug_.trace.Dropped(reason);
  rte_pktmbuf_free(mbuf);
}

// Per-service counters by the slot the entry carries: no lookup per packet.
void Worker::CountService(uint32_t counter_slot, uint32_t bytes, bool created) {
  // The slot comes from shared memory a previous run may have left: clamp it.
  stats::ServiceCounters& counters = counters_.service_ports[std::min(counter_slot, stats::kMaxServicePorts - 1)];
  Increment(counters.packets);
  Increment(counters.bytes, bytes);
  if (created) Increment(counters.new_connections);
}

flows::FlowPolicy Worker::LastFlowPolicy(const Context& packet) const {
  const uint32_t generation = packet.policy != nullptr ? static_cast<uint32_t>(packet.policy->generation()) : 0;
  return flows::FlowPolicyFrom(flow_verdict_, flow_would_deny_, generation);
}

void Worker::RecordDenied(const Context& packet, const ct::FlowKey& original, const ct::FlowKey& reply,
                          uint32_t service_port_id, uint8_t nat_flags) {
  if (!flow_emitter_.enabled()) return;
  const flows::DeniedFlow flow{original, reply, service_port_id, nat_flags, rte_pktmbuf_pkt_len(packet.mbuf)};
  flow_emitter_.Denied(flow, LastFlowPolicy(packet));
}

// An entry leaves before it expires; recorded only by the thread whose
// Remove won (the sweeper or another worker may race it).
// Early drop made room for a new entry: the evicted connections end here.
void Worker::RecordEvictions(const ct::InsertResult& inserted) {
  for (uint32_t victim : inserted.evicted)
    if (victim != ct::kNoEntry) flow_emitter_.End(conntrack_, victim, flows::EndReason::kEvicted);
}

void Worker::RemoveTracked(uint32_t entry, flows::EndReason reason) {
  ++table_mutations_;
  if (conntrack_.Remove(entry)) flow_emitter_.End(conntrack_, entry, reason);
}

}  // namespace np
