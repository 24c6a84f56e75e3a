// Session affinity (Service sessionAffinity: ClientIP): remembers which
// backend a client was sent to, per service port, for the service's
// affinity timeout (refreshed on every new connection that uses it, like
// kube-proxy's `recent` match with --set).
//
// Same machinery as the conntrack table (TableMemory: shared-memory file,
// BucketIndex, EntryPool with two-phase reclaim), one key per entry. The
// backend is one atomic word so that it can be replaced in place when the
// remembered backend disappears, without a reader ever seeing half of it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/result.h"
#include "dataplane/conntrack/table_memory.h"

namespace np::ct {

struct AffinityKey {
  uint32_t client_ip = 0;
  uint32_t service_port_id = 0;
  friend bool operator==(const AffinityKey&, const AffinityKey&) = default;
};

// Half a cache line: one entry is one line fetch at most.
struct alignas(32) AffinityEntry {
  AffinityKey key;                    // constant while linked
  std::atomic<uint64_t> backend;      // (ip << 16) | port
  std::atomic<uint32_t> last_used_s;  // relaxed
  std::atomic<uint32_t> timeout_s;    // relaxed
  PoolLink link;
};
static_assert(sizeof(AffinityEntry) == 32);

struct AffinityBackend {
  uint32_t ip = 0;
  uint16_t port = 0;
  friend bool operator==(const AffinityBackend&, const AffinityBackend&) = default;
};

struct AffinityLookup {
  bool hit = false;
  AffinityBackend backend;
};

enum class AffinityStatus : uint8_t {
  kInserted,
  kKept,      // a live entry existed: its backend stays (another worker was first)
  kReplaced,  // the entry existed but was expired, or `replace` was asked
  kFull,
};

struct AffinityResult {
  AffinityStatus status = AffinityStatus::kFull;
  AffinityBackend backend;  // the backend now in effect (use this one)
};

enum class AffinityCounter : uint32_t { kInserts, kHits, kMisses, kFull, kExpired, kReclaimed,
                                        kCount };

class AffinityTable {
 public:
  static TableShape Shape();
  static size_t RequiredBytes(uint32_t capacity);
  static Result<AffinityTable> Attach(void* memory, size_t size, const TableConfig& config,
                                      AttachMode mode);

  AffinityTable() = default;

  // Hit when remembered and not expired; refreshes last use.
  AffinityLookup Lookup(const AffinityKey& key, uint32_t now) const;
  // Remembers `backend` for `key` unless a live entry exists (then that one
  // wins, unless `replace`: the caller found its backend gone).
  AffinityResult Remember(const AffinityKey& key, AffinityBackend backend, uint32_t timeout_s,
                          uint32_t now, bool replace = false);

  // Housekeeping, one designated thread; same two-phase contract as Table.
  uint32_t Sweep(uint32_t now, uint32_t max_entries) const;
  RetiredBatch DetachRetired() const { return memory_.pool.DetachRetired(); }
  uint32_t Reclaim(RetiredBatch batch) const;

  uint32_t entries() const { return memory_.LiveEntries(); }
  uint64_t Counter(AffinityCounter counter) const {
    return memory_.Counter(static_cast<uint32_t>(counter));
  }

 private:
  explicit AffinityTable(const TableMemory& memory) : memory_(memory) {}
  AffinityEntry& At(uint32_t entry) const {
    return *reinterpret_cast<AffinityEntry*>(memory_.entries +
                                             static_cast<size_t>(entry) * sizeof(AffinityEntry));
  }
  uint64_t Hash(const AffinityKey& key) const;
  SlotWord FindWord(const AffinityKey& key, uint64_t hash) const;
  bool Expired(const AffinityEntry& entry, uint32_t now) const;
  void Count(AffinityCounter counter, uint64_t amount = 1) const {
    memory_.Count(static_cast<uint32_t>(counter), amount);
  }

  TableMemory memory_;
};

}  // namespace np::ct
