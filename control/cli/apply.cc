#include "control/cli/apply.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "control/daemon/control_record.h"

namespace np::cli {
namespace {

namespace fs = std::filesystem;
using daemon::ControlRecord;

constexpr auto& kSections = abi::kPublishedSections;


bool IsManifest(const fs::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

Result<std::string> ReadWhole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status WriteAtomically(const fs::path& directory, const std::string& name, const std::string& content) {
  // Not a manifest extension: the control plane ignores it until renamed.
  const fs::path temporary = directory / ("." + name + ".npctl-tmp." + std::to_string(getpid()));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      return MakeError("cannot write " + temporary.string());
    }
  }
  std::error_code error;
  fs::rename(temporary, directory / name, error);
  if (error) {
    fs::remove(temporary, error);
    return MakeError("cannot rename into " + (directory / name).string());
  }
  return Ok{};
}

uint64_t MonotonicNs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
}

std::string Milliseconds(uint64_t ns) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f ms", static_cast<double>(ns) / 1e6);
  return text;
}

ManifestOutcome Failure(ManifestOutcome outcome, const std::string& message) {
  outcome.exit_code = 1;
  outcome.err += "error: " + message + "\n";
  return outcome;
}

}  // namespace

std::string ManagedName(const fs::path& source) { return "npctl-" + source.filename().string(); }

Result<std::vector<fs::path>> ExpandManifestPaths(const std::vector<fs::path>& paths) {
  std::vector<fs::path> files;
  for (const fs::path& path : paths) {
    std::error_code error;
    if (fs::is_directory(path, error)) {
      std::vector<fs::path> inside;
      for (const fs::directory_entry& entry : fs::directory_iterator(path, error))
        if (entry.is_regular_file() && IsManifest(entry.path())) inside.push_back(entry.path());
      if (error) return MakeError("cannot list " + path.string() + ": " + error.message());
      if (inside.empty()) return MakeError(path.string() + " holds no *.yaml, *.yml or *.json file");
      std::sort(inside.begin(), inside.end());
      files.insert(files.end(), inside.begin(), inside.end());
    } else if (fs::is_regular_file(path, error)) {
      if (!IsManifest(path))
        return MakeError(path.string() + ": not a manifest (the control plane reads *.yaml, *.yml and *.json)");
      files.push_back(path);
    } else {
      return MakeError(path.string() + ": no such file or directory");
    }
  }
  std::set<std::string> names;
  for (const fs::path& file : files)
    if (!names.insert(file.filename().string()).second)
      return MakeError("two files are named " + file.filename().string() +
                       ": their copies would overwrite each other");
  return files;
}

