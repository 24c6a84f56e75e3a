// The dataplane's debug file (common/debug_abi.h): trace and capture
// control blocks and their per-worker rings. DPDK-free, so that npctl opens
// it too.
#pragma once

#include <cstdint>
#include <string>

#include "common/debug_abi.h"
#include "common/result.h"
#include "common/shm_file.h"

namespace np {

class DebugRegion {
 public:
  // The dataplane: a fresh file each start (nothing armed, empty rings).
  static Result<DebugRegion> Create(const std::string& instance, uint32_t worker_count);
  // npctl: an existing file of a compatible version.
  static Result<DebugRegion> Open(const std::string& instance);
  debug::DebugHeader& header() const { return *reinterpret_cast<debug::DebugHeader*>(file_.data()); }

 private:
  explicit DebugRegion(SharedMemoryFile file) : file_(std::move(file)) {}
  SharedMemoryFile file_;
};

}  // namespace np
