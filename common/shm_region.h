// The tables region: control plane → dataplane publication protocol on top
// of shm_abi.h. One object per process; the control plane and the CLI use
// the publisher side, the dataplane's loader the reader side.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "common/shm_abi.h"
#include "common/shm_file.h"

namespace np {

struct RegionLayout {
  uint64_t slot_capacity[abi::kMaxSections] = {};  // bytes per slot, per section kind
};
RegionLayout DefaultRegionLayout();

class TablesRegion {
 public:
  // Control plane: opens the region, creating and formatting it when absent.
  // An existing region of an incompatible ABI major is refused.
  static Result<TablesRegion> OpenOrCreate(const std::string& instance, const RegionLayout& layout);
  // Dataplane and CLI: the region must exist already.
  static Result<TablesRegion> Open(const std::string& instance);

  abi::RegionHeader& header() const { return *reinterpret_cast<abi::RegionHeader*>(file_.data()); }
  abi::SectionControl& section(abi::SectionKind kind) const {
    return header().sections[static_cast<uint32_t>(kind)];
  }

  // --- publisher side ---
  // Copies `image` into the slot the dataplane is not reading and publishes
  // it as `generation`. Waits (bounded) while the dataplane reads that slot.
  Status Publish(abi::SectionKind kind, std::span<const uint8_t> image, uint64_t generation,
                 std::chrono::milliseconds wait_for_reader = std::chrono::milliseconds(2000));
  uint64_t PublishedGeneration(abi::SectionKind kind) const;
  uint64_t AppliedGeneration(abi::SectionKind kind) const;
  uint64_t RefusedGeneration(abi::SectionKind kind) const;
  std::string RefusalReason(abi::SectionKind kind) const;
  // Waits until the dataplane applied or refused `generation`.
  Status WaitApplied(abi::SectionKind kind, uint64_t generation, std::chrono::milliseconds timeout) const;

  // --- reader side (dataplane) ---
  struct Claim {
    uint64_t generation;
    uint32_t checksum;
    std::span<const uint8_t> image;
  };
  // When a generation newer than `last_seen` is published, claims its slot.
  // The span stays valid until Release(); the bytes are still untrusted.
  std::optional<Claim> ClaimPublished(abi::SectionKind kind, uint64_t last_seen) const;
  void Release(abi::SectionKind kind) const;
  // Claim, decode, release in one: when a generation newer than *last_seen
  // is published, claims it, decodes it with `decode(data, size, &checksum)`
  // (a Result of an image with a `generation`), releases the slot and sets
  // *last_seen to it. A failed decode is reported refused with its reason
  // and returned as the error; nullopt when nothing newer is published.
  template <class Decode>
  auto TakeDecoded(abi::SectionKind kind, uint64_t* last_seen, Decode&& decode) const
      -> std::optional<decltype(decode(static_cast<const uint8_t*>(nullptr), size_t{0},
                                       static_cast<const uint32_t*>(nullptr)))> {
    std::optional<Claim> claim = ClaimPublished(kind, *last_seen);
    if (!claim) return std::nullopt;
    auto decoded = decode(claim->image.data(), claim->image.size(), &claim->checksum);
    Release(kind);
    *last_seen = claim->generation;
    if (!decoded) ReportRefused(kind, claim->generation, decoded.error().message);
    else decoded->generation = claim->generation;
    return decoded;
  }
  void ReportApplied(abi::SectionKind kind, uint64_t generation) const;
  void ReportRefused(abi::SectionKind kind, uint64_t generation, const std::string& reason) const;
  void ReportBoot(uint32_t pid) const;
  void ReportHeartbeat() const;

 private:
  explicit TablesRegion(SharedMemoryFile file) : file_(std::move(file)) {}
  static Status CheckHeader(const SharedMemoryFile& file);
  SharedMemoryFile file_;
};

uint64_t RealtimeNanoseconds();

}  // namespace np
