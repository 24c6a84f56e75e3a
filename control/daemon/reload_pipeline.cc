#include "control/daemon/reload_pipeline.h"

#include <chrono>
#include <cstdio>

#include "control/compile/routes_compiler.h"
#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"
#include "control/policy/policy_compiler.h"
#include "common/policy_image.h"

namespace np::daemon {
namespace {

class StageTimer {
 public:
  double ElapsedMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::string FormatMs(double ms) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f ms", ms);
  return text;
}

}  // namespace


std::string ReloadReport::Summary() const {
  std::string text = "reload: parse " + FormatMs(parse_ms) + ", compile " + FormatMs(compile_ms) + ", publish " +
                     FormatMs(publish_ms);
  for (const SectionResult& section : sections) {
    text += std::string("; ") + abi::SectionKindName(section.kind) + ": generation " + std::to_string(section.generation) +
            (section.published ? " published" : " (unchanged)");
  }
  if (!errors.empty()) text += "; " + std::to_string(errors.size()) + " error(s)";
  return text;
}

ReloadPipeline::ReloadPipeline(PipelineInputs inputs, SectionPublisher& publisher)
    : inputs_(std::move(inputs)), publisher_(publisher) {
  if (!inputs_.last_good_manifests.empty()) {
    manifest_cache_.KeepLastGoodCopiesIn(inputs_.last_good_manifests);
    cluster_ = manifest_cache_.LoadLastGood().state;
  }
  if (std::optional<std::vector<uint8_t>> bytes = ReadPublishedImage(publisher_.region(), abi::SectionKind::kServices)) {
    Result<ServicesImage> image = DecodeServicesSection(bytes->data(), bytes->size(), nullptr);
    if (image) service_port_ids_ = compile::ServicePortIds(*image);
  }
  if (std::optional<std::vector<uint8_t>> bytes = ReadPublishedImage(publisher_.region(), abi::SectionKind::kPolicy)) {
    Result<PolicyImage> image = DecodePolicySection(bytes->data(), bytes->size(), nullptr);
    if (image) policy_identity_ids_ = policy::PolicyIdentityIds(*image);
  }
}

void ReloadPipeline::LoadNodeConfig(ReloadReport& report) {
  Result<NodeImage> loaded = config::LoadNodeConfig(inputs_.node_config, inputs_.path_exists, &report.warnings);
  if (loaded) {
    node_config_ = std::move(loaded).value();
    return;
  }
  report.errors.push_back(loaded.error().message);
  if (node_config_) report.warnings.push_back(inputs_.node_config.string() + ": keeping the last good node config");
}

void ReloadPipeline::LoadManifests(ReloadReport& report) {
  Result<k8s::LoadResult> load = manifest_cache_.Load(inputs_.manifests);
  if (!load) {
    report.errors.push_back(load.error().message + " (keeping the last good objects)");
    return;
  }
  for (const k8s::LoadFailure& failure : load->failures)
    for (const std::string& message : failure.messages) report.errors.push_back(message);
  report.warnings.insert(report.warnings.end(), load->warnings.begin(), load->warnings.end());
  std::vector<k8s::ObjectKey> kept;
  cluster_ = k8s::MergeKeepingLastGood(cluster_, *load, &kept);
  for (const k8s::ObjectKey& key : kept) report.warnings.push_back("keeping the last good " + key.ToString());
}

void ReloadPipeline::Publish(abi::SectionKind kind, std::vector<uint8_t> image, ReloadReport& report) {
  Result<SectionPublisher::Outcome> outcome = publisher_.PublishIfChanged(kind, std::move(image));
  if (!outcome) {
    report.errors.push_back(std::string("publishing the ") + abi::SectionKindName(kind) + " section: " + outcome.error().message);
    return;
  }
  report.sections.push_back(SectionResult{kind, outcome->published, outcome->generation});
}

ReloadReport ReloadPipeline::Run() {
  ReloadReport report;
  StageTimer parse;
  LoadNodeConfig(report);
  LoadManifests(report);
  report.parse_ms = parse.ElapsedMs();
  // Without any good node config there is nothing consistent to compile
  // against: the dataplane keeps whatever it has.
  if (!node_config_) return report;

  StageTimer compile;
  NodeImage node = *node_config_;
  std::vector<abi::RouteRecord> routes = compile::CompileRoutes(cluster_, node, &report.warnings);
  node.routes.insert(node.routes.end(), routes.begin(), routes.end());
  node.generation = 0;
  compile::ServicesCompilation services =
      compile::CompileServices(cluster_, *node_config_, compile::ServicesCompileOptions{service_port_ids_, &maglev_cache_});
  report.warnings.insert(report.warnings.end(), services.warnings.begin(), services.warnings.end());
  services.image.generation = 0;
  service_port_ids_ = compile::ServicePortIds(services.image);
  policy::PolicyCompilation policies =
      policy::CompilePolicies(cluster_, *node_config_, policy::PolicyCompileOptions{policy_identity_ids_});
  report.warnings.insert(report.warnings.end(), policies.warnings.begin(), policies.warnings.end());
  policies.image.generation = 0;
  policy_identity_ids_ = policy::PolicyIdentityIds(policies.image);
  std::vector<uint8_t> node_bytes = EncodeNodeSection(node);
  std::vector<uint8_t> policy_bytes = EncodePolicySection(policies.image);
  std::vector<uint8_t> services_bytes = EncodeServicesSection(services.image);
  services_ = std::move(services.image);
  report.compile_ms = compile.ElapsedMs();

  // Node first: services refer to node addresses (NodePort frontends).
  StageTimer publish;
  Publish(abi::SectionKind::kNode, std::move(node_bytes), report);
  Publish(abi::SectionKind::kServices, std::move(services_bytes), report);
  Publish(abi::SectionKind::kPolicy, std::move(policy_bytes), report);
  report.publish_ms = publish.ElapsedMs();
  return report;
}

}  // namespace np::daemon
