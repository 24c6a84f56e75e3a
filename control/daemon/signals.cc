#include "control/daemon/signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace np::daemon {

Result<TerminationSignals> TerminationSignals::Install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return MakeError("cannot block SIGINT/SIGTERM/SIGHUP");
  const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return MakeError(std::string("signalfd: ") + std::strerror(errno));
  return TerminationSignals(fd);
}

TerminationSignals::~TerminationSignals() {
  if (fd_ >= 0) close(fd_);
}

Wake TerminationSignals::Wait(int timeout_ms) const {
  pollfd descriptor{fd_, POLLIN, 0};
  if (poll(&descriptor, 1, timeout_ms) <= 0) return Wake::kTimeout;
  signalfd_siginfo info{};
  if (read(fd_, &info, sizeof(info)) != static_cast<ssize_t>(sizeof(info))) return Wake::kTimeout;
  return info.ssi_signo == SIGHUP ? Wake::kReload : Wake::kTerminate;
}

}  // namespace np::daemon
