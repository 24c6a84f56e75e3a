// LoadManifestDirectory for a process that reloads the same directory again
// and again (nodeplane-control): each file's load result is kept with a
// hash of its bytes, and a reload parses only the files whose bytes
// changed. Parsing is nearly all of a reload's cost at scale (1000 Services
// with their EndpointSlices: ~600 ms of YAML), while an update usually
// touches one file.
//
// The result is the one LoadManifestDirectory gives for the same files:
// files merge in name order, and an object already defined by an earlier
// file is refused as "defined twice" like the single-pass loader does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/result.h"
#include "control/k8s/cluster_state.h"

namespace np::k8s {

class ManifestDirectoryCache {
 public:
  // Where to keep a copy of each file's last version that loaded without a
  // failure (empty: nowhere). A restarted control plane loads these copies
  // as its "previous" objects (LoadLastGood), so an object that is broken in
  // the files when it starts keeps its last good version, as it would have
  // in the process that saw that version.
  void KeepLastGoodCopiesIn(std::filesystem::path directory) { last_good_directory_ = std::move(directory); }
  // The objects of those copies (an empty state when there are none).
  LoadResult LoadLastGood() const;

  Result<LoadResult> Load(const std::filesystem::path& directory);

  // Files parsed (not taken from the cache) by the last Load().
  size_t files_parsed() const { return files_parsed_; }

 private:
  struct CachedFile {
    uint64_t content_hash = 0;
    size_t content_size = 0;
    bool saved_as_last_good = false;
    LoadResult result;
  };
  void SaveLastGood(const std::string& name, const std::string& text, CachedFile& file) const;
  void ForgetLastGood(const std::string& name) const;

  std::filesystem::path last_good_directory_;
  std::map<std::string, CachedFile> files_;  // by file name
  size_t files_parsed_ = 0;
};

}  // namespace np::k8s
