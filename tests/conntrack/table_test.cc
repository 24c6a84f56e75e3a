#include "dataplane/conntrack/table.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

using namespace tcp_flags;
using testing::TestMemory;

constexpr uint32_t kClient = 0x0a000001;   // 10.0.0.1
constexpr uint32_t kVip = 0x0a600001;      // 10.96.0.1
constexpr uint32_t kBackend = 0x0af40105;  // 10.244.1.5
constexpr uint32_t kNode = 0xc0a80002;     // 192.168.0.2

FlowKey Key(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t proto) {
  FlowKey key;
  key.src_ip = src;
  key.dst_ip = dst;
  key.src_port = sport;
  key.dst_port = dport;
  key.protocol = proto;
  return key;
}

// client:sport -> VIP:80 DNATed to backend:8080.
struct Flow {
  FlowKey original;
  FlowKey reply;
};
Flow DnatFlow(uint16_t sport, uint8_t proto = kProtoTcp, uint32_t client = kClient) {
  return {Key(client, sport, kVip, 80, proto), Key(kBackend, 8080, client, sport, proto)};
}

class TableTest : public ::testing::Test {
 protected:
  void Make(uint32_t capacity) {
    memory_ = std::make_unique<TestMemory>(Table::RequiredBytes(capacity));
    Result<Table> table =
        Table::Attach(memory_->data(), memory_->size(), {capacity}, AttachMode::kCreate);
    ASSERT_TRUE(table.ok()) << table.error().message;
    table_ = *table;
  }
  InsertResult Insert(const Flow& flow, uint32_t now, TcpState state = TcpState::kSynSent) {
    EntryInit init;
    init.nat_flags = kNatDnat;
    init.service_port_id = 7;
    init.tcp_state = state;
    return table_.Insert(flow.original, flow.reply, init, now);
  }
  // Grace period elapsed at once: no concurrent readers in these tests.
  uint32_t ReclaimAll() { return table_.Reclaim(table_.DetachRetired()); }

  std::unique_ptr<TestMemory> memory_;
  Table table_;
};

TEST_F(TableTest, BothDirectionsFindTheOneEntry) {
  Make(1024);
  const Flow flow = DnatFlow(40000);
  const InsertResult inserted = Insert(flow, 100);
  ASSERT_EQ(inserted.status, InsertStatus::kInserted);

  const LookupResult forward = table_.Lookup(flow.original);
  const LookupResult backward = table_.Lookup(flow.reply);
  ASSERT_TRUE(forward.hit());
  ASSERT_TRUE(backward.hit());
  EXPECT_EQ(forward.entry, inserted.entry);
  EXPECT_EQ(backward.entry, inserted.entry);
  EXPECT_EQ(forward.direction, Direction::kOriginal);
  EXPECT_EQ(backward.direction, Direction::kReply);
  const Entry& e = table_.At(inserted.entry);
  EXPECT_EQ(e.backend_ip(), kBackend);  // DNAT: the reply key's source
  EXPECT_EQ(e.backend_port(), 8080);
  EXPECT_EQ(e.service_port_id, 7u);
  EXPECT_EQ(e.nat_flags, kNatDnat);

  EXPECT_FALSE(table_.Lookup(flow.original.Reversed()).hit());  // VIP never answers
  EXPECT_FALSE(table_.Lookup(DnatFlow(40001).original).hit());
  EXPECT_EQ(table_.ReadCounters().entries, 1u);
}

TEST_F(TableTest, DuplicateOriginalAndReplyClashAreRefused) {
  Make(1024);
  const Flow flow = DnatFlow(40000);
  const uint32_t entry = Insert(flow, 1).entry;
  InsertResult again = Insert(flow, 2);
  EXPECT_EQ(again.status, InsertStatus::kExists);
  EXPECT_EQ(again.entry, entry);

  // Another client tuple whose reply would collide (same backend, same
  // client address and port, other VIP): the caller must SNAT instead.
  Flow other = flow;
  other.original.dst_ip = kVip + 1;
  InsertResult clash = Insert(other, 2);
  EXPECT_EQ(clash.status, InsertStatus::kReplyExists);
  EXPECT_EQ(clash.entry, entry);
  EXPECT_EQ(clash.direction, Direction::kReply);

  const CtCounters counters = table_.ReadCounters();
  EXPECT_EQ(counters.entries, 1u);
  EXPECT_EQ(counters.insert_exists, 1u);
  EXPECT_EQ(counters.reply_clashes, 1u);
}

