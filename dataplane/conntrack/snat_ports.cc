#include "dataplane/conntrack/snat_ports.h"

#include "common/flow_hash.h"

namespace np::ct {

SnatPortAllocator::SnatPortAllocator(uint16_t port_min, uint16_t port_max, uint32_t worker,
                                     uint32_t worker_count, uint32_t seed, uint32_t max_attempts)
    : port_min_(port_min), worker_(worker), worker_count_(worker_count == 0 ? 1 : worker_count),
      seed_(seed), max_attempts_(max_attempts == 0 ? 1 : max_attempts) {
  const uint32_t range = port_max >= port_min ? static_cast<uint32_t>(port_max - port_min) + 1 : 0;
  share_ = worker_ < range ? (range - worker_ + worker_count_ - 1) / worker_count_ : 0;
}

uint32_t SnatPortAllocator::FirstChoice(const SnatRequest& request) const {
  if (share_ == 0) return 0;
  const FlowKey& key = request.original;
  const uint64_t hash =
      FlowHash(key.src_ip, key.src_port, key.dst_ip, key.dst_port, key.protocol, seed_) ^
      MixBits((static_cast<uint64_t>(request.backend_ip) << 16) | request.backend_port);
  return static_cast<uint32_t>(hash % share_);
}

FlowKey SnatPortAllocator::ReplyKey(const SnatRequest& request, uint16_t port) {
  FlowKey reply;
  reply.src_ip = request.backend_ip;
  reply.dst_ip = request.snat_ip;
  reply.protocol = request.original.protocol;
  reply.zone = request.original.zone;
  if (request.original.protocol == kProtoIcmp) {
    reply.src_port = port;  // echo identifier in both fields
    reply.dst_port = port;
  } else {
    reply.src_port = request.backend_port;
    reply.dst_port = port;
  }
  return reply;
}

SnatResult SnatPortAllocator::AllocateAndInsert(Table& table, const SnatRequest& request,
                                                EntryInit init, uint32_t now, uint32_t first_choice) const {
  SnatResult result;
  result.insert.status = InsertStatus::kTableFull;
  if (share_ == 0) return result;
  init.nat_flags |= kNatSnat;
  const uint32_t tries = share_ < max_attempts_ ? share_ : max_attempts_;
  uint32_t k = first_choice < share_ ? first_choice : FirstChoice(request);
  for (uint32_t attempt = 0; attempt < tries; ++attempt) {
    const uint16_t port = PortAt(k);
    k = k + 1 == share_ ? 0 : k + 1;
    const FlowKey reply = ReplyKey(request, port);
    ++result.attempts;
    // Cheap pre-check without locks; Insert re-checks under the lock.
    if (table.Lookup(reply).hit()) {
      result.insert.status = InsertStatus::kReplyExists;
      continue;
    }
    result.insert = table.Insert(request.original, reply, init, now);
    if (result.insert.status != InsertStatus::kReplyExists) {
      if (result.insert.ok()) result.port = port;
      return result;
    }
  }
  return result;
}

}  // namespace np::ct
