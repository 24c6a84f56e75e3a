// The flows region (common/flow_abi.h): one SPSC ring per producer in
// "/nodeplane.<instance>.flows". The dataplane creates it afresh at each
// start (a new boot_epoch tells the collector that flow ids restarted);
// the collector and tests open it.
//
// The file is sized for kMaxProducers rings but only the rings in use are
// ever touched, and /dev/shm allocates pages on first write, so an idle ring
// costs no memory.
#pragma once

#include <cstdint>
#include <string>

#include "common/flow_abi.h"
#include "common/result.h"
#include "common/shm_file.h"

namespace np::flows {

class FlowRegion {
 public:
  // producer_count = workers + 1: the last ring is the main lcore's.
  static Result<FlowRegion> Create(const std::string& instance, uint32_t producer_count);
  static Result<FlowRegion> Open(const std::string& instance);  // consumers

  FlowsHeader& header() const { return *reinterpret_cast<FlowsHeader*>(file_.data()); }
  uint32_t producer_count() const { return header().producer_count; }
  Ring& ring(uint32_t producer) const { return header().rings[producer]; }
  // The main lcore's ring (sweeper: expiry, updates).
  Ring& main_ring() const { return ring(producer_count() - 1); }

 private:
  explicit FlowRegion(SharedMemoryFile file) : file_(std::move(file)) {}
  SharedMemoryFile file_;
};

}  // namespace np::flows
