// The shared-memory image of a table (conntrack or affinity): header,
// bucket index, entry array, optional side array. Position-independent:
// only offsets and entry indices are stored, so the file can be mapped at
// any address, by a restarted dataplane (kRecover) or by the CLI (kObserve).
//
//   offset 0                TableHeader (identity, pool words, counters)
//   buckets_offset          Bucket[bucket_count]   (64 B each, any count)
//   entries_offset          Entry[pool_size]       (entry_size each)
//   side_offset             side records[pool_size] (side_size each; 0: none)
//
// The side array holds per-entry fields no packet needs (conntrack: the
// flow-record start time), so that the entries stay small and the fields
// the fast path reads share as few cache lines as possible.
//
// pool_size = capacity + retire headroom: `capacity` bounds the live
// entries; the headroom holds unlinked entries during their grace period,
// so that early drop can make room without waiting for reclamation. The
// housekeeping thread reclaims what it retires ten times a second, so
// capacity/32 of headroom sustains capacity * 0.3 expiries per second at a
// full table (650k/s at 2M); workers reclaim what they retire themselves
// within a loop or two (entry_cache.h), and their caches hold at most
// pool/256 free entries each. Below capacity every free entry serves as
// headroom.
//
// Index size: one bucket per kKeysPerBucketAtFullPool keys of a full pool
// (57% of its 14 slots), so probing past the home bucket stays rare.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/result.h"
#include "dataplane/conntrack/bucket_index.h"
#include "dataplane/conntrack/entry_pool.h"

namespace np::ct {

inline constexpr uint32_t kTableMagic = 0x5443504eu;  // "NPCT"
// 2: 32-bit slot words, 14 per bucket, any bucket count; side array;
//    96-byte conntrack entries, 32-byte affinity entries.
// 3: per-thread live-entry credits in the header (LiveCredit).
inline constexpr uint16_t kTableVersionMajor = 3;
inline constexpr uint16_t kTableVersionMinor = 0;
inline constexpr uint64_t kDefaultHashSeed = 0x6e6f6465706c616eull;  // "nodeplan"
inline constexpr uint32_t kMaxCounters = 16;
inline constexpr uint32_t kKeysPerBucketAtFullPool = 8;
// Threads that may hold live-entry credit (entry_cache.h); one per worker.
inline constexpr uint32_t kLiveCreditSlots = 16;

enum class TableKind : uint32_t { kConntrack = 1, kAffinity = 2 };

enum class AttachMode : uint8_t {
  kCreate,   // format the memory (its content is discarded)
  kRecover,  // dataplane restart: validate, keep live entries, rebuild the
             // index and the free list (no other writer or reader may run)
  kObserve,  // another process (CLI): validate only, read-only use
};

struct TableConfig {
  uint32_t capacity = 0;  // live entries; kObserve accepts any when 0
  uint64_t hash_seed = kDefaultHashSeed;  // stored by kCreate, read back otherwise
};

// What the attaching code was compiled with; refused when the file differs.
struct TableShape {
  TableKind kind;
  uint32_t entry_size;
  uint32_t link_offset;  // offsetof(Entry, PoolLink member)
  uint32_t keys_per_entry;
  uint32_t side_size = 0;  // bytes per entry in the side array (0: none)
};

// Where everything goes for a capacity (also what the memory figures of
// tests and benchmarks are computed from).
struct TableLayout {
  uint32_t pool_size = 0;
  uint32_t bucket_count = 0;
  uint64_t buckets_offset = 0;
  uint64_t entries_offset = 0;
  uint64_t side_offset = 0;
  uint64_t total_bytes = 0;
};

struct alignas(64) TableHeader {
  // Identity, written once by kCreate.
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t kind;
  uint32_t header_size;
  uint32_t bucket_size;
  uint32_t entry_size;
  uint32_t keys_per_entry;
  uint32_t capacity;
  uint32_t pool_size;
  uint32_t bucket_count;
  uint32_t side_size;
  uint32_t reserved;
  uint64_t hash_seed;
  uint64_t buckets_offset;
  uint64_t entries_offset;
  uint64_t side_offset;
  uint64_t total_bytes;

