// Loading Kubernetes manifests as `kubectl get -o yaml` (or -o json) writes
// them: multi-document YAML files, `kind: List`, whole directories.
//
// A bad object never stops the others: the result holds every object that
// decoded cleanly, one LoadFailure per rejected object or document, and the
// warnings (unknown fields). See MergeKeepingLastGood() to keep serving the
// previous version of a rejected object.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "control/k8s/cluster_state.h"

namespace np::k8s {

// Adds the objects of one file's contents to `result`; `file_name` is what
// messages (and ObjectMeta::source_file) call the file.
void LoadManifestText(std::string_view text, const std::string& file_name, LoadResult& result);

// One file; messages name it by `display_name` (default: the path as given).
void LoadManifestFile(const std::filesystem::path& path, LoadResult& result,
                      const std::string& display_name = "");

// The *.yaml, *.yml and *.json files directly inside `directory`, in name
// order; an Error when the directory cannot be listed.
Result<std::vector<std::filesystem::path>> ListManifestFiles(const std::filesystem::path& directory);

// Every *.yaml, *.yml and *.json file directly inside `directory`, in name
// order; messages name files relative to the directory. An Error only when
// the directory itself cannot be listed (then keep the previous state).
Result<LoadResult> LoadManifestDirectory(const std::filesystem::path& directory);

}  // namespace np::k8s