TEST_F(TableTest, LocalCountsReachTheSharedCountersWhenFlushed) {
  Make(1024);
  LocalCounters counts;
  Table worker_view = table_;
  worker_view.UseLocalCounters(&counts);
  const Flow flow = DnatFlow(40000);
  EntryInit init;
  init.nat_flags = kNatDnat;
  ASSERT_EQ(worker_view.Insert(flow.original, flow.reply, init, 1).status, InsertStatus::kInserted);
  EXPECT_EQ(worker_view.Insert(flow.original, flow.reply, init, 1).status, InsertStatus::kExists);
  Insert(DnatFlow(40001), 1);  // another thread's view counts straight away
  EXPECT_EQ(table_.ReadCounters().inserts, 1u);
  EXPECT_EQ(table_.ReadCounters().insert_exists, 0u);
  worker_view.FlushCounters();
  EXPECT_EQ(table_.ReadCounters().inserts, 2u);
  EXPECT_EQ(table_.ReadCounters().insert_exists, 1u);
  worker_view.FlushCounters();  // nothing counted twice
  EXPECT_EQ(table_.ReadCounters().inserts, 2u);
  EXPECT_EQ(table_.ReadCounters().entries, 2u);
}

TEST_F(TableTest, LookupBurstMatchesSingleLookups) {
  Make(4096);
  std::vector<FlowKey> keys;
  for (uint16_t port = 1000; port < 1100; ++port) {
    const Flow flow = DnatFlow(port);
    if (port % 2 == 0) {
      ASSERT_TRUE(Insert(flow, 1).ok());
    }
    keys.push_back(flow.original);
    keys.push_back(flow.reply);
  }
  std::vector<LookupResult> results(keys.size());
  table_.LookupBurst(keys.data(), static_cast<uint32_t>(keys.size()), results.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    const LookupResult single = table_.Lookup(keys[i]);
    EXPECT_EQ(results[i].entry, single.entry);
    EXPECT_EQ(results[i].direction, single.direction);
    EXPECT_EQ(results[i].hit(), (1000 + i / 2) % 2 == 0);
  }
}

// A full table: keys past their home bucket and signature collisions take
// LookupBurst's fallback; hits, misses and directions must match Lookup.
TEST_F(TableTest, PipelinedLookupsMatchSingleLookupsInAFullTable) {
  constexpr uint32_t kCapacity = 200000;
  Make(kCapacity);
  auto flow_of = [](uint32_t n) {
    Flow flow;
    flow.original = FlowKey{0x0b000000 + (n >> 10), 0x0a60000a, static_cast<uint16_t>(1024 + (n & 1023)), 80,
                            kProtoTcp};
    flow.reply = FlowKey{kBackend, flow.original.src_ip, 8080, flow.original.src_port, kProtoTcp};
    return flow;
  };
  for (uint32_t n = 0; n < kCapacity; ++n) ASSERT_TRUE(Insert(flow_of(n), 1).ok()) << n;
  EXPECT_EQ(table_.ReadCounters().early_drops, 0u);
  std::vector<FlowKey> keys;
  for (uint32_t n = 0; n < kCapacity + 20000; n += 1) {
    keys.push_back(n % 2 ? flow_of(n).reply : flow_of(n).original);  // n >= kCapacity: misses
  }
  std::vector<LookupResult> burst(keys.size());
  table_.LookupBurst(keys.data(), static_cast<uint32_t>(keys.size()), burst.data());
  uint32_t hits = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const LookupResult single = table_.Lookup(keys[i]);
    ASSERT_EQ(burst[i].entry, single.entry) << i;
    ASSERT_EQ(burst[i].direction, single.direction) << i;
    ASSERT_EQ(single.hit(), i < kCapacity) << i;
    if (single.hit()) {
      ASSERT_EQ(table_.At(single.entry).tuple[static_cast<uint32_t>(single.direction)], keys[i]);
      ++hits;
    }
  }
  EXPECT_EQ(hits, kCapacity);
}

