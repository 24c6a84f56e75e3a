#include "common/shm_region.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>
#include <time.h>

#include "common/section_image.h"

namespace np {
namespace {

constexpr uint64_t kPage = 4096;

uint64_t AlignPage(uint64_t value) { return (value + kPage - 1) & ~(kPage - 1); }

uint64_t MonotonicNanoseconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

uint64_t RegionSize(const RegionLayout& layout) {
  uint64_t size = AlignPage(sizeof(abi::RegionHeader));
  for (uint64_t capacity : layout.slot_capacity) size += 2 * AlignPage(capacity);
  return size;
}

void Format(uint8_t* memory, const RegionLayout& layout) {
  auto* header = new (memory) abi::RegionHeader{};
  header->abi_major = abi::kAbiMajor;
  header->abi_minor = abi::kAbiMinor;
  header->region_size = RegionSize(layout);
  header->section_count = static_cast<uint32_t>(abi::SectionKind::kCount);
  uint64_t offset = AlignPage(sizeof(abi::RegionHeader));
  for (uint32_t kind = 0; kind < abi::kMaxSections; ++kind) {
    abi::SectionControl& section = header->sections[kind];
    section.reader_slot.store(abi::kNoReader, std::memory_order_relaxed);
    section.slot_capacity = AlignPage(layout.slot_capacity[kind]);
    for (uint64_t& slot_offset : section.slot_offset) {
      slot_offset = offset;
      offset += section.slot_capacity;
    }
  }
  // The magic goes last: a reader that sees it sees a formatted header.
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = abi::kRegionMagic;
}

}  // namespace

uint64_t RealtimeNanoseconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

RegionLayout DefaultRegionLayout() {
  RegionLayout layout;
  layout.slot_capacity[static_cast<uint32_t>(abi::SectionKind::kNode)] = 1u << 20;
  // Sparse in /dev/shm: only the bytes of published images use memory.
  // 256 MiB holds ~60k Services of 4 endpoints (~4.3 KB each, Maglev tables included).
  layout.slot_capacity[static_cast<uint32_t>(abi::SectionKind::kServices)] = 256u << 20;
  layout.slot_capacity[static_cast<uint32_t>(abi::SectionKind::kPolicy)] = 64u << 20;
  // A delta larger than a few MiB is republished as a full services section.
  layout.slot_capacity[static_cast<uint32_t>(abi::SectionKind::kServicesDelta)] = 64u << 20;
  return layout;
}

Status TablesRegion::CheckHeader(const SharedMemoryFile& file) {
  if (file.size() < sizeof(abi::RegionHeader))
    return MakeError("tables region " + file.name() + " is smaller than its header");
  const auto& header = *reinterpret_cast<const abi::RegionHeader*>(file.data());
  if (header.magic != abi::kRegionMagic)
    return MakeError("tables region " + file.name() + " has no nodeplane magic (not formatted yet?)");
  if (header.abi_major != abi::kAbiMajor)
    return MakeError("tables region " + file.name() + " speaks ABI " + std::to_string(header.abi_major) +
                     "." + std::to_string(header.abi_minor) + ", this program speaks " +
                     std::to_string(abi::kAbiMajor) + "." + std::to_string(abi::kAbiMinor));
  if (header.region_size > file.size())
    return MakeError("tables region " + file.name() + " is truncated");
  for (uint32_t kind = 0; kind < abi::kMaxSections; ++kind) {
    const abi::SectionControl& section = header.sections[kind];
    for (uint64_t slot_offset : section.slot_offset)
      if (slot_offset > file.size() || section.slot_capacity > file.size() - slot_offset)
        return MakeError("tables region " + file.name() + ": slot of section " + std::to_string(kind) +
                         " lies outside the file");
  }
  return Ok{};
}

Result<TablesRegion> TablesRegion::OpenOrCreate(const std::string& instance, const RegionLayout& layout) {
  bool created = false;
  auto file = SharedMemoryFile::OpenOrCreate(ShmName(instance, "tables"), RegionSize(layout), &created);
  if (!file) return file.error();
  if (created) Format(file->data(), layout);
  if (auto status = CheckHeader(*file); !status) return status.error();
  return TablesRegion(std::move(file).value());
}

Result<TablesRegion> TablesRegion::Open(const std::string& instance) {
  auto file = SharedMemoryFile::Open(ShmName(instance, "tables"), true);
  if (!file) return file.error();
  if (auto status = CheckHeader(*file); !status) return status.error();
  return TablesRegion(std::move(file).value());
}

Status TablesRegion::Publish(abi::SectionKind kind, std::span<const uint8_t> image, uint64_t generation,
                             std::chrono::milliseconds wait_for_reader) {
  abi::SectionControl& control = section(kind);
  if (image.size() > control.slot_capacity)
    return MakeError("section image of " + std::to_string(image.size()) + " bytes exceeds the slot (" +
                     std::to_string(control.slot_capacity) + " bytes)");
  const uint64_t current = control.published.load(std::memory_order_seq_cst);
  const uint32_t slot = current == 0 ? 0 : 1 - abi::PublishedSlot(current);
  const uint64_t deadline = MonotonicNanoseconds() + static_cast<uint64_t>(wait_for_reader.count()) * 1000000ull;
  // The reader claims before it re-checks the publication; we published
  // `current` before loading its claim, so one of the two sees the other.
  while (control.reader_slot.load(std::memory_order_seq_cst) == slot) {
    if (MonotonicNanoseconds() > deadline)
      return MakeError("the dataplane has held slot " + std::to_string(slot) + " for too long");
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::memcpy(file_.data() + control.slot_offset[slot], image.data(), image.size());
  control.slots[slot] = abi::SlotDescriptor{generation, image.size(), Crc32(image.data(), image.size()), 0};
  control.published.store(abi::PackPublication(generation, slot), std::memory_order_seq_cst);
  return Ok{};
}

uint64_t TablesRegion::PublishedGeneration(abi::SectionKind kind) const {
  return abi::PublishedGeneration(section(kind).published.load(std::memory_order_acquire));
}
uint64_t TablesRegion::AppliedGeneration(abi::SectionKind kind) const {
  return section(kind).applied_generation.load(std::memory_order_acquire);
}
uint64_t TablesRegion::RefusedGeneration(abi::SectionKind kind) const {
  return section(kind).refused_generation.load(std::memory_order_acquire);
}
std::string TablesRegion::RefusalReason(abi::SectionKind kind) const {
  const char* reason = section(kind).refusal_reason;
  return std::string(reason, strnlen(reason, abi::kReasonLength));
}

Status TablesRegion::WaitApplied(abi::SectionKind kind, uint64_t generation,
                                 std::chrono::milliseconds timeout) const {
  const uint64_t deadline = MonotonicNanoseconds() + static_cast<uint64_t>(timeout.count()) * 1000000ull;
  for (;;) {
    if (AppliedGeneration(kind) >= generation) return Ok{};
    if (RefusedGeneration(kind) == generation)
      return MakeError("the dataplane refused generation " + std::to_string(generation) + ": " +
                       RefusalReason(kind));
    if (MonotonicNanoseconds() > deadline)
      return MakeError("the dataplane did not apply generation " + std::to_string(generation) + " within " +
                       std::to_string(timeout.count()) + " ms (is it running?)");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::optional<TablesRegion::Claim> TablesRegion::ClaimPublished(abi::SectionKind kind,
                                                                uint64_t last_seen) const {
  abi::SectionControl& control = section(kind);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const uint64_t publication = control.published.load(std::memory_order_seq_cst);
    if (publication == 0 || abi::PublishedGeneration(publication) <= last_seen) return std::nullopt;
    const uint32_t slot = abi::PublishedSlot(publication);
    control.reader_slot.store(slot, std::memory_order_seq_cst);
    if (control.published.load(std::memory_order_seq_cst) != publication) {
      control.reader_slot.store(abi::kNoReader, std::memory_order_seq_cst);
      continue;  // republished meanwhile: take the newer one
    }
    const abi::SlotDescriptor descriptor = control.slots[slot];
    const uint64_t size = std::min<uint64_t>(descriptor.size, control.slot_capacity);
    return Claim{abi::PublishedGeneration(publication), descriptor.checksum,
                 std::span<const uint8_t>(file_.data() + control.slot_offset[slot], size)};
  }
  return std::nullopt;
}

void TablesRegion::Release(abi::SectionKind kind) const {
  section(kind).reader_slot.store(abi::kNoReader, std::memory_order_seq_cst);
}

void TablesRegion::ReportApplied(abi::SectionKind kind, uint64_t generation) const {
  abi::SectionControl& control = section(kind);
  control.applied_at_ns.store(RealtimeNanoseconds(), std::memory_order_relaxed);
  control.applied_generation.store(generation, std::memory_order_release);
}

void TablesRegion::ReportRefused(abi::SectionKind kind, uint64_t generation, const std::string& reason) const {
  abi::SectionControl& control = section(kind);
  const size_t length = std::min<size_t>(reason.size(), abi::kReasonLength - 1);
  std::memcpy(control.refusal_reason, reason.data(), length);
  control.refusal_reason[length] = '\0';
  control.refused_generation.store(generation, std::memory_order_release);
}

void TablesRegion::ReportBoot(uint32_t pid) const {
  header().dataplane.pid.store(pid, std::memory_order_relaxed);
  header().dataplane.boot_epoch.store(RealtimeNanoseconds(), std::memory_order_release);
}

void TablesRegion::ReportHeartbeat() const {
  header().dataplane.heartbeat_ns.store(RealtimeNanoseconds(), std::memory_order_release);
}

}  // namespace np
