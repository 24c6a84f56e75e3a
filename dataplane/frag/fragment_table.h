// Fragment tracking: later IPv4 fragments carry no L4 header, so they follow
// the NAT/policy decision of their datagram's first fragment through the
// ports remembered here, keyed by (src, dst, protocol, IP id).
//
// Choices (documented because they are trade-offs):
//   - Fixed capacity, storage given at construction (caller's span, or
//     FixedFragmentTable<N>): no allocation per packet. One table per worker
//     lcore, no locking: NICs hash any IPv4 fragment on addresses only
//     (RSS has no ports for it), so all fragments of a datagram reach the
//     same queue.
//   - Open addressing, probing a window of kProbeWindow slots. When the
//     window is full of live entries the one closest to expiry is evicted:
//     a flood of first fragments then costs old datagrams, never the table.
//   - A non-first fragment that arrives before its first fragment (or after
//     the entry expired/was evicted) is reported unknown: the caller drops it
//     and counts it. Holding it would make this table own mbufs; reordering
//     of fragments is rare on the paths a node sees, TCP retransmits (and
//     normally avoids fragmentation with PMTUD), and dropping can never let
//     a fragment bypass policy.
//   - An entry is freed early once every byte of the datagram was seen
//     (first fragment + payload bytes == total known from the last one);
//     duplicates can make that early, which only drops later duplicates.
//   - Time is whatever monotonic unit the caller uses (TSC cycles, ns); the
//     timeout is in the same unit.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "dataplane/packet/parse.h"

namespace np {

struct FragmentEntry {
  uint32_t src_ip;
  uint32_t dst_ip;
  uint16_t ip_id;
  uint8_t protocol;
  uint8_t reserved;
  uint16_t src_port;
  uint16_t dst_port;
  uint32_t bytes_seen;     // payload bytes of the fragments seen so far
  uint32_t total_length;   // payload bytes of the whole datagram, 0 until the last fragment
  uint64_t expires_at;     // 0 = free slot
};

struct FragmentTableStats {
  uint64_t first_fragments = 0;   // remembered
  uint64_t hits = 0;              // later fragments that found their first
  uint64_t unknown = 0;           // later fragments without one: dropped by the caller
  uint64_t evicted = 0;           // live entries pushed out by a full probe window
  uint64_t completed = 0;         // entries freed because the datagram was complete
};

class FragmentTable {
 public:
  static constexpr uint32_t kProbeWindow = 8;

  // `storage` is used as-is (its size rounded down to a power of two, at least
  // kProbeWindow entries are expected) and must outlive the table.
  FragmentTable(std::span<FragmentEntry> storage, uint64_t timeout);

  // For meta.first_fragment (IPv4, has_l4): remember the ports.
  void RememberFirst(const PacketMeta& meta, uint64_t now);

  // For a non-first fragment (meta.frag_offset_bytes != 0): the ports of its
  // datagram, or false when its first fragment is unknown.
  bool Lookup(const PacketMeta& meta, uint64_t now, uint16_t& src_port, uint16_t& dst_port);

  const FragmentTableStats& stats() const { return stats_; }
  uint32_t capacity() const { return mask_ + 1; }
  uint32_t LiveEntries(uint64_t now) const;  // for tests and diagnostics (O(capacity))

 private:
  uint32_t SlotOf(const PacketMeta& meta) const;
  static bool Matches(const FragmentEntry& entry, const PacketMeta& meta);
  // Payload accounting; frees the entry when the datagram is complete.
  void Account(FragmentEntry& entry, const PacketMeta& meta);

  FragmentEntry* entries_;
  uint32_t mask_;
  uint64_t timeout_;
  FragmentTableStats stats_;
};

namespace detail {
template <size_t N>
struct FragmentStorage {
  std::array<FragmentEntry, N> entries{};
};
}  // namespace detail

// A table that owns its storage (N a power of two), e.g. a member of a
// worker's state allocated once at startup.
template <size_t N>
class FixedFragmentTable : private detail::FragmentStorage<N>, public FragmentTable {
  static_assert(N >= FragmentTable::kProbeWindow && (N & (N - 1)) == 0, "N: power of two >= 8");

 public:
  explicit FixedFragmentTable(uint64_t timeout)
      : FragmentTable(std::span<FragmentEntry>(detail::FragmentStorage<N>::entries), timeout) {}
};

}  // namespace np
