#include "control/daemon/section_publisher.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace np::daemon {
namespace {

constexpr size_t kGenerationOffset = offsetof(abi::SectionHeader, generation);

void SetGeneration(std::vector<uint8_t>& image, uint64_t generation) {
  if (image.size() >= sizeof(abi::SectionHeader))
    std::memcpy(image.data() + kGenerationOffset, &generation, sizeof(generation));
}

}  // namespace

std::vector<uint8_t> ContentOf(std::vector<uint8_t> image) {
  SetGeneration(image, 0);
  return image;
}

std::optional<std::vector<uint8_t>> ReadPublishedImage(const TablesRegion& region, abi::SectionKind kind) {
  const abi::SectionControl& control = region.section(kind);
  // The publisher may rewrite the slot while we copy it (we do not claim):
  // the crc and an unchanged publication tell a clean copy from a torn one.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const uint64_t publication = control.published.load(std::memory_order_seq_cst);
    if (publication == 0) return std::nullopt;
    const uint32_t slot = abi::PublishedSlot(publication);
    const abi::SlotDescriptor descriptor = control.slots[slot];
    if (descriptor.size > control.slot_capacity) continue;
    const uint8_t* base = reinterpret_cast<const uint8_t*>(&region.header()) + control.slot_offset[slot];
    std::vector<uint8_t> copy(base, base + descriptor.size);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (control.published.load(std::memory_order_seq_cst) != publication) continue;
    if (Crc32(copy.data(), copy.size()) != descriptor.checksum) continue;
    return copy;
  }
  return std::nullopt;
}

SectionPublisher::SectionPublisher(TablesRegion& region) : region_(region) {
  boot_epoch_ = region_.header().dataplane.boot_epoch.load(std::memory_order_acquire);
  for (uint32_t index = 0; index < sections_.size(); ++index) {
    const auto kind = static_cast<abi::SectionKind>(index);
    SectionState& section = sections_[index];
    section.last_generation = std::max({region_.PublishedGeneration(kind), region_.AppliedGeneration(kind),
                                        region_.RefusedGeneration(kind)});
    if (std::optional<std::vector<uint8_t>> image = ReadPublishedImage(region_, kind))
      section.published_content = ContentOf(std::move(*image));
  }
}

Result<SectionPublisher::Outcome> SectionPublisher::PublishIfChanged(abi::SectionKind kind,
                                                                     std::vector<uint8_t> image) {
  SectionState& section = state(kind);
  SetGeneration(image, 0);
  if (section.published_content && *section.published_content == image)
    return Outcome{false, section.last_generation};
  const uint64_t generation = section.last_generation + 1;
  // Numbered in place for the copy into the region, then back to content.
  SetGeneration(image, generation);
  const uint64_t published_at = RealtimeNanoseconds();
  Status status = region_.Publish(kind, image, generation);
  SetGeneration(image, 0);
  if (!status) return status.error();
  section.last_generation = generation;
  section.published_at_ns = published_at;
  section.published_content = std::move(image);
  return Outcome{true, generation};
}

bool SectionPublisher::CheckDataplaneRestart() {
  const uint64_t epoch = region_.header().dataplane.boot_epoch.load(std::memory_order_acquire);
  if (epoch == boot_epoch_) return false;
  boot_epoch_ = epoch;
  for (SectionState& section : sections_) section.published_content.reset();
  return true;
}

}  // namespace np::daemon
