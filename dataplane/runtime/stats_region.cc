#include "dataplane/runtime/stats_region.h"

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
  for (auto it = slot_by_id_.begin(); it != slot_by_id_.end();) {
    if (wanted.count(it->first) == 0) {
      names_[it->second].in_use.store(0, std::memory_order_release);
      it = slot_by_id_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<uint32_t> slots;
  for (const auto& [id, name] : ids) {
    auto found = slot_by_id_.find(id);
    if (found == slot_by_id_.end()) {
      // The last slot is shared by everything that found the directory full.
      const uint32_t overflow = capacity_ - 1;
      uint32_t slot = 0;
      while (slot < overflow && names_[slot].in_use.load(std::memory_order_relaxed) != 0) ++slot;
      if (slot == overflow) {
        slots.push_back(overflow);
        continue;
      }
      names_[slot].id = id;
      const size_t length = std::min<size_t>(name.size(), stats::kNameLength - 1);
      std::memcpy(names_[slot].name, name.data(), length);
      names_[slot].name[length] = '\0';
      names_[slot].in_use.store(1, std::memory_order_release);
      if (reused_slots != nullptr) reused_slots->push_back(slot);
      found = slot_by_id_.emplace(id, slot).first;
    }
    slots.push_back(found->second);
  }
  return slots;
}

}  // namespace np
