// npctl apply -f FILE|DIR / delete -f FILE|DIR.
//
// nodeplane-control watches a manifests directory; its control record
// (control/daemon/control_record.h, /run/nodeplane/<instance>.control)
// tells npctl where it is. apply copies each manifest into it as
// "npctl-<name>" (temporary file + rename: the control plane never reads
// half a file), delete removes those copies (or a file of the same name and
// identical content put there by other means). Then npctl nudges the
// control plane (SIGHUP: reload now), waits for a reload that started after
// the change, reports its load errors for these files, and waits until the
// dataplane applied every section generation that reload left (or reports
// the refusal reason), printing how long it all took.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/shm_region.h"

namespace np::cli {

enum class ManifestVerb { kApply, kDelete };

struct ManifestRequest {
  ManifestVerb verb = ManifestVerb::kApply;
  std::vector<std::filesystem::path> paths;  // the -f arguments
  std::string instance = "default";
  std::filesystem::path run_dir = "/run/nodeplane";
  std::chrono::milliseconds timeout{30000};
  // Adapters (tests replace them): is the control plane alive, and ask it
  // to reload now. Defaults: kill(pid, 0) and kill(pid, SIGHUP).
  std::function<bool(pid_t)> alive;
  std::function<bool(pid_t)> nudge;
};

struct ManifestOutcome {
  int exit_code = 0;
  std::string out;  // per file "npctl-x.yaml: created", then "applied in 12.3 ms (...)"
  std::string err;
};

// The copy's name in the manifests directory.
std::string ManagedName(const std::filesystem::path& source);

// The manifest files a -f argument names: the file itself, or the *.yaml,
// *.yml, *.json files directly inside a directory (sorted).
Result<std::vector<std::filesystem::path>> ExpandManifestPaths(const std::vector<std::filesystem::path>& paths);

ManifestOutcome RunManifestCommand(const ManifestRequest& request, const TablesRegion& region);

}  // namespace np::cli
