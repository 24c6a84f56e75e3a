// Connection-tracking table shared by all worker lcores, in a named POSIX
// shared-memory file so that a restarted dataplane re-attaches it
// (AttachMode::kRecover) and the CLI reads it (AttachMode::kObserve).
//
// Design
//  - ONE table for all workers. RSS steers every packet of one direction of
//    a flow to one worker, so a flow's original direction is INSERTED by one
//    worker only; any worker may LOOK UP and update either direction (after
//    NAT the reply may land on another worker's queue).
//  - Each entry is indexed under two keys, the original and the reply tuple
//    (Linux's tuplehash[2]); both find the one entry holding NAT and state.
//  - Index: BucketIndex (bucket_index.h): 64-byte buckets of 14 atomic
//    32-bit slot words (signature + entry index + direction), bounded linear
//    probing over 8 buckets, no cuckoo moves. Lookups are lock-free
//    (acquire loads, full-key compare). Inserts lock the home bucket of each
//    key (uniqueness), claim a slot by CAS, publish with a release store.
//    LookupBurst pipelines a burst: all home buckets are prefetched, then
//    every candidate entry, then keys are compared, so a burst at 1M flows
//    waits for about two memory latencies instead of two per packet.
//  - Position independent: only offsets and indices in the file.
//  - Full: beyond `capacity` live entries, or when a key's probe range has
//    no free slot, Insert EARLY-DROPS like Linux: it evicts the oldest entry
//    that never saw a reply among those indexed in the probed buckets. If
//    there is none it fails with kTableFull; existing flows keep working.
//  - Expiry: Sweep(now, budget), called by ONE designated thread, walks a
//    slice of the entries per call. Removal is two-phase: an entry is first
//    unlinked from both keys and retired; its memory is reused only after
//    DetachRetired() + the caller's grace period (rte_rcu_qsbr) + Reclaim().
//    Any thread may Remove() (e.g. a worker that finds an expired entry).
//  - A worker's view goes through its own EntryCache (UseCache): it
//    allocates from and retires into the cache, and ReclaimCached, once per
//    loop, seals and reclaims its retired entries without waiting; the
//    shared free and retire lists see only batches.
//  - Time is a coarse uint32 seconds clock supplied by the caller.
//
// Memory order of per-entry fields (see Entry):
//  - Keys, NAT and service fields, the creation time and the side record
//    are written before the release store that publishes the entry and
//    never change while it is linked: plain fields (created_s shares its
//    word with the pool's list link, hence atomic).
//  - Counters: written by the worker that owns the direction (relaxed load +
//    store, no locked instruction); a direction seen by two workers at once
//    (RSS reconfiguration) may lose increments, which statistics tolerate.
//  - last_seen_s, status, tcp_state, policy_epoch, services_generation:
//    relaxed atomics; tcp_state is updated by CAS since both directions move
//    it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/result.h"
#include "dataplane/conntrack/entry_cache.h"
#include "dataplane/conntrack/flow_key.h"
#include "dataplane/conntrack/table_memory.h"
#include "dataplane/conntrack/tcp_state.h"
#include "dataplane/conntrack/timeouts.h"

