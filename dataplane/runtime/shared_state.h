// What the main lcore (loader, slow path) and the workers share. Owned by
// main(); nothing here is global.
//
// Snapshots: the loader builds NodeTables/ServiceTables off the fast path,
// publishes each with one release store, and deletes the old one after
// rte_rcu_qsbr_synchronize() proves every worker passed a quiescent state
// (workers report one per loop, and go offline while they sleep).
//
// RCU threads: worker i is thread i; the main lcore is thread worker_count,
// online only while it sweeps conntrack (it reads entries that workers may
// retire and, after a grace period, reuse: see Loader::SweepConnections).
// rte_rcu_qsbr_init(rcu, RcuThreadCount(worker_count)).
#pragma once

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>

namespace np {

class NodeTables;
class ServiceTables;
class NeighborTable;
class StatsRegion;
namespace policy {
class PolicyTables;
}  // namespace policy
namespace flows {
class FlowRegion;
}  // namespace flows
namespace debug {
struct DebugHeader;
}  // namespace debug
namespace ct {
class Table;
class AffinityTable;
}  // namespace ct

inline constexpr uint32_t RcuThreadCount(uint32_t worker_count) { return worker_count + 1; }
inline constexpr uint32_t HousekeepingRcuThread(uint32_t worker_count) { return worker_count; }

struct SharedState {
  std::atomic<const NodeTables*> node{nullptr};
  std::atomic<const ServiceTables*> services{nullptr};
  std::atomic<const policy::PolicyTables*> policy{nullptr};  // null: no NetworkPolicy published
  std::atomic<bool> stop{false};
  // Coarse clock for conntrack and neighbours, ticked by the main lcore.
  std::atomic<uint32_t> now_s{0};
  rte_rcu_qsbr* rcu = nullptr;
  rte_mempool* pool = nullptr;
  NeighborTable* neighbors = nullptr;
  ct::Table* conntrack = nullptr;
  ct::AffinityTable* affinity = nullptr;
  StatsRegion* stats = nullptr;
  flows::FlowRegion* flows = nullptr;  // null: no flow records (tests without a region)
  debug::DebugHeader* debug = nullptr;  // npctl trace/capture; null: not available
  uint16_t worker_count = 1;
};

}  // namespace np
