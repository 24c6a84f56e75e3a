#include "dataplane/conntrack/table.h"

#include <cstddef>
#include <iterator>

#include "common/stats_abi.h"

namespace np::ct {
namespace {

constexpr uint32_t kInsertAttempts = 3;  // room for two evictions plus the capacity check
static_assert(stats::kMaxServicePorts <= 65536, "Entry::counter_slot is 16 bits");

}  // namespace

TableShape Table::Shape() {
  return TableShape{TableKind::kConntrack, sizeof(Entry),
                    static_cast<uint32_t>(offsetof(Entry, link)), 2, sizeof(EntrySide)};
}

size_t Table::RequiredBytes(uint32_t capacity) {
  return TableMemory::RequiredBytes(Shape(), capacity);
}

Result<Table> Table::Attach(void* memory, size_t size, const TableConfig& config,
                            AttachMode mode) {
  Result<TableMemory> attached = TableMemory::Attach(memory, size, Shape(), config, mode);
  if (!attached) return attached.error();
  Table table(*attached);
  if (mode == AttachMode::kRecover) {
    const uint64_t seed = table.memory_.hash_seed;
    table.memory_.RecoverExclusive(
        [&](uint32_t entry, uint64_t* hashes, SlotWord* words) -> uint32_t {
          const Entry& e = table.At(entry);
          if (e.tuple[0] == e.tuple[1]) return 0;
          for (uint32_t dir = 0; dir < 2; ++dir) {
            hashes[dir] = HashFlowKey(e.tuple[dir], seed);
            words[dir] = table.memory_.index.MakeWord(hashes[dir], entry, dir);
          }
          return 2;
        },
        [&](SlotWord word, uint32_t entry, uint32_t key) {
          return table.At(table.memory_.index.EntryOf(word)).tuple[BucketIndex::DirectionOf(word)] ==
                 table.At(entry).tuple[key];
        });
  }
  return table;
}

void Table::LookupBurst(const FlowKey* keys, uint32_t count, LookupResult* results) const {
  uint64_t hashes[kLookupChunk];
  for (uint32_t first = 0; first < count; first += kLookupChunk) {
    const uint32_t n = count - first < kLookupChunk ? count - first : kLookupChunk;
    // Stage 1: every home bucket on its way.
    for (uint32_t i = 0; i < n; ++i) {
      hashes[i] = Hash(keys[first + i]);
      memory_.index.Prefetch(hashes[i]);
    }
    ResolveChunk(keys + first, hashes, n, results + first);
  }
}

void Table::ResolveChunk(const FlowKey* keys, const uint64_t* hashes, uint32_t n,
                         LookupResult* results) const {
  const BucketIndex& index = memory_.index;
  SlotWord candidates[kLookupChunk];
  bool settled[kLookupChunk];
  // Stage 2: the entry a key most likely is, both lines: the keys, then
  // (for writing) the state and counters the caller updates.
  for (uint32_t i = 0; i < n; ++i) {
    candidates[i] = index.FirstCandidate(hashes[i], &settled[i]);
    if (candidates[i] != kSlotEmpty) {
      const char* entry = reinterpret_cast<const char*>(&At(index.EntryOf(candidates[i])));
      __builtin_prefetch(entry, 0, 3);
      __builtin_prefetch(entry + 64, 1, 3);
    }
  }
  // Stage 3: the candidate is nearly always the key, and a home bucket
  // with no candidate and no overflow a miss; Find settles the rest
  // (signature collisions, keys past their home) from cached buckets.
  for (uint32_t i = 0; i < n; ++i) {
    const SlotWord word = candidates[i];
    const uint32_t entry = index.EntryOf(word);
    const uint32_t direction = BucketIndex::DirectionOf(word);
    if (word != kSlotEmpty && At(entry).tuple[direction] == keys[i]) {
      results[i] = {entry, static_cast<Direction>(direction)};
    } else if (settled[i]) {
      results[i] = {};
    } else {
      results[i] = LookupHashed(keys[i], hashes[i]);
    }
  }
}

SlotWord Table::FindWord(const FlowKey& key, uint64_t hash) const {
  return memory_.index.Find(hash, [&](SlotWord word) {
    return At(memory_.index.EntryOf(word)).tuple[BucketIndex::DirectionOf(word)] == key;
  });
}

InsertResult Table::Insert(const FlowKey& original, const FlowKey& reply, const EntryInit& init,
                           uint32_t now) {
  if (original == reply) return {InsertStatus::kInvalidKey};
  const uint64_t original_hash = Hash(original);
  const uint64_t reply_hash = Hash(reply);

  const uint32_t index = AllocateEntry();
  if (index == kNoEntry) {
    Count(CtCounter::kTableFull);
    Count(CtCounter::kPoolEmpty);
    return {InsertStatus::kTableFull};
  }
  // Fill before any slot points here: nobody can see the entry yet.
  Entry& e = At(index);
  e.tuple[0] = original;
  e.tuple[1] = reply;
  e.nat_flags = init.nat_flags;
  e.origin_flags = init.origin_flags;
  e.service_port_id = init.service_port_id;
  e.link.next.store(now, std::memory_order_relaxed);  // created_s: the entry left the free list
  e.services_generation.store(static_cast<uint32_t>(init.services_generation), std::memory_order_relaxed);
  e.policy_epoch.store(init.policy_epoch, std::memory_order_relaxed);
  e.counter_slot.store(static_cast<uint16_t>(init.counter_slot), std::memory_order_relaxed);
  e.last_seen_s.store(now, std::memory_order_relaxed);
  e.tcp_state.store(static_cast<uint8_t>(init.tcp_state), std::memory_order_relaxed);
  e.status.store(0, std::memory_order_relaxed);
  e.last_report_s.store(static_cast<uint16_t>(now), std::memory_order_relaxed);
  SideOf(index).start_ns = init.start_ns;
  for (uint32_t dir = 0; dir < 2; ++dir) {
    e.packets[dir].store(0, std::memory_order_relaxed);
    e.bytes[dir].store(0, std::memory_order_relaxed);
  }

  const uint32_t original_home = memory_.index.Home(original_hash);
  const uint32_t reply_home = memory_.index.Home(reply_hash);
  memory_.index.LockHomes(original_home, reply_home);
  const InsertResult result =
      InsertLocked(index, original, original_hash, reply, reply_hash, now);
  memory_.index.UnlockHomes(original_home, reply_home);

  switch (result.status) {
    case InsertStatus::kInserted: Count(CtCounter::kInserts); break;
    case InsertStatus::kExists: Count(CtCounter::kInsertExists); break;
    case InsertStatus::kReplyExists: Count(CtCounter::kReplyClashes); break;
    case InsertStatus::kTableFull: Count(CtCounter::kTableFull); break;
    case InsertStatus::kInvalidKey: break;
  }
  if (!result.ok()) {
    if (cache_ != nullptr) {
      cache_->FreeUnpublished(index);
    } else {
      memory_.pool.FreeUnpublished(index);
    }
  }
  return result;
}

InsertResult Table::InsertLocked(uint32_t index, const FlowKey& original, uint64_t original_hash,
                                 const FlowKey& reply, uint64_t reply_hash, uint32_t now) {
  // Under both home locks nobody else can index these two keys.
  if (const SlotWord word = FindWord(original, original_hash); word != kSlotEmpty) {
    return {InsertStatus::kExists, memory_.index.EntryOf(word),
            static_cast<Direction>(BucketIndex::DirectionOf(word))};
  }
  if (const SlotWord word = FindWord(reply, reply_hash); word != kSlotEmpty) {
    return {InsertStatus::kReplyExists, memory_.index.EntryOf(word),
            static_cast<Direction>(BucketIndex::DirectionOf(word))};
  }
  const BucketIndex& index_ = memory_.index;
  InsertResult result{InsertStatus::kTableFull};
  uint32_t evictions = 0;
  for (uint32_t attempt = 0; attempt < kInsertAttempts; ++attempt) {
    // The capacity is reserved, not checked then taken: two workers
    // inserting at once must not both take the last place.
    const bool reserved = ReserveLive();
    BucketIndex::Claim original_claim;
    BucketIndex::Claim reply_claim;
    const bool have_original = reserved && index_.ClaimSlot(original_hash, &original_claim);
    const bool have_reply = have_original && index_.ClaimSlot(reply_hash, &reply_claim);
    if (reserved && !have_reply) ReleaseLive();
    if (have_reply) {
      memory_.pool.MarkLive(index);
      index_.Publish(original_claim, index_.MakeWord(original_hash, index, 0));
      index_.Publish(reply_claim, index_.MakeWord(reply_hash, index, 1));
      result.status = InsertStatus::kInserted;
      result.entry = index;
      return result;
    }
    if (have_original) index_.Abandon(original_claim);
    // Make room where it is missing: the reply key's buckets when only they
    // are full, else the original key's buckets, then the reply key's.
    uint32_t victim = kNoEntry;
    if (have_original && !have_reply) {
      victim = EarlyDrop(reply_hash, now);
    } else {
      victim = EarlyDrop(original_hash, now);
      if (victim == kNoEntry) victim = EarlyDrop(reply_hash, now);
    }
    if (victim == kNoEntry) break;
    if (evictions < std::size(result.evicted)) result.evicted[evictions++] = victim;
  }
  return result;
}

uint32_t Table::EarlyDrop(uint64_t hash, uint32_t now) {
  // Like Linux's early_drop: never a flow that saw a reply; the longest idle
  // of the unreplied ones (SYN floods, scans, one-way UDP) goes first.
  uint32_t victim = kNoEntry;
  int64_t victim_idle = -1;
  memory_.index.ForEachInProbeRange(hash, [&](SlotWord word) {
    const uint32_t entry = memory_.index.EntryOf(word);
    const Entry& e = At(entry);
    if (e.status.load(std::memory_order_relaxed) & kSeenReply) return;
    if (!memory_.pool.IsLive(entry)) return;
    const int64_t idle =
        static_cast<int32_t>(now - e.last_seen_s.load(std::memory_order_relaxed));
    if (idle > victim_idle) {
      victim_idle = idle;
      victim = entry;
    }
  });
  if (victim == kNoEntry || !memory_.pool.BeginUnlink(victim)) return kNoEntry;
  UnlinkAndRetire(victim);
  Count(CtCounter::kEarlyDrops);
  return victim;
}

void Table::UnlinkAndRetire(uint32_t entry) const {
  const Entry& e = At(entry);
  for (uint32_t dir = 0; dir < 2; ++dir) {
    const uint64_t hash = Hash(e.tuple[dir]);
    memory_.index.Unlink(hash, memory_.index.MakeWord(hash, entry, dir));
  }
  ReleaseLive();
  if (cache_ != nullptr) {
    cache_->Retire(entry);
  } else {
    memory_.pool.Retire(entry);
  }
}

bool Table::Remove(uint32_t entry) const {
  if (!memory_.pool.BeginUnlink(entry)) return false;
  UnlinkAndRetire(entry);
  Count(CtCounter::kRemoved);
  return true;
}

TcpTransition Table::UpdateTcpState(uint32_t entry, Direction direction, uint8_t flags) const {
  std::atomic<uint8_t>& state = At(entry).tcp_state;
  uint8_t current = state.load(std::memory_order_relaxed);
  for (;;) {
    const TcpTransition next = NextTcpState(static_cast<TcpState>(current), direction, flags);
    const uint8_t wanted = static_cast<uint8_t>(next.state);
    // relaxed: the state is self-contained; the CAS only orders the two
    // directions' updates of this one byte.
    if (wanted == current ||
        state.compare_exchange_weak(current, wanted, std::memory_order_relaxed)) {
      return next;
    }
  }
}

uint32_t Table::TimeoutOf(uint32_t entry) const {
  const Entry& e = At(entry);
  const bool seen_reply = e.status.load(std::memory_order_relaxed) & kSeenReply;
  switch (e.tuple[0].protocol) {
    case kProtoTcp: {
      const auto state = static_cast<TcpState>(e.tcp_state.load(std::memory_order_relaxed));
      const uint32_t timeout = timeouts_.Tcp(state);
      if (!seen_reply && timeout > timeouts_.tcp_unacknowledged) {
        return timeouts_.tcp_unacknowledged;
      }
      return timeout;
    }
    case kProtoUdp: {
      // Linux: a replied flow still active 2 s after creation is a stream.
      const uint32_t active = e.last_seen_s.load(std::memory_order_relaxed) - e.created_s();
      return seen_reply && static_cast<int32_t>(active) >= 2 ? timeouts_.udp_stream
                                                              : timeouts_.udp;
    }
    case kProtoIcmp: return timeouts_.icmp;
    default: return timeouts_.generic;
  }
}

SweepResult Table::Sweep(uint32_t now, uint32_t max_entries, const SweepObserver* observer) const {
  SweepResult result;
  const uint32_t entry_count = pool_size();
  uint32_t cursor = memory_.header->sweep_cursor.load(std::memory_order_relaxed);
  if (cursor >= entry_count) cursor = 0;
  if (max_entries > entry_count) max_entries = entry_count;
  for (; result.visited < max_entries; ++result.visited) {
    const uint32_t entry = cursor;
    cursor = cursor + 1 == entry_count ? 0 : cursor + 1;
    if (!memory_.pool.IsLive(entry)) continue;
    if (Expired(entry, now) && memory_.pool.BeginUnlink(entry)) {
      UnlinkAndRetire(entry);
      ++result.expired;
      if (observer != nullptr && observer->expired != nullptr) observer->expired(observer->context, entry);
    } else if (observer != nullptr && observer->live != nullptr) {
      observer->live(observer->context, entry);
    }
  }
  memory_.header->sweep_cursor.store(cursor, std::memory_order_relaxed);
  if (result.expired != 0) Count(CtCounter::kExpired, result.expired);
  return result;
}

uint32_t Table::Reclaim(RetiredBatch batch) const {
  const uint32_t reclaimed = memory_.pool.Reclaim(batch);
  Count(CtCounter::kReclaimed, reclaimed);
  return reclaimed;
}

CtCounters Table::ReadCounters() const {
  auto get = [&](CtCounter counter) { return memory_.Counter(static_cast<uint32_t>(counter)); };
  CtCounters counters;
  counters.entries = memory_.LiveEntries();
  counters.capacity = memory_.capacity;
  counters.inserts = get(CtCounter::kInserts);
  counters.insert_exists = get(CtCounter::kInsertExists);
  counters.reply_clashes = get(CtCounter::kReplyClashes);
  counters.table_full = get(CtCounter::kTableFull);
  counters.pool_empty = get(CtCounter::kPoolEmpty);
  counters.early_drops = get(CtCounter::kEarlyDrops);
  counters.expired = get(CtCounter::kExpired);
  counters.removed = get(CtCounter::kRemoved);
  counters.reclaimed = get(CtCounter::kReclaimed);
  counters.awaiting_reclaim = memory_.header->pool.retired_count.load(std::memory_order_relaxed);
  return counters;
}

bool Table::Snapshot(uint32_t index, EntrySnapshot* out) const {
  if (index >= pool_size()) return false;
  // Seqlock-style: the life word (state + incarnation) must be kLive and
  // unchanged around the copy, else the entry died or was reused meanwhile.
  const uint32_t life_before = memory_.pool.Life(index);
  if (LifeStateOf(life_before) != LifeState::kLive) return false;
  const Entry& e = At(index);
  out->index = index;
  out->original = e.tuple[0];
  out->reply = e.tuple[1];
  out->backend_ip = e.backend_ip();
  out->backend_port = e.backend_port();
  out->nat_flags = e.nat_flags;
  out->origin_flags = e.origin_flags;
  out->service_port_id = e.service_port_id;
  out->policy_epoch = e.policy_epoch.load(std::memory_order_relaxed);
  out->services_generation = e.services_generation.load(std::memory_order_relaxed);
  out->tcp_state = static_cast<TcpState>(e.tcp_state.load(std::memory_order_relaxed));
  out->seen_reply = e.status.load(std::memory_order_relaxed) & kSeenReply;
  out->created_s = e.created_s();
  out->last_seen_s = e.last_seen_s.load(std::memory_order_relaxed);
  out->timeout_s = TimeoutOf(index);
  for (uint32_t dir = 0; dir < 2; ++dir) {
    out->packets[dir] = e.packets[dir].load(std::memory_order_relaxed);
    out->bytes[dir] = e.bytes[dir].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  return memory_.pool.Life(index) == life_before;
}

}  // namespace np::ct