namespace np::ct {

inline constexpr uint32_t kNoServicePort = 0xffffffffu;

enum NatFlags : uint8_t {
  kNatDnat = 1u << 0,  // destination rewritten (VIP -> backend)
  kNatSnat = 1u << 1,  // source rewritten (client -> node IP / pod gateway)
};

enum OriginFlags : uint8_t {
  kFromOutsideCluster = 1u << 0,  // client outside cluster_cidr (traffic policies)
  kHairpin = 1u << 1,             // a pod reaching itself through its service
};

enum StatusFlags : uint8_t {
  kSeenReply = 1u << 0,
};

// 96 bytes for both directions, NAT, service, policy, state and counters
// (perf/RESULTS.md "Memory per connection": with its index slots and the
// pool's headroom about 124 bytes per connection). Entries are 32-byte
// aligned, so the keys (bytes 0-31) never straddle a cache line and a
// lookup compares them in one line; the rest is at most one more line,
// which LookupBurst prefetches for writing.
struct alignas(32) Entry {
  // --- keys: constant while linked ---
  FlowKey tuple[2];  // [Direction::kOriginal], [Direction::kReply]
  // --- per packet ---
  std::atomic<uint32_t> last_seen_s;
  std::atomic<uint8_t> tcp_state;      // TcpState
  std::atomic<uint8_t> status;         // StatusFlags
  std::atomic<uint16_t> counter_slot;  // the caller's per-service counter slot (stats)
  uint32_t service_port_id;            // constant while linked
  // Low 32 bits of the services generation last validated against
  // (re-stamped by lazy revalidation; equality is all that is asked).
  std::atomic<uint32_t> services_generation;
  std::atomic<uint32_t> policy_epoch;  // policy generation last validated against
  uint8_t nat_flags;     // NatFlags, constant while linked
  uint8_t origin_flags;  // OriginFlags, constant while linked
  // Flow records: when the sweeper last reported this entry (low 16 bits of
  // the coarse clock; only the sweeping thread reads or writes it).
  std::atomic<uint16_t> last_report_s;
  // link.next is the pool's list successor while the entry is free or
  // retired, and its creation time (coarse clock) while it is linked: nobody
  // asks a retired entry its age (Snapshot re-checks `life` after copying).
  PoolLink link;
  std::atomic<uint64_t> packets[2];  // per Direction
  std::atomic<uint64_t> bytes[2];

