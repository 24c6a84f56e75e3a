// SNAT port allocation: picks (snat_ip, port) for a flow to a backend so
// that the reply tuple backend:port -> snat_ip:port is unique in the
// conntrack table, and inserts the entry in the same step.
//
//  - The range [port_min, port_max] comes from the node config; it is
//    disjoint from the kernel's ip_local_port_range because the node IP is
//    shared with the kernel.
//  - Worker i of N owns the ports p with (p - port_min) % N == i, so two
//    workers never race for a port (their reply keys always differ).
//  - The first port tried is picked by a hash of (seed, original tuple,
//    backend); then the worker's next ports in order, wrapping.
//  - The collision check IS the conntrack: a reply-key lookup skips taken
//    ports cheaply, and Insert's locked check is authoritative (kReplyExists
//    -> next port).
//  - Deterministic: the ports tried and chosen are a pure function of
//    (seed, tuple, backend, table contents) — golden pcaps stay exact.
//  - ICMP echo: the "port" is the echo identifier (both FlowKey ports).
#pragma once

#include <cstdint>

#include "dataplane/conntrack/table.h"

namespace np::ct {

struct SnatRequest {
  FlowKey original;        // as received: client -> frontend
  uint32_t backend_ip = 0;
  uint16_t backend_port = 0;  // ICMP echo: the identifier sent to the backend
  uint32_t snat_ip = 0;       // node IP or pod gateway (hairpin)
};

struct SnatResult {
  InsertResult insert;     // kInserted with the new entry, or why not
  uint16_t port = 0;       // the SNAT port (valid when inserted)
  uint32_t attempts = 0;   // ports tried
};

class SnatPortAllocator {
 public:
  SnatPortAllocator() = default;
  // `worker` in [0, worker_count); max_attempts bounds the work per packet.
  SnatPortAllocator(uint16_t port_min, uint16_t port_max, uint32_t worker, uint32_t worker_count,
                    uint32_t seed, uint32_t max_attempts = 64);

  // Ports this worker owns (0 when the range leaves it none).
  uint32_t share() const { return share_; }
  // The k-th port of this worker's share.
  uint16_t PortAt(uint32_t k) const {
    return static_cast<uint16_t>(port_min_ + worker_ + static_cast<uint32_t>(k) * worker_count_);
  }
  // Index into the share of the first port tried for this request.
  uint32_t FirstChoice(const SnatRequest& request) const;

  // Builds the reply key, finds a free port and inserts the entry with
  // kNatSnat added to init.nat_flags. insert.status is kReplyExists when
  // every port tried was taken (SNAT exhaustion: the caller drops and
  // counts), kTableFull when the table refused, kExists when the original
  // tuple is tracked already (insert.entry is that entry).
  // `first_choice`: FirstChoice(request) when the caller has it already.
  static constexpr uint32_t kNoFirstChoice = ~0u;
  SnatResult AllocateAndInsert(Table& table, const SnatRequest& request, EntryInit init,
                               uint32_t now, uint32_t first_choice = kNoFirstChoice) const;

  static FlowKey ReplyKey(const SnatRequest& request, uint16_t port);

 private:
  uint32_t port_min_ = 0;
  uint32_t worker_ = 0;
  uint32_t worker_count_ = 1;
  uint32_t share_ = 0;
  uint32_t seed_ = 0;
  uint32_t max_attempts_ = 64;
};

}  // namespace np::ct
