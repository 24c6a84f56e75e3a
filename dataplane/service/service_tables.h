// The services snapshot the workers read: frontends → service port →
// backend. Immutable once published; swapped with one pointer store and
// reclaimed after an RCU grace period (runtime/loader.cc).
//
// A snapshot is built from a full services image (the base) and then
// derived from its predecessor by a services delta (shm_abi.h): unchanged
// service ports, frontend shards and slot chunks are shared between the
// two, so applying one changed Service costs microseconds whatever the
// number of Services. Service ports live at stable "slots" (the index
// workers see in FrontendRecord::service_port_index) until removed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/section_image.h"
#include "dataplane/service/persistent.h"

namespace np {

inline constexpr uint64_t FrontendKey(uint32_t ipv4, uint16_t port, uint8_t protocol) {
  return (static_cast<uint64_t>(ipv4) << 32) | (static_cast<uint64_t>(port) << 16) | protocol;
}

// One service port as a snapshot holds it: its own tables (ServicePortTables,
// common/section_image.h) and the sorted keys HasBackend() searches.
struct ServicePortState : ServicePortTables {
  std::vector<uint64_t> backend_keys;  // sorted BackendKey()s, derived from `backends`

  static uint64_t BackendKey(uint32_t ipv4, uint16_t port) { return (static_cast<uint64_t>(ipv4) << 16) | port; }
  explicit ServicePortState(ServicePortTables tables);
};

// Per-service-port counter slots (stats::LcoreCounters::service_ports),
// handed out by the loader as ports come and go.
struct CounterSlotHooks {
  std::function<uint32_t(uint32_t id, const std::string& name)> assign = [](uint32_t, const std::string&) { return 0u; };
  std::function<void(uint32_t id)> release = [](uint32_t) {};
};

class ServiceTables {
 public:
  ServiceTables() = default;

  // The snapshot of a full services image. `previous` (may be null) is the
  // snapshot it replaces: counter slots of ports that are gone are released.
  static std::unique_ptr<ServiceTables> FromImage(const ServicesImage& image, const CounterSlotHooks& hooks,
                                                  const ServiceTables* previous = nullptr, uint32_t first_version = 1);
  // The same from a section decoded per port (DecodeServicesSectionPorts):
  // the ports' tables move into the snapshot, no copy.
  static std::unique_ptr<ServiceTables> FromPorts(ServicesPorts ports, const CounterSlotHooks& hooks,
                                                  const ServiceTables* previous = nullptr, uint32_t first_version = 1);
  // This snapshot's base with `delta` applied (a delta is cumulative: ports
  // an earlier delta changed and this one does not name return to the
  // base's version). Fails when the delta does not fit the base; this
  // snapshot is then left as it is.
  Result<std::unique_ptr<ServiceTables>> WithDelta(const ServicesDelta& delta, const CounterSlotHooks& hooks) const;

  // Changes with every snapshot (one more than its predecessor's; the first
  // one's is seeded by the caller): conntrack entries are stamped with it and
  // revalidated when it differs. 32 bits, as the entries store it.
  uint32_t version() const { return version_; }
  uint64_t base_generation() const { return base_generation_; }
  uint64_t delta_generation() const { return delta_generation_; }
  size_t service_port_count() const { return port_count_; }
  size_t base_service_port_count() const { return base_ == nullptr ? 0 : base_->size(); }

  // --- fast path -------------------------------------------------------------
  const abi::FrontendRecord* FindFrontend(uint32_t ipv4, uint16_t port, uint8_t protocol) const {
    return frontends_.Find(FrontendKey(ipv4, port, protocol));
  }
  // `slot` is a FrontendRecord::service_port_index of this snapshot.
  const abi::ServicePortRecord& service_port(uint32_t slot) const { return slots_[slot].state->record; }
  // Maglev: table[hash % size]; null when the chosen table is empty.
  const abi::BackendRecord* PickBackend(uint32_t slot, uint64_t hash, bool local_only) const {
    const ServicePortState& port = *slots_[slot].state;
    const uint32_t first = local_only ? port.record.local_maglev_first : port.record.maglev_first;
    const uint32_t size = local_only ? port.record.local_maglev_size : port.record.maglev_size;
    if (size == 0) return nullptr;
    return &port.backends[port.maglev[first + hash % size]];
  }
  const abi::BackendRecord* FindBackend(uint32_t slot, uint32_t ipv4, uint16_t port) const;
  bool SourceAllowed(uint32_t slot, uint32_t source_ipv4) const;
  // Is (ip, port) still a backend of the service port with this stable id?
  bool HasBackend(uint32_t service_port_id, uint32_t ipv4, uint16_t port) const;
  uint32_t counter_slot(uint32_t slot) const { return slots_[slot].counter_slot; }
  // LoadBalancer and external IPs this node answers ARP for.
  bool OwnsAddress(uint32_t ipv4) const { return owned_.Find(ipv4) != nullptr; }
  std::vector<uint32_t> OwnedAddresses() const;  // sorted
  // Addresses this snapshot owns and its predecessor did not, and the reverse.
  const std::vector<uint32_t>& gained_addresses() const { return gained_addresses_; }
  const std::vector<uint32_t>& lost_addresses() const { return lost_addresses_; }
  // service_port_id → slot in this snapshot
  std::optional<uint32_t> IndexOf(uint32_t service_port_id) const {
    const uint32_t* slot = by_id_.Find(service_port_id);
    if (slot == nullptr) return std::nullopt;
    return *slot;
  }

  // --- slow path -------------------------------------------------------------
  const ServicePortState* state(uint32_t slot) const { return slot < slots_.capacity() ? slots_[slot].state.get() : nullptr; }
  // The whole state as one image (service ports in slot order): for tests and tools.
  ServicesImage ToImage() const;

 private:
  struct Slot {
    std::shared_ptr<const ServicePortState> state;
    uint32_t counter_slot = 0;
  };
  // The base image's ports by id: sorted once (10k inserts into a std::map
  // were ~1 ms of a full apply), searched by the deltas that follow.
  class BaseIndex {
   public:
    using Entry = std::pair<uint32_t, std::shared_ptr<const ServicePortState>>;
    // For an id given twice, the last entry stands.
    explicit BaseIndex(std::vector<Entry> entries);
    const std::shared_ptr<const ServicePortState>* Find(uint32_t id) const;
    size_t size() const { return entries_.size(); }

   private:
    std::vector<Entry> entries_;
  };
  class Edit;

  uint64_t base_generation_ = 0;
  uint64_t delta_generation_ = 0;
  uint32_t version_ = 1;
  size_t port_count_ = 0;
  PersistentVector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  uint32_t slot_end_ = 0;  // slots below this were handed out at some point
  ShardedMap<abi::FrontendRecord> frontends_;
  ShardedMap<uint32_t> by_id_;   // id -> slot
  ShardedMap<uint32_t> owned_;   // address -> how many LoadBalancer/external frontends use it
  std::shared_ptr<const BaseIndex> base_;  // the base image's ports by id
  std::vector<uint32_t> overlay_ids_;      // sorted: ids the applied delta changed or removed
  std::vector<uint32_t> gained_addresses_, lost_addresses_;
};

inline bool InPrefix(uint32_t address, uint32_t prefix, uint8_t length) {
  if (length == 0) return true;
  const uint32_t mask = length >= 32 ? 0xffffffffu : ~(0xffffffffu >> length);
  return (address & mask) == (prefix & mask);
}

}  // namespace np
