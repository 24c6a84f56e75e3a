// The EAL as the dataplane's in-process tests start it: in memory (no
// hugepages, no PCI, no shared runtime files), lcore 0 only, errors only in
// the log. `file_prefix` must be unique per process (tests run side by side):
// callers add their pid. The runtime directory the EAL still makes
// (/var/run/dpdk/<prefix>) is removed when the process exits, so test runs
// leave nothing behind.
#pragma once

#include <rte_eal.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace np::harness {

// rte_eal_init can run once per process: call it once (SetUpTestSuite, a
// function-local static, or main).
inline bool InitTestEal(const std::string& program, const std::string& file_prefix, int memory_mb = 256) {
  std::vector<std::string> args = {program, "--no-huge", "-m", std::to_string(memory_mb), "--no-pci", "--no-shconf",
                                   "--file-prefix", file_prefix, "-l", "0", "--log-level", "*:error"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) return false;
  static std::string runtime_dir;
  runtime_dir = rte_eal_get_runtime_dir();
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(runtime_dir, ignored);
  });
  return true;
}

}  // namespace np::harness
