// The loader runs on the main lcore: it takes published section images
// from the tables region, validates them (common/section_image.h), builds
// the snapshots workers read, swaps them in and reclaims the old ones after
// an RCU grace period. It also does the main lcore's periodic slow work:
// the coarse clock, neighbour aging, conntrack expiry, gratuitous ARP for
// newly owned LoadBalancer addresses, link state, heartbeat. Its one
// helper thread builds base-only policy classifiers in the background
// (policy/acl_consolidator.h); Tick publishes them.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "common/policy_image.h"
#include "common/section_image.h"
#include "common/shm_region.h"
#include "dataplane/policy/acl_consolidator.h"
#include "dataplane/port/port_manager.h"
#include "dataplane/runtime/shared_state.h"
#include "dataplane/runtime/stats_region.h"
#include "dataplane/service/services_updater.h"

namespace np {

class Loader {
 public:
  Loader(SharedState& shared, const TablesRegion& region, PortManager& ports, StatsRegion& stats);
  ~Loader();

  // Applies any newly published section. Returns true when one was applied.
  bool Poll();
  void Tick();
  // Conntrack expiry (and its flow records) then reclamation after a grace
  // period; Tick calls it 10 times a second, tests at will.
  void SweepConnections(uint32_t now_s);
  bool has_node() const { return shared_.node.load(std::memory_order_acquire) != nullptr; }
  // The first node image decides the sizes of what cannot be resized live.
  const NodeImage* first_node_image() const { return first_node_.get(); }
  // Background rebuilds of the policy classifier without overlays (acl_consolidator.h).
  const policy::AclConsolidator& acl_consolidator() const { return consolidator_; }

 private:
  void ApplyNode(NodeImage image);
  void ApplyServices(ServicesUpdater::Update update);
  void ApplyPolicy(PolicyImage image);
  void PollConsolidation(uint64_t now_ns);
  template <class Snapshot>
  void Swap(std::atomic<const Snapshot*>& slot, const Snapshot* next);
  void Announce(const std::vector<uint32_t>& addresses);

  SharedState& shared_;
  const TablesRegion& region_;
  PortManager& ports_;
  StatsRegion& stats_;
  SlotDirectory port_slots_;
  SlotDirectory service_slots_;
  CounterSlotHooks service_slot_hooks_;
  ServicesUpdater services_updater_;
  uint64_t node_generation_ = 0;
  uint64_t policy_generation_ = 0;
  std::unique_ptr<NodeImage> first_node_;
  std::set<uint32_t> announced_;
  uint64_t last_sweep_ns_ = 0;
  // Last member: destroyed (a build in flight joined) first.
  policy::AclConsolidator consolidator_;
};

}  // namespace np
