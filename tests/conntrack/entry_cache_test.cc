// Per-worker entry caches (entry_cache.h): batch refill and return keep
// every entry accounted for, retired entries come back only after their
// grace period, entries a "crashed" worker held come back through recovery,
// two threads churning never share an entry, and live-entry credit keeps the
// count exact and the capacity a hard bound.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/conntrack/entry_cache.h"
#include "dataplane/conntrack/table.h"
#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

using testing::TestMemory;

constexpr uint32_t kCapacity = 4096;

FlowKey Original(uint32_t worker, uint32_t n) {
  FlowKey key;
  key.src_ip = 0x0a000000 + (worker << 20) + (n >> 12);
  key.src_port = static_cast<uint16_t>(1024 + (n & 0xfff));
  key.dst_ip = 0x0a600001;
  key.dst_port = 80;
  key.protocol = kProtoTcp;
  return key;
}
FlowKey Reply(const FlowKey& original) {
  FlowKey key = original.Reversed();
  key.src_ip = 0x0af40105;
  key.src_port = 8080;
  return key;
}

// Entries on the shared free list; fails the test on a repeated entry or a
// list that does not end.
uint32_t SharedFreeCount(const Table& table, std::vector<uint8_t>* seen = nullptr) {
  const EntryPool& pool = table.memory().pool;
  std::vector<uint8_t> local(pool.entry_count(), 0);
  std::vector<uint8_t>& marks = seen != nullptr ? *seen : local;
  uint32_t count = 0;
  uint32_t entry = static_cast<uint32_t>(table.memory().header->pool.free_head.load());
  while (entry != kNoEntry) {
    EXPECT_LT(entry, pool.entry_count());
    if (entry >= pool.entry_count()) break;
    EXPECT_EQ(marks[entry], 0) << "entry " << entry << " twice on the free list";
    if (marks[entry]++ != 0) break;
    EXPECT_EQ(LifeStateOf(pool.Life(entry)), LifeState::kFree) << entry;
    ++count;
    entry = pool.Link(entry).next.load();
  }
  return count;
}

struct Fixture {
  Fixture()
      : memory(Table::RequiredBytes(kCapacity)),
        shared(*Table::Attach(memory.data(), memory.size(), {kCapacity}, AttachMode::kCreate)),
        cache(shared.memory().pool) {
    worker = shared;
    worker.UseCache(&cache, 0);
  }
  TestMemory memory;
  Table shared;  // the housekeeping thread's view
  EntryCache cache;
  Table worker;  // one worker's view, through `cache`
};

TEST(EntryCache, BatchRefillAndReturnKeepCountsExact) {
  Fixture f;
  const uint32_t pool_size = f.shared.pool_size();
  ASSERT_EQ(SharedFreeCount(f.shared), pool_size);
  std::vector<uint32_t> taken;
  for (uint32_t n = 0; n < 1000; ++n) {
    const uint32_t entry = f.cache.Allocate();
    ASSERT_NE(entry, kNoEntry);
    EXPECT_EQ(LifeStateOf(f.shared.memory().pool.Life(entry)), LifeState::kFilling);
    taken.push_back(entry);
    ASSERT_EQ(SharedFreeCount(f.shared) + f.cache.free_count() + taken.size(), pool_size) << n;
  }
  // The first refill took a batch, not one entry.
  EXPECT_LT(SharedFreeCount(f.shared), pool_size - 1000u + 1u);
  for (size_t i = 0; i < taken.size(); ++i) {
    f.cache.FreeUnpublished(taken[i]);
    const size_t still_taken = taken.size() - i - 1;
    ASSERT_EQ(SharedFreeCount(f.shared) + f.cache.free_count() + still_taken, pool_size) << i;
  }
  EXPECT_LE(f.cache.free_count(), EntryCache::kMaxFree);
  f.cache.Drain();
  EXPECT_EQ(f.cache.free_count(), 0u);
  EXPECT_EQ(SharedFreeCount(f.shared), pool_size);
}

