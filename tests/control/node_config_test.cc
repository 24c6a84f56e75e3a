// Node config loading (control/config): defaults, validation messages, the
// injectable device check, and the image round trip.
#include "control/config/node_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "control/config/stable_id.h"

namespace np::config {
namespace {

using ::testing::HasSubstr;

// Only these paths "exist": the test needs no real interfaces.
PathExists FakeFilesystem(std::set<std::string> paths = {"/sys/class/net/np-up", "/sys/class/net/np-vote1"}) {
  return [paths = std::move(paths)](const std::string& path) { return paths.count(path) != 0; };
}

const char* kMinimal = R"(apiVersion: nodeplane.io/v1alpha1
kind: NodeConfig
node:
  name: node-a
  addresses: [192.168.100.10]
  podCIDR: 10.244.1.0/24
  clusterCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
ports:
  - name: uplink
    role: uplink
    devargs: "net_af_packet0,iface=np-up"
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ErrorOf(const std::string& yaml, const PathExists& exists = FakeFilesystem()) {
  Result<NodeImage> image = ParseNodeConfig(yaml, "node.yaml", exists);
  return image.ok() ? "(no error)" : image.error().message;
}

TEST(NodeConfig, LoadsTheExampleFile) {
  std::vector<std::string> warnings;
  Result<NodeImage> image = LoadNodeConfig(NP_CONTROL_FIXTURES "/node-a.yaml", FakeFilesystem(), &warnings);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_TRUE(warnings.empty());
  const abi::NodeInfo& info = image->info;
  EXPECT_EQ(image->node_name, "node-a");
  EXPECT_EQ(info.node_ipv4_count, 1u);
  EXPECT_EQ(info.node_ipv4[0], 0xc0a8640au);
  EXPECT_EQ(info.pod_cidr, 0x0af40100u);
  EXPECT_EQ(info.pod_cidr_len, 24);
  EXPECT_EQ(info.pod_gateway_ipv4, 0x0af40101u);  // default: first address
  EXPECT_EQ(info.cluster_cidr_len, 16);
  EXPECT_EQ(info.service_cidr, 0x0a600000u);
  EXPECT_EQ(info.uplink_gateway_ipv4, 0xc0a86401u);
  EXPECT_EQ(info.snat_port_min, 61000);
  EXPECT_EQ(info.snat_port_max, 65535);
  EXPECT_EQ(info.tcp_close_wait_timeout_s, 3600u);
  ASSERT_EQ(image->ports.size(), 3u);
  EXPECT_EQ(image->port_names[1], "vote-1");
  EXPECT_EQ(image->ports[1].role, abi::PortRole::kPod);
  EXPECT_EQ(image->ports[1].ipv4, 0x0af4010bu);
  EXPECT_EQ(image->ports[1].port_id, Fnv1a32("vote-1"));
  EXPECT_EQ(image->ports[2].role, abi::PortRole::kHost);
  ASSERT_EQ(image->routes.size(), 1u);
  EXPECT_EQ(image->routes[0].next_hop_ipv4, 0xc0a8640bu);
  EXPECT_EQ(image->routes[0].port_id, image->ports[0].port_id);
}

TEST(NodeConfig, DefaultsMatchTheDocumentedOnes) {
  Result<NodeImage> image = ParseNodeConfig(kMinimal, "node.yaml", FakeFilesystem());
  ASSERT_TRUE(image.ok()) << image.error().message;
  const abi::NodeInfo& info = image->info;
  EXPECT_EQ(info.conntrack_capacity, 262144u);
  EXPECT_EQ(info.snat_port_min, 61000);
  EXPECT_EQ(info.maglev_seed, 1u);
  EXPECT_EQ(info.host_rate_limit_pps, 10000u);
  EXPECT_EQ(info.neighbor_capacity, 4096u);
  EXPECT_EQ(info.neighbor_timeout_s, 300u);
  EXPECT_EQ(info.tcp_established_timeout_s, 86400u);
  EXPECT_EQ(info.udp_timeout_s, 30u);
  EXPECT_EQ(info.udp_stream_timeout_s, 120u);
  EXPECT_EQ(info.icmp_timeout_s, 30u);
  EXPECT_EQ(info.healthz_port, 10256);
  EXPECT_EQ(info.flags, abi::kNodeFlowRecords);  // flow records on, audit mode off
  EXPECT_EQ(image->ports[0].rx_queues, 1);
  EXPECT_EQ(image->ports[0].vlan, 0);
}

TEST(NodeConfig, FlowRecordsAndPolicyAuditAreNodeFlags) {
  const std::string yaml = Replace(kMinimal, "ports:", "dataplane: {flowRecords: false, policyAudit: true}\nports:");
  Result<NodeImage> image = ParseNodeConfig(yaml, "node.yaml", FakeFilesystem());
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->info.flags, abi::kNodePolicyAudit);
  EXPECT_NE(ErrorOf(Replace(kMinimal, "ports:", "dataplane: {flowRecords: maybe}\nports:")).find("flowRecords"),
            std::string::npos);
}

TEST(NodeConfig, PortIdsDoNotDependOnOrder) {
  const std::string two_ports = std::string(kMinimal) +
                                "  - name: vote-1\n    role: pod\n    devargs: net_null0\n    podIP: 10.244.1.11\n";
  const std::string swapped = Replace(Replace(two_ports, "  - name: uplink\n    role: uplink\n    devargs: \"net_af_packet0,iface=np-up\"\n", ""),
                                      "    podIP: 10.244.1.11\n",
                                      "    podIP: 10.244.1.11\n  - name: uplink\n    role: uplink\n    devargs: \"net_af_packet0,iface=np-up\"\n");
  Result<NodeImage> a = ParseNodeConfig(two_ports, "node.yaml", FakeFilesystem());
  Result<NodeImage> b = ParseNodeConfig(swapped, "node.yaml", FakeFilesystem());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ports[0].port_id, b->ports[1].port_id);
  EXPECT_EQ(a->ports[1].port_id, b->ports[0].port_id);
}

