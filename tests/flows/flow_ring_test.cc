// The flow-record rings (common/flow_abi.h) and the flows region: a full
// ring drops and counts, never blocks; the consumer sees records in order,
// across the wrap of the ring.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
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

// A table with one DNAT entry (service port 7, started at 123 ns) to record.
struct OneEntry {
  static constexpr ct::FlowKey kOriginal{0x0af40112, 0x0a60000a, 40000, 80, 6};
  static constexpr ct::FlowKey kReply{0x0af40113, 0x0af40112, 8080, 40000, 6};
  OneEntry() : memory(ct::Table::RequiredBytes(64)) {
    auto attached = ct::Table::Attach(memory.data(), memory.size(), {64}, ct::AttachMode::kCreate);
    EXPECT_TRUE(attached.ok()) << attached.error().message;
    table = std::move(attached).value();
    ct::EntryInit init;
    init.service_port_id = 7;
    init.nat_flags = ct::kNatDnat;
    init.start_ns = 123;
    const ct::InsertResult inserted = table.Insert(kOriginal, kReply, init, 5);
    EXPECT_TRUE(inserted.ok());
    entry = inserted.entry;
  }
  ct::testing::TestMemory memory;
  ct::Table table;
  uint32_t entry = 0;
};

TEST(FlowEmitter, RecordsAnEntryAndCountsWhatAFullRingRefuses) {
  OneEntry one;
  const ct::FlowKey original = OneEntry::kOriginal, reply = OneEntry::kReply;

  auto ring = std::make_unique<Ring>();
  FlowEmitter emitter(ring.get(), 2);
  emitter.Start(one.table, one.entry, FlowPolicy{});
  EXPECT_EQ(ring->head.load(), 0u);  // not enabled: nothing written
  emitter.SetEnabled(true);
  emitter.BeginBurst();
  emitter.Start(one.table, one.entry, FlowPolicy{Verdict::kAllowed, kNoRule, 4, 300, 301, 9});
  emitter.End(one.table, one.entry, EndReason::kTcpReused);
  FlowRecord out[2];
  ASSERT_EQ(ring->Pop(out, 2), 2u);
  EXPECT_EQ(out[0].event, static_cast<uint8_t>(FlowEvent::kStart));
  EXPECT_EQ(out[0].flow_id, one.table.FlowId(one.entry));
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
  emitter.Start(one.table, one.entry, FlowPolicy{});
  emitter.Denied(DeniedFlow{original, reply, 7, ct::kNatDnat, 60}, FlowPolicy{});
  EXPECT_EQ(ring->dropped.load(), dropped + 2);
  EXPECT_EQ(ring->head.load() - ring->tail.load(), kRingRecords);
}

// Records are written in place over slots that still hold older bytes:
// every field is set, exactly as a record built from zero would be.
TEST(FlowEmitter, RecordsWrittenInPlaceLeaveNothingOfTheSlotsOldBytes) {
  OneEntry one;
  const ct::FlowKey original = OneEntry::kOriginal, reply = OneEntry::kReply;

  auto ring = std::make_unique<Ring>();
  std::memset(ring->slots, 0xab, sizeof(ring->slots));
  FlowEmitter emitter(ring.get(), 1);
  emitter.SetEnabled(true);
  emitter.BeginBurst();
  emitter.Start(one.table, one.entry, FlowPolicy{Verdict::kAllowed, 3, kNoRule, 300, 301, 9});
  emitter.Update(one.table, one.entry);
  emitter.End(one.table, one.entry, EndReason::kTcpReused);
  emitter.Denied(DeniedFlow{original, reply, 7, ct::kNatDnat, 60}, FlowPolicy{Verdict::kDenied, kNoRule, kNoRule, 300, 301, 9});
  FlowRecord out[4];
  ASSERT_EQ(ring->Pop(out, 4), 4u);

  // What each record must be: built from a zeroed record, field by field.
  FlowRecord expected[4] = {};
  for (int i = 0; i < 3; ++i) {
    FlowRecord& e = expected[i];
    e.flow_id = one.table.FlowId(one.entry);
    e.start_ns = 123;
    e.time_ns = out[0].time_ns;
    e.original_src_ip = original.src_ip, e.original_dst_ip = original.dst_ip;
    e.original_src_port = original.src_port, e.original_dst_port = original.dst_port;
    e.reply_src_ip = reply.src_ip, e.reply_dst_ip = reply.dst_ip;
    e.reply_src_port = reply.src_port, e.reply_dst_port = reply.dst_port;
    e.protocol = 6;
    e.nat_flags = ct::kNatDnat;
    e.producer = 1;
    e.service_port_id = 7;
    e.egress_rule = kNoRule, e.ingress_rule = kNoRule;
    e.packets[0] = out[0].packets[0];
    e.bytes[0] = out[0].bytes[0];
  }
  expected[0].event = static_cast<uint8_t>(FlowEvent::kStart);
  expected[0].verdict = static_cast<uint8_t>(Verdict::kAllowed);
  expected[0].egress_rule = 3;
  expected[0].src_identity = 300, expected[0].dst_identity = 301, expected[0].policy_generation = 9;
  expected[1].event = static_cast<uint8_t>(FlowEvent::kUpdate);
  expected[2].event = static_cast<uint8_t>(FlowEvent::kEnd);
  expected[2].end_reason = static_cast<uint8_t>(EndReason::kTcpReused);
  FlowRecord& denied = expected[3];
  denied = expected[1];
  denied.flow_id = 0;
  denied.start_ns = denied.time_ns = out[3].time_ns;
  denied.event = static_cast<uint8_t>(FlowEvent::kDenied);
  denied.verdict = static_cast<uint8_t>(Verdict::kDenied);
  denied.src_identity = 300, denied.dst_identity = 301, denied.policy_generation = 9;
  denied.packets[0] = 1;
  denied.bytes[0] = 60;
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(std::memcmp(&out[i], &expected[i], sizeof(FlowRecord)), 0) << "record " << i;
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
