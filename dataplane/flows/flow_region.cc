#include "dataplane/flows/flow_region.h"

#include "common/shm_region.h"  // RealtimeNanoseconds

namespace np::flows {

Result<FlowRegion> FlowRegion::Create(const std::string& instance, uint32_t producer_count) {
  if (producer_count == 0 || producer_count > kMaxProducers)
    return MakeError("flow records: " + std::to_string(producer_count) + " producers, expected 1 to " +
                     std::to_string(kMaxProducers));
  const std::string name = ShmName(instance, "flows");
  SharedMemoryFile::Remove(name);  // records from a previous run are not this run's flows
  bool created = false;
  auto file = SharedMemoryFile::OpenOrCreate(name, sizeof(FlowsHeader), &created);
  if (!file) return file.error();
  // The new file is zero-filled: write only the header fields, so that the
  // rings' pages stay unallocated until a producer uses them.
  auto& header = *reinterpret_cast<FlowsHeader*>(file->data());
  header.boot_epoch = RealtimeNanoseconds();
  header.version_major = kFlowsVersionMajor;
  header.version_minor = kFlowsVersionMinor;
  header.producer_count = producer_count;
  header.ring_records = kRingRecords;
  // The magic last: a consumer that sees it sees the rest.
  std::atomic_thread_fence(std::memory_order_release);
  header.magic = kFlowsMagic;
  return FlowRegion(std::move(file).value());
}

Result<FlowRegion> FlowRegion::Open(const std::string& instance) {
  auto file = SharedMemoryFile::Open(ShmName(instance, "flows"), true);
  if (!file) return file.error();
  if (file->size() < sizeof(FlowsHeader)) return MakeError("flows region " + file->name() + " is truncated");
  const auto& header = *reinterpret_cast<const FlowsHeader*>(file->data());
  if (header.magic != kFlowsMagic) return MakeError("flows region " + file->name() + " is not initialised");
  if (header.version_major != kFlowsVersionMajor)
    return MakeError("flows region " + file->name() + " has version " + std::to_string(header.version_major) +
                     ", this build reads " + std::to_string(kFlowsVersionMajor));
  if (header.producer_count == 0 || header.producer_count > kMaxProducers || header.ring_records != kRingRecords)
    return MakeError("flows region " + file->name() + " has an invalid header");
  return FlowRegion(std::move(file).value());
}

}  // namespace np::flows