ManifestOutcome RunManifestCommand(const ManifestRequest& request, const TablesRegion& region) {
  ManifestOutcome outcome;
  const uint64_t started = MonotonicNs();
  const fs::path record_path = daemon::ControlRecordPath(request.run_dir, request.instance);
  Result<ControlRecord> record = daemon::ReadControlRecord(record_path);
  if (!record)
    return Failure(outcome, "nodeplane-control of instance " + request.instance + " is not running (" +
                                record.error().message + ")");
  auto alive = request.alive ? request.alive : [](pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; };
  auto nudge = request.nudge ? request.nudge : [](pid_t pid) { return kill(pid, SIGHUP) == 0; };
  if (!alive(record->pid))
    return Failure(outcome, "nodeplane-control (pid " + std::to_string(record->pid) + ", " + record_path.string() +
                                ") is not running: nothing would apply the change");
  const fs::path directory = record->manifests;
  if (!fs::is_directory(directory))
    return Failure(outcome, "the manifests directory " + directory.string() + " does not exist");

  Result<std::vector<fs::path>> files = ExpandManifestPaths(request.paths);
  if (!files) return Failure(outcome, files.error().message);

  // Change the directory.
  std::map<abi::SectionKind, uint64_t> before;
  for (abi::SectionKind kind : kSections) before[kind] = region.PublishedGeneration(kind);
  std::set<std::string> touched;  // names in the directory, to match the reload's errors
  std::map<std::string, std::optional<std::string>> previous;  // apply: what each copy replaced
  if (request.verb == ManifestVerb::kApply) {
    std::vector<std::pair<std::string, std::string>> copies;  // checked whole before writing any
    for (const fs::path& file : *files) {
      Result<std::string> content = ReadWhole(file);
      if (!content) return Failure(outcome, content.error().message);
      copies.emplace_back(ManagedName(file), std::move(content).value());
    }
    for (const auto& [name, content] : copies) {
      Result<std::string> existing = ReadWhole(directory / name);
      const char* verdict = !existing ? "created" : *existing == content ? "unchanged" : "configured";
      previous[name] = existing ? std::optional<std::string>(*existing) : std::nullopt;
      if (Status written = WriteAtomically(directory, name, content); !written)
        return Failure(outcome, written.error().message);
      outcome.out += name + ": " + verdict + "\n";
      touched.insert(name);
    }
  } else {
    std::vector<fs::path> targets;
    for (const fs::path& file : *files) {
      const std::string name = ManagedName(file);
      std::error_code error;
      if (fs::exists(directory / name, error)) {
        targets.push_back(directory / name);
        continue;
      }
      // Not applied by npctl: the same file put there by other means.
      Result<std::string> content = ReadWhole(file);
      Result<std::string> existing = ReadWhole(directory / file.filename());
      if (content && existing && *existing == *content) {
        targets.push_back(directory / file.filename());
        continue;
      }
      outcome.err += "warning: " + file.string() + " is not applied (no " + name + " in " + directory.string() +
                     "): skipped\n";
    }
    if (targets.empty()) return Failure(outcome, "nothing to delete: none of these files is applied");
    for (const fs::path& target : targets) {
      std::error_code error;
      if (!fs::remove(target, error) || error)
        return Failure(outcome, "cannot remove " + target.string() + ": " + error.message());
      outcome.out += target.filename().string() + ": deleted\n";
      touched.insert(target.filename().string());
    }
  }

  // A reload that starts after this point has read the change.
  const uint64_t changed_at = RealtimeNanoseconds();
  if (!nudge(record->pid))
    outcome.err += "warning: could not signal nodeplane-control (pid " + std::to_string(record->pid) +
                   "); waiting for its next poll\n";
  const uint64_t deadline = started + static_cast<uint64_t>(request.timeout.count()) * 1'000'000ull;
  for (;;) {
    record = daemon::ReadControlRecord(record_path);
    if (record && record->reload_started_ns >= changed_at && record->reload_finished_ns >= record->reload_started_ns)
      break;
    if (MonotonicNs() > deadline)
      return Failure(outcome, "nodeplane-control did not reload within " + Milliseconds(deadline - started));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }

  // Load errors of the files we touched: their objects were not taken.
  bool rejected = false;
  for (const std::string& error : record->errors) {
    const bool ours = std::any_of(touched.begin(), touched.end(),
                                  [&](const std::string& name) { return error.find(name) != std::string::npos; });
    if (ours) {
      outcome.err += "error: " + error + "\n";
      rejected = true;
    }
  }
  if (rejected) {
    outcome.exit_code = 1;
    outcome.err += "error: the control plane kept the previous version of these objects";
    if (request.verb == ManifestVerb::kApply) {
      // Put the directory back as it was, so that the bad copies do not
      // linger and fail every later reload.
      for (const auto& [name, content] : previous) {
        std::error_code ignored;
        if (content) (void)WriteAtomically(directory, name, *content);
        else fs::remove(directory / name, ignored);
      }
      nudge(record->pid);
      outcome.err += "; the copies were withdrawn";
    }
    outcome.err += "\n";
    return outcome;
  }

  // The dataplane applies (or refuses) every generation that reload left.
  std::string generations;
  bool changed = false;
  for (abi::SectionKind kind : kSections) {
    auto found = record->generations.find(abi::SectionKindName(kind));
    if (found == record->generations.end() || found->second == 0) continue;
    const uint64_t generation = found->second;
    changed |= generation > before[kind];
    for (;;) {
      if (region.AppliedGeneration(kind) >= generation) break;
      if (region.RefusedGeneration(kind) >= generation)
        return Failure(outcome, "the dataplane refused " + std::string(abi::SectionKindName(kind)) + " generation " +
                                    std::to_string(region.RefusedGeneration(kind)) + ": " +
                                    region.RefusalReason(kind));
      if (MonotonicNs() > deadline)
        return Failure(outcome, "the dataplane did not apply " + std::string(abi::SectionKindName(kind)) + " generation " +
                                    std::to_string(generation) + " within " + Milliseconds(deadline - started) +
                                    " (is nodeplane-dataplane running?)");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (generation > before[kind])
      generations += std::string(generations.empty() ? "" : ", ") + abi::SectionKindName(kind) + " generation " +
                     std::to_string(generation);
  }
  const std::string took = Milliseconds(MonotonicNs() - started);
  if (changed) outcome.out += "applied in " + took + " (" + generations + ")\n";
  else outcome.out += "unchanged: the dataplane already holds these tables (checked in " + took + ")\n";
  return outcome;
}

}  // namespace np::cli
