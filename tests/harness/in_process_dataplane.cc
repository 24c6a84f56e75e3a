#include "tests/harness/in_process_dataplane.h"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <unistd.h>

#include "control/compile/routes_compiler.h"
#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"
#include "control/policy/policy_compiler.h"
#include "common/policy_image.h"
#include "dataplane/flows/flow_region.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/pipeline/worker.h"
#include "dataplane/port/port_manager.h"
#include "dataplane/runtime/conntrack_memory.h"
#include "dataplane/runtime/loader.h"
#include "dataplane/runtime/debug_region.h"
#include "dataplane/runtime/stats_region.h"

namespace np::harness {

namespace fs = std::filesystem;

InProcessDataplane::InProcessDataplane(InProcessOptions options)
    : options_(std::move(options)), instance_(options_.instance_prefix + std::to_string(getpid())) {}

InProcessDataplane::~InProcessDataplane() {
  workers_.clear();
  loader_.reset();
  port_manager_.reset();
  for (const char* what : {"tables", "stats", "conntrack", "affinity", "flows", "debug"})
    SharedMemoryFile::Remove(ShmName(instance_, what));
}

bool InProcessDataplane::CreatePorts() {
  for (size_t i = 0; i < node_.ports.size(); ++i) {
    RingPort port;
    port.name = node_.port_names[i];
    port.device = node_.port_devargs[i].substr(0, node_.port_devargs[i].find(','));
    // rte_eth_from_rings names the port "net_ring_<name>".
    if (port.device.rfind("net_ring_", 0) != 0)
      return Fail("in-process ports are net_ring_<name> devices, not " + port.device);
    const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
    port.rx = rte_ring_create(("rx_" + port.device).c_str(), options_.ring_size, SOCKET_ID_ANY, flags);
    for (int queue = 0; queue <= options_.workers; ++queue)
      port.tx.push_back(rte_ring_create(("tx" + std::to_string(queue) + "_" + port.device).c_str(),
                                        options_.ring_size, SOCKET_ID_ANY, flags));
    for (rte_ring* ring : port.tx)
      if (port.rx == nullptr || ring == nullptr) return Fail("cannot create rings");
    if (rte_eth_from_rings(port.device.substr(9).c_str(), &port.rx, 1, port.tx.data(),
                           static_cast<unsigned>(port.tx.size()), SOCKET_ID_ANY) < 0)
      return Fail("cannot create ring port " + port.device);
    rte_eth_dev_get_port_by_name(port.device.c_str(), &port.port_id);
    ports_.push_back(std::move(port));
  }
  return true;
}

bool InProcessDataplane::Setup(const fs::path& node_yaml) {
  if (options_.workers == 0) return Fail("at least one worker");
  auto node = config::LoadNodeConfig(node_yaml);
  if (!node) return Fail(node.error().message);
  node_ = std::move(node).value();
  if (!CreatePorts()) return false;

  auto region = TablesRegion::OpenOrCreate(instance_, DefaultRegionLayout());
  if (!region) return Fail(region.error().message);
  region_.emplace(std::move(region).value());
  auto stats = StatsRegion::Create(instance_);
  if (!stats) return Fail(stats.error().message);
  stats_ = std::make_unique<StatsRegion>(std::move(stats).value());
  stats_->header().tsc_hz = rte_get_tsc_hz();
  auto flows = flows::FlowRegion::Create(instance_, options_.workers + 1u);
  if (!flows) return Fail(flows.error().message);
  flows_ = std::make_unique<flows::FlowRegion>(std::move(flows).value());
  shared_.flows = flows_.get();

  auto debug = DebugRegion::Create(instance_, options_.workers);
  if (!debug) return Fail(debug.error().message);
  debug_ = std::make_unique<DebugRegion>(std::move(debug).value());

  shared_.worker_count = options_.workers;
  shared_.stats = stats_.get();
  shared_.debug = &debug_->header();
  shared_.pool = rte_pktmbuf_pool_create((instance_ + "_mbufs").c_str(), options_.mbufs, options_.mbuf_cache, 0,
                                         RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc((instance_ + "_rcu").c_str(),
                                                rte_rcu_qsbr_get_memsize(RcuThreadCount(options_.workers)), RTE_CACHE_LINE_SIZE));
  if (shared_.pool == nullptr || rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, RcuThreadCount(options_.workers)) != 0)
    return Fail("no memory for the mbuf pool or RCU");
  shared_.rcu = rcu_;
  port_manager_ = std::make_unique<PortManager>(shared_.pool, options_.workers);
  loader_ = std::make_unique<Loader>(shared_, *region_, *port_manager_, *stats_);