TEST(NodeConfig, ErrorsNameFileAndField) {
  const std::string m = kMinimal;
  const std::string pod_port = "  - name: p1\n    role: pod\n    devargs: net_null0\n    podIP: ";
  EXPECT_EQ(ErrorOf(Replace(m, "[192.168.100.10]", "[192.168.100.300]")),
            "node.yaml: node.addresses[0]: \"192.168.100.300\" is not an IP address");
  EXPECT_EQ(ErrorOf(Replace(m, "podCIDR: 10.244.1.0/24", "podCIDR: 10.244.1.5/24")),
            "node.yaml: node.podCIDR: 10.244.1.5/24 has host bits set (the network is 10.244.1.0/24)");
  EXPECT_EQ(ErrorOf(Replace(m, "podCIDR: 10.244.1.0/24", "podCIDR: 10.245.1.0/24")),
            "node.yaml: node.podCIDR: 10.245.1.0/24 is not inside clusterCIDR 10.244.0.0/16");
  EXPECT_EQ(ErrorOf(m + "dataplane: {snatPortRange: \"1000-2000\"}\n"),
            "node.yaml: dataplane.snatPortRange: \"1000-2000\" must lie within 1024-65535 with min <= max");
  EXPECT_EQ(ErrorOf(m + "dataplane: {snatPortRange: \"62000-61000\"}\n"),
            "node.yaml: dataplane.snatPortRange: \"62000-61000\" must lie within 1024-65535 with min <= max");
  EXPECT_EQ(ErrorOf(m + "dataplane: {snatPortRange: \"61000:62000\"}\n"),
            "node.yaml: dataplane.snatPortRange: \"61000:62000\" is not a port range (min-max)");
  EXPECT_EQ(ErrorOf(Replace(m, "role: uplink", "role: wan")),
            "node.yaml: ports[0].role: \"wan\" is not one of uplink, pod, host");
  EXPECT_EQ(ErrorOf(m + pod_port + "10.244.2.11\n"),
            "node.yaml: ports[1].podIP: 10.244.2.11 is not inside podCIDR 10.244.1.0/24");
  EXPECT_EQ(ErrorOf(m + pod_port + "10.244.1.1\n"), "node.yaml: ports[1].podIP: 10.244.1.1 is the pod gateway address");
  EXPECT_EQ(ErrorOf(m + "  - name: p1\n    role: pod\n    devargs: net_null0\n"),
            "node.yaml: ports[1].podIP: required for a pod port");
  EXPECT_EQ(ErrorOf(m + "  - name: uplink\n    role: host\n    devargs: net_tap0\n"),
            "node.yaml: ports[1].name: duplicate port name \"uplink\"");
  EXPECT_EQ(ErrorOf(m + "  - name: up2\n    role: uplink\n    devargs: net_null0\n"),
            "node.yaml: ports: exactly one port with role uplink is required, found 2");
  EXPECT_EQ(ErrorOf(m + "routes:\n  - prefix: 10.244.2.0/24\n    via: 192.168.100.11\n    port: nowhere\n"),
            "node.yaml: routes[0].port: no port is named \"nowhere\"");
  EXPECT_EQ(ErrorOf(m + "dataplane: {conntrackCapacity: lots}\n"),
            "node.yaml: dataplane.conntrackCapacity: expected an integer, got lots");
  EXPECT_EQ(ErrorOf(Replace(m, "kind: NodeConfig", "kind: Node")), "node.yaml: kind: expected NodeConfig");
  EXPECT_THAT(ErrorOf("node: [unclosed\n"), HasSubstr("node.yaml:"));
  EXPECT_THAT(ErrorOf("node: [unclosed\n"), HasSubstr("not valid YAML"));
}

