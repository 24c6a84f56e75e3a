#include "dataplane/runtime/loader.h"

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "dataplane/conntrack/affinity.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_region.h"
#include "dataplane/flows/sweep_reporter.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/packet/build.h"
#include "dataplane/policy/policy_tables.h"
#include "dataplane/route/node_tables.h"
#include "dataplane/service/service_tables.h"

namespace np {
namespace {

uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

std::string FormatIpv4(uint32_t address) {
  return std::to_string(address >> 24) + "." + std::to_string((address >> 16) & 0xff) + "." +
         std::to_string((address >> 8) & 0xff) + "." + std::to_string(address & 0xff);
}

void Log(const std::string& message) { RTE_LOG(INFO, USER1, "%s\n", message.c_str()); }
void LogError(const std::string& message) { RTE_LOG(ERR, USER1, "%s\n", message.c_str()); }

}  // namespace

Loader::Loader(SharedState& shared, const TablesRegion& region, PortManager& ports, StatsRegion& stats)
    : shared_(shared),
      region_(region),
      ports_(ports),
      stats_(stats),
      port_slots_(stats.header().ports, stats::kMaxPorts),
      service_slots_(stats.header().service_ports, stats::kMaxServicePorts),
      services_updater_(region) {
  service_slot_hooks_.assign = [this](uint32_t id, const std::string& name) {
    bool reused = false;
    const uint32_t slot = service_slots_.AssignOne(id, name, &reused);
    // A slot handed to another service port starts counting from zero.
    if (reused)
      for (uint32_t lcore = 0; lcore < stats::kMaxLcores; ++lcore) {
        stats::ServiceCounters& counters = stats_.lcore(lcore).service_ports[slot];
        counters.packets.store(0, std::memory_order_relaxed);
        counters.bytes.store(0, std::memory_order_relaxed);
        counters.new_connections.store(0, std::memory_order_relaxed);
        counters.no_endpoint_rejects.store(0, std::memory_order_relaxed);
      }
    return slot;
  };
  service_slot_hooks_.release = [this](uint32_t id) { service_slots_.Release(id); };
  // Offline except while sweeping conntrack (SweepConnections). Never
  // unregistered: main() frees the RCU memory before the loader goes.
  rte_rcu_qsbr_thread_register(shared_.rcu, HousekeepingRcuThread(shared_.worker_count));
}

Loader::~Loader() {
  delete shared_.node.exchange(nullptr);
  delete shared_.services.exchange(nullptr);
  delete shared_.policy.exchange(nullptr);
}

template <class Snapshot>
void Loader::Swap(std::atomic<const Snapshot*>& slot, const Snapshot* next) {
  const Snapshot* previous = slot.exchange(next, std::memory_order_acq_rel);
  if (previous == nullptr) return;
  // Every worker that could hold `previous` reports a quiescent state first.
  rte_rcu_qsbr_synchronize(shared_.rcu, RTE_QSBR_THRID_INVALID);
  delete previous;
}

bool Loader::Poll() {
  bool applied = false;
  if (auto image = region_.TakeDecoded(abi::SectionKind::kNode, &node_generation_, DecodeNodeSection)) {
    if (!*image) {
      LogError("refused node generation " + std::to_string(node_generation_) + ": " + image->error().message);
    } else {
      ApplyNode(std::move(*image).value());
      applied = true;
    }
  }
  if (!has_node()) return applied;  // services wait for the node: routes and ports come first
  std::string refusal;
  if (auto update = services_updater_.Poll(shared_.services.load(std::memory_order_acquire), service_slot_hooks_,
                                           &refusal)) {
    ApplyServices(std::move(*update));
    applied = true;
  } else if (!refusal.empty()) {
    LogError(refusal);
  }
  if (auto image = region_.TakeDecoded(abi::SectionKind::kPolicy, &policy_generation_, DecodePolicySection)) {
    if (!*image) {
      LogError("refused policy generation " + std::to_string(policy_generation_) + ": " + image->error().message);
    } else {
      ApplyPolicy(std::move(*image).value());
      applied = true;
    }
  }
  return applied;
}

// rte_acl contexts are rebuilt only when their rules changed (one per
// direction and namespace partition, acl_classifier.h); a pod coming or
// going with an existing identity only rebuilds the address map.
void Loader::ApplyPolicy(PolicyImage image) {
  const uint64_t generation = image.generation;
  auto tables = policy::PolicyTables::Build(std::move(image), shared_.policy.load(std::memory_order_acquire));
  if (!tables) {
    LogError("refused policy generation " + std::to_string(generation) + ": " + tables.error().message);
    region_.ReportRefused(abi::SectionKind::kPolicy, generation, tables.error().message);
    return;
  }
  // Its own line: scripts match "applied policy generation N" at the end of a line.
  Log("policy generation " + std::to_string(generation) + ": rte_acl contexts built " +
      std::to_string((*tables)->acl_contexts_built()) + ", reused " + std::to_string((*tables)->acl_contexts_reused()));
  Swap(shared_.policy, static_cast<const policy::PolicyTables*>(tables->release()));
  // Rule indices mean other rules now: the per-rule counts start again (a
  // worker may still add to an old index during this loop; counts are
  // approximate across a policy change).
  for (uint32_t lcore = 0; lcore < stats::kMaxLcores; ++lcore)
    for (std::atomic<uint64_t>& count : stats_.lcore(lcore).policy_rule_connections)
      count.store(0, std::memory_order_relaxed);
  stats_.header().policy_counters_generation.store(generation, std::memory_order_release);
  region_.ReportApplied(abi::SectionKind::kPolicy, generation);
  Log("applied policy generation " + std::to_string(generation));
  consolidator_.PolicyApplied(*shared_.policy.load(std::memory_order_acquire), MonotonicNs());
}

// Overlays left by applies are folded into the base by a background build
// once policy is quiet (acl_consolidator.h). Same image and generation:
// rule indices and counters stay, nothing is re-reported.
void Loader::PollConsolidation(uint64_t now_ns) {
  const policy::PolicyTables* current = shared_.policy.load(std::memory_order_acquire);
  const uint64_t failed = consolidator_.failed();
  auto done = consolidator_.Poll(current, now_ns);
  if (consolidator_.failed() != failed) LogError("rte_acl consolidation failed: " + consolidator_.last_error());
  if (!done) return;
  const policy::AclContexts& acl = done->tables->acl();
  char line[200];
  std::snprintf(line, sizeof(line),
                "policy generation %llu: rte_acl overlays consolidated in the background in %.0f ms "
                "(%u overlay contexts folded into a new base of %u rules)",
                static_cast<unsigned long long>(current->generation()), done->build_ms, done->overlays_before,
                acl.rule_count(abi::PolicyDirection::kIngress) + acl.rule_count(abi::PolicyDirection::kEgress));
  Log(line);
  Swap(shared_.policy, static_cast<const policy::PolicyTables*>(done->tables.release()));
}

void Loader::ApplyNode(NodeImage image) {
  if (first_node_ == nullptr) first_node_ = std::make_unique<NodeImage>(image);
  std::vector<PortRuntime> runtime;
  std::vector<std::pair<uint32_t, std::string>> slot_ids;
  std::set<std::string> wanted;
  std::string problems;
  for (size_t i = 0; i < image.ports.size(); ++i) {
    const abi::PortRecord& record = image.ports[i];
    auto attached = ports_.Attach(image.port_names[i], image.port_devargs[i], record.rx_queues);
    if (!attached) {
      // Keep forwarding on the ports that work; report the one that does not.
      problems += (problems.empty() ? "" : "; ") + attached.error().message;
      continue;
    }
    wanted.insert(image.port_names[i]);
    runtime.push_back(PortRuntime{record.port_id, attached->dpdk_port, record.role, record.vlan, record.ipv4,
                                  attached->rx_queues, ports_.slow_path_tx_queue(*attached), 0, attached->mac,
                                  NeighborTable::MacFromBytes(record.peer_mac)});
    slot_ids.emplace_back(record.port_id, image.port_names[i]);
  }
  const std::vector<uint32_t> slots = port_slots_.Assign(slot_ids, nullptr);
  for (size_t i = 0; i < runtime.size(); ++i) runtime[i].counter_slot = slots[i];
  const uint64_t generation = image.generation;
  Swap(shared_.node, static_cast<const NodeTables*>(new NodeTables(std::move(image), std::move(runtime))));
  // Ports the new snapshot no longer names: no worker polls them any more.
  std::vector<std::string> removed;
  for (const auto& [name, port] : ports_.attached())
    if (wanted.count(name) == 0) removed.push_back(name);
  for (const std::string& name : removed) {
    Log("detaching port " + name);
    ports_.Detach(name);
  }
  if (problems.empty()) {
    region_.ReportApplied(abi::SectionKind::kNode, generation);
    Log("applied node generation " + std::to_string(generation));
  } else {
    LogError("node generation " + std::to_string(generation) + " applied without some ports: " + problems);
    region_.ReportRefused(abi::SectionKind::kNode, generation, problems);
  }
  announced_.clear();  // re-announce owned addresses on the (possibly new) uplink
  if (const ServiceTables* services = shared_.services.load(std::memory_order_acquire))
    Announce(services->OwnedAddresses());
}

void Loader::ApplyServices(ServicesUpdater::Update update) {
  const ServiceTables* tables = update.tables.release();
  // Live from the pointer store on: report before the grace period, which
  // waits for every worker's next loop.
  const ServiceTables* previous = shared_.services.exchange(tables, std::memory_order_acq_rel);
  services_updater_.ReportApplied(update);
  Log(std::string("applied ") + abi::SectionKindName(update.kind) + " generation " + std::to_string(update.generation));
  for (uint32_t address : tables->lost_addresses()) announced_.erase(address);
  Announce(tables->gained_addresses());
  if (previous == nullptr) return;
  rte_rcu_qsbr_synchronize(shared_.rcu, RTE_QSBR_THRID_INVALID);
  delete previous;
}

// Gratuitous ARP for LoadBalancer/external addresses this node now owns, so
// that the L2 segment moves them to us at once (MetalLB's layer-2 mode).
void Loader::Announce(const std::vector<uint32_t>& addresses) {
  std::vector<uint32_t> fresh;
  for (uint32_t address : addresses)
    if (announced_.insert(address).second) fresh.push_back(address);
  const NodeTables* node = shared_.node.load(std::memory_order_acquire);
  if (node == nullptr || node->uplink_slot() == kNoSlot) return;
  const PortRuntime& uplink = node->port(node->uplink_slot());
  MacAddress mac;
  NeighborTable::MacToBytes(uplink.mac, mac.bytes);
  for (uint32_t address : fresh) {
    rte_mbuf* mbuf = rte_pktmbuf_alloc(shared_.pool);
    if (mbuf == nullptr) return;
    const uint32_t length = BuildGratuitousArp(rte_pktmbuf_mtod(mbuf, uint8_t*), rte_pktmbuf_tailroom(mbuf),
                                               mac, address, uplink.vlan);
    mbuf->data_len = mbuf->pkt_len = length;
    if (length == 0 || rte_eth_tx_burst(uplink.dpdk_port, uplink.slow_tx_queue, &mbuf, 1) != 1)
      rte_pktmbuf_free(mbuf);
    else
      Log("announced " + FormatIpv4(address) + " on the uplink");
  }
}

void Loader::Tick() {
  const uint64_t now_ns = MonotonicNs();
  const uint32_t now_s = static_cast<uint32_t>(now_ns / 1000000000ull);
  shared_.now_s.store(now_s, std::memory_order_relaxed);
  region_.ReportHeartbeat();
  PollConsolidation(now_ns);
  const NodeTables* node = shared_.node.load(std::memory_order_acquire);
  if (node == nullptr) return;
  for (const PortRuntime& port : node->ports())
    stats_.header().ports[port.counter_slot].state.store(PortManager::LinkUp(port.dpdk_port) ? 1 : 0,
                                                         std::memory_order_relaxed);
  if (now_ns - last_sweep_ns_ < 100000000ull) return;  // 10 times a second
  last_sweep_ns_ = now_ns;
  shared_.neighbors->Age(now_s, node->info().neighbor_timeout_s);
  SweepConnections(now_s);
}

void Loader::SweepConnections(uint32_t now_s) {
  const NodeTables* node = shared_.node.load(std::memory_order_acquire);
  if (node != nullptr && shared_.conntrack != nullptr) {
    // The main lcore's ring is the last one: it reports expiry and long
    // connections.
    flows::FlowEmitter emitter;
    if (shared_.flows != nullptr) {
      const uint32_t producer = shared_.flows->producer_count() - 1;
      emitter = flows::FlowEmitter(&shared_.flows->ring(producer), static_cast<uint8_t>(producer));
      emitter.SetEnabled((node->info().flags & abi::kNodeFlowRecords) != 0);
    }
    // Workers reclaim the entries they retire themselves, after a grace
    // period that only registered readers hold back: online while the sweep
    // reads entries, so that none it is looking at is reused under it.
    const uint32_t rcu_thread = HousekeepingRcuThread(shared_.worker_count);
    rte_rcu_qsbr_thread_online(shared_.rcu, rcu_thread);
    flows::SweepReporter(emitter, *shared_.conntrack).Sweep(now_s, 4096);
    rte_rcu_qsbr_thread_offline(shared_.rcu, rcu_thread);
    shared_.affinity->Sweep(now_s, 1024);
    // Entries unlinked by the sweep (or by workers) are reused only once no
    // worker can still be reading them.
    const ct::RetiredBatch connections = shared_.conntrack->DetachRetired();
    const ct::RetiredBatch affinities = shared_.affinity->DetachRetired();
    if (!connections.empty() || !affinities.empty()) {
      rte_rcu_qsbr_synchronize(shared_.rcu, RTE_QSBR_THRID_INVALID);
      shared_.conntrack->Reclaim(connections);
      shared_.affinity->Reclaim(affinities);
    }
  }
}

}  // namespace np
