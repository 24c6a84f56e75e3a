#include "control/k8s/manifest_cache.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>
#include <vector>

#include "control/k8s/loader.h"

namespace np::k8s {
namespace {

// Appends one file's result to the directory's, as if the single-pass loader
// had read the file after the ones already merged.
void MergeFile(const std::string& file_name, const LoadResult& file, LoadResult& into) {
  for (const auto& [key, source] : file.state.Inventory()) {
    if (into.state.Contains(key)) {
      std::string first_file;
      for (const auto& [other, other_file] : into.state.Inventory())
        if (other == key) first_file = other_file;
      into.failures.push_back({file_name, key,
                               {file_name + ": " + key.ToString() + ": defined twice (first in " + first_file +
                                "); this definition is ignored"}});
      continue;
    }
    into.state.CopyObject(key, file.state);
  }
  into.failures.insert(into.failures.end(), file.failures.begin(), file.failures.end());
  into.warnings.insert(into.warnings.end(), file.warnings.begin(), file.warnings.end());
}

}  // namespace

LoadResult ManifestDirectoryCache::LoadLastGood() const {
  std::error_code ignored;
  if (last_good_directory_.empty() || !std::filesystem::is_directory(last_good_directory_, ignored)) return {};
  Result<LoadResult> loaded = LoadManifestDirectory(last_good_directory_);
  return loaded ? std::move(loaded).value() : LoadResult{};
}

// Written whole to a temporary file and renamed: a crash leaves the old copy or the new one.
void ManifestDirectoryCache::SaveLastGood(const std::string& name, const std::string& text, CachedFile& file) const {
  if (last_good_directory_.empty()) return;
  std::error_code error;
  std::filesystem::create_directories(last_good_directory_, error);
  std::filesystem::path temporary = last_good_directory_ / name;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return;
  }
  std::filesystem::rename(temporary, last_good_directory_ / name, error);
  file.saved_as_last_good = !error;
}

void ManifestDirectoryCache::ForgetLastGood(const std::string& name) const {
  if (last_good_directory_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove(last_good_directory_ / name, ignored);
}

Result<LoadResult> ManifestDirectoryCache::Load(const std::filesystem::path& directory) {
  Result<std::vector<std::filesystem::path>> files = ListManifestFiles(directory);
  if (!files) return files.error();

  files_parsed_ = 0;
  std::map<std::string, CachedFile> current;
  LoadResult merged;
  for (const std::filesystem::path& path : *files) {
    const std::string name = path.filename().string();
    std::ifstream in(path, std::ios::binary);
    std::ostringstream bytes;
    if (in) bytes << in.rdbuf();
    CachedFile file;
    if (!in || in.bad()) {
      file.result.failures.push_back({name, std::nullopt, {name + ": cannot read the file"}});
    } else {
      const std::string text = bytes.str();
      file.content_hash = std::hash<std::string_view>{}(text);
      file.content_size = text.size();
      auto cached = files_.find(name);
      if (cached != files_.end() && cached->second.content_hash == file.content_hash &&
          cached->second.content_size == file.content_size) {
        file.result = std::move(cached->second.result);
        file.saved_as_last_good = cached->second.saved_as_last_good;
      } else {
        LoadManifestText(text, name, file.result);
        ++files_parsed_;
      }
      if (file.result.failures.empty() && !file.saved_as_last_good) SaveLastGood(name, text, file);
    }
    MergeFile(name, file.result, merged);
    current.emplace(name, std::move(file));
  }
  for (const auto& [name, file] : files_)
    if (!current.count(name)) ForgetLastGood(name);  // the file is gone, and its objects with it
  files_ = std::move(current);
  return merged;
}

}  // namespace np::k8s
