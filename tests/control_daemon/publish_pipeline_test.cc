// The control plane's publish pipeline against a real tables region in
// shared memory, with the test playing the dataplane.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "control/daemon/daemon.h"
#include "control/daemon/reload_pipeline.h"
#include "control/daemon/section_publisher.h"
#include "tests/control_daemon/test_support.h"

namespace np::daemon {
namespace {

using ::testing::HasSubstr;
using np::testing::FakeDataplane;
using np::testing::WriteFile;

constexpr abi::SectionKind kNode = abi::SectionKind::kNode;
constexpr abi::SectionKind kServices = abi::SectionKind::kServices;
constexpr abi::SectionKind kDelta = abi::SectionKind::kServicesDelta;

class PublishPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(manifests());
    for (const auto& entry : std::filesystem::directory_iterator(NP_CONTROL_FIXTURES "/cluster"))
      std::filesystem::copy_file(entry.path(), manifests() / entry.path().filename());
    std::filesystem::copy_file(NP_CONTROL_FIXTURES "/node-a.yaml", node_config());
    Result<TablesRegion> opened = TablesRegion::OpenOrCreate(instance_.name(), DefaultRegionLayout());
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    region_.emplace(std::move(opened).value());
  }

  std::filesystem::path manifests() const { return scratch_.path() / "manifests"; }
  std::filesystem::path node_config() const { return scratch_.path() / "node.yaml"; }
  PipelineInputs inputs() const { return PipelineInputs{node_config(), manifests(), np::testing::EveryDeviceExists()}; }

  static const SectionResult* Find(const ReloadReport& report, abi::SectionKind kind) {
    for (const SectionResult& section : report.sections)
      if (section.kind == kind) return &section;
    return nullptr;
  }

  // The services result of a reload: a full section or a delta.
  static const SectionResult* FindServices(const ReloadReport& report) {
    if (const SectionResult* full = Find(report, kServices)) return full;
    return Find(report, kDelta);
  }

  static bool HasServicePort(const ReloadPipeline& pipeline, const std::string& name) {
    const auto& names = pipeline.services()->service_port_names;
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  np::testing::UniqueInstance instance_;
  np::testing::ScratchDirectory scratch_;
  std::optional<TablesRegion> region_;
};

TEST_F(PublishPipelineTest, PublishesNodeThenServicesAndWaitsUntilApplied) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  const ReloadReport report = pipeline.Run();
  EXPECT_THAT(report.errors, ::testing::IsEmpty());
  ASSERT_EQ(report.sections.size(), 3u);  // node, services (full or delta), policy
  EXPECT_EQ(report.sections[0].kind, kNode);
  EXPECT_TRUE(report.sections[0].published);
  EXPECT_EQ(report.sections[0].generation, 1u);
  EXPECT_EQ(report.sections[1].kind, kServices);
  EXPECT_EQ(report.sections[1].generation, 1u);
  EXPECT_THAT(report.Summary(), ::testing::MatchesRegex("reload: parse [0-9.]+ ms, compile [0-9.]+ ms, publish "
                                                        "[0-9.]+ ms; node: generation 1 published; services: "
                                                        "generation 1 published; policy: generation 1 published"));
  EXPECT_TRUE(HasServicePort(pipeline, "vote/vote:http"));

  // The node image carries the route to node-b's pods from its Node object
  // besides the static one.
  std::optional<std::vector<uint8_t>> node_bytes = ReadPublishedImage(*region_, kNode);
  ASSERT_TRUE(node_bytes);
  Result<NodeImage> node = DecodeNodeSection(node_bytes->data(), node_bytes->size(), nullptr);
  ASSERT_TRUE(node.ok()) << node.error().message;
  EXPECT_EQ(node->generation, 1u);
  EXPECT_EQ(node->node_name, "node-a");

  FakeDataplane dataplane(instance_.name());
  EXPECT_TRUE(WaitAppliedAll(*region_, report.sections, std::chrono::seconds(5)).ok());
  EXPECT_EQ(region_->AppliedGeneration(kNode), 1u);
  EXPECT_EQ(region_->AppliedGeneration(kServices), 1u);
}

TEST_F(PublishPipelineTest, ARefusedImageSurfacesTheDataplanesReason) {
  FakeDataplane dataplane(instance_.name(), [](abi::SectionKind kind, std::span<const uint8_t>) -> std::string {
    return kind == kServices ? "maglev table of vote/vote:http exceeds 65537 entries" : "";
  });
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  const ReloadReport report = pipeline.Run();
  Status waited = WaitAppliedAll(*region_, report.sections, std::chrono::seconds(5));
  ASSERT_FALSE(waited.ok());
  EXPECT_THAT(waited.error().message, HasSubstr("services section"));
  EXPECT_THAT(waited.error().message, HasSubstr("refused generation 1"));
  EXPECT_THAT(waited.error().message, HasSubstr("maglev table of vote/vote:http exceeds 65537 entries"));
  EXPECT_EQ(region_->AppliedGeneration(kNode), 1u);
}

