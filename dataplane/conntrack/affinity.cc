#include "dataplane/conntrack/affinity.h"

#include "common/flow_hash.h"

namespace np::ct {
namespace {

constexpr uint64_t PackBackend(AffinityBackend backend) {
  return (static_cast<uint64_t>(backend.ip) << 16) | backend.port;
}
constexpr AffinityBackend UnpackBackend(uint64_t packed) {
  return {static_cast<uint32_t>(packed >> 16), static_cast<uint16_t>(packed)};
}

}  // namespace

TableShape AffinityTable::Shape() {
  return TableShape{TableKind::kAffinity, sizeof(AffinityEntry),
                    static_cast<uint32_t>(offsetof(AffinityEntry, link)), 1};
}

size_t AffinityTable::RequiredBytes(uint32_t capacity) {
  return TableMemory::RequiredBytes(Shape(), capacity);
}

Result<AffinityTable> AffinityTable::Attach(void* memory, size_t size, const TableConfig& config,
                                            AttachMode mode) {
  Result<TableMemory> attached = TableMemory::Attach(memory, size, Shape(), config, mode);
  if (!attached) return attached.error();
  AffinityTable table(*attached);
  if (mode == AttachMode::kRecover) {
    table.memory_.RecoverExclusive(
        [&](uint32_t entry, uint64_t* hashes, SlotWord* words) -> uint32_t {
          hashes[0] = table.Hash(table.At(entry).key);
          words[0] = table.memory_.index.MakeWord(hashes[0], entry, 0);
          return 1;
        },
        [&](SlotWord word, uint32_t entry, uint32_t) {
          return table.At(table.memory_.index.EntryOf(word)).key == table.At(entry).key;
        });
  }
  return table;
}

uint64_t AffinityTable::Hash(const AffinityKey& key) const {
  return MixBits(((static_cast<uint64_t>(key.client_ip) << 32) | key.service_port_id) ^
                 memory_.hash_seed);
}

SlotWord AffinityTable::FindWord(const AffinityKey& key, uint64_t hash) const {
  return memory_.index.Find(hash, [&](SlotWord word) { return At(memory_.index.EntryOf(word)).key == key; });
}

bool AffinityTable::Expired(const AffinityEntry& entry, uint32_t now) const {
  const int32_t idle =
      static_cast<int32_t>(now - entry.last_used_s.load(std::memory_order_relaxed));
  return idle > static_cast<int32_t>(entry.timeout_s.load(std::memory_order_relaxed));
}

AffinityLookup AffinityTable::Lookup(const AffinityKey& key, uint32_t now) const {
  const SlotWord word = FindWord(key, Hash(key));
  if (word == kSlotEmpty) {
    Count(AffinityCounter::kMisses);
    return {};
  }
  AffinityEntry& entry = At(memory_.index.EntryOf(word));
  if (Expired(entry, now)) {
    Count(AffinityCounter::kMisses);
    return {};
  }
  entry.last_used_s.store(now, std::memory_order_relaxed);
  Count(AffinityCounter::kHits);
  return {true, UnpackBackend(entry.backend.load(std::memory_order_relaxed))};
}

AffinityResult AffinityTable::Remember(const AffinityKey& key, AffinityBackend backend,
                                       uint32_t timeout_s, uint32_t now, bool replace) {
  const uint64_t hash = Hash(key);
  const uint32_t home = memory_.index.Home(hash);
  AffinityResult result;
  memory_.index.LockHomes(home, home);
  if (const SlotWord word = FindWord(key, hash); word != kSlotEmpty) {
    // Updated in place under the home lock: Remember calls for one key are
    // serialized; lookups see either the old or the new backend word.
    AffinityEntry& entry = At(memory_.index.EntryOf(word));
    if (replace || Expired(entry, now)) {
      entry.backend.store(PackBackend(backend), std::memory_order_relaxed);
      entry.timeout_s.store(timeout_s, std::memory_order_relaxed);
      result = {AffinityStatus::kReplaced, backend};
    } else {
      result = {AffinityStatus::kKept,
                UnpackBackend(entry.backend.load(std::memory_order_relaxed))};
    }
    entry.last_used_s.store(now, std::memory_order_relaxed);
    memory_.index.UnlockHomes(home, home);
    return result;
  }
  BucketIndex::Claim claim;
  const uint32_t index = memory_.LiveEntries() < memory_.capacity ? memory_.pool.Allocate()
                                                                  : kNoEntry;
  if (index != kNoEntry && memory_.index.ClaimSlot(hash, &claim)) {
    AffinityEntry& entry = At(index);
    entry.key = key;
    entry.backend.store(PackBackend(backend), std::memory_order_relaxed);
    entry.last_used_s.store(now, std::memory_order_relaxed);
    entry.timeout_s.store(timeout_s, std::memory_order_relaxed);
    memory_.header->live_entries.fetch_add(1, std::memory_order_relaxed);
    memory_.pool.MarkLive(index);
    memory_.index.Publish(claim, memory_.index.MakeWord(hash, index, 0));
    result = {AffinityStatus::kInserted, backend};
    Count(AffinityCounter::kInserts);
  } else {
    // Full: the caller forwards without affinity. Expired entries make room
    // as the sweep catches up.
    if (index != kNoEntry) memory_.pool.FreeUnpublished(index);
    result = {AffinityStatus::kFull, backend};
    Count(AffinityCounter::kFull);
  }
  memory_.index.UnlockHomes(home, home);
  return result;
}

uint32_t AffinityTable::Sweep(uint32_t now, uint32_t max_entries) const {
  const uint32_t entry_count = memory_.pool.entry_count();
  uint32_t cursor = memory_.header->sweep_cursor.load(std::memory_order_relaxed);
  if (cursor >= entry_count) cursor = 0;
  if (max_entries > entry_count) max_entries = entry_count;
  uint32_t expired = 0;
  for (uint32_t visited = 0; visited < max_entries; ++visited) {
    const uint32_t index = cursor;
    cursor = cursor + 1 == entry_count ? 0 : cursor + 1;
    if (!memory_.pool.IsLive(index) || !Expired(At(index), now) ||
        !memory_.pool.BeginUnlink(index)) {
      continue;
    }
    const uint64_t hash = Hash(At(index).key);
    memory_.index.Unlink(hash, memory_.index.MakeWord(hash, index, 0));
    memory_.header->live_entries.fetch_sub(1, std::memory_order_relaxed);
    memory_.pool.Retire(index);
    ++expired;
  }
  memory_.header->sweep_cursor.store(cursor, std::memory_order_relaxed);
  if (expired != 0) Count(AffinityCounter::kExpired, expired);
  return expired;
}

uint32_t AffinityTable::Reclaim(RetiredBatch batch) const {
  const uint32_t reclaimed = memory_.pool.Reclaim(batch);
  Count(AffinityCounter::kReclaimed, reclaimed);
  return reclaimed;
}

}  // namespace np::ct
