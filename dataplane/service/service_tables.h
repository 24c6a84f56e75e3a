// The services snapshot the workers read: frontends → service port →
// backend, built from a validated ServicesImage. Immutable once published
// (see runtime/snapshots.h for how it is swapped and reclaimed).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/section_image.h"
#include "dataplane/service/frozen_map.h"

namespace np {

inline constexpr uint64_t FrontendKey(uint32_t ipv4, uint16_t port, uint8_t protocol) {
  return (static_cast<uint64_t>(ipv4) << 32) | (static_cast<uint64_t>(port) << 16) | protocol;
}

class ServiceTables {
 public:
  ServiceTables() = default;
  explicit ServiceTables(ServicesImage image);

  uint64_t generation() const { return image_.generation; }
  const ServicesImage& image() const { return image_; }

  const abi::FrontendRecord* FindFrontend(uint32_t ipv4, uint16_t port, uint8_t protocol) const {
    const uint32_t* index = frontends_.Find(FrontendKey(ipv4, port, protocol));
    return index == nullptr ? nullptr : &image_.frontends[*index];
  }
  const abi::ServicePortRecord& service_port(uint32_t index) const { return image_.service_ports[index]; }
  const abi::BackendRecord& backend(uint32_t index) const { return image_.backends[index]; }

  // Maglev: table[hash % size]; nullopt when the chosen table is empty.
  std::optional<uint32_t> PickBackend(uint32_t service_port_index, uint64_t hash, bool local_only) const {
    const abi::ServicePortRecord& sp = image_.service_ports[service_port_index];
    const uint32_t first = local_only ? sp.local_maglev_first : sp.maglev_first;
    const uint32_t size = local_only ? sp.local_maglev_size : sp.maglev_size;
    if (size == 0) return std::nullopt;
    return sp.backend_first + image_.maglev[first + hash % size];
  }

  bool SourceAllowed(uint32_t service_port_index, uint32_t source_ipv4) const;
  // Is (ip, port) still a backend of the service port with this stable id?
  bool HasBackend(uint32_t service_port_id, uint32_t ipv4, uint16_t port) const {
    return backend_set_.Find(BackendKey(service_port_id, ipv4, port)) != nullptr;
  }
  // Per service port: its slot in stats::LcoreCounters::service_ports.
  void set_counter_slots(std::vector<uint32_t> slots) { counter_slots_ = std::move(slots); }
  uint32_t counter_slot(uint32_t service_port_index) const {
    return service_port_index < counter_slots_.size() ? counter_slots_[service_port_index] : 0;
  }
  // LoadBalancer and external IPs this node answers ARP for.
  bool OwnsAddress(uint32_t ipv4) const { return owned_addresses_.Find(ipv4) != nullptr; }
  const std::vector<uint32_t>& owned_addresses() const { return owned_address_list_; }
  // service_port_id → index in this snapshot
  std::optional<uint32_t> IndexOf(uint32_t service_port_id) const {
    const uint32_t* index = by_id_.Find(service_port_id);
    if (index == nullptr) return std::nullopt;
    return *index;
  }

 private:
  static uint64_t BackendKey(uint32_t service_port_id, uint32_t ipv4, uint16_t port) {
    return MixBits((static_cast<uint64_t>(service_port_id) << 32) | ipv4) ^ port;
  }
  ServicesImage image_;
  FrozenMap<uint32_t> frontends_;
  FrozenMap<uint32_t> by_id_;
  FrozenMap<uint8_t> backend_set_;
  FrozenMap<uint8_t> owned_addresses_;
  std::vector<uint32_t> owned_address_list_;
  std::vector<uint32_t> counter_slots_;
};

inline bool InPrefix(uint32_t address, uint32_t prefix, uint8_t length) {
  if (length == 0) return true;
  const uint32_t mask = length >= 32 ? 0xffffffffu : ~(0xffffffffu >> length);
  return (address & mask) == (prefix & mask);
}

}  // namespace np