TEST_F(PublishPipelineTest, WaitingWithoutADataplaneTimesOut) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  const ReloadReport report = pipeline.Run();
  Status waited = WaitAppliedAll(*region_, report.sections, std::chrono::milliseconds(50));
  ASSERT_FALSE(waited.ok());
  EXPECT_THAT(waited.error().message, HasSubstr("did not apply generation 1"));
}

TEST_F(PublishPipelineTest, UnchangedContentIsNotRepublished) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  ASSERT_EQ(pipeline.Run().sections.size(), 3u);
  const ReloadReport again = pipeline.Run();
  ASSERT_EQ(again.sections.size(), 3u);
  for (const SectionResult& section : again.sections) {
    EXPECT_FALSE(section.published);
    EXPECT_EQ(section.generation, 1u);
  }
  EXPECT_EQ(region_->PublishedGeneration(kNode), 1u);
  EXPECT_EQ(region_->PublishedGeneration(kServices), 1u);

  // Touching a file without changing what it means publishes nothing either.
  WriteFile(manifests() / "10-services.yaml", np::testing::ReadFile(manifests() / "10-services.yaml") + "\n");
  const ReloadReport touched = pipeline.Run();
  EXPECT_FALSE(FindServices(touched)->published);
  EXPECT_EQ(region_->PublishedGeneration(kServices), 1u);
}

TEST_F(PublishPipelineTest, ARestartedControlPlaneContinuesTheGenerations) {
  uint32_t vote_id = 0;
  {
    SectionPublisher publisher(*region_);
    ReloadPipeline pipeline(inputs(), publisher);
    ASSERT_EQ(pipeline.Run().sections.size(), 3u);
    // Force a second services generation: a delta on top of the first.
    std::filesystem::remove(manifests() / "20-endpointslices.yaml");
    const ReloadReport removed = pipeline.Run();
    ASSERT_NE(Find(removed, kDelta), nullptr);
    EXPECT_EQ(Find(removed, kDelta)->generation, 1u);
    vote_id = pipeline.services()->service_ports.at(0).id;
  }
  // A new process: reads back generations and content from the region,
  // and continues against the same base (the same delta is not republished).
  Result<TablesRegion> reopened = TablesRegion::OpenOrCreate(instance_.name(), DefaultRegionLayout());
  ASSERT_TRUE(reopened.ok());
  SectionPublisher publisher(*reopened);
  EXPECT_EQ(publisher.LastGeneration(kNode), 1u);
  EXPECT_EQ(publisher.LastGeneration(kServices), 1u);
  EXPECT_EQ(publisher.LastGeneration(kDelta), 1u);
  ReloadPipeline pipeline(inputs(), publisher);
  const ReloadReport same = pipeline.Run();
  EXPECT_FALSE(Find(same, kNode)->published);
  EXPECT_FALSE(FindServices(same)->published);
  EXPECT_EQ(pipeline.services()->service_ports.at(0).id, vote_id);

  std::filesystem::copy_file(NP_CONTROL_FIXTURES "/cluster/20-endpointslices.yaml",
                             manifests() / "20-endpointslices.yaml");
  const ReloadReport changed = pipeline.Run();
  ASSERT_NE(Find(changed, kDelta), nullptr);
  EXPECT_TRUE(Find(changed, kDelta)->published);
  EXPECT_EQ(Find(changed, kDelta)->generation, 2u);
  EXPECT_EQ(region_->PublishedGeneration(kDelta), 2u);
  EXPECT_EQ(region_->PublishedGeneration(kServices), 1u);
}

