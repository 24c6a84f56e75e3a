#include "common/shm_region.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/section_image.h"

namespace np {
namespace {

class TablesRegionTest : public ::testing::Test {
 protected:
  void TearDown() override { SharedMemoryFile::Remove(ShmName(instance_, "tables")); }
  RegionLayout SmallLayout() {
    RegionLayout layout;
    layout.slot_capacity[0] = 4096;
    layout.slot_capacity[1] = 4096;
    return layout;
  }
  std::string instance_ = "regiontest" + std::to_string(getpid());
};

TEST_F(TablesRegionTest, PublishedImageIsClaimedAppliedAndReportedBack) {
  auto control = TablesRegion::OpenOrCreate(instance_, SmallLayout());
  ASSERT_TRUE(control.ok()) << control.error().message;
  auto dataplane = TablesRegion::Open(instance_);
  ASSERT_TRUE(dataplane.ok()) << dataplane.error().message;

  const std::vector<uint8_t> image = {1, 2, 3, 4, 5};
  ASSERT_TRUE(control->Publish(abi::SectionKind::kServices, image, 1).ok());
  EXPECT_FALSE(dataplane->ClaimPublished(abi::SectionKind::kNode, 0).has_value());
  auto claim = dataplane->ClaimPublished(abi::SectionKind::kServices, 0);
  ASSERT_TRUE(claim.has_value());
  EXPECT_EQ(claim->generation, 1u);
  EXPECT_EQ(std::vector<uint8_t>(claim->image.begin(), claim->image.end()), image);
  EXPECT_EQ(claim->checksum, Crc32(image.data(), image.size()));
  dataplane->Release(abi::SectionKind::kServices);
  dataplane->ReportApplied(abi::SectionKind::kServices, 1);
  EXPECT_TRUE(control->WaitApplied(abi::SectionKind::kServices, 1, std::chrono::milliseconds(100)).ok());
  // Nothing newer than what was seen.
  EXPECT_FALSE(dataplane->ClaimPublished(abi::SectionKind::kServices, 1).has_value());
}

TEST_F(TablesRegionTest, RefusalReasonReachesTheWaitingPublisher) {
  auto control = TablesRegion::OpenOrCreate(instance_, SmallLayout());
  ASSERT_TRUE(control.ok());
  ASSERT_TRUE(control->Publish(abi::SectionKind::kNode, std::vector<uint8_t>{9}, 4).ok());
  control->ReportRefused(abi::SectionKind::kNode, 4, "node section: bad magic");
  auto waited = control->WaitApplied(abi::SectionKind::kNode, 4, std::chrono::milliseconds(100));
  ASSERT_FALSE(waited.ok());
  EXPECT_NE(waited.error().message.find("bad magic"), std::string::npos);
}

TEST_F(TablesRegionTest, PublisherNeverOverwritesTheSlotBeingRead) {
  auto control = TablesRegion::OpenOrCreate(instance_, SmallLayout());
  auto dataplane = TablesRegion::Open(instance_);
  ASSERT_TRUE(control.ok() && dataplane.ok());
  ASSERT_TRUE(control->Publish(abi::SectionKind::kServices, std::vector<uint8_t>{1}, 1).ok());
  auto claim = dataplane->ClaimPublished(abi::SectionKind::kServices, 0);  // reads slot 0
  ASSERT_TRUE(claim.has_value());
  // Generation 2 goes to the other slot; generation 3 would need slot 0 back.
  ASSERT_TRUE(control->Publish(abi::SectionKind::kServices, std::vector<uint8_t>{2}, 2).ok());
  auto blocked = control->Publish(abi::SectionKind::kServices, std::vector<uint8_t>{3}, 3, std::chrono::milliseconds(20));
  EXPECT_FALSE(blocked.ok());
  EXPECT_EQ(claim->image[0], 1);  // untouched while claimed
  dataplane->Release(abi::SectionKind::kServices);
  EXPECT_TRUE(control->Publish(abi::SectionKind::kServices, std::vector<uint8_t>{3}, 3).ok());
}

TEST_F(TablesRegionTest, OversizedImageIsRefused) {
  auto control = TablesRegion::OpenOrCreate(instance_, SmallLayout());
  ASSERT_TRUE(control.ok());
  EXPECT_FALSE(control->Publish(abi::SectionKind::kNode, std::vector<uint8_t>(8192), 1).ok());
}

TEST_F(TablesRegionTest, ForeignMemoryIsNotMistakenForARegion) {
  bool created = false;
  auto file = SharedMemoryFile::OpenOrCreate(ShmName(instance_, "tables"), 65536, &created);
  ASSERT_TRUE(file.ok());
  std::memset(file->data(), 0x5a, 64);
  auto opened = TablesRegion::Open(instance_);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().message.find("magic"), std::string::npos);
}

}  // namespace
}  // namespace np
