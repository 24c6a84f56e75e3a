#include "dataplane/service/service_tables.h"

#include <algorithm>

namespace np {

ServiceTables::ServiceTables(ServicesImage image) : image_(std::move(image)) {
  std::vector<std::pair<uint64_t, uint32_t>> frontends;
  std::vector<std::pair<uint64_t, uint8_t>> owned;
  for (uint32_t i = 0; i < image_.frontends.size(); ++i) {
    const abi::FrontendRecord& frontend = image_.frontends[i];
    frontends.emplace_back(FrontendKey(frontend.ipv4, frontend.port, frontend.protocol), i);
    if (frontend.kind == abi::FrontendKind::kLoadBalancer || frontend.kind == abi::FrontendKind::kExternalIP) {
      owned.emplace_back(frontend.ipv4, 1);
      owned_address_list_.push_back(frontend.ipv4);
    }
  }
  std::sort(owned_address_list_.begin(), owned_address_list_.end());
  owned_address_list_.erase(std::unique(owned_address_list_.begin(), owned_address_list_.end()),
                            owned_address_list_.end());
  std::vector<std::pair<uint64_t, uint32_t>> by_id;
  std::vector<std::pair<uint64_t, uint8_t>> backends;
  for (uint32_t i = 0; i < image_.service_ports.size(); ++i) {
    const abi::ServicePortRecord& sp = image_.service_ports[i];
    by_id.emplace_back(sp.id, i);
    for (uint32_t b = sp.backend_first; b < sp.backend_first + sp.backend_count; ++b)
      backends.emplace_back(BackendKey(sp.id, image_.backends[b].ipv4, image_.backends[b].port), 1);
  }
  frontends_ = FrozenMap<uint32_t>(frontends);
  by_id_ = FrozenMap<uint32_t>(by_id);
  backend_set_ = FrozenMap<uint8_t>(backends);
  owned_addresses_ = FrozenMap<uint8_t>(owned);
}

bool ServiceTables::SourceAllowed(uint32_t service_port_index, uint32_t source_ipv4) const {
  const abi::ServicePortRecord& sp = image_.service_ports[service_port_index];
  if (sp.source_range_count == 0) return true;
  for (uint32_t i = sp.source_range_first; i < sp.source_range_first + sp.source_range_count; ++i)
    if (InPrefix(source_ipv4, image_.source_ranges[i].prefix, image_.source_ranges[i].prefix_len)) return true;
  return false;
}

}  // namespace np

