// `npctl map export`: the traffic map turned into what the seed article gets
// from Otterize's network mapper - one ClientIntents per client workload -
// and into ready-to-apply networking.k8s.io/v1 NetworkPolicies that allow
// exactly what was observed:
//
//   per namespace with a pod in the map:
//     default-deny         podSelector {}, policyTypes Ingress and Egress
//     allow-dns-egress     every pod -> kube-system pods labelled
//                          k8s-app=kube-dns on 53/UDP and 53/TCP (the
//                          namespaceSelector AND podSelector form: not a
//                          pod labelled kube-dns elsewhere, not every
//                          kube-system pod; DNS is needed whether or not
//                          it was observed, as the seed's allow-dns)
//   per server workload:   <workload>-ingress: its pods (the labels that
//                          select the workload) from each observed client
//                          on the observed ports
//   per client workload:   <workload>-egress: likewise towards each server
//
// Peers: a pod workload is podSelector (its selecting labels) AND
// namespaceSelector kubernetes.io/metadata.name=<namespace>; an external
// address is an ipBlock with its CIDR. This node's addresses are left out:
// the dataplane always allows a node and its own pods to talk (and SNATed
// external clients arrive from the node). Edges whose connections were only
// ever denied are not observed traffic and are left out too.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "control/flows/flow_model.h"

namespace np::flows {

struct ExportedManifests {
  // File name (relative: "networkpolicies/voting-app.yaml",
  // "clientintents/voting-app-vote.yaml") -> YAML text.
  std::map<std::string, std::string> files;
  // Observed edges that could not be exported, and why (a pod without
  // labels cannot be selected without selecting its whole namespace).
  std::vector<std::string> skipped;
};

ExportedManifests ExportPolicies(const TrafficMapFile& map);

}  // namespace np::flows
