// The flow-record rings (common/flow_abi.h) and the flows region: a full
// ring drops and counts, never blocks; the consumer sees records in order,
// across the wrap of the ring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "common/flow_abi.h"
#include "common/shm_file.h"
#include "dataplane/flows/flow_region.h"

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
  for (uint64_t i = 0; i < kRingRecords; ++i) ASSERT_TRUE(PushRecord(*ring, RecordNumbered(i + 1)));
  EXPECT_FALSE(PushRecord(*ring, RecordNumbered(999999)));
  EXPECT_FALSE(PushRecord(*ring, RecordNumbered(999999)));
  EXPECT_EQ(ring->written.load(), kRingRecords);
  EXPECT_EQ(ring->dropped.load(), 2u);
  // The records that made it are intact and in order; the refused ones left no trace.
  FlowRecord out[64];
  ASSERT_EQ(PopRecords(*ring, out, 64), 64u);
  for (uint64_t i = 0; i < 64; ++i) EXPECT_EQ(out[i].flow_id, i + 1);
  // Room again once the consumer moved its tail.
  EXPECT_TRUE(PushRecord(*ring, RecordNumbered(kRingRecords + 1)));
}

TEST(FlowRing, TheConsumerSeesRecordsInOrderAcrossTheWrap) {
  auto ring = std::make_unique<Ring>();
  const uint64_t total = 3 * kRingRecords + 17;  // wraps three times
  uint64_t next_pushed = 1, next_expected = 1;
  FlowRecord out[500];
  while (next_expected <= total) {
    // Producer ahead of the consumer by a varying amount, never more than the ring.
    for (int i = 0; i < 700 && next_pushed <= total; ++i)
      if (PushRecord(*ring, RecordNumbered(next_pushed))) ++next_pushed;
    const uint32_t count = PopRecords(*ring, out, 500);
    for (uint32_t i = 0; i < count; ++i) ASSERT_EQ(out[i].flow_id, next_expected++);
  }
  EXPECT_EQ(ring->dropped.load(), 0u);
  EXPECT_EQ(ring->written.load(), total);
  EXPECT_EQ(PopRecords(*ring, out, 500), 0u);
}

TEST(FlowRing, AnEmptyRingYieldsNothing) {
  auto ring = std::make_unique<Ring>();
  FlowRecord out[4];
  EXPECT_EQ(PopRecords(*ring, out, 4), 0u);
  EXPECT_EQ(ring->tail.load(), 0u);
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
  ASSERT_TRUE(PushRecord(created->main_ring(), RecordNumbered(42)));

  auto opened = FlowRegion::Open(instance);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->header().boot_epoch, header.boot_epoch);
  FlowRecord out[1];
  ASSERT_EQ(PopRecords(opened->ring(2), out, 1), 1u);
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
