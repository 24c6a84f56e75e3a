#include "control/daemon/reload_pipeline.h"

#include <chrono>
#include <cstdio>

#include "control/compile/routes_compiler.h"
#include "control/daemon/stage_timer.h"
#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"
#include "control/policy/policy_compiler.h"
#include "common/policy_image.h"

namespace np::daemon {
namespace {

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
  std::map<std::string, uint32_t> service_port_ids;
  if (std::optional<ServicesImage> image = ReadPublishedServicesState(publisher_.region()))
    service_port_ids = compile::ServicePortIds(*image);
  services_sync_.emplace(publisher_, std::move(service_port_ids));
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

const std::optional<ServicesImage>& ReloadPipeline::services() const {
  if (!services_ && services_synced_) services_ = services_sync_->Image();
  return services_;
}

std::map<uint32_t, std::string> ReloadPipeline::ServicePortNames() const {
  std::map<uint32_t, std::string> names;
  if (services_synced_)
    services_model().ForEachPort([&](const compile::CompiledServicePort& port) { names[port.record.id] = port.name; });
  return names;
}

compile::ServicesChanges ReloadPipeline::LoadManifestsAndDiff(ReloadReport& report) {
  Result<k8s::LoadResult> load = manifest_cache_.Load(inputs_.manifests);
  if (!load) {
    report.errors.push_back(load.error().message + " (keeping the last good objects)");
    return {};
  }
  for (const k8s::LoadFailure& failure : load->failures)
    for (const std::string& message : failure.messages) report.errors.push_back(message);
  report.warnings.insert(report.warnings.end(), load->warnings.begin(), load->warnings.end());
  std::vector<k8s::ObjectKey> kept;
  const k8s::ClusterState previous = std::move(cluster_);
  cluster_ = k8s::MergeKeepingLastGood(previous, *load, &kept);
  for (const k8s::ObjectKey& key : kept) report.warnings.push_back("keeping the last good " + key.ToString());
  return compile::DiffServiceInputs(previous, cluster_);
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
  const compile::ServicesChanges changes = LoadManifestsAndDiff(report);
  report.parse_ms = parse.ElapsedMs();
  // Without any good node config there is nothing consistent to compile
  // against: the dataplane keeps whatever it has.
  if (!node_config_) return report;

  StageTimer compile;
  NodeImage node = *node_config_;
  std::vector<abi::RouteRecord> routes = compile::CompileRoutes(cluster_, node, &report.warnings);
  node.routes.insert(node.routes.end(), routes.begin(), routes.end());
  node.generation = 0;
  policy::PolicyCompilation policies =
      policy::CompilePolicies(cluster_, *node_config_, policy::PolicyCompileOptions{policy_identity_ids_});
  report.warnings.insert(report.warnings.end(), policies.warnings.begin(), policies.warnings.end());
  policies.image.generation = 0;
  policy_identity_ids_ = policy::PolicyIdentityIds(policies.image);
  std::vector<uint8_t> node_bytes = EncodeNodeSection(node);
  std::vector<uint8_t> policy_bytes = EncodePolicySection(policies.image);
  report.compile_ms = compile.ElapsedMs();

  // Node first: services refer to node addresses (NodePort frontends).
  StageTimer publish;
  Publish(abi::SectionKind::kNode, std::move(node_bytes), report);
  const double node_publish_ms = publish.ElapsedMs();
  Result<ServicesSync::Outcome> services =
      services_sync_->Sync(cluster_, *node_config_, services_synced_ ? &changes : nullptr, &report.warnings);
  if (!services) {
    report.errors.push_back("publishing the services: " + services.error().message);
  } else {
    services_synced_ = true;
    report.sections.push_back(SectionResult{services->kind, services->published, services->generation});
    report.compile_ms += services->compile_ms + services->encode_ms;
  }
  StageTimer policy_publish;
  Publish(abi::SectionKind::kPolicy, std::move(policy_bytes), report);
  report.publish_ms = node_publish_ms + (services ? services->publish_ms : 0) + policy_publish.ElapsedMs();
  if (services && services->published) services_.reset();
  return report;
}

}  // namespace np::daemon
