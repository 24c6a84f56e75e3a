// npctl apply/delete -f against the real watch loop (RunWatch in a thread,
// nudged through the fake SIGHUP) and a fake dataplane: the copy lands in
// the manifests directory the control record names, the change is applied
// and timed, refusals and load errors are reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "control/cli/apply.h"
#include "control/cli/collect.h"
#include "control/daemon/control_record.h"
#include "tests/control_daemon/watch_harness.h"

namespace np::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using np::testing::WatchHarness;
using np::testing::ReadFile;
using np::testing::WriteFile;

std::string WebService(const std::string& name, const std::string& cluster_ip, const std::string& endpoint) {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\n  namespace: default\n  uid: 0f0f0f0f-0000-4000-8000-" + std::string(12 - std::min<size_t>(12, name.size()), '0') +
         name.substr(0, 12) +
         "\n  resourceVersion: \"7\"\nspec:\n  type: ClusterIP\n  clusterIP: " + cluster_ip + "\n  clusterIPs:\n  - " +
         cluster_ip +
         "\n  ipFamilies:\n  - IPv4\n  ipFamilyPolicy: SingleStack\n  ports:\n  - name: http\n    port: 80\n"
         "    protocol: TCP\n    targetPort: 8080\n  selector:\n    app: " +
         name +
         "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " + name +
         "-abcde\n  namespace: default\n  labels:\n    kubernetes.io/service-name: " + name +
         "\n  resourceVersion: \"8\"\naddressType: IPv4\nports:\n- name: http\n  port: 8080\n  protocol: TCP\n"
         "endpoints:\n- addresses:\n  - " +
         endpoint + "\n  conditions:\n    ready: true\n  nodeName: node-a\n";
}

bool HasServicePort(const TablesRegion& region, const std::string& name) {
  Result<ServicesImage> services = ReadPublishedServices(region);
  if (!services) return false;
  const auto& names = services->service_port_names;
  return std::find(names.begin(), names.end(), name) != names.end();
}

class ApplyTest : public ::testing::Test {
 protected:
  ManifestRequest Request(ManifestVerb verb, std::vector<std::filesystem::path> paths) {
    ManifestRequest request;
    request.verb = verb;
    request.paths = std::move(paths);
    request.instance = harness_->instance();
    request.run_dir = harness_->run_dir();
    request.timeout = std::chrono::milliseconds(10000);
    request.nudge = [this](pid_t) {
      ++nudges_;
      harness_->wake().Reload();
      return true;
    };
    return request;
  }
  void StartControl(np::testing::FakeDataplane::Verdict verdict = {}) {
    harness_.emplace(std::move(verdict));
    harness_->Start();
    ASSERT_TRUE(harness_->WaitStarted()) << "the control plane never published and got applied";
  }
  std::filesystem::path Source(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(harness_->scratch() / "src");
    const std::filesystem::path path = harness_->scratch() / "src" / name;
    WriteFile(path, text);
    return path;
  }

  std::optional<WatchHarness> harness_;
  int nudges_ = 0;
};

