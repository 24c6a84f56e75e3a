#include "dataplane/service/service_tables.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

namespace np {
namespace {

bool OwnsItsAddress(const abi::FrontendRecord& frontend) {
  return frontend.kind == abi::FrontendKind::kLoadBalancer || frontend.kind == abi::FrontendKind::kExternalIP;
}

uint64_t KeyOf(const abi::FrontendRecord& frontend) {
  return FrontendKey(frontend.ipv4, frontend.port, frontend.protocol);
}

std::shared_ptr<const ServicePortState> PortState(const ServicesImage& image, uint32_t index,
                                                 std::vector<abi::FrontendRecord> frontends) {
  return std::make_shared<const ServicePortState>(ServicePortTables::FromImage(image, index, std::move(frontends)));
}

std::string FormatFrontend(const abi::FrontendRecord& frontend) {
  const uint32_t ip = frontend.ipv4;
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." + std::to_string((ip >> 8) & 0xff) +
         "." + std::to_string(ip & 0xff) + ":" + std::to_string(frontend.port);
}

}  // namespace

ServicePortState::ServicePortState(ServicePortTables tables) : ServicePortTables(std::move(tables)) {
  backend_keys.reserve(backends.size());
  for (const abi::BackendRecord& backend : backends) backend_keys.push_back(BackendKey(backend.ipv4, backend.port));
  std::sort(backend_keys.begin(), backend_keys.end());
}

// One batch of puts and removals, checked before anything changes: a
// frontend claimed by two service ports refuses the whole batch.
class ServiceTables::Edit {
 public:
  Edit(ServiceTables& tables, const CounterSlotHooks& hooks) : tables_(tables), hooks_(hooks) {}

  void Put(uint32_t id, std::shared_ptr<const ServicePortState> state) { ops_[id] = std::move(state); }
  void Remove(uint32_t id) { ops_[id] = nullptr; }

  Status Commit() {
    // Frontends of the ports being replaced or removed are released first.
    std::set<uint64_t> released;
    for (const auto& [id, state] : ops_)
      if (const uint32_t* slot = tables_.by_id_.Find(id))
        for (const abi::FrontendRecord& frontend : tables_.slots_[*slot].state->frontends)
          released.insert(KeyOf(frontend));
    std::set<uint64_t> claimed;
    for (const auto& [id, state] : ops_) {
      if (state == nullptr) continue;
      for (const abi::FrontendRecord& frontend : state->frontends) {
        const uint64_t key = KeyOf(frontend);
        const bool taken = !claimed.insert(key).second ||
                           (tables_.frontends_.Find(key) != nullptr && released.count(key) == 0);
        if (taken)
          return MakeError("frontend " + FormatFrontend(frontend) + " of service port " + state->name +
                           " belongs to another service port");
      }
    }

    std::map<uint64_t, std::optional<abi::FrontendRecord>> frontend_changes;
    std::map<uint64_t, std::optional<uint32_t>> id_changes;
    std::map<uint32_t, int> owned_changes;
    for (uint64_t key : released) frontend_changes[key] = std::nullopt;
    for (const auto& [id, state] : ops_) {
      const uint32_t* existing = tables_.by_id_.Find(id);
      if (existing != nullptr)
        for (const abi::FrontendRecord& frontend : tables_.slots_[*existing].state->frontends)
          if (OwnsItsAddress(frontend)) --owned_changes[frontend.ipv4];
      if (state == nullptr) {
        if (existing == nullptr) continue;
        tables_.slots_.Set(*existing, Slot{});
        tables_.free_slots_.push_back(*existing);
        id_changes[id] = std::nullopt;
        --tables_.port_count_;
        hooks_.release(id);
        continue;
      }
      uint32_t slot = 0;
      uint32_t counter = 0;
      if (existing != nullptr) {
        slot = *existing;
        counter = tables_.slots_[slot].counter_slot;
      } else {
        if (!tables_.free_slots_.empty()) {
          slot = tables_.free_slots_.back();
          tables_.free_slots_.pop_back();
        } else {
          slot = tables_.slot_end_++;
        }
        counter = hooks_.assign(id, state->name);
        id_changes[id] = slot;
        ++tables_.port_count_;
      }
      for (abi::FrontendRecord frontend : state->frontends) {
        frontend.service_port_index = slot;
        frontend_changes[KeyOf(frontend)] = frontend;
        if (OwnsItsAddress(frontend)) ++owned_changes[frontend.ipv4];
      }
      tables_.slots_.Set(slot, Slot{state, counter});
    }

    std::map<uint64_t, std::optional<uint32_t>> owned_updates;
    for (const auto& [address, change] : owned_changes) {
      if (change == 0) continue;
      const uint32_t* current = tables_.owned_.Find(address);
      const int before = current == nullptr ? 0 : static_cast<int>(*current);
      const int after = before + change;
      if (before == 0 && after > 0) tables_.gained_addresses_.push_back(address);
      if (before > 0 && after <= 0) tables_.lost_addresses_.push_back(address);
      owned_updates[address] = after > 0 ? std::optional<uint32_t>(static_cast<uint32_t>(after)) : std::nullopt;
    }
    tables_.frontends_.Update(frontend_changes);
    tables_.by_id_.Update(id_changes);
    tables_.owned_.Update(owned_updates);
    return Ok{};
  }

