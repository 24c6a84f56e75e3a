// Decoders from one parsed object document to the object model. Each reads
// the fields nodeplane uses, validates them and records errors (the object
// is then rejected) and warnings (unknown fields) in the Field's Report.
#pragma once

#include <optional>

#include "control/k8s/objects.h"
#include "control/k8s/yaml_field.h"

namespace np::k8s {

// metadata; `namespaced` kinds default to namespace "default".
ObjectMeta DecodeMeta(const Field& metadata, bool namespaced);
std::optional<Protocol> DecodeProtocol(const Field& field);
// IANA_SVC_NAME as the API validates port names: 1-15 of [a-z0-9-], at least
// one letter, no leading, trailing or doubled hyphen.
bool IsValidPortName(std::string_view name);

// metav1.LabelSelector (matchLabels, matchExpressions); nullopt when absent
// or malformed (then an error is recorded).
std::optional<LabelSelector> DecodeLabelSelector(const Field& field);

// `root` is the whole object document. nullopt when an error was recorded.
std::optional<Service> DecodeService(const Field& root);
std::optional<EndpointSlice> DecodeEndpointSlice(const Field& root);
std::optional<Pod> DecodePod(const Field& root);
std::optional<Namespace> DecodeNamespace(const Field& root);
std::optional<Node> DecodeNode(const Field& root);
std::optional<NetworkPolicy> DecodeNetworkPolicy(const Field& root);

}  // namespace np::k8s