TEST_F(PublishPipelineTest, ABadManifestKeepsTheLastGoodObjectWhileOtherChangesApply) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  ASSERT_EQ(pipeline.Run().sections.size(), 3u);
  ASSERT_TRUE(HasServicePort(pipeline, "vote/vote:http"));

  // Break the vote Service (a port out of range) and add another Service.
  std::string services = np::testing::ReadFile(manifests() / "10-services.yaml");
  const size_t at = services.find("    port: 80\n");
  ASSERT_NE(at, std::string::npos);
  services.replace(at, 13, "    port: 70000\n");
  WriteFile(manifests() / "10-services.yaml", services);
  WriteFile(manifests() / "50-result.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: result, namespace: vote}
spec:
  type: ClusterIP
  clusterIP: 10.96.10.20
  clusterIPs: [10.96.10.20]
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 80}]
)");
  const ReloadReport report = pipeline.Run();
  ASSERT_THAT(report.errors, ::testing::SizeIs(1));
  EXPECT_THAT(report.errors[0], HasSubstr("10-services.yaml"));
  EXPECT_THAT(report.errors[0], HasSubstr("70000"));
  EXPECT_THAT(report.warnings, ::testing::Contains(HasSubstr("keeping the last good Service vote/vote")));
  EXPECT_TRUE(HasServicePort(pipeline, "vote/vote:http"));
  EXPECT_TRUE(HasServicePort(pipeline, "vote/result:http"));
  ASSERT_NE(Find(report, kDelta), nullptr);  // one Service added: a delta
  EXPECT_TRUE(Find(report, kDelta)->published);
  EXPECT_EQ(Find(report, kDelta)->generation, 1u);
}

TEST_F(PublishPipelineTest, ABadNodeConfigKeepsTheLastGoodOne) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  ASSERT_EQ(pipeline.Run().sections.size(), 3u);
  std::string text = np::testing::ReadFile(node_config());
  text.replace(text.find("role: host"), 10, "role: wan");
  WriteFile(node_config(), text);
  const ReloadReport report = pipeline.Run();
  ASSERT_FALSE(report.errors.empty());
  EXPECT_THAT(report.errors[0], HasSubstr(node_config().string()));
  EXPECT_THAT(report.errors[0], HasSubstr("ports[2].role"));
  EXPECT_THAT(report.warnings, ::testing::Contains(HasSubstr("keeping the last good node config")));
  ASSERT_EQ(report.sections.size(), 3u);  // node, services (full or delta), policy
  EXPECT_FALSE(Find(report, kNode)->published);
  EXPECT_EQ(pipeline.node_config()->node_name, "node-a");
}

TEST_F(PublishPipelineTest, NoGoodNodeConfigPublishesNothing) {
  WriteFile(node_config(), "kind: NodeConfig\n");
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  const ReloadReport report = pipeline.Run();
  EXPECT_FALSE(report.errors.empty());
  EXPECT_TRUE(report.sections.empty());
  EXPECT_EQ(region_->PublishedGeneration(kNode), 0u);
}

TEST_F(PublishPipelineTest, ADataplaneRestartRepublishesEverySection) {
  SectionPublisher publisher(*region_);
  ReloadPipeline pipeline(inputs(), publisher);
  ASSERT_EQ(pipeline.Run().sections.size(), 3u);
  EXPECT_FALSE(publisher.CheckDataplaneRestart());
  { FakeDataplane dataplane(instance_.name()); }  // boots: a new epoch
  EXPECT_TRUE(publisher.CheckDataplaneRestart());
  EXPECT_FALSE(publisher.CheckDataplaneRestart());
  const ReloadReport report = pipeline.Run();
  EXPECT_TRUE(Find(report, kNode)->published);
  EXPECT_TRUE(Find(report, kServices)->published);
  EXPECT_EQ(Find(report, kServices)->generation, 2u);
}

TEST_F(PublishPipelineTest, RunOnceExitsZeroWhenAppliedAndOneWhenRefused) {
  DaemonOptions options;
  options.instance = instance_.name();
  options.timeout_ms = 5000;
  std::vector<std::string> lines;
  const Logger log = [&](const std::string& line) { lines.push_back(line); };
  {
    FakeDataplane dataplane(instance_.name());
    EXPECT_EQ(RunOnce(options, inputs(), log), 0);
    EXPECT_THAT(lines, ::testing::Contains(HasSubstr("applied: node generation 1 services generation 1")));
  }
  lines.clear();
  std::filesystem::remove(manifests() / "20-endpointslices.yaml");
  FakeDataplane refusing(instance_.name(), [](abi::SectionKind kind, std::span<const uint8_t>) -> std::string {
    return kind == kServices || kind == kDelta ? "out of memory for the Maglev tables" : "";
  });
  EXPECT_EQ(RunOnce(options, inputs(), log), 1);
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("out of memory for the Maglev tables")));
}

TEST(ContentOf, IgnoresOnlyTheGeneration) {
  ServicesImage image;
  image.generation = 5;
  std::vector<uint8_t> five = EncodeServicesSection(image);
  image.generation = 6;
  std::vector<uint8_t> six = EncodeServicesSection(image);
  EXPECT_NE(five, six);
  EXPECT_EQ(ContentOf(five), ContentOf(six));
  image.frontends.push_back(abi::FrontendRecord{0x0a000001, 80, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 0});
  EXPECT_NE(ContentOf(EncodeServicesSection(image)), ContentOf(six));
}

}  // namespace
}  // namespace np::daemon
