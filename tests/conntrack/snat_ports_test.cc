#include "dataplane/conntrack/snat_ports.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

using testing::TestMemory;

constexpr uint32_t kNode = 0xc0a80002;
constexpr uint32_t kBackend = 0x0af40105;
constexpr uint16_t kPortMin = 61000;
constexpr uint16_t kPortMax = 61999;

struct Fixture {
  explicit Fixture(uint32_t capacity)
      : memory(Table::RequiredBytes(capacity)),
        table(*Table::Attach(memory.data(), memory.size(), {capacity}, AttachMode::kCreate)) {}
  TestMemory memory;
  Table table;
};

SnatRequest Request(uint32_t client, uint16_t sport, uint8_t proto = kProtoTcp) {
  SnatRequest request;
  request.original.src_ip = client;
  request.original.src_port = sport;
  request.original.dst_ip = kNode;
  request.original.dst_port = 30080;
  request.original.protocol = proto;
  request.backend_ip = kBackend;
  request.backend_port = 8080;
  request.snat_ip = kNode;
  return request;
}

TEST(SnatPorts, WorkerSharesPartitionTheRange) {
  constexpr uint32_t kWorkers = 3;
  std::set<uint32_t> all;
  uint32_t total = 0;
  for (uint32_t worker = 0; worker < kWorkers; ++worker) {
    const SnatPortAllocator allocator(kPortMin, kPortMax, worker, kWorkers, 1);
    total += allocator.share();
    for (uint32_t k = 0; k < allocator.share(); ++k) {
      const uint16_t port = allocator.PortAt(k);
      EXPECT_GE(port, kPortMin);
      EXPECT_LE(port, kPortMax);
      EXPECT_EQ((port - kPortMin) % kWorkers, worker);
      EXPECT_TRUE(all.insert(port).second);
    }
  }
  EXPECT_EQ(total, kPortMax - kPortMin + 1u);
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(SnatPortAllocator(100, 101, 2, 3, 1).share(), 0u);  // more workers than ports
}

TEST(SnatPorts, ManyFlowsNeverShareAReplyTuple) {
  Fixture fixture(8192);
  constexpr uint32_t kWorkers = 2;
  std::vector<SnatPortAllocator> allocators;
  for (uint32_t worker = 0; worker < kWorkers; ++worker) {
    allocators.emplace_back(kPortMin, kPortMax, worker, kWorkers, 1234, 1000);
  }
  std::set<uint16_t> ports;
  // 1000 ports to a single backend: every one of them ends up used, once.
  for (uint32_t i = 0; i < 1000; ++i) {
    const SnatRequest request = Request(0x08080000 + i, static_cast<uint16_t>(40000 + i % 7));
    const SnatPortAllocator& allocator = allocators[i % kWorkers];
    const SnatResult result = allocator.AllocateAndInsert(fixture.table, request, {}, 1);
    ASSERT_TRUE(result.insert.ok()) << i;
    EXPECT_EQ((result.port - kPortMin) % kWorkers, i % kWorkers);
    EXPECT_TRUE(ports.insert(result.port).second) << result.port;
    const Entry& entry = fixture.table.At(result.insert.entry);
    EXPECT_EQ(entry.tuple[1], SnatPortAllocator::ReplyKey(request, result.port));
    EXPECT_TRUE(entry.nat_flags & kNatSnat);
    EXPECT_EQ(fixture.table.Lookup(entry.tuple[1]).entry, result.insert.entry);
  }
  // Both shares exhausted: the next flow is refused, existing ones intact.
  const SnatResult exhausted =
      allocators[0].AllocateAndInsert(fixture.table, Request(0x09090909, 1), {}, 1);
  EXPECT_EQ(exhausted.insert.status, InsertStatus::kReplyExists);
  EXPECT_EQ(exhausted.attempts, 500u);
  EXPECT_EQ(fixture.table.ReadCounters().entries, 1000u);
}

TEST(SnatPorts, DeterministicGivenSeedTupleAndTableContents) {
  auto run = [](uint32_t seed) {
    Fixture fixture(4096);
    const SnatPortAllocator allocator(kPortMin, kPortMax, 1, 4, seed, 64);
    std::vector<uint16_t> ports;
    for (uint32_t i = 0; i < 200; ++i) {
      ports.push_back(allocator
                          .AllocateAndInsert(fixture.table,
                                             Request(0x08080000 + i % 13,
                                                     static_cast<uint16_t>(1000 + i)),
                                             {}, i)
                          .port);
    }
    return ports;
  };
  const std::vector<uint16_t> first = run(7);
  EXPECT_EQ(first, run(7));
  EXPECT_NE(first, run(8));
}

TEST(SnatPorts, TakenPortIsSkippedToTheNextOfTheShare) {
  Fixture fixture(256);
  const SnatPortAllocator allocator(kPortMin, kPortMax, 0, 2, 99, 64);
  const SnatRequest request = Request(0x08080808, 5000);
  const uint16_t preferred = allocator.PortAt(allocator.FirstChoice(request));
  // Another flow already holds backend:8080 -> node:preferred.
  const FlowKey taken = SnatPortAllocator::ReplyKey(request, preferred);
  ASSERT_TRUE(fixture.table.Insert(Request(0x01010101, 1).original, taken, {}, 0).ok());

  const SnatResult result = allocator.AllocateAndInsert(fixture.table, request, {}, 0);
  ASSERT_TRUE(result.insert.ok());
  EXPECT_EQ(result.attempts, 2u);
  const uint16_t expected = preferred + 2 > kPortMax ? kPortMin : preferred + 2;
  EXPECT_EQ(result.port, expected);

  // Same original tuple again: reported as existing, no second port.
  const SnatResult again = allocator.AllocateAndInsert(fixture.table, request, {}, 0);
  EXPECT_EQ(again.insert.status, InsertStatus::kExists);
  EXPECT_EQ(again.insert.entry, result.insert.entry);
}

// The worker computes the first choice once, ahead (Worker::PlanNewFlows),
// and hands it in: the same port as the allocator's own choice, and an
// out-of-range value is ignored.
TEST(SnatPorts, AFirstChoiceHandedInIsTheOneTheAllocatorWouldMake) {
  Fixture own(256);
  Fixture handed(256);
  Fixture bogus(256);
  const SnatPortAllocator allocator(kPortMin, kPortMax, 1, 2, 99, 64);
  for (uint32_t i = 0; i < 64; ++i) {
    const SnatRequest request = Request(0x0b000000 + i, static_cast<uint16_t>(2000 + i));
    const SnatResult a = allocator.AllocateAndInsert(own.table, request, {}, 0);
    const SnatResult b = allocator.AllocateAndInsert(handed.table, request, {}, 0, allocator.FirstChoice(request));
    const SnatResult c = allocator.AllocateAndInsert(bogus.table, request, {}, 0, allocator.share());
    ASSERT_TRUE(a.insert.ok());
    EXPECT_EQ(b.port, a.port) << i;
    EXPECT_EQ(c.port, a.port) << i;
  }
}

TEST(SnatPorts, IcmpEchoIdentifierIsBothPorts) {
  SnatRequest request = Request(0x08080808, 77, kProtoIcmp);
  request.original.dst_port = 77;
  request.backend_port = 77;
  const FlowKey reply = SnatPortAllocator::ReplyKey(request, 61234);
  EXPECT_EQ(reply.src_port, 61234);
  EXPECT_EQ(reply.dst_port, 61234);
  EXPECT_EQ(reply.src_ip, kBackend);
  EXPECT_EQ(reply.dst_ip, kNode);
}

}  // namespace
}  // namespace np::ct