TEST_F(ApplyTest, ControlRecordNamesTheManifestsDirectory) {
  StartControl();
  Result<daemon::ControlRecord> record = daemon::ReadControlRecord(harness_->record_path());
  ASSERT_TRUE(record.ok()) << record.error().message;
  EXPECT_EQ(record->pid, getpid());
  EXPECT_EQ(record->manifests, harness_->manifests().string());
  EXPECT_EQ(record->node_config, harness_->node_config().string());
  EXPECT_EQ(record->instance, harness_->instance());
  EXPECT_THAT(record->metrics, MatchesRegex("127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_EQ(record->generations["services"], 1u);
  harness_->Stop();
  EXPECT_EQ(harness_->exit_code(), 0);
  EXPECT_FALSE(std::filesystem::exists(harness_->record_path())) << "a clean exit removes the record";
}

TEST_F(ApplyTest, ApplyCopiesWaitsForTheDataplaneAndDeleteRemoves) {
  StartControl();
  // A change reaches the dataplane as a full services section or a delta.
  auto services_applied = [&] {
    return harness_->region().AppliedGeneration(abi::SectionKind::kServices) +
           harness_->region().AppliedGeneration(abi::SectionKind::kServicesDelta);
  };
  const uint64_t before = services_applied();
  const auto source = Source("web.yaml", WebService("web", "10.96.20.20", "10.244.1.50"));

  ManifestOutcome applied = RunManifestCommand(Request(ManifestVerb::kApply, {source}), harness_->region());
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("npctl-web.yaml: created\n"));
  EXPECT_THAT(applied.out, ::testing::ContainsRegex("applied in [0-9]+\\.[0-9] ms \\(services(-delta)? generation [0-9]+\\)"));
  EXPECT_GE(nudges_, 1) << "apply must nudge the control plane";
  EXPECT_TRUE(std::filesystem::exists(harness_->manifests() / "npctl-web.yaml"));
  EXPECT_GT(services_applied(), before)
      << "apply returned before the dataplane applied the change";
  EXPECT_TRUE(HasServicePort(harness_->region(), "default/web:http"));

  // The same file again: nothing to publish.
  ManifestOutcome again = RunManifestCommand(Request(ManifestVerb::kApply, {source}), harness_->region());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("npctl-web.yaml: unchanged"));
  EXPECT_THAT(again.out, HasSubstr("unchanged: the dataplane already holds these tables"));

  const uint64_t with_web = services_applied();
  ManifestOutcome deleted = RunManifestCommand(Request(ManifestVerb::kDelete, {source}), harness_->region());
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, HasSubstr("npctl-web.yaml: deleted"));
  EXPECT_THAT(deleted.out, HasSubstr("applied in "));
  EXPECT_FALSE(std::filesystem::exists(harness_->manifests() / "npctl-web.yaml"));
  EXPECT_GT(services_applied(), with_web);
  EXPECT_FALSE(HasServicePort(harness_->region(), "default/web:http"));

  ManifestOutcome twice = RunManifestCommand(Request(ManifestVerb::kDelete, {source}), harness_->region());
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("is not applied"));
  EXPECT_THAT(twice.err, HasSubstr("nothing to delete"));
}

TEST_F(ApplyTest, AppliesEveryManifestOfADirectory) {
  StartControl();
  Source("a.yaml", WebService("web-a", "10.96.20.21", "10.244.1.51"));
  Source("b.yml", WebService("web-b", "10.96.20.22", "10.244.1.52"));
  Source("notes.txt", "not a manifest");
  ManifestOutcome applied =
      RunManifestCommand(Request(ManifestVerb::kApply, {harness_->scratch() / "src"}), harness_->region());
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_THAT(applied.out, HasSubstr("npctl-a.yaml: created"));
  EXPECT_THAT(applied.out, HasSubstr("npctl-b.yml: created"));
  EXPECT_FALSE(std::filesystem::exists(harness_->manifests() / "npctl-notes.txt"));
  EXPECT_TRUE(HasServicePort(harness_->region(), "default/web-a:http"));
  EXPECT_TRUE(HasServicePort(harness_->region(), "default/web-b:http"));

  ManifestOutcome one =
      RunManifestCommand(Request(ManifestVerb::kDelete, {harness_->scratch() / "src" / "a.yaml"}), harness_->region());
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_FALSE(HasServicePort(harness_->region(), "default/web-a:http"));
  EXPECT_TRUE(HasServicePort(harness_->region(), "default/web-b:http"));
  // The whole directory: a.yaml is gone already (skipped), b.yml is deleted.
  ManifestOutcome deleted =
      RunManifestCommand(Request(ManifestVerb::kDelete, {harness_->scratch() / "src"}), harness_->region());
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.err, HasSubstr("a.yaml is not applied"));
  EXPECT_THAT(deleted.out, HasSubstr("npctl-b.yml: deleted"));
  EXPECT_FALSE(HasServicePort(harness_->region(), "default/web-a:http"));
  EXPECT_FALSE(HasServicePort(harness_->region(), "default/web-b:http"));
}

TEST_F(ApplyTest, ReportsTheDataplanesRefusal) {
  StartControl([](abi::SectionKind kind, std::span<const uint8_t> image) -> std::string {
    // A change reaches the dataplane as a full services section or a delta.
    std::vector<std::string> names;
    if (kind == abi::SectionKind::kServices)
      names = DecodeServicesSection(image.data(), image.size(), nullptr)->service_port_names;
    if (kind == abi::SectionKind::kServicesDelta)
      names = DecodeServicesDeltaSection(image.data(), image.size(), nullptr)->changed.service_port_names;
    for (const std::string& name : names)
      if (name.find("refuse-me") != std::string::npos) return "test dataplane refuses " + name;
    return "";
  });
  const auto source = Source("refuse.yaml", WebService("refuse-me", "10.96.20.30", "10.244.1.60"));
  ManifestOutcome outcome = RunManifestCommand(Request(ManifestVerb::kApply, {source}), harness_->region());
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, ::testing::ContainsRegex("the dataplane refused services(-delta)? generation"));
  EXPECT_THAT(outcome.err, HasSubstr("test dataplane refuses default/refuse-me:http"));
}