TEST_F(TableTest, TcpLifecycleAndTimeouts) {
  Make(64);
  const Flow flow = DnatFlow(40000);
  const uint32_t entry = Insert(flow, 1000).entry;
  EXPECT_EQ(table_.TimeoutOf(entry), 120u);  // SYN_SENT
  EXPECT_FALSE(table_.Expired(entry, 1120));
  EXPECT_TRUE(table_.Expired(entry, 1121));

  table_.Touch(entry, Direction::kReply, 60, 1001);
  EXPECT_EQ(table_.UpdateTcpState(entry, Direction::kReply, kSyn | kAck).state,
            TcpState::kSynRecv);
  EXPECT_EQ(table_.TimeoutOf(entry), 60u);
  table_.Touch(entry, Direction::kOriginal, 52, 1002);
  EXPECT_EQ(table_.UpdateTcpState(entry, Direction::kOriginal, kAck).state,
            TcpState::kEstablished);
  EXPECT_EQ(table_.TimeoutOf(entry), 86400u);
  EXPECT_FALSE(table_.Expired(entry, 1002 + 86400));
  EXPECT_TRUE(table_.Expired(entry, 1002 + 86401));

  table_.UpdateTcpState(entry, Direction::kOriginal, kFin | kAck);
  table_.UpdateTcpState(entry, Direction::kReply, kAck);
  EXPECT_EQ(table_.TimeoutOf(entry), 3600u);  // CLOSE_WAIT, kube-proxy's value
  table_.UpdateTcpState(entry, Direction::kReply, kFin | kAck);
  EXPECT_EQ(table_.TimeoutOf(entry), 30u);  // LAST_ACK
  table_.UpdateTcpState(entry, Direction::kOriginal, kAck);
  EXPECT_EQ(table_.TimeoutOf(entry), 120u);  // TIME_WAIT
  table_.UpdateTcpState(entry, Direction::kOriginal, kRst);
  EXPECT_EQ(table_.TimeoutOf(entry), 10u);  // CLOSE

  const Entry& e = table_.At(entry);
  EXPECT_EQ(e.packets[0].load(), 1u);
  EXPECT_EQ(e.packets[1].load(), 1u);
  EXPECT_EQ(e.bytes[0].load(), 52u);
  EXPECT_EQ(e.bytes[1].load(), 60u);
}

TEST_F(TableTest, PickedUpConnectionHasShortTimeoutUntilReplied) {
  Make(64);
  const Flow flow = DnatFlow(40000);
  const uint32_t entry = Insert(flow, 0, InitialTcpState(kAck).state).entry;
  EXPECT_EQ(TcpState(table_.At(entry).tcp_state.load()), TcpState::kEstablished);
  EXPECT_EQ(table_.TimeoutOf(entry), 300u);
  table_.Touch(entry, Direction::kReply, 40, 1);
  EXPECT_EQ(table_.TimeoutOf(entry), 86400u);
}

TEST_F(TableTest, UdpAndIcmpTimeouts) {
  Make(64);
  const Flow dns = DnatFlow(5353, kProtoUdp);
  const uint32_t entry = Insert(dns, 100, TcpState::kNone).entry;
  EXPECT_EQ(table_.TimeoutOf(entry), 30u);
  table_.Touch(entry, Direction::kReply, 100, 100);  // answered at once: still short
  EXPECT_EQ(table_.TimeoutOf(entry), 30u);
  EXPECT_TRUE(table_.Expired(entry, 131));
  table_.Touch(entry, Direction::kOriginal, 100, 103);  // still active after 2 s: a stream
  EXPECT_EQ(table_.TimeoutOf(entry), 120u);
  EXPECT_FALSE(table_.Expired(entry, 223));
  EXPECT_TRUE(table_.Expired(entry, 224));

  // ICMP echo: identifier in both ports.
  const Flow ping{Key(kClient, 77, kVip, 77, kProtoIcmp), Key(kBackend, 77, kClient, 77, kProtoIcmp)};
  const uint32_t echo = Insert(ping, 10, TcpState::kNone).entry;
  EXPECT_EQ(table_.TimeoutOf(echo), 30u);
  EXPECT_TRUE(table_.Lookup(ping.original.Reversed().Reversed()).hit());
  EXPECT_EQ(table_.Lookup(ping.reply).direction, Direction::kReply);

  Timeouts custom;
  custom.udp = 5;
  table_.SetTimeouts(custom);
  EXPECT_EQ(table_.TimeoutOf(Insert(DnatFlow(6000, kProtoUdp), 100, TcpState::kNone).entry), 5u);
}

