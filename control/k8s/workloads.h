// Workloads: which Deployment, StatefulSet, DaemonSet, Job or CronJob a pod
// belongs to, for the traffic map and the policies generated from it
// (control/flows/). The controller kinds are not decoded by the loader (they
// stay in ClusterState::others with their YAML); WorkloadIndex decodes the
// few fields it needs from there.
//
// A pod's workload, in order:
//   1. its controller ownerReference, followed upwards through the loaded
//      controllers (Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob);
//      the topmost loaded one is the workload;
//   2. an owner that is not loaded: a StatefulSet/DaemonSet/Job owner is the
//      workload itself (its name is in the reference); a ReplicaSet's
//      Deployment is not, so the pod's app.kubernetes.io/name or app label
//      names it (kind "Deployment" when the pod has a pod-template-hash);
//   3. no owner: the app.kubernetes.io/name or app label, else the pod itself.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "control/k8s/cluster_state.h"

namespace np::k8s {

// ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, CronJob.
bool IsWorkloadControllerKind(std::string_view kind);

struct WorkloadController {
  std::string kind;
  ObjectMeta meta;  // with ownerReferences
  LabelSelector selector;  // spec.selector (CronJob: its job template's)
  std::map<std::string, std::string> template_labels;  // the pod template's labels
};

// Decodes one controller kept in ClusterState::others. The error names the
// object and field.
Result<WorkloadController> DecodeWorkloadController(const OtherObject& object);

struct WorkloadRef {
  std::string kind;  // Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, Pod
  std::string namespace_;
  std::string name;
  // Labels that select the workload's pods (and no others, as far as the
  // workload's own selector says): the controller's matchLabels, else the
  // label that named it, else the pod's labels without per-revision hashes.
  std::map<std::string, std::string> pod_labels;
};

class WorkloadIndex {
 public:
  // Controllers that fail to decode are skipped; `errors` (optional) says why.
  explicit WorkloadIndex(const ClusterState& state, std::vector<std::string>* errors = nullptr);

  WorkloadRef WorkloadOf(const Pod& pod) const;
  const WorkloadController* Find(const std::string& kind, const NamespacedName& id) const;
  size_t size() const { return controllers_.size(); }

 private:
  std::map<ObjectKey, WorkloadController> controllers_;
};

// The pod's labels without those that differ per revision or per pod
// (pod-template-hash, controller-revision-hash, statefulset.kubernetes.io/pod-name, ...).
std::map<std::string, std::string> StableLabels(const std::map<std::string, std::string>& labels);

}  // namespace np::k8s
