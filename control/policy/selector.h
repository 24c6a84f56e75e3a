// Label selector evaluation (metav1.LabelSelector semantics): matchLabels
// AND every matchExpression; In (key present, value listed), NotIn (key
// absent, or value not listed), Exists, DoesNotExist. An empty selector
// matches every label set.
#pragma once

#include <map>
#include <string>

#include "control/k8s/objects.h"

namespace np::policy {

using Labels = std::map<std::string, std::string>;

bool Matches(const k8s::LabelSelector& selector, const Labels& labels);
bool IsEmpty(const k8s::LabelSelector& selector);

// "app=vote,tier in (a,b),!x" (kubectl's rendering), for traces.
std::string ToString(const k8s::LabelSelector& selector);

}  // namespace np::policy
