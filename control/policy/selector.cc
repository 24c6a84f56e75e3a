#include "control/policy/selector.h"

#include <algorithm>

namespace np::policy {

using Operator = k8s::LabelSelectorRequirement::Operator;

bool Matches(const k8s::LabelSelector& selector, const Labels& labels) {
  for (const auto& [key, value] : selector.match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const k8s::LabelSelectorRequirement& requirement : selector.match_expressions) {
    auto it = labels.find(requirement.key);
    const bool present = it != labels.end();
    const bool listed =
        present && std::find(requirement.values.begin(), requirement.values.end(), it->second) !=
                       requirement.values.end();
    switch (requirement.op) {
      case Operator::kIn:
        if (!listed) return false;
        break;
      case Operator::kNotIn:
        if (listed) return false;
        break;
      case Operator::kExists:
        if (!present) return false;
        break;
      case Operator::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

bool IsEmpty(const k8s::LabelSelector& selector) {
  return selector.match_labels.empty() && selector.match_expressions.empty();
}

std::string ToString(const k8s::LabelSelector& selector) {
  std::string out;
  auto add = [&](const std::string& term) { out += (out.empty() ? "" : ",") + term; };
  for (const auto& [key, value] : selector.match_labels) add(key + "=" + value);
  for (const k8s::LabelSelectorRequirement& requirement : selector.match_expressions) {
    std::string values;
    for (const std::string& value : requirement.values) values += (values.empty() ? "" : ",") + value;
    switch (requirement.op) {
      case Operator::kIn: add(requirement.key + " in (" + values + ")"); break;
      case Operator::kNotIn: add(requirement.key + " notin (" + values + ")"); break;
      case Operator::kExists: add(requirement.key); break;
      case Operator::kDoesNotExist: add("!" + requirement.key); break;
    }
  }
  return out.empty() ? "<all>" : out;
}

}  // namespace np::policy