TEST(EntryCache, RetiredEntriesWaitForTheirGracePeriod) {
  Fixture f;
  std::vector<uint32_t> entries;
  for (uint32_t n = 0; n < 100; ++n) {
    const InsertResult inserted = f.worker.Insert(Original(0, n), Reply(Original(0, n)), {}, 1);
    ASSERT_TRUE(inserted.ok());
    entries.push_back(inserted.entry);
  }
  for (uint32_t entry : entries) ASSERT_TRUE(f.worker.Remove(entry));
  // Nothing reached the shared retire list: the housekeeping thread has
  // nothing to reclaim, and the entries stay dying.
  EXPECT_TRUE(f.shared.DetachRetired().empty());
  EXPECT_EQ(f.cache.waiting_count(), 100u);
  uint64_t token = 0;
  const auto start = [&] { return ++token; };
  uint64_t passed_up_to = 0;
  const auto passed = [&](uint64_t t) { return t <= passed_up_to; };
  EXPECT_EQ(f.worker.ReclaimCached(start, passed), 0u);
  EXPECT_EQ(f.shared.ReadCounters().awaiting_reclaim, 100u);
  for (uint32_t entry : entries) EXPECT_EQ(LifeStateOf(f.shared.memory().pool.Life(entry)), LifeState::kDying);
  passed_up_to = token;
  EXPECT_EQ(f.worker.ReclaimCached(start, passed), 100u);
  const CtCounters counters = f.shared.ReadCounters();
  EXPECT_EQ(counters.awaiting_reclaim, 0u);
  EXPECT_EQ(counters.reclaimed, 100u);
  EXPECT_EQ(counters.entries, 0u);
  for (uint32_t entry : entries) EXPECT_EQ(LifeStateOf(f.shared.memory().pool.Life(entry)), LifeState::kFree);
  EXPECT_EQ(SharedFreeCount(f.shared) + f.cache.free_count(), f.shared.pool_size());
}

TEST(EntryCache, DrainHandsRetiredEntriesToTheHousekeepingThread) {
  Fixture f;
  uint64_t token = 0;
  for (uint32_t n = 0; n < 300; ++n) {
    const InsertResult inserted = f.worker.Insert(Original(0, n), Reply(Original(0, n)), {}, 1);
    ASSERT_TRUE(inserted.ok());
    ASSERT_TRUE(f.worker.Remove(inserted.entry));
    // A sealed batch every 10 entries, none passed.
    if (n % 10 == 9) f.worker.ReclaimCached([&] { return ++token; }, [](uint64_t) { return false; });
  }
  EXPECT_EQ(f.cache.waiting_count(), 300u);
  f.cache.Drain();
  EXPECT_EQ(f.shared.ReadCounters().awaiting_reclaim, 300u);
  const RetiredBatch batch = f.shared.DetachRetired();
  EXPECT_EQ(batch.count, 300u);
  EXPECT_EQ(f.shared.Reclaim(batch), 300u);
  EXPECT_EQ(f.shared.ReadCounters().awaiting_reclaim, 0u);
  EXPECT_EQ(SharedFreeCount(f.shared), f.shared.pool_size());
}

// Two workers' views of one table, each through its own cache and credit slot.
struct TwoWorkers {
  TwoWorkers()
      : memory(Table::RequiredBytes(kCapacity)),
        shared(*Table::Attach(memory.data(), memory.size(), {kCapacity}, AttachMode::kCreate)),
        cache_a(shared.memory().pool),
        cache_b(shared.memory().pool),
        a(shared),
        b(shared) {
    a.UseCache(&cache_a, 0);
    b.UseCache(&cache_b, 1);
  }
  TestMemory memory;
  Table shared;
  EntryCache cache_a;
  EntryCache cache_b;
  Table a;
  Table b;
};

// A full table: what the caches of two workers hold must not starve the
// early drop that makes room for a new connection.
TEST(EntryCache, AFullTableStillEarlyDropsThroughCaches) {
  TwoWorkers w;
  uint64_t token = 0;
  const auto start = [&] { return ++token; };
  const auto passed = [](uint64_t) { return true; };  // every loop ends a grace period
  for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_TRUE(w.a.Insert(Original(0, n), Reply(Original(0, n)), {}, 1).ok());
  ASSERT_EQ(w.shared.ReadCounters().entries, kCapacity);
  uint32_t evicted = 0;
  for (uint32_t n = 0; n < 2000; ++n) {
    const InsertResult inserted = w.b.Insert(Original(1, n), Reply(Original(1, n)), {}, 2);
    ASSERT_TRUE(inserted.ok()) << n;
    evicted += inserted.evicted[0] != kNoEntry;
    w.b.ReclaimCached(start, passed);
  }
  const CtCounters counters = w.shared.ReadCounters();
  EXPECT_EQ(counters.pool_empty, 0u);
  EXPECT_EQ(counters.entries, kCapacity);
  EXPECT_EQ(counters.early_drops, 2000u);
  EXPECT_EQ(evicted, 2000u);
  EXPECT_LE(w.shared.memory().header->live_entries.load(), kCapacity);
}

