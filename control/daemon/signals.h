// SIGINT/SIGTERM delivered through a signalfd owned by main(): no global
// flag, and the wait doubles as the daemon's poll interval.
#pragma once

#include "common/result.h"

namespace np::daemon {

class TerminationSignals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
  // it starts afterwards) and opens a signalfd for them.
  static Result<TerminationSignals> Install();
  TerminationSignals(TerminationSignals&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  TerminationSignals& operator=(TerminationSignals&&) = delete;
  ~TerminationSignals();

  // Waits up to `timeout_ms`; true when termination was requested.
  bool Wait(int timeout_ms) const;

 private:
  explicit TerminationSignals(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace np::daemon
