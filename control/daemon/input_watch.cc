#include "control/daemon/input_watch.h"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

namespace np::daemon {
namespace {

FileStamp Stamp(const std::filesystem::path& path, std::string name) {
  FileStamp stamp{std::move(name)};
  struct stat info{};
  // stat() follows symlinks: a swapped ConfigMap ..data link changes the stamp.
  if (stat(path.c_str(), &info) == 0) {
    stamp.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
    stamp.size = static_cast<int64_t>(info.st_size);
  }
  return stamp;
}

bool IsManifest(const std::filesystem::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

}  // namespace

std::vector<FileStamp> StampInputs(const std::filesystem::path& node_config, const std::filesystem::path& manifests) {
  std::vector<FileStamp> stamps;
  stamps.push_back(Stamp(node_config, "node config"));
  stamps.push_back(Stamp(manifests, "manifests directory"));
  std::error_code error;
  std::vector<FileStamp> files;
  for (std::filesystem::directory_iterator it(manifests, error), end; !error && it != end; it.increment(error)) {
    if (IsManifest(it->path())) files.push_back(Stamp(it->path(), it->path().filename().string()));
  }
  std::sort(files.begin(), files.end(), [](const FileStamp& a, const FileStamp& b) { return a.name < b.name; });
  stamps.insert(stamps.end(), files.begin(), files.end());
  return stamps;
}

bool InputWatch::Changed() {
  std::vector<FileStamp> now = StampInputs(node_config_, manifests_);
  const bool changed = first_ || now != last_;
  first_ = false;
  last_ = std::move(now);
  return changed;
}

}  // namespace np::daemon
