#include "dataplane/conntrack/affinity.h"

#include <gtest/gtest.h>

#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

using testing::TestMemory;

class AffinityTest : public ::testing::Test {
 protected:
  void Make(uint32_t capacity) {
    memory_ = std::make_unique<TestMemory>(AffinityTable::RequiredBytes(capacity));
    Result<AffinityTable> table =
        AffinityTable::Attach(memory_->data(), memory_->size(), {capacity}, AttachMode::kCreate);
    ASSERT_TRUE(table.ok()) << table.error().message;
    table_ = *table;
  }
  std::unique_ptr<TestMemory> memory_;
  AffinityTable table_;
};

constexpr AffinityKey kAlice{0x0a000001, 3};
constexpr AffinityBackend kFirst{0x0af40101, 8080};
constexpr AffinityBackend kSecond{0x0af40102, 8080};

TEST_F(AffinityTest, RemembersUntilTimeoutRefreshedByUse) {
  Make(64);
  EXPECT_FALSE(table_.Lookup(kAlice, 0).hit);
  EXPECT_EQ(table_.Remember(kAlice, kFirst, 100, 0).status, AffinityStatus::kInserted);
  AffinityLookup found = table_.Lookup(kAlice, 90);
  ASSERT_TRUE(found.hit);
  EXPECT_EQ(found.backend, kFirst);
  EXPECT_TRUE(table_.Lookup(kAlice, 190).hit);   // refreshed at 90
  EXPECT_FALSE(table_.Lookup(kAlice, 291).hit);  // idle > 100 s since 190
  EXPECT_FALSE(table_.Lookup({kAlice.client_ip, 4}, 0).hit);  // other service port
}

TEST_F(AffinityTest, FirstWriterWinsUnlessReplaceOrExpired) {
  Make(64);
  table_.Remember(kAlice, kFirst, 100, 0);
  AffinityResult kept = table_.Remember(kAlice, kSecond, 100, 10);
  EXPECT_EQ(kept.status, AffinityStatus::kKept);
  EXPECT_EQ(kept.backend, kFirst);
  AffinityResult replaced = table_.Remember(kAlice, kSecond, 100, 20, /*replace=*/true);
  EXPECT_EQ(replaced.status, AffinityStatus::kReplaced);
  EXPECT_EQ(table_.Lookup(kAlice, 21).backend, kSecond);
  EXPECT_EQ(table_.Remember(kAlice, kFirst, 100, 500).status, AffinityStatus::kReplaced);
  EXPECT_EQ(table_.entries(), 1u);
}

TEST_F(AffinityTest, SweepReclaimAndFull) {
  Make(8);
  for (uint32_t client = 0; client < 8; ++client) {
    ASSERT_EQ(table_.Remember({client, 1}, kFirst, 10, 0).status, AffinityStatus::kInserted);
  }
  EXPECT_EQ(table_.Remember({100, 1}, kFirst, 10, 0).status, AffinityStatus::kFull);
  EXPECT_EQ(table_.Sweep(5, 1000), 0u);
  EXPECT_EQ(table_.Sweep(11, 1000), 8u);
  EXPECT_EQ(table_.entries(), 0u);
  EXPECT_EQ(table_.Reclaim(table_.DetachRetired()), 8u);
  EXPECT_EQ(table_.Remember({100, 1}, kFirst, 10, 20).status, AffinityStatus::kInserted);
}

TEST_F(AffinityTest, RecoverKeepsEntries) {
  Make(64);
  table_.Remember(kAlice, kSecond, 10800, 0);
  Result<AffinityTable> again =
      AffinityTable::Attach(memory_->data(), memory_->size(), {64}, AttachMode::kRecover);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->Lookup(kAlice, 5).backend, kSecond);
  EXPECT_EQ(again->entries(), 1u);
}

}  // namespace
}  // namespace np::ct
