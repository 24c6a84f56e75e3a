// A POSIX shared-memory file mapped into this process. DPDK's own
// multi-process memory does not work under --no-huge/--in-memory, so the
// control plane, the dataplane and the CLI share memory through these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace np {

class SharedMemoryFile {
 public:
  SharedMemoryFile() = default;
  SharedMemoryFile(SharedMemoryFile&& other) noexcept;
  SharedMemoryFile& operator=(SharedMemoryFile&& other) noexcept;
  SharedMemoryFile(const SharedMemoryFile&) = delete;
  SharedMemoryFile& operator=(const SharedMemoryFile&) = delete;
  ~SharedMemoryFile();

  // Opens `name` (e.g. "/nodeplane.default.tables"), creating it with `size`
  // zero bytes when it does not exist. `created` tells which happened.
  static Result<SharedMemoryFile> OpenOrCreate(const std::string& name, size_t size, bool* created);
  static Result<SharedMemoryFile> Open(const std::string& name, bool writable);
  static void Remove(const std::string& name);

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// "/nodeplane.<instance>.<what>": one instance per dataplane on a machine.
std::string ShmName(const std::string& instance, const std::string& what);

}  // namespace np