 private:
  ServiceTables& tables_;
  const CounterSlotHooks& hooks_;
  std::map<uint32_t, std::shared_ptr<const ServicePortState>> ops_;
};

std::unique_ptr<ServiceTables> ServiceTables::FromImage(const ServicesImage& image, const CounterSlotHooks& hooks,
                                                        const ServiceTables* previous, uint32_t first_version) {
  ServicesPorts ports;
  ports.generation = image.generation;
  auto frontends = FrontendsByServicePort(image);
  ports.ports.reserve(image.service_ports.size());
  for (uint32_t i = 0; i < image.service_ports.size(); ++i)
    ports.ports.push_back(ServicePortTables::FromImage(image, i, std::move(frontends[i])));
  return FromPorts(std::move(ports), hooks, previous, first_version);
}

ServiceTables::BaseIndex::BaseIndex(std::vector<Entry> entries) : entries_(std::move(entries)) {
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.first < b.first; });
  // Keep the last of each run of one id.
  auto last_of_each = std::unique(entries_.rbegin(), entries_.rend(),
                                  [](const Entry& a, const Entry& b) { return a.first == b.first; });
  entries_.erase(entries_.begin(), last_of_each.base());
}

const std::shared_ptr<const ServicePortState>* ServiceTables::BaseIndex::Find(uint32_t id) const {
  auto found = std::lower_bound(entries_.begin(), entries_.end(), id,
                                [](const Entry& entry, uint32_t key) { return entry.first < key; });
  return found != entries_.end() && found->first == id ? &found->second : nullptr;
}

std::unique_ptr<ServiceTables> ServiceTables::FromPorts(ServicesPorts decoded, const CounterSlotHooks& hooks,
                                                        const ServiceTables* previous, uint32_t first_version) {
  std::vector<ServicePortTables>& ports = decoded.ports;
  auto tables = std::make_unique<ServiceTables>();
  tables->base_generation_ = decoded.generation;
  tables->version_ = previous != nullptr ? previous->version_ + 1 : first_version;
  std::vector<BaseIndex::Entry> base;
  base.reserve(ports.size());
  // Unique ids and frontends (what the compiler writes): built in one pass.
  std::vector<uint64_t> ids, frontend_keys;
  ids.reserve(ports.size());
  for (const ServicePortTables& port : ports) {
    ids.push_back(port.record.id);
    for (const abi::FrontendRecord& frontend : port.frontends) frontend_keys.push_back(KeyOf(frontend));
  }
  std::sort(ids.begin(), ids.end());
  std::sort(frontend_keys.begin(), frontend_keys.end());
  const bool unique = std::adjacent_find(ids.begin(), ids.end()) == ids.end() &&
                      std::adjacent_find(frontend_keys.begin(), frontend_keys.end()) == frontend_keys.end();
  if (unique) {
    std::vector<std::pair<uint64_t, abi::FrontendRecord>> frontend_entries;
    std::vector<std::pair<uint64_t, uint32_t>> id_entries;
    std::map<uint32_t, uint32_t> owned;
    frontend_entries.reserve(frontend_keys.size());
    id_entries.reserve(ports.size());
    for (uint32_t i = 0; i < ports.size(); ++i) {
      auto state = std::make_shared<const ServicePortState>(std::move(ports[i]));
      const uint32_t id = state->record.id;
      for (abi::FrontendRecord frontend : state->frontends) {
        frontend.service_port_index = i;
        frontend_entries.emplace_back(KeyOf(frontend), frontend);
        if (OwnsItsAddress(frontend)) ++owned[frontend.ipv4];
      }
      id_entries.emplace_back(id, i);
      tables->slots_.Set(i, Slot{state, hooks.assign(id, state->name)});
      base.emplace_back(id, std::move(state));
    }
    tables->slot_end_ = static_cast<uint32_t>(ports.size());
    tables->port_count_ = ports.size();
    tables->frontends_ = ShardedMap<abi::FrontendRecord>::Build(frontend_entries);
    tables->by_id_ = ShardedMap<uint32_t>::Build(id_entries);
    tables->owned_ = ShardedMap<uint32_t>::Build(
        std::vector<std::pair<uint64_t, uint32_t>>(owned.begin(), owned.end()));
    for (const auto& [address, count] : owned) tables->gained_addresses_.push_back(address);
  } else {
    // Two service ports claim one frontend (or share an id): keep the first
    // claim of each frontend, the last record of an id.
    std::set<uint64_t> seen;
    Edit first_claims(*tables, hooks);
    for (ServicePortTables& port : ports) {
      std::vector<abi::FrontendRecord> kept;
      for (const abi::FrontendRecord& frontend : port.frontends)
        if (seen.insert(KeyOf(frontend)).second) kept.push_back(frontend);
      port.frontends = std::move(kept);
      const uint32_t id = port.record.id;
      auto state = std::make_shared<const ServicePortState>(std::move(port));
      base.emplace_back(id, state);
      first_claims.Put(id, std::move(state));
    }
    (void)first_claims.Commit();
  }
  tables->base_ = std::make_shared<const BaseIndex>(std::move(base));
  if (previous != nullptr) {
    previous->by_id_.ForEach([&](uint64_t id, uint32_t) {
      if (tables->by_id_.Find(id) == nullptr) hooks.release(static_cast<uint32_t>(id));
    });
    // What the previous snapshot owned is not news; what it loses is.
    tables->gained_addresses_.clear();
    const std::vector<uint32_t> before = previous->OwnedAddresses(), after = tables->OwnedAddresses();
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                        std::back_inserter(tables->gained_addresses_));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(tables->lost_addresses_));
  }
  return tables;
}

