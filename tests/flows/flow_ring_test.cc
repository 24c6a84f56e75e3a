// The flow-record rings (common/flow_abi.h) and the flows region: a full
// ring drops and counts, never blocks; the consumer sees records in order,
// across the wrap of the ring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/flow_abi.h"
#include "common/shm_file.h"
#include "common/spsc_ring.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_emitter.h"
#include "dataplane/flows/flow_region.h"
#include "tests/conntrack/test_memory.h"

namespace np::flows {
namespace {

FlowRecord RecordNumbered(uint64_t number) {
  FlowRecord record{};
  record.flow_id = number;
  record.event = static_cast<uint8_t>(FlowEvent::kStart);
  return record;
}

TEST(FlowRing, AFullRingDropsAndCountsWithoutWaiting) {
  auto ring = std::make_unique<Ring>();
  for (uint64_t i = 0; i < kRingRecords; ++i) ASSERT_TRUE(ring->Push(RecordNumbered(i + 1)));
  EXPECT_FALSE(ring->Push(RecordNumbered(999999)));
  EXPECT_FALSE(ring->Push(RecordNumbered(999999)));
  EXPECT_EQ(ring->written.load(), kRingRecords);
  EXPECT_EQ(ring->dropped.load(), 2u);
  // The records that made it are intact and in order; the refused ones left no trace.
  FlowRecord out[64];
  ASSERT_EQ(ring->Pop(out, 64), 64u);
  for (uint64_t i = 0; i < 64; ++i) EXPECT_EQ(out[i].flow_id, i + 1);
  // Room again once the consumer moved its tail.
  EXPECT_TRUE(ring->Push(RecordNumbered(kRingRecords + 1)));
}

TEST(FlowRing, TheConsumerSeesRecordsInOrderAcrossTheWrap) {
  auto ring = std::make_unique<Ring>();
  const uint64_t total = 3 * kRingRecords + 17;  // wraps three times
  uint64_t next_pushed = 1, next_expected = 1;
  FlowRecord out[500];
  while (next_expected <= total) {
    // Producer ahead of the consumer by a varying amount, never more than the ring.
    for (int i = 0; i < 700 && next_pushed <= total; ++i)
      if (ring->Push(RecordNumbered(next_pushed))) ++next_pushed;
    const uint32_t count = ring->Pop(out, 500);
    for (uint32_t i = 0; i < count; ++i) ASSERT_EQ(out[i].flow_id, next_expected++);
  }
  EXPECT_EQ(ring->dropped.load(), 0u);
  EXPECT_EQ(ring->written.load(), total);
  EXPECT_EQ(ring->Pop(out, 500), 0u);
}

TEST(FlowRing, AnEmptyRingYieldsNothing) {
  auto ring = std::make_unique<Ring>();
  FlowRecord out[4];
  EXPECT_EQ(ring->Pop(out, 4), 0u);
  EXPECT_EQ(ring->tail.load(), 0u);
}

TEST(FlowEmitter, RecordsAnEntryAndCountsWhatAFullRingRefuses) {
  ct::testing::TestMemory memory(ct::Table::RequiredBytes(64));
  auto table = ct::Table::Attach(memory.data(), memory.size(), {64}, ct::AttachMode::kCreate);
  ASSERT_TRUE(table.ok()) << table.error().message;
  const ct::FlowKey original{0x0af40112, 0x0a60000a, 40000, 80, 6};
  const ct::FlowKey reply{0x0af40113, 0x0af40112, 8080, 40000, 6};
  ct::EntryInit init;
  init.service_port_id = 7;
  init.nat_flags = ct::kNatDnat;
  init.start_ns = 123;
  const ct::InsertResult inserted = table->Insert(original, reply, init, 5);
  ASSERT_TRUE(inserted.ok());

  auto ring = std::make_unique<Ring>();
  FlowEmitter emitter(ring.get(), 2);
  emitter.Start(*table, inserted.entry, FlowPolicy{});
  EXPECT_EQ(ring->head.load(), 0u);  // not enabled: nothing written
  emitter.SetEnabled(true);
  emitter.BeginBurst();
  emitter.Start(*table, inserted.entry, FlowPolicy{Verdict::kAllowed, kNoRule, 4, 300, 301, 9});
  emitter.End(*table, inserted.entry, EndReason::kTcpReused);
  FlowRecord out[2];
  ASSERT_EQ(ring->Pop(out, 2), 2u);
  EXPECT_EQ(out[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(out[0].flow_id, table->FlowId(inserted.entry));
  EXPECT_EQ(out[0].start_ns, 123u);
  EXPECT_EQ(out[0].time_ns, out[1].time_ns);  // one clock read per burst
  EXPECT_EQ(out[0].original_dst_port, 80);
  EXPECT_EQ(out[0].reply_src_port, 8080);
  EXPECT_EQ(out[0].service_port_id, 7u);
  EXPECT_EQ(out[0].ingress_rule, 4u);
  EXPECT_EQ(out[0].policy_generation, 9u);
  EXPECT_EQ(out[0].producer, 2u);
  EXPECT_EQ(out[1].event, static_cast<uint8_t>(FlowEvent::kEnd));
  EXPECT_EQ(out[1].end_reason, static_cast<uint8_t>(EndReason::kTcpReused));

  while (ring->Push(FlowRecord{})) {
  }
  const uint64_t dropped = ring->dropped.load();
  emitter.Start(*table, inserted.entry, FlowPolicy{});
  emitter.Denied(DeniedFlow{original, reply, 7, ct::kNatDnat, 60}, FlowPolicy{});
  EXPECT_EQ(ring->dropped.load(), dropped + 2);
  EXPECT_EQ(ring->head.load() - ring->tail.load(), kRingRecords);
}

// The other half of common/spsc_ring.h, as the debug rings use it: fill a
// slot in place (Reserve/Commit), read everything (Drain), across the wrap.
TEST(SpscRing, ReserveCommitAndDrainKeepOrderAndCountLikePushAndPop) {
  auto ring = std::make_unique<SpscRing<uint64_t, 8>>();
  uint64_t next = 1;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      uint64_t* slot = ring->Reserve();
      ASSERT_NE(slot, nullptr);
      *slot = next++;
      ring->Commit();
    }
    std::vector<uint64_t> seen;
    EXPECT_EQ(ring->Drain([&](const uint64_t& value) { seen.push_back(value); }), 5u);
    ASSERT_EQ(seen.size(), 5u);
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], next - 5 + i);
  }
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(ring->Push(0));
  EXPECT_EQ(ring->Reserve(), nullptr);
  EXPECT_FALSE(ring->HasRoom());
  EXPECT_EQ(ring->dropped.load(), 2u);
  EXPECT_EQ(ring->written.load(), 15u + 8u);
}

