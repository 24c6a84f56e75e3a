// Wall-clock time of one stage of a reload (parse, compile, publish).
#pragma once

#include <chrono>

namespace np::daemon {

class StageTimer {
 public:
  double ElapsedMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace np::daemon