TEST(NodeConfig, DevargsMustNameAnExistingDevice) {
  const std::string m = kMinimal;
  EXPECT_EQ(ErrorOf(m, FakeFilesystem({})),
            "node.yaml: ports[0].devargs: interface np-up does not exist (/sys/class/net/np-up)");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "net_af_xdp0,iface=np-up"), FakeFilesystem({})),
            "node.yaml: ports[0].devargs: interface np-up does not exist (/sys/class/net/np-up)");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "net_af_packet0")),
            "node.yaml: ports[0].devargs: net_af_packet0 needs iface=<interface>");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "0000:03:00.0")),
            "node.yaml: ports[0].devargs: PCI device 0000:03:00.0 does not exist (/sys/bus/pci/devices/0000:03:00.0)");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "03:00.0,txq_inline=0"),
                    FakeFilesystem({"/sys/bus/pci/devices/0000:03:00.0"})),
            "(no error)");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap")),
            "node.yaml: ports[0].devargs: pcap file /tmp/in.pcap does not exist");
  EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", "net_pcap0,rx_pcap=/tmp/in.pcap"),
                    FakeFilesystem({"/tmp/in.pcap"})),
            "(no error)");
  for (const char* creatable : {"net_tap0,iface=x", "net_null0", "net_ring0", "net_memif0,role=server"})
    EXPECT_EQ(ErrorOf(Replace(m, "net_af_packet0,iface=np-up", creatable), FakeFilesystem({})), "(no error)");

  std::vector<std::string> warnings;
  Result<NodeImage> image =
      ParseNodeConfig(Replace(m, "net_af_packet0,iface=np-up", "net_vhost0,iface=/tmp/sock"), "node.yaml",
                      FakeFilesystem({}), &warnings);
  EXPECT_TRUE(image.ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("node.yaml: ports[0].devargs: cannot check"));
}

