#include "dataplane/runtime/stats_region.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>

namespace np {

Result<StatsRegion> StatsRegion::Create(const std::string& instance) {
  const std::string name = ShmName(instance, "stats");
  SharedMemoryFile::Remove(name);  // counters start from zero with each dataplane
  bool created = false;
  auto file = SharedMemoryFile::OpenOrCreate(name, sizeof(stats::StatsHeader), &created);
  if (!file) return file.error();
  auto* header = new (file->data()) stats::StatsHeader{};
  header->version = stats::kStatsVersion;
  header->magic = stats::kStatsMagic;
  return StatsRegion(std::move(file).value());
}

Result<StatsRegion> StatsRegion::Open(const std::string& instance) {
  auto file = SharedMemoryFile::Open(ShmName(instance, "stats"), true);
  if (!file) return file.error();
  if (file->size() < sizeof(stats::StatsHeader)) return MakeError("stats region " + file->name() + " is truncated");
  const auto& header = *reinterpret_cast<const stats::StatsHeader*>(file->data());
  if (header.magic != stats::kStatsMagic || header.version != stats::kStatsVersion)
    return MakeError("stats region " + file->name() + " has another format");
  return StatsRegion(std::move(file).value());
}

std::vector<uint32_t> SlotDirectory::Assign(const std::vector<std::pair<uint32_t, std::string>>& ids,
                                            std::vector<uint32_t>* reused_slots) {
  std::set<uint32_t> wanted;
  for (const auto& [id, name] : ids) wanted.insert(id);
  std::vector<uint32_t> gone;
  for (const auto& [id, slot] : slot_by_id_)
    if (wanted.count(id) == 0) gone.push_back(id);
  for (uint32_t id : gone) Release(id);
  std::vector<uint32_t> slots;
  for (const auto& [id, name] : ids) {
    bool reused = false;
    slots.push_back(AssignOne(id, name, &reused));
    if (reused && reused_slots != nullptr) reused_slots->push_back(slots.back());
  }
  return slots;
}

uint32_t SlotDirectory::AssignOne(uint32_t id, const std::string& name, bool* reused) {
  *reused = false;
  if (auto found = slot_by_id_.find(id); found != slot_by_id_.end()) return found->second;
  // The last slot is shared by everything that found the directory full.
  const uint32_t overflow = capacity_ - 1;
  uint32_t slot = first_maybe_free_;
  while (slot < overflow && names_[slot].in_use.load(std::memory_order_relaxed) != 0) ++slot;
  if (slot >= overflow) return overflow;
  first_maybe_free_ = slot + 1;
  names_[slot].id = id;
  const size_t length = std::min<size_t>(name.size(), stats::kNameLength - 1);
  std::memcpy(names_[slot].name, name.data(), length);
  names_[slot].name[length] = '\0';
  names_[slot].in_use.store(1, std::memory_order_release);
  *reused = true;
  slot_by_id_.emplace(id, slot);
  return slot;
}

void SlotDirectory::Release(uint32_t id) {
  auto found = slot_by_id_.find(id);
  if (found == slot_by_id_.end()) return;
  names_[found->second].in_use.store(0, std::memory_order_release);
  first_maybe_free_ = std::min(first_maybe_free_, found->second);
  slot_by_id_.erase(found);
}

}  // namespace np