Result<std::unique_ptr<ServiceTables>> ServiceTables::WithDelta(const ServicesDelta& delta,
                                                                const CounterSlotHooks& hooks) const {
  if (delta.base_generation != base_generation_)
    return MakeError("services delta " + std::to_string(delta.generation) + " applies to services generation " +
                     std::to_string(delta.base_generation) + ", the dataplane holds " +
                     std::to_string(base_generation_));
  if (delta.base_service_ports != base_service_port_count())
    return MakeError("services delta " + std::to_string(delta.generation) + " expects " +
                     std::to_string(delta.base_service_ports) + " service ports in its base, the base holds " +
                     std::to_string(base_service_port_count()));
  auto next = std::make_unique<ServiceTables>(*this);
  next->delta_generation_ = delta.generation;
  next->version_ = version_ + 1;
  next->gained_addresses_.clear();
  next->lost_addresses_.clear();

  std::vector<uint32_t> touched = delta.removed_ids;
  for (const abi::ServicePortRecord& record : delta.changed.service_ports) touched.push_back(record.id);
  std::sort(touched.begin(), touched.end());

  Edit edit(*next, hooks);
  // Ports the previous delta changed and this one does not: back to the base.
  for (uint32_t id : overlay_ids_) {
    if (std::binary_search(touched.begin(), touched.end(), id)) continue;
    if (const auto* in_base = base_->Find(id))
      edit.Put(id, *in_base);
    else
      edit.Remove(id);
  }
  for (uint32_t id : delta.removed_ids) edit.Remove(id);
  const auto frontends = FrontendsByServicePort(delta.changed);
  for (uint32_t i = 0; i < delta.changed.service_ports.size(); ++i) {
    const uint32_t id = delta.changed.service_ports[i].id;
    auto state = PortState(delta.changed, i, frontends[i]);
    // Unchanged from the base: share the base's copy.
    const auto* in_base = base_->Find(id);
    edit.Put(id, in_base != nullptr && **in_base == *state ? *in_base : std::move(state));
  }
  if (Status status = edit.Commit(); !status)
    return MakeError("services delta " + std::to_string(delta.generation) + ": " + status.error().message);
  next->overlay_ids_ = std::move(touched);
  return next;
}

const abi::BackendRecord* ServiceTables::FindBackend(uint32_t slot, uint32_t ipv4, uint16_t port) const {
  const ServicePortState& state = *slots_[slot].state;
  for (const abi::BackendRecord& backend : state.backends)
    if (backend.ipv4 == ipv4 && backend.port == port) return &backend;
  return nullptr;
}

bool ServiceTables::SourceAllowed(uint32_t slot, uint32_t source_ipv4) const {
  const ServicePortState& state = *slots_[slot].state;
  if (state.source_ranges.empty()) return true;
  for (const abi::CidrRecord& range : state.source_ranges)
    if (InPrefix(source_ipv4, range.prefix, range.prefix_len)) return true;
  return false;
}

bool ServiceTables::HasBackend(uint32_t service_port_id, uint32_t ipv4, uint16_t port) const {
  const uint32_t* slot = by_id_.Find(service_port_id);
  if (slot == nullptr) return false;
  const std::vector<uint64_t>& keys = slots_[*slot].state->backend_keys;
  return std::binary_search(keys.begin(), keys.end(), ServicePortState::BackendKey(ipv4, port));
}

std::vector<uint32_t> ServiceTables::OwnedAddresses() const {
  std::vector<uint32_t> addresses;
  owned_.ForEach([&](uint64_t address, uint32_t) { addresses.push_back(static_cast<uint32_t>(address)); });
  std::sort(addresses.begin(), addresses.end());
  return addresses;
}

ServicesImage ServiceTables::ToImage() const {
  ServicesImage image;
  image.generation = base_generation_;
  for (uint32_t slot = 0; slot < slot_end_; ++slot) {
    const ServicePortState* port = state(slot);
    if (port == nullptr) continue;
    port->AppendTo(image);
  }
  return image;
}

}  // namespace np