// The shared live count moves once per kCreditBatch connections, not twice
// per connection, yet every reader sees the exact number of live entries;
// a drain gives the unused credit back.
TEST(EntryCache, LiveCreditIsTakenInBatchesAndTheCountStaysExact) {
  Fixture f;
  const std::atomic<uint32_t>& reserved = f.shared.memory().header->live_entries;
  uint32_t reserved_changes = 0;
  uint32_t last_reserved = reserved.load();
  std::vector<uint32_t> entries;
  for (uint32_t n = 0; n < 1000; ++n) {
    const InsertResult inserted = f.worker.Insert(Original(0, n), Reply(Original(0, n)), {}, 1);
    ASSERT_TRUE(inserted.ok());
    entries.push_back(inserted.entry);
    ASSERT_EQ(f.shared.ReadCounters().entries, n + 1);
    ASSERT_GE(reserved.load(), n + 1);
    reserved_changes += reserved.load() != last_reserved;
    last_reserved = reserved.load();
  }
  EXPECT_EQ(reserved_changes, (1000 + EntryCache::kCreditBatch - 1) / EntryCache::kCreditBatch);
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_TRUE(f.worker.Remove(entries[i]));
    ASSERT_EQ(f.shared.ReadCounters().entries, entries.size() - i - 1);
  }
  EXPECT_LE(f.cache.credit(), 2 * EntryCache::kCreditBatch);
  EXPECT_EQ(reserved.load(), f.cache.credit());
  f.cache.Drain();
  EXPECT_EQ(reserved.load(), 0u);
  EXPECT_EQ(f.shared.ReadCounters().entries, 0u);
}

// Two workers filling one table: together they never reserve more than the
// capacity, and the last places are still taken (a batch shrinks to what
// fits), so the table fills to exactly its capacity.
TEST(EntryCache, LiveCreditNeverExceedsTheCapacity) {
  TwoWorkers w;
  // b holds some credit, then a fills the rest.
  for (uint32_t n = 0; n < 5; ++n) ASSERT_TRUE(w.b.Insert(Original(1, n), Reply(Original(1, n)), {}, 1).ok());
  ASSERT_GT(w.cache_b.credit(), 0u);
  uint32_t inserted = 5;
  for (uint32_t n = 0; n < kCapacity; ++n) {
    const InsertResult result = w.a.Insert(Original(0, n), Reply(Original(0, n)), {}, 1);
    if (result.status == InsertStatus::kInserted && result.evicted[0] == kNoEntry) ++inserted;
    ASSERT_LE(w.shared.memory().header->live_entries.load(), kCapacity);
  }
  // a took every place b did not hold; b's unused credit then goes to b's
  // own connections.
  EXPECT_EQ(inserted + w.cache_b.credit(), kCapacity);
  for (uint32_t n = 5; w.cache_b.credit() != 0; ++n) ASSERT_TRUE(w.b.Insert(Original(1, n), Reply(Original(1, n)), {}, 1).ok());
  EXPECT_EQ(w.shared.ReadCounters().entries, kCapacity);
  EXPECT_EQ(w.shared.memory().header->live_entries.load(), kCapacity);
}

// A worker dies with free entries, sealed and open retired batches in its
// cache: recovery (a restarted dataplane attaching the same memory) finds
// every one of them, and keeps exactly the live entries.
TEST(EntryCache, EntriesCachedByACrashedWorkerComeBackThroughRecovery) {
  TestMemory memory(Table::RequiredBytes(kCapacity));
  uint32_t pool_size = 0;
  std::vector<FlowKey> live;
  {
    Table shared = *Table::Attach(memory.data(), memory.size(), {kCapacity}, AttachMode::kCreate);
    pool_size = shared.pool_size();
    auto* cache = new EntryCache(shared.memory().pool);  // leaked on purpose: the crash
    Table worker = shared;
    worker.UseCache(cache, 0);
    uint64_t token = 0;
    for (uint32_t n = 0; n < 500; ++n) {
      const InsertResult inserted = worker.Insert(Original(0, n), Reply(Original(0, n)), {}, 1);
      ASSERT_TRUE(inserted.ok());
      if (n % 3 == 0) {
        live.push_back(Original(0, n));
      } else {
        ASSERT_TRUE(worker.Remove(inserted.entry));
      }
      if (n == 200) worker.ReclaimCached([&] { return ++token; }, [](uint64_t) { return true; });
      if (n == 400) worker.ReclaimCached([&] { return ++token; }, [](uint64_t) { return false; });
    }
    ASSERT_GT(cache->free_count(), 0u);
    ASSERT_GT(cache->waiting_count(), 0u);
    ASSERT_GT(cache->credit(), 0u);
    // An entry taken but never published (the worker died while filling it).
    ASSERT_NE(cache->Allocate(), kNoEntry);
    ASSERT_LT(SharedFreeCount(shared) + live.size(), pool_size);
  }
  Result<Table> recovered = Table::Attach(memory.data(), memory.size(), {kCapacity}, AttachMode::kRecover);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->ReadCounters().entries, live.size());
  // The dead worker's credit is not kept: reserved = live again.
  EXPECT_EQ(recovered->memory().header->live_entries.load(), live.size());
  EXPECT_EQ(SharedFreeCount(*recovered) + live.size(), pool_size);
  for (const FlowKey& key : live) {
    const LookupResult found = recovered->Lookup(key);
    ASSERT_TRUE(found.hit());
    EXPECT_EQ(recovered->Lookup(Reply(key)).entry, found.entry);
  }
}