TEST_F(TableTest, FullTableEarlyDropsUnrepliedFirstThenRefuses) {
  constexpr uint32_t kCapacity = 32;
  Make(kCapacity);
  std::vector<Flow> flows;
  for (uint16_t i = 0; i < kCapacity; ++i) {
    flows.push_back(DnatFlow(static_cast<uint16_t>(10000 + i)));
    ASSERT_TRUE(Insert(flows.back(), 100 + i).ok());
  }
  // Half of them got a reply (assured); the other half are e.g. a SYN flood.
  for (uint32_t i = 0; i < kCapacity; i += 2) {
    table_.Touch(table_.Lookup(flows[i].original).entry, Direction::kReply, 60, 200);
  }
  EXPECT_EQ(table_.ReadCounters().entries, kCapacity);

  // New flows evict unreplied ones (from the buckets they probe) or fail;
  // never a replied flow.
  uint32_t inserted = 0;
  uint32_t full = 0;
  uint32_t reported_evictions = 0;
  for (uint16_t i = 0; i < 200; ++i) {
    const InsertResult result = Insert(DnatFlow(static_cast<uint16_t>(20000 + i), kProtoTcp,
                                                kClient + 1), 300);
    inserted += result.ok();
    // Every eviction is reported to the caller (flow records), never a replied flow.
    for (uint32_t victim : result.evicted) {
      if (victim == kNoEntry) continue;
      ++reported_evictions;
      EXPECT_FALSE(table_.At(victim).status.load() & kSeenReply);
    }
    full += result.status == InsertStatus::kTableFull;
    ASSERT_LE(table_.ReadCounters().entries, kCapacity);
  }
  EXPECT_GT(inserted, 0u);
  EXPECT_GT(full, 0u);
  const CtCounters counters = table_.ReadCounters();
  EXPECT_EQ(counters.early_drops, inserted);
  EXPECT_EQ(reported_evictions, counters.early_drops);
  EXPECT_EQ(counters.table_full, full);
  for (uint32_t i = 0; i < kCapacity; i += 2) {
    EXPECT_TRUE(table_.Lookup(flows[i].original).hit()) << i;
    EXPECT_TRUE(table_.Lookup(flows[i].reply).hit()) << i;
  }

  // Once only replied flows are left, inserts fail and existing flows work.
  table_.ForEach([&](const EntrySnapshot& snapshot) {
    table_.Touch(snapshot.index, Direction::kReply, 1, 301);
  });
  for (uint16_t i = 0; i < 50; ++i) {
    EXPECT_EQ(Insert(DnatFlow(static_cast<uint16_t>(30000 + i), kProtoTcp, kClient + 2), 400)
                  .status,
              InsertStatus::kTableFull);
  }
  for (uint32_t i = 0; i < kCapacity; i += 2) EXPECT_TRUE(table_.Lookup(flows[i].reply).hit());
  EXPECT_EQ(table_.ReadCounters().entries, kCapacity);
}

