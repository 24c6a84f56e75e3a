#include "dataplane/port/port_manager.h"

#include <rte_bus.h>
#include <rte_dev.h>

#include <algorithm>

#include "dataplane/neighbor/neighbor_table.h"

namespace np {
namespace {

constexpr uint16_t kRxDescriptors = 1024;
constexpr uint16_t kTxDescriptors = 1024;

std::string DeviceName(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

Error PortError(const std::string& name, const std::string& what, int code) {
  return MakeError("port " + name + ": " + what + " (" + rte_strerror(code < 0 ? -code : code) + ")");
}

}  // namespace

PortManager::~PortManager() { DetachAll(); }

Result<AttachedPort> PortManager::Attach(const std::string& name, const std::string& devargs,
                                         uint16_t rx_queues_wanted) {
  if (auto found = ports_.find(name); found != ports_.end()) {
    if (found->second.devargs == devargs) return found->second;
    Detach(name);
  }
  const std::string device = DeviceName(devargs);
  uint16_t dpdk_port = 0;
  if (rte_eth_dev_get_port_by_name(device.c_str(), &dpdk_port) != 0) {
    if (int rc = rte_dev_probe(devargs.c_str()); rc != 0)
      return PortError(name, "cannot probe device '" + devargs + "'", rc);
    if (rte_eth_dev_get_port_by_name(device.c_str(), &dpdk_port) != 0)
      return MakeError("port " + name + ": device '" + device + "' was probed but is not an ethdev");
  }
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(dpdk_port, &info); rc != 0) return PortError(name, "no device info", rc);

  AttachedPort port{name, devargs, dpdk_port, 0, 0, 0};
  port.rx_queues = std::max<uint16_t>(1, std::min<uint16_t>({rx_queues_wanted, worker_count_, info.max_rx_queues}));
  // Socket-based PMDs open all their queues at probe time and spread
  // packets over them (af_packet's fanout): every one must be polled.
  const std::string driver = info.driver_name == nullptr ? "" : info.driver_name;
  if (driver == "net_af_packet" || driver == "net_af_xdp") port.rx_queues = info.max_rx_queues;
  port.tx_queues = std::min<uint16_t>(static_cast<uint16_t>(worker_count_ + 1), info.max_tx_queues);
  if (port.tx_queues < worker_count_ + 1)
    return MakeError("port " + name + ": the device has " + std::to_string(info.max_tx_queues) +
                     " tx queues, " + std::to_string(worker_count_ + 1) + " are needed (one per worker + slow path)");

  rte_eth_conf conf{};
  if (port.rx_queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_SCTP);
  }
  if (int rc = rte_eth_dev_configure(dpdk_port, port.rx_queues, port.tx_queues, &conf); rc != 0)
    return PortError(name, "cannot configure", rc);
  uint16_t rx_descriptors = kRxDescriptors;
  uint16_t tx_descriptors = kTxDescriptors;
  rte_eth_dev_adjust_nb_rx_tx_desc(dpdk_port, &rx_descriptors, &tx_descriptors);
  const int socket = rte_eth_dev_socket_id(dpdk_port);
  for (uint16_t queue = 0; queue < port.rx_queues; ++queue)
    if (int rc = rte_eth_rx_queue_setup(dpdk_port, queue, rx_descriptors, socket, nullptr, pool_); rc != 0)
      return PortError(name, "cannot set up rx queue " + std::to_string(queue), rc);
  for (uint16_t queue = 0; queue < port.tx_queues; ++queue)
    if (int rc = rte_eth_tx_queue_setup(dpdk_port, queue, tx_descriptors, socket, nullptr); rc != 0)
      return PortError(name, "cannot set up tx queue " + std::to_string(queue), rc);
  if (int rc = rte_eth_dev_start(dpdk_port); rc != 0) return PortError(name, "cannot start", rc);
  rte_eth_promiscuous_enable(dpdk_port);  // not every PMD supports it; best effort
  rte_ether_addr mac{};
  rte_eth_macaddr_get(dpdk_port, &mac);
  port.mac = NeighborTable::MacFromBytes(mac.addr_bytes);
  // Some virtual devices (net_ring) have no address: use a stable, locally
  // administered one, 02:6e:70:00:00:<port id + 1> ("np").
  if (port.mac == 0) port.mac = 0x026e70000000ull | static_cast<uint64_t>(dpdk_port + 1);
  ports_[name] = port;
  return port;
}

void PortManager::Detach(const std::string& name) {
  auto found = ports_.find(name);
  if (found == ports_.end()) return;
  const uint16_t dpdk_port = found->second.dpdk_port;
  rte_eth_dev_info info{};
  const bool have_info = rte_eth_dev_info_get(dpdk_port, &info) == 0;
  rte_eth_dev_stop(dpdk_port);
  rte_eth_dev_close(dpdk_port);
  if (have_info && info.device != nullptr) rte_dev_remove(info.device);
  ports_.erase(found);
}

void PortManager::DetachAll() {
  while (!ports_.empty()) Detach(ports_.begin()->first);
}

bool PortManager::LinkUp(uint16_t dpdk_port) {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(dpdk_port, &link) != 0) return false;
  return link.link_status == RTE_ETH_LINK_UP;
}

}  // namespace np
