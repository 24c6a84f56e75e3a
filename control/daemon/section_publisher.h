// Publishes section images into the tables region only when their content
// changed, numbering generations on from what the region already holds so
// that a restarted control plane never goes backwards.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "common/section_image.h"
#include "common/shm_region.h"

namespace np::daemon {

// The bytes of an image with its header's generation zeroed: two images
// with equal content compare equal whatever generation they were given.
std::vector<uint8_t> ContentOf(std::vector<uint8_t> image);

// Reads the image the region currently publishes for `kind` without claiming
// the slot (only the dataplane claims): copies it, checks its crc32 and that
// the publication did not move meanwhile, retrying a few times. nullopt when
// nothing is published or no stable copy could be taken.
std::optional<std::vector<uint8_t>> ReadPublishedImage(const TablesRegion& region, abi::SectionKind kind);

class SectionPublisher {
 public:
  // Recovers what `region` holds: per section the last generation used and
  // the published content, and the dataplane's boot epoch.
  explicit SectionPublisher(TablesRegion& region);

  struct Outcome {
    bool published = false;   // false: identical content was published already
    uint64_t generation = 0;  // the new generation, or the one already published
  };
  // `image` as encoded with generation 0 (EncodeXSection of an image whose
  // generation is 0); the publisher sets the generation.
  Result<Outcome> PublishIfChanged(abi::SectionKind kind, std::vector<uint8_t> image);

  // True once per dataplane restart (its boot epoch changed): the publisher
  // then forgets what it published, so that the next PublishIfChanged()
  // republishes every section to the new process.
  bool CheckDataplaneRestart();

  uint64_t LastGeneration(abi::SectionKind kind) const { return state(kind).last_generation; }
  // Whether the publisher knows what the region publishes for `kind`
  // (false after a dataplane restart, until the next publication).
  bool KnowsPublished(abi::SectionKind kind) const { return state(kind).published_content.has_value(); }
  // CLOCK_REALTIME just before the last publication of `kind` by this
  // publisher (0: none yet): the start of the apply latency.
  uint64_t LastPublishedAtNs(abi::SectionKind kind) const { return state(kind).published_at_ns; }
  TablesRegion& region() { return region_; }

 private:
  struct SectionState {
    uint64_t last_generation = 0;
    uint64_t published_at_ns = 0;
    std::optional<std::vector<uint8_t>> published_content;
  };
  SectionState& state(abi::SectionKind kind) { return sections_[static_cast<uint32_t>(kind)]; }
  const SectionState& state(abi::SectionKind kind) const { return sections_[static_cast<uint32_t>(kind)]; }

  TablesRegion& region_;
  uint64_t boot_epoch_ = 0;
  std::array<SectionState, static_cast<uint32_t>(abi::SectionKind::kCount)> sections_;
};

}  // namespace np::daemon