TEST_F(TableTest, SweepExpiresIncrementallyAndReclaimIsTwoPhase) {
  Make(256);
  for (uint16_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(Insert(DnatFlow(static_cast<uint16_t>(1000 + i), kProtoUdp), 0, TcpState::kNone)
                    .ok());
  }
  const Flow kept = DnatFlow(5000, kProtoUdp);
  const uint32_t kept_entry = Insert(kept, 0, TcpState::kNone).entry;
  table_.Touch(kept_entry, Direction::kOriginal, 1, 25);

  // Budget bounds each call; together the calls cover the whole pool.
  uint32_t expired = 0;
  uint32_t calls = 0;
  while (calls * 16 < table_.pool_size()) {
    const SweepResult result = table_.Sweep(31, 16);
    EXPECT_EQ(result.visited, 16u);
    expired += result.expired;
    ++calls;
  }
  EXPECT_EQ(expired, 100u);
  EXPECT_TRUE(table_.Lookup(kept.original).hit());
  EXPECT_FALSE(table_.Lookup(DnatFlow(1000, kProtoUdp).original).hit());
  EXPECT_FALSE(table_.Lookup(DnatFlow(1000, kProtoUdp).reply).hit());

  CtCounters counters = table_.ReadCounters();
  EXPECT_EQ(counters.entries, 1u);
  EXPECT_EQ(counters.expired, 100u);
  EXPECT_EQ(counters.awaiting_reclaim, 100u);

  // Phase two: detach, (grace period), reclaim. Entries retired after the
  // detach wait for the next batch.
  RetiredBatch batch = table_.DetachRetired();
  EXPECT_EQ(batch.count, 100u);
  ASSERT_TRUE(table_.Remove(kept_entry));
  EXPECT_FALSE(table_.Remove(kept_entry));  // only once
  EXPECT_EQ(table_.Reclaim(batch), 100u);
  EXPECT_EQ(table_.ReadCounters().awaiting_reclaim, 1u);
  EXPECT_EQ(ReclaimAll(), 1u);
  EXPECT_EQ(table_.ReadCounters().reclaimed, 101u);

  // Every entry is usable again.
  for (uint32_t i = 0; i < 256; ++i) {
    ASSERT_TRUE(Insert(DnatFlow(static_cast<uint16_t>(7000 + i)), 50).ok()) << i;
  }
}

TEST_F(TableTest, PoolEmptyWhileRetiredEntriesAwaitReclaim) {
  Make(16);
  uint32_t inserted = 0;
  // Insert and remove without ever reclaiming: the headroom runs out.
  for (uint16_t i = 0; i < 1000; ++i) {
    const InsertResult result = Insert(DnatFlow(static_cast<uint16_t>(1000 + i)), 0);
    if (!result.ok()) {
      EXPECT_EQ(result.status, InsertStatus::kTableFull);
      break;
    }
    ++inserted;
    table_.Remove(result.entry);
  }
  EXPECT_EQ(inserted, table_.pool_size());
  EXPECT_EQ(table_.ReadCounters().pool_empty, 1u);
  ReclaimAll();
  EXPECT_TRUE(Insert(DnatFlow(5), 0).ok());
}

TEST_F(TableTest, ForEachSeesLiveEntriesOnly) {
  Make(128);
  std::set<uint16_t> ports;
  for (uint16_t i = 0; i < 20; ++i) {
    const uint32_t entry = Insert(DnatFlow(static_cast<uint16_t>(100 + i)), 9).entry;
    if (i % 4 == 0) {
      table_.Remove(entry);
    } else {
      ports.insert(static_cast<uint16_t>(100 + i));
    }
  }
  std::set<uint16_t> seen;
  const uint32_t visited = table_.ForEach([&](const EntrySnapshot& snapshot) {
    seen.insert(snapshot.original.src_port);
    EXPECT_EQ(snapshot.reply.dst_port, snapshot.original.src_port);
    EXPECT_EQ(snapshot.tcp_state, TcpState::kSynSent);
    EXPECT_EQ(snapshot.timeout_s, 120u);
    EXPECT_EQ(snapshot.created_s, 9u);
  });
  EXPECT_EQ(visited, 15u);
  EXPECT_EQ(seen, ports);
}

TEST_F(TableTest, SnatReplyKeyIndexesTheSameEntry) {
  Make(64);
  // NodePort from outside: client -> node:30080, DNAT to backend, SNAT to node:61000.
  const FlowKey original = Key(0x08080808, 5555, kNode, 30080, kProtoTcp);
  const FlowKey reply = Key(kBackend, 8080, kNode, 61000, kProtoTcp);
  EntryInit init;
  init.nat_flags = kNatDnat | kNatSnat;
  init.origin_flags = kFromOutsideCluster;
  const InsertResult result = table_.Insert(original, reply, init, 1);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(table_.Lookup(reply).entry, result.entry);
  EXPECT_EQ(table_.At(result.entry).origin_flags, kFromOutsideCluster);
  EXPECT_EQ(table_.Insert(original, original, init, 1).status, InsertStatus::kInvalidKey);
}

}  // namespace
}  // namespace np::ct
