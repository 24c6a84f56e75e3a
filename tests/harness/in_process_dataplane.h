// An in-process dataplane for tests and benchmarks: the real Loader and
// Worker(s) over net_ring ports, with the tables, stats and conntrack
// regions in /dev/shm under a private instance name (removed on
// destruction). Shared by the golden pcap replay (tests/pcap/replay.cc) and
// the pipeline benchmark (perf/micro/bench_pipeline.cc).
//
// Set-up, in the order the real process does it:
//   1. one net_ring port per port of the node config, whose devargs must be
//      `net_ring_<name>`: one rx ring, workers + 1 tx rings (the loader gives
//      each worker a tx queue and keeps one for itself);
//   2. tables + stats regions, mbuf pool, RCU, PortManager, Loader;
//   3. the node section (routes compiled from an empty cluster) published
//      and applied;
//   4. neighbour table and conntrack memory sized from the node config;
//   5. the workers.
// Services are published separately (PublishServices), as often as wanted.
// Nothing here drains the tx rings: the caller decides what to do with what
// the dataplane transmitted (the gratuitous ARPs after a services publish
// included).
//
// The EAL must be initialised by the caller, once, before Setup().
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "common/shm_region.h"
#include "control/daemon/section_publisher.h"
#include "control/daemon/services_sync.h"
#include "control/k8s/manifest_cache.h"
#include "dataplane/runtime/shared_state.h"

namespace np {
class Loader;
class NeighborTable;
class NodeTables;
class PortManager;
class ServiceTables;
class StatsRegion;
class DebugRegion;
class ConntrackMemory;
class Worker;
namespace ct {
class Table;
}
namespace flows {
class FlowRegion;
}
namespace stats {
struct LcoreCounters;
}
}  // namespace np

namespace np::harness {

struct InProcessOptions {
  uint16_t workers = 1;
  unsigned mbufs = 4095;       // mbuf pool size
  unsigned mbuf_cache = 0;     // per-lcore mempool cache
  unsigned ring_size = 1024;   // every rx/tx ring
  std::string instance_prefix = "inproc";  // + pid = the shm instance name
};

struct RingPort {
  std::string name;     // the node config's port name
  std::string device;   // net_ring_<name>
  uint16_t port_id = 0;
  rte_ring* rx = nullptr;
  std::vector<rte_ring*> tx;  // workers + 1
};

class InProcessDataplane {
 public:
  explicit InProcessDataplane(InProcessOptions options = {});
  ~InProcessDataplane();
  InProcessDataplane(const InProcessDataplane&) = delete;
  InProcessDataplane& operator=(const InProcessDataplane&) = delete;

  // Steps 1-5 above. False with error() set on failure.
  bool Setup(const std::filesystem::path& node_yaml);
  // Compiles every manifest of `dir` and publishes the services and policy
  // sections;
  // true once the loader applied it. Manifest errors are failures.
  bool PublishServices(const std::filesystem::path& dir);

  const std::string& error() const { return error_; }
  const std::string& instance() const { return instance_; }
  uint16_t worker_count() const { return options_.workers; }

  SharedState& shared() { return shared_; }
  const NodeImage& node_image() const { return node_; }
  const NodeTables& node_tables() const;                  // the applied snapshot
  const ServiceTables* services() const;                  // may be null before PublishServices
  Worker& worker(uint16_t index) { return *workers_.at(index); }
  StatsRegion& stats() { return *stats_; }
  DebugRegion& debug() { return *debug_; }  // npctl trace/capture's file
  const stats::LcoreCounters& counters(uint16_t worker = 0) const;
  NeighborTable& neighbors() { return *neighbors_; }
  ct::Table& conntrack();
  flows::FlowRegion& flows() { return *flows_; }  // one ring per worker, then the loader's
  TablesRegion& tables_region() { return *region_; }
  Loader& loader() { return *loader_; }

  const std::vector<RingPort>& ports() const { return ports_; }
  const RingPort* PortNamed(const std::string& name) const;  // by the node config's name
  uint8_t SlotOf(const RingPort& port) const;                 // the worker's port slot

  // Runs one burst through worker `index` and flushes its tx batches onto
  // the tx rings.
  void Process(uint16_t index, uint8_t slot, rte_mbuf** mbufs, uint16_t count);

  // Every mbuf waiting on a tx ring of `port`, in ring order (queue 0 first):
  // fn(mbuf) takes ownership.
  template <typename Fn>
  void DrainTx(const RingPort& port, Fn&& fn) {
    void* object = nullptr;
    for (rte_ring* ring : port.tx)
      while (rte_ring_dequeue(ring, &object) == 0) fn(static_cast<rte_mbuf*>(object));
  }
  // Frees everything waiting on every tx ring; returns how many.
  uint64_t DrainAndFree();

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  bool CreatePorts();

  InProcessOptions options_;
  std::string instance_;
  std::string error_;
  NodeImage node_;
  uint64_t generation_ = 0;
  k8s::ManifestDirectoryCache manifest_cache_;
  // Services go out as nodeplane-control sends them: a full section, then deltas.
  std::optional<daemon::SectionPublisher> publisher_;
  std::optional<daemon::ServicesSync> services_sync_;
  std::optional<k8s::ClusterState> services_state_;
  std::vector<RingPort> ports_;
  std::optional<TablesRegion> region_;
  std::unique_ptr<StatsRegion> stats_;
  std::unique_ptr<flows::FlowRegion> flows_;
  std::unique_ptr<DebugRegion> debug_;
  std::unique_ptr<ConntrackMemory> conntrack_;
  std::unique_ptr<NeighborTable> neighbors_;
  SharedState shared_;
  rte_rcu_qsbr* rcu_ = nullptr;
  std::unique_ptr<PortManager> port_manager_;
  std::unique_ptr<Loader> loader_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace np::harness
