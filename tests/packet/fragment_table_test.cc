#include "dataplane/frag/fragment_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/packet/packet_builder.h"

namespace np {
namespace {

using test::Bytes;
using test::Ip;
using test::PacketBuilder;

constexpr uint64_t kTimeout = 1000;

std::vector<PacketMeta> Fragments(uint32_t src, uint16_t id, uint16_t sport, size_t payload = 200) {
  const Bytes whole = PacketBuilder().Eth().IPv4(src, Ip("10.96.0.10"), {.id = id}).Udp(sport, 53).PayloadOfSize(payload).Build();
  std::vector<PacketMeta> metas;
  for (const Bytes& fragment : test::FragmentIpv4(whole, 14, 64)) {
    PacketMeta meta;
    EXPECT_EQ(Parse(fragment.data(), static_cast<uint32_t>(fragment.size()), meta), ParseResult::kOk);
    metas.push_back(meta);
  }
  return metas;
}

TEST(FragmentTable, LaterFragmentsGetTheFirstOnesPorts) {
  FixedFragmentTable<64> table(kTimeout);
  const auto fragments = Fragments(Ip("10.0.0.1"), 77, 4444);
  ASSERT_EQ(fragments.size(), 4u);  // 208 bytes of UDP in 64-byte pieces
  ASSERT_TRUE(fragments[0].first_fragment);
  table.RememberFirst(fragments[0], 10);
  for (size_t i = 1; i < fragments.size(); ++i) {
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    ASSERT_TRUE(table.Lookup(fragments[i], 20, src_port, dst_port)) << i;
    EXPECT_EQ(src_port, 4444);
    EXPECT_EQ(dst_port, 53);
  }
  // Every byte seen: the entry is freed at once.
  EXPECT_EQ(table.stats().completed, 1u);
  EXPECT_EQ(table.LiveEntries(20), 0u);
}

TEST(FragmentTable, OutOfOrderLastFragmentStillCompletes) {
  FixedFragmentTable<64> table(kTimeout);
  const auto fragments = Fragments(Ip("10.0.0.1"), 78, 4444);
  table.RememberFirst(fragments[0], 0);
  uint16_t s, d;
  ASSERT_TRUE(table.Lookup(fragments[3], 1, s, d));
  ASSERT_TRUE(table.Lookup(fragments[1], 1, s, d));
  EXPECT_EQ(table.LiveEntries(1), 1u);
  ASSERT_TRUE(table.Lookup(fragments[2], 1, s, d));
  EXPECT_EQ(table.LiveEntries(1), 0u);
}

TEST(FragmentTable, FragmentBeforeFirstIsUnknown) {
  FixedFragmentTable<64> table(kTimeout);
  const auto fragments = Fragments(Ip("10.0.0.1"), 79, 4444);
  uint16_t s, d;
  EXPECT_FALSE(table.Lookup(fragments[1], 0, s, d));
  EXPECT_EQ(table.stats().unknown, 1u);
}

TEST(FragmentTable, KeyIncludesEveryField) {
  FixedFragmentTable<64> table(kTimeout);
  table.RememberFirst(Fragments(Ip("10.0.0.1"), 80, 4444)[0], 0);
  uint16_t s, d;
  EXPECT_FALSE(table.Lookup(Fragments(Ip("10.0.0.2"), 80, 4444)[1], 0, s, d));  // other source
  EXPECT_FALSE(table.Lookup(Fragments(Ip("10.0.0.1"), 81, 4444)[1], 0, s, d));  // other id
  PacketMeta other_protocol = Fragments(Ip("10.0.0.1"), 80, 4444)[1];
  other_protocol.protocol = kProtocolTcp;
  EXPECT_FALSE(table.Lookup(other_protocol, 0, s, d));
  EXPECT_TRUE(table.Lookup(Fragments(Ip("10.0.0.1"), 80, 4444)[1], 0, s, d));
}

TEST(FragmentTable, EntriesExpire) {
  FixedFragmentTable<64> table(kTimeout);
  const auto fragments = Fragments(Ip("10.0.0.1"), 82, 4444);
  table.RememberFirst(fragments[0], 100);
  uint16_t s, d;
  EXPECT_TRUE(table.Lookup(fragments[1], 100 + kTimeout - 1, s, d));
  EXPECT_FALSE(table.Lookup(fragments[2], 100 + kTimeout, s, d));
}

TEST(FragmentTable, FloodEvictsOldestAndStaysBounded) {
  std::vector<FragmentEntry> storage(100);  // rounded down to 64
  FragmentTable table(storage, kTimeout);
  EXPECT_EQ(table.capacity(), 64u);
  for (uint16_t id = 0; id < 1000; ++id) {
    table.RememberFirst(Fragments(Ip("10.0.0.1"), id, 4444, 100)[0], id);
  }
  EXPECT_LE(table.LiveEntries(999), 64u);
  EXPECT_GT(table.stats().evicted, 0u);
  // The newest datagram is always findable.
  uint16_t s, d;
  EXPECT_TRUE(table.Lookup(Fragments(Ip("10.0.0.1"), 999, 4444, 100)[1], 999, s, d));
}

TEST(FragmentTable, EmptyStorageReportsUnknown) {
  FragmentTable table(std::span<FragmentEntry>(), kTimeout);
  const auto fragments = Fragments(Ip("10.0.0.1"), 1, 1);
  table.RememberFirst(fragments[0], 0);
  uint16_t s, d;
  EXPECT_FALSE(table.Lookup(fragments[1], 0, s, d));
}

}  // namespace
}  // namespace np