  k8s::ClusterState empty;
  node_.routes = compile::CompileRoutes(empty, node_);
  node_.generation = ++generation_;
  if (auto status = region_->Publish(abi::SectionKind::kNode, EncodeNodeSection(node_), generation_); !status)
    return Fail(status.error().message);
  loader_->Tick();
  loader_->Poll();
  if (!loader_->has_node()) return Fail("node tables refused: " + region_->RefusalReason(abi::SectionKind::kNode));

  neighbors_ = std::make_unique<NeighborTable>(node_.info.neighbor_capacity);
  shared_.neighbors = neighbors_.get();
  auto conntrack =
      ConntrackMemory::OpenOrCreate(instance_, node_.info.conntrack_capacity, ct::Timeouts::FromNodeInfo(node_.info));
  if (!conntrack) return Fail(conntrack.error().message);
  conntrack_ = std::make_unique<ConntrackMemory>(std::move(conntrack).value());
  shared_.conntrack = &conntrack_->table();
  shared_.affinity = &conntrack_->affinity();
  for (uint16_t index = 0; index < options_.workers; ++index)
    workers_.push_back(std::make_unique<Worker>(shared_, index));
  return true;
}

bool InProcessDataplane::PublishServices(const fs::path& dir) {
  // Cached like nodeplane-control's reloads: a republish after one file
  // changed re-parses that file and recompiles only the objects it changed,
  // published as a services delta.
  auto loaded = manifest_cache_.Load(dir);
  if (!loaded) return Fail(loaded.error().message);
  for (const auto& failure : loaded->failures)
    for (const auto& message : failure.messages) return Fail("manifest error: " + message);
  if (!publisher_) {
    publisher_.emplace(*region_);
    services_sync_.emplace(*publisher_, std::map<std::string, uint32_t>{});
  }
  const compile::ServicesChanges changes =
      services_state_ ? compile::DiffServiceInputs(*services_state_, loaded->state) : compile::ServicesChanges{};
  auto synced = services_sync_->Sync(loaded->state, node_, services_state_ ? &changes : nullptr, nullptr);
  if (!synced) return Fail(synced.error().message);
  services_state_ = loaded->state;
  const abi::SectionKind services_kind = synced->kind;
  const uint64_t services_generation = synced->generation;
  // NetworkPolicies of the same directory, as nodeplane-control publishes them.
  auto policies = policy::CompilePolicies(loaded->state, node_);
  policies.image.generation = ++generation_;
  if (auto status = region_->Publish(abi::SectionKind::kPolicy, EncodePolicySection(policies.image), generation_);
      !status)
    return Fail(status.error().message);
  for (int poll = 0; poll < 4 && region_->AppliedGeneration(services_kind) < services_generation; ++poll) loader_->Poll();
  loader_->Poll();
  if (region_->AppliedGeneration(services_kind) < services_generation)
    return Fail("services refused: " + region_->RefusalReason(services_kind));
  if (region_->AppliedGeneration(abi::SectionKind::kPolicy) != generation_)
    return Fail("policy refused: " + region_->RefusalReason(abi::SectionKind::kPolicy));
  return true;
}

const NodeTables& InProcessDataplane::node_tables() const { return *shared_.node.load(std::memory_order_acquire); }

const ServiceTables* InProcessDataplane::services() const {
  return shared_.services.load(std::memory_order_acquire);
}

const stats::LcoreCounters& InProcessDataplane::counters(uint16_t worker) const { return stats_->lcore(worker); }

ct::Table& InProcessDataplane::conntrack() { return conntrack_->table(); }

const RingPort* InProcessDataplane::PortNamed(const std::string& name) const {
  for (const RingPort& port : ports_)
    if (port.name == name) return &port;
  return nullptr;
}

uint8_t InProcessDataplane::SlotOf(const RingPort& port) const { return node_tables().SlotOfDpdkPort(port.port_id); }

void InProcessDataplane::Process(uint16_t index, uint8_t slot, rte_mbuf** mbufs, uint16_t count) {
  const NodeTables& node = node_tables();
  Worker& worker = *workers_[index];
  worker.ProcessBurst(node, services(), slot, mbufs, count);
  worker.Flush(node);
}

uint64_t InProcessDataplane::DrainAndFree() {
  uint64_t freed = 0;
  void* objects[64];
  for (const RingPort& port : ports_)
    for (rte_ring* ring : port.tx) {
      unsigned n;
      while ((n = rte_ring_dequeue_burst(ring, objects, 64, nullptr)) > 0) {
        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objects), n);
        freed += n;
      }
    }
  return freed;
}

}  // namespace np::harness
