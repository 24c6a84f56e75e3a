#include "dataplane/runtime/debug_region.h"

#include "common/shm_region.h"  // RealtimeNanoseconds

namespace np {

Result<DebugRegion> DebugRegion::Create(const std::string& instance, uint32_t worker_count) {
  if (worker_count == 0 || worker_count > debug::kMaxWorkers)
    return MakeError("debug region: " + std::to_string(worker_count) + " workers (1 to " +
                     std::to_string(debug::kMaxWorkers) + ")");
  const std::string name = ShmName(instance, "debug");
  SharedMemoryFile::Remove(name);  // a previous run's armed requests must not survive it
  bool created = false;
  auto file = SharedMemoryFile::OpenOrCreate(name, sizeof(debug::DebugHeader), &created);
  if (!file) return file.error();
  // A new file reads as zeros: nothing armed, every ring empty. Only the
  // first fields are written, so the ~9 MB of rings stay unbacked until a
  // trace or capture fills them (value-initialising the whole header would
  // touch every page).
  auto* header = reinterpret_cast<debug::DebugHeader*>(file->data());
  header->boot_epoch = RealtimeNanoseconds();
  header->worker_count = worker_count;
  header->version_major = debug::kDebugVersionMajor;
  header->version_minor = debug::kDebugVersionMinor;
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = debug::kDebugMagic;
  return DebugRegion(std::move(file).value());
}

Result<DebugRegion> DebugRegion::Open(const std::string& instance) {
  auto file = SharedMemoryFile::Open(ShmName(instance, "debug"), true);
  if (!file) return file.error();
  if (file->size() < sizeof(debug::DebugHeader)) return MakeError("debug region " + file->name() + " is truncated");
  const auto& header = *reinterpret_cast<const debug::DebugHeader*>(file->data());
  if (header.magic != debug::kDebugMagic || header.version_major != debug::kDebugVersionMajor)
    return MakeError("debug region " + file->name() + " has another format (a dataplane of another version?)");
  if (header.worker_count == 0 || header.worker_count > debug::kMaxWorkers)
    return MakeError("debug region " + file->name() + " names " + std::to_string(header.worker_count) + " workers");
  return DebugRegion(std::move(file).value());
}

}  // namespace np
