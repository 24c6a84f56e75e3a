// Notices changes of the daemon's inputs by polling: the node config file
// and the manifests directory (file list, sizes, mtimes). Polling every few
// hundred ms is cheap at these sizes and, unlike inotify, also follows
// ConfigMap volumes whose ..data symlink is swapped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

namespace np::daemon {

struct FileStamp {
  std::string name;
  int64_t mtime_ns = -1;  // -1: missing or unreadable
  int64_t size = -1;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// Stamps of `node_config` and of the manifest files directly inside
// `manifests` (*.yaml, *.yml, *.json, the files the loader reads), sorted.
std::vector<FileStamp> StampInputs(const std::filesystem::path& node_config, const std::filesystem::path& manifests);

class InputWatch {
 public:
  InputWatch(std::filesystem::path node_config, std::filesystem::path manifests)
      : node_config_(std::move(node_config)), manifests_(std::move(manifests)) {}
  // True when the inputs differ from the previous call (the first call
  // records them and returns true).
  bool Changed();

 private:
  std::filesystem::path node_config_;
  std::filesystem::path manifests_;
  bool first_ = true;
  std::vector<FileStamp> last_;
};

}  // namespace np::daemon
