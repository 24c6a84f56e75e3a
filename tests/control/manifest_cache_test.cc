// nodeplane-control's manifest cache (control/k8s/manifest_cache.h): a
// reload parses only the files whose bytes changed, and the result is the
// one the single-pass LoadManifestDirectory gives for the same files.
#include "control/k8s/manifest_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "control/k8s/loader.h"

namespace np::k8s {
namespace {

namespace fs = std::filesystem;

class ScratchDirectory {
 public:
  ScratchDirectory() : path_(fs::temp_directory_path() / ("np-manifest-cache-" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDirectory() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void Write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  fs::path path_;
};

std::string ServiceYaml(const std::string& name, const std::string& cluster_ip) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: default\nspec:\n  clusterIP: " + cluster_ip + "\n  ports:\n  - name: http\n    port: 80\n";
}

std::vector<std::string> Describe(const LoadResult& result) {
  // Appended piece by piece (GCC 12's -Wrestrict misfires on chained string +).
  auto line = [](std::initializer_list<std::string_view> parts) {
    std::string text;
    for (std::string_view part : parts) text.append(part);
    return text;
  };
  std::vector<std::string> lines;
  for (const auto& [key, file] : result.state.Inventory()) lines.push_back(line({"object ", key.ToString(), " from ", file}));
  for (const LoadFailure& failure : result.failures)
    for (const std::string& message : failure.messages)
      lines.push_back(line({"failure ", failure.object ? failure.object->ToString() : "?", ": ", message}));
  for (const std::string& warning : result.warnings) lines.push_back(line({"warning ", warning}));
  std::sort(lines.begin(), lines.end());
  return lines;
}

void ExpectSameAsSinglePass(ManifestDirectoryCache& cache, const fs::path& directory) {
  Result<LoadResult> cached = cache.Load(directory);
  Result<LoadResult> single_pass = LoadManifestDirectory(directory);
  ASSERT_TRUE(cached.ok() && single_pass.ok());
  EXPECT_EQ(Describe(*cached), Describe(*single_pass));
  EXPECT_EQ(cached->state.services.size(), single_pass->state.services.size());
  for (const auto& [id, service] : single_pass->state.services) {
    ASSERT_TRUE(cached->state.services.count(id)) << id.ToString();
    EXPECT_EQ(cached->state.services.at(id).cluster_ips.size(), service.cluster_ips.size());
  }
}

TEST(ManifestCache, AReloadParsesOnlyTheFilesWhoseBytesChanged) {
  ScratchDirectory dir;
  for (int i = 0; i < 5; ++i) {
    const std::string index = std::to_string(i);
    std::string address = "10.96.0.";
    address += std::to_string(10 + i);
    dir.Write("svc-" + index + ".yaml", ServiceYaml("s" + index, address));
  }
  ManifestDirectoryCache cache;
  ExpectSameAsSinglePass(cache, dir.path());
  EXPECT_EQ(cache.files_parsed(), 5u);
  ExpectSameAsSinglePass(cache, dir.path());
  EXPECT_EQ(cache.files_parsed(), 0u);
  dir.Write("svc-3.yaml", ServiceYaml("s3", "10.96.0.99"));
  Result<LoadResult> changed = cache.Load(dir.path());
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(cache.files_parsed(), 1u);
  ASSERT_EQ(changed->state.services.at({"default", "s3"}).cluster_ips.size(), 1u);
  EXPECT_EQ(changed->state.services.at({"default", "s3"}).cluster_ips[0].ToString(), "10.96.0.99");
}

TEST(ManifestCache, GivesTheSinglePassResultForDuplicatesBrokenFilesAndRemovals) {
  ScratchDirectory dir;
  dir.Write("a.yaml", ServiceYaml("dup", "10.96.0.10"));
  dir.Write("b.yaml", ServiceYaml("dup", "10.96.0.11") + "---\n" + ServiceYaml("other", "10.96.0.12"));
  dir.Write("c.yaml", "kind: [unterminated\n");
  dir.Write("d.yml", ServiceYaml("bad-ip", "not-an-ip"));
  dir.Write("ignored.txt", ServiceYaml("txt", "10.96.0.13"));
  ManifestDirectoryCache cache;
  ExpectSameAsSinglePass(cache, dir.path());
  fs::remove(dir.path() / "a.yaml");  // b's definition is now the only one
  ExpectSameAsSinglePass(cache, dir.path());
  dir.Write("a.yaml", ServiceYaml("dup", "10.96.0.10"));
  ExpectSameAsSinglePass(cache, dir.path());
}

TEST(ManifestCache, AnUnlistableDirectoryIsAnError) {
  ManifestDirectoryCache cache;
  Result<LoadResult> loaded = cache.Load("/nonexistent/np-manifests");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("cannot list the directory"), std::string::npos);
}

}  // namespace
}  // namespace np::k8s
