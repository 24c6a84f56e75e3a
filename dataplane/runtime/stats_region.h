// The dataplane's stats region (common/stats_abi.h) and the directories
// that give ports and service ports a stable counter slot.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/shm_file.h"
#include "common/stats_abi.h"

namespace np {

class StatsRegion {
 public:
  static Result<StatsRegion> Create(const std::string& instance);
  static Result<StatsRegion> Open(const std::string& instance);  // CLI, read-only use
  stats::StatsHeader& header() const { return *reinterpret_cast<stats::StatsHeader*>(file_.data()); }
  stats::LcoreCounters& lcore(uint32_t block) const { return header().lcores[block]; }

 private:
  explicit StatsRegion(SharedMemoryFile file) : file_(std::move(file)) {}
  SharedMemoryFile file_;
};

// Slot assignment keyed by a stable id; a slot is reused only after its
// owner disappeared, and its counters are zeroed when it is reused.
class SlotDirectory {
 public:
  SlotDirectory(stats::SlotName* names, uint32_t capacity) : names_(names), capacity_(capacity) {}
  // Keeps the slots of `ids` that exist, frees the others, assigns new ones.
  // Returns the slot of each id (the shared last slot when the directory is full).
  std::vector<uint32_t> Assign(const std::vector<std::pair<uint32_t, std::string>>& ids,
                               std::vector<uint32_t>* reused_slots);
  // One id at a time (services change one port at a time): its slot, a new
  // one when it had none (*reused then says so: its counters are stale).
  uint32_t AssignOne(uint32_t id, const std::string& name, bool* reused);
  void Release(uint32_t id);

 private:
  stats::SlotName* names_;
  uint32_t capacity_;
  std::map<uint32_t, uint32_t> slot_by_id_;
  uint32_t first_maybe_free_ = 0;  // every slot below it is in use
};

}  // namespace np