TEST_F(ApplyTest, ReportsLoadErrorsOfTheAppliedFile) {
  StartControl();
  const auto source = Source("broken.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  ports: 7\n");
  ManifestOutcome outcome = RunManifestCommand(Request(ManifestVerb::kApply, {source}), harness_->region());
  EXPECT_EQ(outcome.exit_code, 1) << outcome.out;
  EXPECT_THAT(outcome.err, HasSubstr("npctl-broken.yaml"));
  EXPECT_THAT(outcome.err, HasSubstr("the copies were withdrawn"));
  EXPECT_FALSE(std::filesystem::exists(harness_->manifests() / "npctl-broken.yaml"));

  // A file whose objects are already defined by another manifest.
  const auto twin = Source("10-services.yaml", ReadFile(harness_->manifests() / "10-services.yaml") + "\n");
  outcome = RunManifestCommand(Request(ManifestVerb::kApply, {twin}), harness_->region());
  EXPECT_EQ(outcome.exit_code, 1) << outcome.out;
  EXPECT_THAT(outcome.err, HasSubstr("defined twice"));
  EXPECT_FALSE(std::filesystem::exists(harness_->manifests() / "npctl-10-services.yaml"));
}

TEST_F(ApplyTest, RefusesWhenTheControlPlaneIsGone) {
  StartControl();
  const auto source = Source("web.yaml", WebService("web", "10.96.20.20", "10.244.1.50"));
  ManifestRequest request = Request(ManifestVerb::kApply, {source});
  request.alive = [](pid_t) { return false; };
  ManifestOutcome outcome = RunManifestCommand(request, harness_->region());
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("is not running"));
  EXPECT_FALSE(std::filesystem::exists(harness_->manifests() / "npctl-web.yaml"));

  request.alive = {};
  request.run_dir = harness_->scratch() / "nowhere";
  outcome = RunManifestCommand(request, harness_->region());
  EXPECT_EQ(outcome.exit_code, 1);
  EXPECT_THAT(outcome.err, HasSubstr("is not running"));
}

TEST(ControlRecord, RoundTripsAndIgnoresUnknownKeys) {
  daemon::ControlRecord record;
  record.pid = 42;
  record.instance = "default";
  record.node_config = "/etc/nodeplane/node.yaml";
  record.manifests = "/etc/nodeplane/manifests";
  record.metrics = "0.0.0.0:10249";
  record.reload_seq = 3;
  record.reload_started_ns = 10;
  record.reload_finished_ns = 20;
  record.generations = {{"node", 2}, {"services", 9}};
  record.published = {"services"};
  record.errors = {"a.yaml: Service x: spec.ports:\nnot a list"};
  Result<daemon::ControlRecord> parsed =
      daemon::ParseControlRecord(daemon::FormatControlRecord(record) + "future_key=1\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->pid, 42);
  EXPECT_EQ(parsed->manifests, record.manifests);
  EXPECT_EQ(parsed->generations, record.generations);
  EXPECT_EQ(parsed->published, record.published);
  ASSERT_EQ(parsed->errors.size(), 1u);
  EXPECT_EQ(parsed->errors[0], "a.yaml: Service x: spec.ports: not a list");
  EXPECT_FALSE(daemon::ParseControlRecord("manifests=/x\n").ok());
  EXPECT_FALSE(daemon::ParseControlRecord("pid=abc\nmanifests=/x\n").ok());
}

TEST(ExpandManifestPaths, RejectsWhatTheControlPlaneWouldNotRead) {
  np::testing::ScratchDirectory scratch;
  WriteFile(scratch.path() / "x.txt", "x");
  EXPECT_FALSE(ExpandManifestPaths({scratch.path() / "x.txt"}).ok());
  EXPECT_FALSE(ExpandManifestPaths({scratch.path() / "missing.yaml"}).ok());
  EXPECT_FALSE(ExpandManifestPaths({scratch.path()}).ok()) << "a directory without manifests";
  std::filesystem::create_directory(scratch.path() / "d");
  WriteFile(scratch.path() / "d" / "x.yaml", "a: 1");
  WriteFile(scratch.path() / "x.yaml", "a: 2");
  EXPECT_FALSE(ExpandManifestPaths({scratch.path() / "x.yaml", scratch.path() / "d"}).ok()) << "two copies named x";
  EXPECT_EQ(ManagedName("/a/b/web.yaml"), "npctl-web.yaml");
}

}  // namespace
}  // namespace np::cli