  // Shared mutable words, each group on its own cache line.
  alignas(64) PoolWords pool;
  alignas(64) std::atomic<uint32_t> live_entries;  // live entries + the credits below
  std::atomic<uint32_t> sweep_cursor;  // only the sweeping thread writes it
  alignas(64) std::atomic<uint64_t> counters[kMaxCounters];  // relaxed, named per table kind
  // Capacity a thread reserved in live_entries and holds unused; each slot
  // is written by its one thread only, on its own cache line.
  struct alignas(64) LiveCredit {
    std::atomic<uint32_t> value;
  };
  LiveCredit live_credit[kLiveCreditSlots];
};

struct TableMemory {
  TableHeader* header = nullptr;
  BucketIndex index;
  EntryPool pool;
  char* entries = nullptr;
  char* side = nullptr;  // side records, header->side_size bytes each
  uint32_t capacity = 0;
  uint64_t hash_seed = 0;

  static size_t RequiredBytes(const TableShape& shape, uint32_t capacity);
  // False when the capacity is out of range.
  static bool Plan(const TableShape& shape, uint32_t capacity, TableLayout* layout);
  static Result<TableMemory> Attach(void* memory, size_t size, const TableShape& shape,
                                    const TableConfig& config, AttachMode mode);

  void Count(uint32_t counter, uint64_t amount = 1) const {
    header->counters[counter].fetch_add(amount, std::memory_order_relaxed);
  }
  uint64_t Counter(uint32_t counter) const {
    return header->counters[counter].load(std::memory_order_relaxed);
  }
  // Live entries: what is reserved minus what threads hold as credit (a
  // reader racing a thread's batch reservation may see up to one batch more).
  uint32_t LiveEntries() const {
    int64_t live = header->live_entries.load(std::memory_order_relaxed);
    for (const TableHeader::LiveCredit& credit : header->live_credit) live -= credit.value.load(std::memory_order_relaxed);
    return live < 0 ? 0 : static_cast<uint32_t>(live);
  }

  // Recovery after kRecover (exclusive access): rebuilds the index and the
  // free list from the entries themselves. `rehash(entry, hashes, words)`
  // fills the hash and slot word of each of a live entry's keys and returns
  // how many there are; `same_key(word, entry, key)` compares the key an
  // indexed word points to with key `key` of `entry`. Entries that are not
  // kLive, or whose key is already taken (a torn file), are freed.
  // Returns the entries kept.
  template <class Rehash, class SameKey>
  uint32_t RecoverExclusive(Rehash&& rehash, SameKey&& same_key);
};

template <class Rehash, class SameKey>
uint32_t TableMemory::RecoverExclusive(Rehash&& rehash, SameKey&& same_key) {
  index.Clear();
  pool.ResetListsExclusive();
  uint32_t kept = 0;
  const uint32_t entry_count = pool.entry_count();
  for (uint32_t entry = entry_count; entry-- > 0;) {
    bool keep = false;
    if (pool.IsLive(entry)) {
      uint64_t hashes[2];
      SlotWord words[2];
      const uint32_t keys = rehash(entry, hashes, words);
      keep = keys > 0;
      for (uint32_t key = 0; key < keys && keep; ++key) {
        keep = index.Find(hashes[key],
                          [&](SlotWord word) { return same_key(word, entry, key); }) ==
                   kSlotEmpty &&
               index.InsertExclusive(hashes[key], words[key]);
        if (!keep) {
          for (uint32_t undo = 0; undo < key; ++undo) index.Unlink(hashes[undo], words[undo]);
        }
      }
    }
    if (keep) {
      ++kept;
    } else {
      pool.PushFreeExclusive(entry);
    }
  }
  header->live_entries.store(kept, std::memory_order_relaxed);
  for (TableHeader::LiveCredit& credit : header->live_credit) credit.value.store(0, std::memory_order_relaxed);
  if (header->sweep_cursor.load(std::memory_order_relaxed) >= entry_count) {
    header->sweep_cursor.store(0, std::memory_order_relaxed);
  }
  return kept;
}

}  // namespace np::ct
