// Conntrack and session-affinity tables live in named shared-memory files
// ("/nodeplane.<instance>.conntrack", ".affinity"), position-independent, so
// that a restarted dataplane re-attaches them (kRecover) and keeps its
// connections, and the CLI can read them (kObserve).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/shm_file.h"
#include "dataplane/conntrack/affinity.h"
#include "dataplane/conntrack/table.h"

namespace np {

class ConntrackMemory {
 public:
  // Recovers existing tables of the same capacity, else creates them.
  static Result<ConntrackMemory> OpenOrCreate(const std::string& instance, uint32_t capacity,
                                              const ct::Timeouts& timeouts);
  // Read-only view for the CLI.
  static Result<ConntrackMemory> Observe(const std::string& instance);

  ct::Table& table() { return table_; }
  ct::AffinityTable& affinity() { return affinity_; }
  bool recovered() const { return recovered_; }

 private:
  SharedMemoryFile table_file_;
  SharedMemoryFile affinity_file_;
  ct::Table table_;
  ct::AffinityTable affinity_;
  bool recovered_ = false;
};

}  // namespace np