  uint32_t created_s() const { return link.next.load(std::memory_order_relaxed); }
  // DNAT's backend is where the reply comes from.
  uint32_t backend_ip() const { return (nat_flags & kNatDnat) ? tuple[1].src_ip : 0; }
  uint16_t backend_port() const { return (nat_flags & kNatDnat) ? tuple[1].src_port : 0; }
};
static_assert(sizeof(Entry) == 96, "keys + state + counters in 96 bytes (the memory target)");

// What no packet reads: one record per entry in the table's side array.
struct EntrySide {
  uint64_t start_ns;  // CLOCK_REALTIME of the first packet (0: not recorded); constant while linked
};

// backend_ip/backend_port of a DNAT entry are its reply key's source.
struct EntryInit {
  uint32_t service_port_id = kNoServicePort;
  uint8_t nat_flags = 0;
  uint8_t origin_flags = 0;
  TcpState tcp_state = TcpState::kNone;  // InitialTcpState(flags).state for TCP
  uint32_t policy_epoch = 0;
  uint64_t services_generation = 0;
  uint32_t counter_slot = 0;
  uint64_t start_ns = 0;  // wall clock of the first packet, for flow records
};

struct LookupResult {
  uint32_t entry = kNoEntry;
  Direction direction = Direction::kOriginal;
  bool hit() const { return entry != kNoEntry; }
};

enum class InsertStatus : uint8_t {
  kInserted,
  kExists,       // the original key is indexed already (entry/direction say where)
  kReplyExists,  // the reply key is taken by another flow: pick another SNAT port
  kTableFull,    // no room even after early drop: drop the packet, count it
  kInvalidKey,   // original == reply (same address and port both ends)
};

struct InsertResult {
  InsertStatus status = InsertStatus::kTableFull;
  uint32_t entry = kNoEntry;  // new entry, or the one holding the clashing key
  Direction direction = Direction::kOriginal;
  // Entries early drop evicted to make room (kNoEntry: none), whatever the
  // status: unlinked and retired, readable until the caller's next
  // quiescent state (flow records report them).
  uint32_t evicted[2] = {kNoEntry, kNoEntry};
  bool ok() const { return status == InsertStatus::kInserted; }
};

// What Sweep tells its caller about the entries it visits (flow records).
// Plain function pointers: called on the housekeeping thread, never per
// packet.
struct SweepObserver {
  void* context = nullptr;
  // An expired entry, unlinked; its memory stays readable until reclaimed.
  void (*expired)(void* context, uint32_t entry) = nullptr;
  // A live entry that stays.
  void (*live)(void* context, uint32_t entry) = nullptr;
};

struct SweepResult {
  uint32_t visited = 0;
  uint32_t expired = 0;
};

// Counters kept in the file header (TableHeader::counters).
enum class CtCounter : uint32_t {
  kInserts,
  kInsertExists,
  kReplyClashes,
  kTableFull,    // inserts refused: the caller drops (Linux's insert_failed)
  kPoolEmpty,    // of which: every entry live or awaiting reclamation
  kEarlyDrops,
  kExpired,
  kRemoved,      // by Remove(): revalidation, TCP reuse...
  kReclaimed,
  kCount,
};
static_assert(static_cast<uint32_t>(CtCounter::kCount) <= kMaxCounters);

// One thread's counts not yet added to the table's (Table::UseLocalCounters).
struct LocalCounters {
  uint64_t values[static_cast<uint32_t>(CtCounter::kCount)] = {};
};

struct CtCounters {
  uint64_t entries = 0;
  uint64_t capacity = 0;
  uint64_t inserts = 0;
  uint64_t insert_exists = 0;
  uint64_t reply_clashes = 0;
  uint64_t table_full = 0;
  uint64_t pool_empty = 0;
  uint64_t early_drops = 0;
  uint64_t expired = 0;
  uint64_t removed = 0;
  uint64_t reclaimed = 0;
  uint64_t awaiting_reclaim = 0;
};

// A consistent copy of one live entry, for the CLI.
struct EntrySnapshot {
  uint32_t index = 0;
  FlowKey original;
  FlowKey reply;
  uint32_t backend_ip = 0;
  uint16_t backend_port = 0;
  uint8_t nat_flags = 0;
  uint8_t origin_flags = 0;
  uint32_t service_port_id = kNoServicePort;
  uint32_t policy_epoch = 0;
  uint64_t services_generation = 0;
  TcpState tcp_state = TcpState::kNone;
  bool seen_reply = false;
  uint32_t created_s = 0;
  uint32_t last_seen_s = 0;
  uint32_t timeout_s = 0;
  uint64_t packets[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
};

class Table {
 public:
  static TableShape Shape();
  static size_t RequiredBytes(uint32_t capacity);
  // Cheap view over the memory; copy it freely (e.g. one per thread).
  static Result<Table> Attach(void* memory, size_t size, const TableConfig& config,
                              AttachMode mode);

  Table() = default;

  void SetTimeouts(const Timeouts& timeouts) { timeouts_ = timeouts; }
  // This view allocates, frees and retires through `cache` (one thread's,
  // it must outlive the view); nullptr: straight through the shared pool.
  // `credit_slot` (< kLiveCreditSlots, unique per thread) lets the cache
  // reserve live-entry capacity in batches; kNoCreditSlot: one shared add
  // per insert and one subtract per removal.
  static constexpr uint32_t kNoCreditSlot = ~0u;
  void UseCache(EntryCache* cache, uint32_t credit_slot = kNoCreditSlot) {
    cache_ = cache;
    if (cache_ != nullptr && credit_slot < kLiveCreditSlots)
      cache_->AttachCredit(&memory_.header->live_entries, &memory_.header->live_credit[credit_slot].value,
                           memory_.capacity);
  }
  // This view counts into `counts` (one thread's, it must outlive the view)
  // until FlushCounters() adds them to the shared counters; readers see
  // them one flush late. nullptr: every count straight to shared memory.
  void UseLocalCounters(LocalCounters* counts) { local_counts_ = counts; }
  void FlushCounters() const {
    if (local_counts_ == nullptr) return;
    for (uint32_t i = 0; i < static_cast<uint32_t>(CtCounter::kCount); ++i) {
      if (local_counts_->values[i] == 0) continue;
      memory_.Count(i, local_counts_->values[i]);
      local_counts_->values[i] = 0;
    }
  }
  const Timeouts& timeouts() const { return timeouts_; }
  uint32_t capacity() const { return memory_.capacity; }
  uint32_t pool_size() const { return memory_.pool.entry_count(); }