// Two workers insert and remove their own connections through their own
// caches while the other looks them up; a minimal QSBR (a token and one
// counter per worker, as rte_rcu_qsbr) drives reclamation. An entry is never
// handed to two connections at once, and at the end every entry is back.
TEST(EntryCache, TwoThreadsChurningNeverShareOrLoseAnEntry) {
  constexpr uint32_t kWorkers = 2;
  constexpr uint32_t kIterations = 200000;
  TestMemory memory(Table::RequiredBytes(kCapacity));
  Table shared = *Table::Attach(memory.data(), memory.size(), {kCapacity}, AttachMode::kCreate);
  std::vector<std::atomic<uint32_t>> owner(shared.pool_size());
  std::atomic<uint64_t> token{0};
  std::array<std::atomic<uint64_t>, kWorkers> seen{};  // ~0: offline
  std::atomic<uint32_t> double_owned{0};
  std::atomic<uint32_t> mismatches{0};
  std::atomic<uint32_t> full{0};
  for (auto& s : seen) s.store(0);

  auto worker = [&](uint32_t self) {
    EntryCache cache(shared.memory().pool);
    Table table = shared;
    table.UseCache(&cache, self);
    constexpr uint32_t kWindow = 64;  // connections open at a time
    std::array<uint32_t, kWindow> open;
    open.fill(kNoEntry);
    for (uint32_t n = 0; n < kIterations; ++n) {
      seen[self].store(token.load(std::memory_order_acquire), std::memory_order_release);  // quiescent
      uint32_t& slot = open[n % kWindow];
      if (slot != kNoEntry) {
        owner[slot].store(0, std::memory_order_relaxed);
        if (!table.Remove(slot)) ++mismatches;
        slot = kNoEntry;
      }
      const FlowKey original = Original(self, n % 60000);
      const InsertResult inserted = table.Insert(original, Reply(original), {}, 1);
      if (inserted.ok()) {
        uint32_t expected = 0;
        if (!owner[inserted.entry].compare_exchange_strong(expected, self + 1)) ++double_owned;
        slot = inserted.entry;
      } else {
        ++full;
      }
      // Read the other worker's recent connections, as its replies would.
      const FlowKey probe = Reply(Original(1 - self, n > 32 ? (n - 32) % 60000 : 0));
      const LookupResult hit = table.Lookup(probe);
      if (hit.hit() && !(table.At(hit.entry).tuple[static_cast<uint32_t>(hit.direction)] == probe)) ++mismatches;
      if (n % 32 == 31) {
        table.ReclaimCached([&] { return token.fetch_add(1, std::memory_order_acq_rel) + 1; },
                            [&](uint64_t t) {
                              for (auto& s : seen)
                                if (s.load(std::memory_order_acquire) < t) return false;
                              return true;
                            });
      }
    }
    for (uint32_t entry : open) {
      if (entry == kNoEntry) continue;
      owner[entry].store(0, std::memory_order_relaxed);
      table.Remove(entry);
    }
    seen[self].store(~0ull, std::memory_order_release);  // offline
    cache.Drain();
  };
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWorkers; ++w) threads.emplace_back(worker, w);
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(double_owned.load(), 0u);
  EXPECT_EQ(mismatches.load(), 0u);
  // Inserts may fail while the other thread is descheduled (its grace
  // periods hold our retired entries back): counted, not an error.
  RecordProperty("pool_empty_inserts", static_cast<int>(full.load()));
  const CtCounters counters = shared.ReadCounters();
  EXPECT_EQ(counters.entries, 0u);
  EXPECT_EQ(counters.inserts, counters.removed);
  // What the caches handed back waits on the shared retire list.
  EXPECT_EQ(shared.Reclaim(shared.DetachRetired()) + counters.reclaimed, counters.removed);
  EXPECT_EQ(shared.ReadCounters().awaiting_reclaim, 0u);
  EXPECT_EQ(SharedFreeCount(shared), shared.pool_size());
}

}  // namespace
}  // namespace np::ct