TEST(NodeConfig, UnknownFieldsWarn) {
  std::vector<std::string> warnings;
  Result<NodeImage> image = ParseNodeConfig(std::string(kMinimal) + "extra: 1\n", "node.yaml", FakeFilesystem(), &warnings);
  EXPECT_TRUE(image.ok());
  EXPECT_THAT(warnings, ::testing::ElementsAre("node.yaml: extra: unknown field, ignored"));
}

TEST(NodeConfig, PodMacBecomesThePortsPeerMac) {
  const std::string pod_port = "  - name: p1\n    role: pod\n    devargs: net_null0\n    podIP: 10.244.1.11\n";
  Result<NodeImage> image =
      ParseNodeConfig(std::string(kMinimal) + pod_port + "    podMAC: \"0A:58:0a:f4:01:0B\"\n", "node.yaml", FakeFilesystem());
  ASSERT_TRUE(image.ok()) << image.error().message;
  ASSERT_EQ(image->ports.size(), 2u);
  const uint8_t expected[6] = {0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x0b};
  EXPECT_EQ(std::memcmp(image->ports[1].peer_mac, expected, 6), 0);
  const uint8_t unknown[6] = {};
  EXPECT_EQ(std::memcmp(image->ports[0].peer_mac, unknown, 6), 0);  // absent: learned at run time
  const std::vector<uint8_t> bytes = EncodeNodeSection(*image);
  Result<NodeImage> decoded = DecodeNodeSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(std::memcmp(decoded->ports[1].peer_mac, expected, 6), 0);
}

TEST(NodeConfig, PodMacErrorsNameTheField) {
  const std::string m = kMinimal;
  const std::string pod_port = "  - name: p1\n    role: pod\n    devargs: net_null0\n    podIP: 10.244.1.11\n    podMAC: ";
  EXPECT_EQ(ErrorOf(m + pod_port + "0a:58:0a:f4:01\n"),
            "node.yaml: ports[1].podMAC: \"0a:58:0a:f4:01\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(ErrorOf(m + pod_port + "0a-58-0a-f4-01-0b\n"),
            "node.yaml: ports[1].podMAC: \"0a-58-0a-f4-01-0b\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(ErrorOf(m + pod_port + "0a:58:0a:f4:01:zz\n"),
            "node.yaml: ports[1].podMAC: \"0a:58:0a:f4:01:zz\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  EXPECT_EQ(ErrorOf(m + pod_port + "ff:ff:ff:ff:ff:ff\n"),
            "node.yaml: ports[1].podMAC: ff:ff:ff:ff:ff:ff is a multicast/broadcast address, not a pod's MAC");
  EXPECT_EQ(ErrorOf(m + pod_port + "\"00:00:00:00:00:00\"\n"),
            "node.yaml: ports[1].podMAC: 00:00:00:00:00:00 is the all-zero address");
  EXPECT_EQ(ErrorOf(Replace(m, "devargs: \"net_af_packet0,iface=np-up\"\n",
                            "devargs: \"net_af_packet0,iface=np-up\"\n    podMAC: 0a:58:0a:f4:01:0b\n")),
            "node.yaml: ports[0].podMAC: only pod ports have a podMAC");
}

TEST(NodeConfig, EncodeDecodeRoundTrip) {
  Result<NodeImage> image = LoadNodeConfig(NP_CONTROL_FIXTURES "/node-a.yaml", FakeFilesystem());
  ASSERT_TRUE(image.ok()) << image.error().message;
  image->generation = 7;
  const std::vector<uint8_t> bytes = EncodeNodeSection(*image);
  Result<NodeImage> decoded = DecodeNodeSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->node_name, "node-a");
  EXPECT_EQ(decoded->port_names, image->port_names);
  EXPECT_EQ(decoded->port_devargs, image->port_devargs);
  EXPECT_EQ(decoded->info.pod_gateway_ipv4, image->info.pod_gateway_ipv4);
  ASSERT_EQ(decoded->routes.size(), 1u);
  EXPECT_EQ(decoded->routes[0].prefix, image->routes[0].prefix);
}

}  // namespace
}  // namespace np::config
