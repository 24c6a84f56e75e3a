// Ports are ethdevs named by devargs and probed at run time
// (rte_dev_probe), so the node config can add and remove them while the
// dataplane runs: the loader attaches new ports before it publishes a node
// snapshot that uses them, and detaches removed ones only after an RCU grace
// period proves no worker polls them any more.
//
// Queues: one rx queue per worker where the PMD allows (RSS spreads flows),
// one tx queue per worker plus one for the main lcore's slow-path sends, so
// no tx queue is ever shared by two threads.
#pragma once

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/result.h"

namespace np {

struct AttachedPort {
  std::string name;
  std::string devargs;
  uint16_t dpdk_port = 0;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint64_t mac = 0;
};

class PortManager {
 public:
  PortManager(rte_mempool* pool, uint16_t worker_count) : pool_(pool), worker_count_(worker_count) {}
  ~PortManager();

  // Idempotent for an unchanged (name, devargs).
  Result<AttachedPort> Attach(const std::string& name, const std::string& devargs, uint16_t rx_queues_wanted);
  void Detach(const std::string& name);
  void DetachAll();
  const std::map<std::string, AttachedPort>& attached() const { return ports_; }
  uint16_t slow_path_tx_queue(const AttachedPort& port) const {
    return static_cast<uint16_t>(port.tx_queues - 1);
  }

  static bool LinkUp(uint16_t dpdk_port);

 private:
  rte_mempool* pool_;
  uint16_t worker_count_;
  std::map<std::string, AttachedPort> ports_;
};

}  // namespace np
