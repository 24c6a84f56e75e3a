// The control record: a small text file, /run/nodeplane/<instance>.control,
// through which nodeplane-control tells npctl where its inputs are and what
// its last reload did. `npctl apply/delete -f` read it to find the
// manifests directory to write to, the pid to nudge (SIGHUP: reload now)
// and, after their change, the reload that picked it up (its errors, the
// generations it published) before they wait for the dataplane.
//
// Format: "key=value" lines ("#" comments), written whole to a temporary
// file and renamed over the record (readers never see half of it):
//   pid=1234
//   instance=default
//   node_config=/etc/nodeplane/node.yaml          absolute paths
//   manifests=/etc/nodeplane/manifests
//   metrics=0.0.0.0:10249                         empty: no metrics
//   started_ns=...                                CLOCK_REALTIME
//   reload_seq=7                                  reloads so far (0: none yet)
//   reload_started_ns=... / reload_finished_ns=...
//   generation.node=3 / generation.services=12    last generation per section after the reload
//   published=services                            sections that reload published (comma separated)
//   error=<one line>                              repeated; the reload's load errors
//   warning=<one line>                            repeated
// Unknown keys are ignored (newer writers may add some).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace np::daemon {

inline constexpr const char* kDefaultRunDir = "/run/nodeplane";

struct ControlRecord {
  pid_t pid = 0;
  std::string instance;
  std::string node_config;
  std::string manifests;
  std::string metrics;
  uint64_t started_ns = 0;
  uint64_t reload_seq = 0;
  uint64_t reload_started_ns = 0;
  uint64_t reload_finished_ns = 0;
  std::map<std::string, uint64_t> generations;  // section name -> last generation
  std::vector<std::string> published;           // sections the last reload published
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

std::filesystem::path ControlRecordPath(const std::filesystem::path& run_dir, const std::string& instance);

std::string FormatControlRecord(const ControlRecord& record);
Result<ControlRecord> ParseControlRecord(const std::string& text);

// Creates the directory when needed; atomic (temporary file + rename).
Status WriteControlRecord(const std::filesystem::path& path, const ControlRecord& record);
Result<ControlRecord> ReadControlRecord(const std::filesystem::path& path);
// Removes the record if it is still this pid's (a newer control plane may
// have replaced it).
void RemoveControlRecord(const std::filesystem::path& path, pid_t pid);

}  // namespace np::daemon