  uint64_t Hash(const FlowKey& key) const { return HashFlowKey(key, memory_.hash_seed); }
  // Starts fetching the home bucket of `key` (an insert to come).
  void PrefetchHome(const FlowKey& key) const { memory_.index.Prefetch(Hash(key)); }

  // --- fast path ---
  LookupResult Lookup(const FlowKey& key) const {
    return LookupHashed(key, Hash(key));
  }
  LookupResult LookupHashed(const FlowKey& key, uint64_t hash) const {
    const SlotWord word = memory_.index.Find(hash, [&](SlotWord candidate) {
      return At(memory_.index.EntryOf(candidate)).tuple[BucketIndex::DirectionOf(candidate)] == key;
    });
    if (word == kSlotEmpty) return {};
    return {memory_.index.EntryOf(word), static_cast<Direction>(BucketIndex::DirectionOf(word))};
  }
  // A burst, pipelined: hashes all keys and prefetches their home buckets,
  // then prefetches the entry of each key's first signature match (both of
  // its lines: the caller goes on to Touch it), then compares keys.
  void LookupBurst(const FlowKey* keys, uint32_t count, LookupResult* results) const;


  InsertResult Insert(const FlowKey& original, const FlowKey& reply, const EntryInit& init,
                      uint32_t now);

  Entry& At(uint32_t entry) const {
    return *reinterpret_cast<Entry*>(memory_.entries + static_cast<size_t>(entry) * sizeof(Entry));
  }
  EntrySide& SideOf(uint32_t entry) const {
    return *reinterpret_cast<EntrySide*>(memory_.side + static_cast<size_t>(entry) * sizeof(EntrySide));
  }
  uint64_t StartNs(uint32_t entry) const { return SideOf(entry).start_ns; }

