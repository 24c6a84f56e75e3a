// SIGINT/SIGTERM (stop) and SIGHUP (reload the inputs now) delivered through
// a signalfd owned by main(): no global flag, and the wait doubles as the
// daemon's poll interval. `npctl apply/delete` send SIGHUP so that a change
// is picked up at once instead of at the next poll.
#pragma once

#include "common/result.h"

namespace np::daemon {

enum class Wake { kTimeout, kTerminate, kReload };

class TerminationSignals {
 public:
  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every
  // thread it starts afterwards) and opens a signalfd for them.
  static Result<TerminationSignals> Install();
  TerminationSignals(TerminationSignals&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  TerminationSignals& operator=(TerminationSignals&&) = delete;
  ~TerminationSignals();

  // Waits up to `timeout_ms` for a signal.
  Wake Wait(int timeout_ms) const;

 private:
  explicit TerminationSignals(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace np::daemon
