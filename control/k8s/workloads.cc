#include "control/k8s/workloads.h"

#include <array>

#include "control/k8s/decode.h"

namespace np::k8s {
namespace {

constexpr std::array<std::string_view, 6> kControllerKinds = {"ReplicaSet", "Deployment", "StatefulSet",
                                                              "DaemonSet",  "Job",        "CronJob"};

// Labels Kubernetes controllers add per revision or per pod: a selector
// built from them would miss the next rollout's pods.
constexpr std::array<std::string_view, 8> kUnstableLabels = {
    "pod-template-hash",       "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
    "pod-template-generation", "controller-uid",           "batch.kubernetes.io/controller-uid",
    "job-name",                "batch.kubernetes.io/job-name"};

constexpr std::array<std::string_view, 2> kNameLabels = {"app.kubernetes.io/name", "app"};

const OwnerReference* ControllerOwner(const ObjectMeta& meta) {
  for (const OwnerReference& owner : meta.owner_references)
    if (owner.controller) return &owner;
  return meta.owner_references.empty() ? nullptr : &meta.owner_references.front();
}

// Pod labels select pods; the workload's matchLabels when it has some.
std::map<std::string, std::string> SelectingLabels(const WorkloadController& controller, const Pod& pod) {
  if (!controller.selector.match_labels.empty() && controller.selector.match_expressions.empty())
    return StableLabels(controller.selector.match_labels);
  if (!controller.template_labels.empty()) return StableLabels(controller.template_labels);
  return StableLabels(pod.meta.labels);
}

}  // namespace

bool IsWorkloadControllerKind(std::string_view kind) {
  for (std::string_view known : kControllerKinds)
    if (kind == known) return true;
  return false;
}

std::map<std::string, std::string> StableLabels(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> stable = labels;
  for (std::string_view key : kUnstableLabels) stable.erase(std::string(key));
  return stable;
}

Result<WorkloadController> DecodeWorkloadController(const OtherObject& object) {
  if (!IsWorkloadControllerKind(object.kind))
    return MakeError(object.kind + " " + object.meta.namespace_ + "/" + object.meta.name + ": not a workload kind");
  Report report{object.meta.source_file + ": " + object.kind + " " + object.meta.namespace_ + "/" + object.meta.name,
                {}, {}};
  Field root(object.document, "", &report);
  WorkloadController controller;
  controller.kind = object.kind;
  controller.meta = DecodeMeta(root["metadata"], true);
  controller.meta.source_file = object.meta.source_file;
  // CronJob: spec.jobTemplate.spec holds what a Job's spec holds.
  const Field spec = object.kind == "CronJob" ? root["spec"]["jobTemplate"]["spec"] : root["spec"];
  if (spec.present()) {
    spec.ExpectMap({}, /*open=*/true);
    controller.selector = DecodeLabelSelector(spec["selector"]).value_or(LabelSelector{});
    const Field template_meta = spec["template"]["metadata"];
    if (template_meta.present()) {
      template_meta.ExpectMap({}, /*open=*/true);
      controller.template_labels = template_meta["labels"].StringMap();
    }
  }
  if (report.failed()) {
    std::string message;
    for (const std::string& error : report.errors) message += (message.empty() ? "" : "; ") + error;
    return MakeError(message);
  }
  return controller;
}

WorkloadIndex::WorkloadIndex(const ClusterState& state, std::vector<std::string>* errors) {
  for (const auto& [key, object] : state.others) {
    if (!IsWorkloadControllerKind(key.kind)) continue;
    Result<WorkloadController> controller = DecodeWorkloadController(object);
    if (!controller) {
      if (errors) errors->push_back(controller.error().message);
      continue;
    }
    controllers_.insert_or_assign(key, std::move(*controller));
  }
}

const WorkloadController* WorkloadIndex::Find(const std::string& kind, const NamespacedName& id) const {
  auto it = controllers_.find(ObjectKey{kind, id});
  return it == controllers_.end() ? nullptr : &it->second;
}

WorkloadRef WorkloadIndex::WorkloadOf(const Pod& pod) const {
  const std::string& ns = pod.meta.namespace_;
  auto by_label = [&](std::string kind) -> std::optional<WorkloadRef> {
    for (std::string_view key : kNameLabels) {
      auto it = pod.meta.labels.find(std::string(key));
      if (it != pod.meta.labels.end() && !it->second.empty())
        return WorkloadRef{std::move(kind), ns, it->second, {{it->first, it->second}}};
    }
    return std::nullopt;
  };

  const OwnerReference* owner = ControllerOwner(pod.meta);
  if (owner == nullptr || !IsWorkloadControllerKind(owner->kind)) {
    if (std::optional<WorkloadRef> labelled = by_label("Pod")) return *labelled;
    return WorkloadRef{"Pod", ns, pod.meta.name, StableLabels(pod.meta.labels)};
  }
  const WorkloadController* top = Find(owner->kind, {ns, owner->name});
  if (top == nullptr) {
    if (owner->kind != "ReplicaSet") return WorkloadRef{owner->kind, ns, owner->name, StableLabels(pod.meta.labels)};
    const bool deployment = pod.meta.labels.count("pod-template-hash") != 0;
    if (std::optional<WorkloadRef> labelled = by_label(deployment ? "Deployment" : "ReplicaSet")) return *labelled;
    return WorkloadRef{"ReplicaSet", ns, owner->name, StableLabels(pod.meta.labels)};
  }
  // Upwards through loaded controllers; a bounded walk (no ownership cycles).
  for (int depth = 0; depth < 4; ++depth) {
    const OwnerReference* parent = ControllerOwner(top->meta);
    if (parent == nullptr || !IsWorkloadControllerKind(parent->kind)) break;
    const WorkloadController* next = Find(parent->kind, {ns, parent->name});
    if (next == nullptr) {
      // A Deployment that is not loaded: its name is in the reference, the
      // ReplicaSet's selector selects its pods.
      return WorkloadRef{parent->kind, ns, parent->name, SelectingLabels(*top, pod)};
    }
    top = next;
  }
  return WorkloadRef{top->kind, ns, top->meta.name, SelectingLabels(*top, pod)};
}

}  // namespace np::k8s