  // Per packet: counters of `direction`, last_seen, seen-reply.
  void Touch(uint32_t entry, Direction direction, uint32_t bytes, uint32_t now) const {
    Entry& e = At(entry);
    const uint32_t dir = static_cast<uint32_t>(direction);
    e.packets[dir].store(e.packets[dir].load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
    e.bytes[dir].store(e.bytes[dir].load(std::memory_order_relaxed) + bytes,
                       std::memory_order_relaxed);
    // Skip redundant stores: the line is shared by both directions' workers.
    if (e.last_seen_s.load(std::memory_order_relaxed) != now) {
      e.last_seen_s.store(now, std::memory_order_relaxed);
    }
    if (direction == Direction::kReply &&
        !(e.status.load(std::memory_order_relaxed) & kSeenReply)) {
      e.status.fetch_or(kSeenReply, std::memory_order_relaxed);
    }
  }

  // Moves a TCP entry's state for a packet with `flags` (does not Touch).
  TcpTransition UpdateTcpState(uint32_t entry, Direction direction, uint8_t flags) const;

  uint32_t TimeoutOf(uint32_t entry) const;
  bool Expired(uint32_t entry, uint32_t now) const {
    const int32_t idle =
        static_cast<int32_t>(now - At(entry).last_seen_s.load(std::memory_order_relaxed));
    return idle > static_cast<int32_t>(TimeoutOf(entry));
  }

  // Unlinks both keys and retires the entry; false if another thread
  // removed it first. Any thread.
  bool Remove(uint32_t entry) const;

  // --- housekeeping (one designated thread) ---
  SweepResult Sweep(uint32_t now, uint32_t max_entries, const SweepObserver* observer = nullptr) const;
  // Flow records: an entry's id, (incarnation << 32) | index; the same from
  // its insertion until it is reclaimed.
  uint64_t FlowId(uint32_t entry) const {
    return (static_cast<uint64_t>(memory_.pool.Life(entry) >> 2) << 32) | entry;
  }
  RetiredBatch DetachRetired() const { return memory_.pool.DetachRetired(); }
  uint32_t Reclaim(RetiredBatch batch) const;
  // The cache's owner, once per loop, never waiting: seals what it retired
  // since the last call with `start_grace_period()` (a token, e.g.
  // rte_rcu_qsbr_start) and reclaims the batches for which
  // `passed(token)` (e.g. rte_rcu_qsbr_check without waiting). Returns the
  // entries reclaimed; 0 without a cache.
  template <class StartGracePeriod, class Passed>
  uint32_t ReclaimCached(StartGracePeriod&& start_grace_period, Passed&& passed) const {
    if (cache_ == nullptr) return 0;
    if (cache_->has_open_batch()) cache_->SealOpenBatch(start_grace_period());
    const uint32_t reclaimed = cache_->ReclaimPassed(passed);
    if (reclaimed != 0) Count(CtCounter::kReclaimed, reclaimed);
    return reclaimed;
  }

  // --- observation (any process) ---
  CtCounters ReadCounters() const;
  // Copies entry `index` if it is live; false if it is not (or was reused
  // while being copied).
  bool Snapshot(uint32_t index, EntrySnapshot* snapshot) const;
  // Calls fn(const EntrySnapshot&) for each live entry; returns how many.
  template <class Fn>
  uint32_t ForEach(Fn&& fn) const {
    uint32_t visited = 0;
    EntrySnapshot snapshot;
    for (uint32_t index = 0; index < pool_size(); ++index) {
      if (Snapshot(index, &snapshot)) {
        fn(static_cast<const EntrySnapshot&>(snapshot));
        ++visited;
      }
    }
    return visited;
  }

  // The memory view (SNAT allocator, tests).
  const TableMemory& memory() const { return memory_; }

 private:
  explicit Table(const TableMemory& memory) : memory_(memory) {}

  InsertResult InsertLocked(uint32_t index, const FlowKey& original, uint64_t original_hash,
                            const FlowKey& reply, uint64_t reply_hash, uint32_t now);
  static constexpr uint32_t kLookupChunk = 32;
  // Stages 2 and 3 of a lookup for at most kLookupChunk keys.
  void ResolveChunk(const FlowKey* keys, const uint64_t* hashes, uint32_t n,
                    LookupResult* results) const;
  SlotWord FindWord(const FlowKey& key, uint64_t hash) const;
  uint32_t EarlyDrop(uint64_t hash, uint32_t now);  // the victim, or kNoEntry
  void UnlinkAndRetire(uint32_t entry) const;
  void Count(CtCounter counter, uint64_t amount = 1) const {
    if (local_counts_ != nullptr) local_counts_->values[static_cast<uint32_t>(counter)] += amount;
    else memory_.Count(static_cast<uint32_t>(counter), amount);
  }

  bool ReserveLive() const {
    if (cache_ != nullptr && cache_->has_credit()) return cache_->ReserveLive();
    std::atomic<uint32_t>& live = memory_.header->live_entries;
    if (live.fetch_add(1, std::memory_order_relaxed) < memory_.capacity) return true;
    live.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void ReleaseLive() const {
    if (cache_ != nullptr && cache_->has_credit()) cache_->ReleaseLive();
    else memory_.header->live_entries.fetch_sub(1, std::memory_order_relaxed);
  }

  uint32_t AllocateEntry() const { return cache_ != nullptr ? cache_->Allocate() : memory_.pool.Allocate(); }

  TableMemory memory_;
  Timeouts timeouts_;
  EntryCache* cache_ = nullptr;
  LocalCounters* local_counts_ = nullptr;
};

}  // namespace np::ct
