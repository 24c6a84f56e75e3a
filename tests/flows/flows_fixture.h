// What the flow records tests (flow_records_test with flowRecords on,
// flow_records_off_test with it off) share: the node (an uplink and two pod
// ports on net_ring devices), a web Service in front of podb, and sending
// one frame through worker 0 of the in-process dataplane (tests/harness).
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>
#include <string>

#include "tests/harness/in_process_dataplane.h"
#include "tests/packet/packet_builder.h"

namespace np::test {

// The node config; `dataplane` is the body of its dataplane block
// (conntrackCapacity is set).
inline std::string FlowsNodeYaml(const std::string& dataplane) {
  return R"(apiVersion: nodeplane.io/v1alpha1
kind: NodeConfig
node:
  name: node-a
  addresses: [192.168.100.10]
  podCIDR: 10.244.1.0/24
  clusterCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
dataplane:
  conntrackCapacity: 4096
  )" + dataplane + R"(
ports:
  - name: uplink
    role: uplink
    devargs: net_ring_uplink
  - name: poda
    role: pod
    devargs: net_ring_poda
    podIP: 10.244.1.11
    podMAC: "02:00:00:00:00:11"
  - name: podb
    role: pod
    devargs: net_ring_podb
    podIP: 10.244.1.12
    podMAC: "02:00:00:00:00:12"
)";
}

// ClusterIP 10.96.0.10:80/TCP -> podb (10.244.1.12) on 8080.
inline constexpr const char* kWebService = R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
  selector: {app: web}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [10.244.1.12]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
ports: [{name: http, port: 8080, protocol: TCP}]
)";

// Sends one frame into `port` (the node config's name) through worker 0.
inline void SendFrame(harness::InProcessDataplane& dataplane, const std::string& port, const Bytes& frame) {
  const harness::RingPort* ring_port = dataplane.PortNamed(port);
  ASSERT_NE(ring_port, nullptr);
  rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane.shared().pool);
  ASSERT_NE(mbuf, nullptr);
  char* data = rte_pktmbuf_append(mbuf, static_cast<uint16_t>(frame.size()));
  ASSERT_NE(data, nullptr);
  std::memcpy(data, frame.data(), frame.size());
  dataplane.Process(0, dataplane.SlotOf(*ring_port), &mbuf, 1);
}

}  // namespace np::test
