// Runs the control plane's watch loop (RunWatch) in a thread against a real
// tables region, with a FakeDataplane applying what it publishes: what
// nodeplane-control does, minus the process. The wait adapter stands in for
// the signalfd: Reload() plays SIGHUP, the destructor SIGTERM.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/daemon/control_record.h"
#include "control/daemon/daemon.h"
#include "tests/control_daemon/test_support.h"

namespace np::testing {

class FakeWake {
 public:
  daemon::Wake Wait(int timeout_ms) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return stop_ || reload_; });
    if (stop_) return daemon::Wake::kTerminate;
    if (reload_) {
      reload_ = false;
      ++reloads_;
      return daemon::Wake::kReload;
    }
    return daemon::Wake::kTimeout;
  }
  void Reload() {
    std::lock_guard lock(mutex_);
    reload_ = true;
    changed_.notify_all();
  }
  void Stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }
  int reloads() {
    std::lock_guard lock(mutex_);
    return reloads_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false, reload_ = false;
  int reloads_ = 0;
};

// Fixture cluster + node config in a scratch directory, a region, a fake
// dataplane, and RunWatch in a thread (polling its inputs only every
// `poll_interval_ms`: a test that wants a prompt reload must nudge it).
class WatchHarness {
 public:
  explicit WatchHarness(FakeDataplane::Verdict verdict = {}, int poll_interval_ms = 60000) {
    std::filesystem::create_directory(manifests());
    for (const auto& entry : std::filesystem::directory_iterator(NP_CONTROL_FIXTURES "/cluster"))
      std::filesystem::copy_file(entry.path(), manifests() / entry.path().filename());
    std::filesystem::copy_file(NP_CONTROL_FIXTURES "/node-a.yaml", node_config());
    region_.emplace(std::move(TablesRegion::OpenOrCreate(instance_.name(), DefaultRegionLayout())).value());
    dataplane_.emplace(instance_.name(), std::move(verdict));
    options_.node_config = node_config().string();
    options_.manifests = manifests().string();
    options_.instance = instance_.name();
    options_.healthz = false;
    options_.metrics = true;
    options_.metrics_address = "127.0.0.1";
    options_.metrics_port = 0;  // any free port: the control record says which
    options_.run_dir = run_dir().string();
    options_.poll_interval_ms = poll_interval_ms;
  }
  ~WatchHarness() { Stop(); }

  void Start(daemon::DataplaneCollector collector = {}) {
    const daemon::PipelineInputs inputs{node_config(), manifests(), EveryDeviceExists()};
    thread_ = std::thread([this, inputs, collector] {
      exit_code_ = daemon::RunWatch(
          options_, inputs, [this](int timeout_ms) { return wake_.Wait(timeout_ms); }, collector,
          [this](const std::string& line) {
            std::lock_guard lock(log_mutex_);
            log_.push_back(line);
          });
    });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    wake_.Stop();
    thread_.join();
  }

  // The control record once the first reload is recorded and applied.
  std::optional<daemon::ControlRecord> WaitStarted() {
    for (int i = 0; i < 2000; ++i) {
      Result<daemon::ControlRecord> record = daemon::ReadControlRecord(record_path());
      if (record && record->reload_seq >= 1 && region().AppliedGeneration(abi::SectionKind::kServices) >= 1 &&
          region().AppliedGeneration(abi::SectionKind::kNode) >= 1)
        return std::move(record).value();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }

  std::filesystem::path manifests() const { return scratch_.path() / "manifests"; }
  std::filesystem::path node_config() const { return scratch_.path() / "node.yaml"; }
  std::filesystem::path run_dir() const { return scratch_.path() / "run"; }
  std::filesystem::path scratch() const { return scratch_.path(); }
  std::filesystem::path record_path() const { return daemon::ControlRecordPath(run_dir(), instance_.name()); }
  const std::string& instance() const { return instance_.name(); }
  TablesRegion& region() { return *region_; }
  FakeWake& wake() { return wake_; }
  int exit_code() const { return exit_code_; }
  std::vector<std::string> log() {
    std::lock_guard lock(log_mutex_);
    return log_;
  }

 private:
  UniqueInstance instance_;
  ScratchDirectory scratch_;
  std::optional<TablesRegion> region_;
  std::optional<FakeDataplane> dataplane_;
  daemon::DaemonOptions options_;
  FakeWake wake_;
  std::thread thread_;
  int exit_code_ = -1;
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

}  // namespace np::testing