TEST(FlowRegion, CreateFillsTheHeaderAndOpenChecksIt) {
  const std::string instance = "flowtest" + std::to_string(getpid());
  auto created = FlowRegion::Create(instance, 3);
  ASSERT_TRUE(created.ok()) << created.error().message;
  const FlowsHeader& header = created->header();
  EXPECT_EQ(header.magic, kFlowsMagic);
  EXPECT_EQ(header.version_major, kFlowsVersionMajor);
  EXPECT_EQ(header.producer_count, 3u);
  EXPECT_EQ(header.ring_records, kRingRecords);
  EXPECT_NE(header.boot_epoch, 0u);
  ASSERT_TRUE(created->main_ring().Push(RecordNumbered(42)));

  auto opened = FlowRegion::Open(instance);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->header().boot_epoch, header.boot_epoch);
  FlowRecord out[1];
  ASSERT_EQ(opened->ring(2).Pop(out, 1), 1u);
  EXPECT_EQ(out[0].flow_id, 42u);

  // A restart is a new epoch, with empty rings.
  const uint64_t first_epoch = header.boot_epoch;
  auto again = FlowRegion::Create(instance, 3);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->header().boot_epoch, first_epoch);
  EXPECT_EQ(again->main_ring().head.load(), 0u);
  SharedMemoryFile::Remove(ShmName(instance, "flows"));
}

TEST(FlowRegion, RefusesABadProducerCount) {
  EXPECT_FALSE(FlowRegion::Create("flowtestbad", 0).ok());
  EXPECT_FALSE(FlowRegion::Create("flowtestbad", kMaxProducers + 1).ok());
}

}  // namespace
}  // namespace np::flows
