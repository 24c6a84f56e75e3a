// Aligned heap memory standing in for the shared-memory file in tests.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>

namespace np::ct::testing {

struct FreeDeleter {
  void operator()(void* memory) const { std::free(memory); }
};

class TestMemory {
 public:
  explicit TestMemory(size_t size)
      : size_((size + 63) / 64 * 64),
        memory_(std::aligned_alloc(64, size_)) {
    std::memset(memory_.get(), 0xa5, size_);  // garbage, as a fresh file might hold
  }
  void* data() const { return memory_.get(); }
  size_t size() const { return size_; }

 private:
  size_t size_;
  std::unique_ptr<void, FreeDeleter> memory_;
};

}  // namespace np::ct::testing
