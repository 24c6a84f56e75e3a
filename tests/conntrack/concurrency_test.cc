// Several threads on one table, as worker lcores would use it. Meant to be
// run under ThreadSanitizer too (see meson.build).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/conntrack/table.h"
#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

using testing::TestMemory;

constexpr uint32_t kVip = 0x0a600001;
constexpr uint32_t kBackend = 0x0af40105;

// Flow number n of `worker`: distinct clients so keys never collide.
FlowKey Original(uint32_t worker, uint32_t n, uint8_t proto = kProtoTcp) {
  FlowKey key;
  key.src_ip = 0x0a000000 + (worker << 20) + (n >> 12);
  key.src_port = static_cast<uint16_t>(1024 + (n & 0xfff));
  key.dst_ip = kVip;
  key.dst_port = 80;
  key.protocol = proto;
  return key;
}
FlowKey Reply(const FlowKey& original) {
  FlowKey key = original.Reversed();
  key.src_ip = kBackend;
  key.src_port = 8080;
  return key;
}

struct Fixture {
  explicit Fixture(uint32_t capacity)
      : memory(Table::RequiredBytes(capacity)),
        table(*Table::Attach(memory.data(), memory.size(), {capacity}, AttachMode::kCreate)) {}
  TestMemory memory;
  Table table;
};

TEST(Concurrency, TwoWorkersInsertWhileLookingUpEachOther) {
  constexpr uint32_t kFlows = 20000;
  Fixture fixture(2 * kFlows);
  std::atomic<uint32_t> mismatches{0};
  std::atomic<uint32_t> failures{0};
  auto worker = [&](uint32_t self) {
    const uint32_t other = 1 - self;
    for (uint32_t n = 0; n < kFlows; ++n) {
      const FlowKey original = Original(self, n);
      EntryInit init;
      init.nat_flags = kNatDnat;
      if (!fixture.table.Insert(original, Reply(original), init, 1).ok()) ++failures;
      // The reply direction of the other worker's flows lands here.
      const FlowKey probe = Reply(Original(other, (n * 7919u) % kFlows));
      const LookupResult hit = fixture.table.Lookup(probe);
      if (hit.hit()) {
        if (!(fixture.table.At(hit.entry).tuple[1] == probe) ||
            hit.direction != Direction::kReply) {
          ++mismatches;
        }
        fixture.table.Touch(hit.entry, Direction::kReply, 64, 2);
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_EQ(mismatches.load(), 0u);
  EXPECT_EQ(fixture.table.ReadCounters().entries, 2 * kFlows);
  for (uint32_t self = 0; self < 2; ++self) {
    for (uint32_t n = 0; n < kFlows; ++n) {
      const FlowKey original = Original(self, n);
      const LookupResult forward = fixture.table.Lookup(original);
      ASSERT_TRUE(forward.hit());
      ASSERT_EQ(fixture.table.Lookup(Reply(original)).entry, forward.entry);
    }
  }
}

TEST(Concurrency, RacingInsertsOfTheSameKeyHaveOneWinner) {
  constexpr uint32_t kFlows = 20000;
  Fixture fixture(kFlows);
  std::array<std::vector<uint8_t>, 2> won;
  auto worker = [&](uint32_t self) {
    won[self].assign(kFlows, 0);
    for (uint32_t n = 0; n < kFlows; ++n) {
      const FlowKey original = Original(0, n);
      const InsertResult result = fixture.table.Insert(original, Reply(original), {}, 1);
      won[self][n] = result.ok();
      if (!result.ok()) {
        EXPECT_EQ(result.status, InsertStatus::kExists);
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (uint32_t n = 0; n < kFlows; ++n) ASSERT_EQ(won[0][n] + won[1][n], 1) << n;
  EXPECT_EQ(fixture.table.ReadCounters().entries, kFlows);
}

// Workers insert, look up and touch while a housekeeping thread sweeps and
// reclaims after a grace period (a minimal QSBR like rte_rcu_qsbr: each
// worker bumps its counter between packets).
TEST(Concurrency, SweepAndReclaimUnderTraffic) {
  constexpr uint32_t kWorkers = 2;
  constexpr uint32_t kIterations = 60000;
  Fixture fixture(4096);  // small: entries are reused many times
  std::atomic<uint32_t> clock{0};
  std::array<std::atomic<uint64_t>, kWorkers> quiescent{};
  std::array<std::atomic<bool>, kWorkers> done{};
  std::atomic<uint32_t> mismatches{0};

  auto worker = [&](uint32_t self) {
    for (uint32_t n = 0; n < kIterations; ++n) {
      const uint32_t now = clock.load(std::memory_order_relaxed);
      const FlowKey original = Original(self, n, kProtoUdp);
      fixture.table.Insert(original, Reply(original), {}, now);
      // Look up a recent flow of each worker in both directions.
      for (uint32_t owner = 0; owner < kWorkers; ++owner) {
        const FlowKey key = Original(owner, n > 50 ? n - 50 : 0, kProtoUdp);
        for (const FlowKey& probe : {key, Reply(key)}) {
          const LookupResult hit = fixture.table.Lookup(probe);
          if (!hit.hit()) continue;
          const Entry& entry = fixture.table.At(hit.entry);
          if (!(entry.tuple[static_cast<uint32_t>(hit.direction)] == probe)) ++mismatches;
          fixture.table.Touch(hit.entry, hit.direction, 100, now);
          if (fixture.table.Expired(hit.entry, now)) fixture.table.Remove(hit.entry);
        }
      }
      quiescent[self].fetch_add(1, std::memory_order_release);  // between packets
    }
    done[self].store(true, std::memory_order_release);
  };

  auto housekeeping = [&] {
    uint32_t reclaimed = 0;
    for (;;) {
      bool all_done = true;
      for (auto& flag : done) all_done &= flag.load(std::memory_order_acquire);
      clock.fetch_add(1, std::memory_order_relaxed);
      fixture.table.Sweep(clock.load(std::memory_order_relaxed), 512);
      const RetiredBatch batch = fixture.table.DetachRetired();
      std::array<uint64_t, kWorkers> seen;
      for (uint32_t w = 0; w < kWorkers; ++w) seen[w] = quiescent[w].load(std::memory_order_acquire);
      for (uint32_t w = 0; w < kWorkers; ++w) {
        while (quiescent[w].load(std::memory_order_acquire) == seen[w] &&
               !done[w].load(std::memory_order_acquire)) {
          std::this_thread::yield();
        }
      }
      reclaimed += fixture.table.Reclaim(batch);
      if (all_done) break;
      std::this_thread::yield();
    }
    return reclaimed;
  };

  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < kWorkers; ++w) threads.emplace_back(worker, w);
  std::thread sweeper(housekeeping);
  for (auto& thread : threads) thread.join();
  sweeper.join();

  EXPECT_EQ(mismatches.load(), 0u);
  const CtCounters counters = fixture.table.ReadCounters();
  EXPECT_GT(counters.expired + counters.early_drops, 0u);
  EXPECT_EQ(counters.inserts - counters.expired - counters.early_drops - counters.removed,
            counters.entries);
  EXPECT_LE(counters.entries, 4096u);
  EXPECT_EQ(counters.awaiting_reclaim, 0u);
  EXPECT_EQ(counters.reclaimed, counters.expired + counters.early_drops + counters.removed);
}

}  // namespace
}  // namespace np::ct
