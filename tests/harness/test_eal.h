// The EAL as the in-process dataplane's tests start it: in memory (no
// hugepages, no PCI, no shared runtime files), lcore 0 only, errors only in
// the log. `file_prefix` must be unique per process (tests run side by side):
// callers add their pid.
#pragma once

#include <rte_eal.h>

#include <string>
#include <vector>

namespace np::harness {

// rte_eal_init can run once per process: call it once (SetUpTestSuite, or a
// function-local static).
inline bool InitTestEal(const std::string& program, const std::string& file_prefix) {
  std::vector<std::string> args = {program, "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                                   "--file-prefix", file_prefix, "-l", "0", "--log-level", "*:error"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
}

}  // namespace np::harness
