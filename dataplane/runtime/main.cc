// nodeplane-dataplane: EAL init, then the loader on the main lcore and one
// run-to-completion worker per other lcore.
//
//   nodeplane-dataplane [EAL options] -- --instance NAME
//
// Everything else (ports, addresses, tables) comes from the control plane
// through the tables region; this process never reads YAML.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/shm_region.h"
#include "common/allocator_tuning.h"
#include "dataplane/runtime/conntrack_memory.h"
#include "dataplane/flows/flow_region.h"
#include "dataplane/runtime/debug_region.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/pipeline/worker.h"
#include "dataplane/port/port_manager.h"
#include "dataplane/runtime/loader.h"
#include "dataplane/runtime/shared_state.h"
#include "dataplane/runtime/stats_region.h"

namespace {

struct Options {
  std::string instance = "default";
  // Packets wait in rx rings, tx rings and worker batches of every port;
  // net_pcap also keeps a whole infinite_rx file in mbufs.
  unsigned mbufs = 16383;
};

bool ParseOptions(int argc, char** argv, Options& options) {
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--instance" && i + 1 < argc) {
      options.instance = argv[++i];
    } else if (arg == "--mbufs" && i + 1 < argc) {
      options.mbufs = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--help" || arg == "-h") {
      std::printf("usage: nodeplane-dataplane [EAL options] -- [--instance NAME] [--mbufs N]\n");
      return false;
    } else {
      std::fprintf(stderr, "nodeplane-dataplane: unknown option '%s'\n", arg.c_str());
      return false;
    }
  }
  return true;
}

// SIGINT/SIGTERM arrive through a signalfd polled by the main lcore: no
// signal handler and no global flag.
int BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

bool TerminationRequested(int signal_fd, int timeout_ms) {
  pollfd descriptor{signal_fd, POLLIN, 0};
  if (poll(&descriptor, 1, timeout_ms) <= 0) return false;
  signalfd_siginfo info{};
  return read(signal_fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info));
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "nodeplane-dataplane: %s\n", message.c_str());
  return 1;
}

int RunWorker(void* argument) {
  static_cast<np::Worker*>(argument)->Run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  np::KeepTableMemoryMapped();
  const int signal_fd = BlockTerminationSignals();  // before EAL starts its threads
  const int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) return Fail(std::string("EAL init failed: ") + rte_strerror(rte_errno));
  Options options;
  if (!ParseOptions(argc - eal_args - 1, argv + eal_args + 1, options)) {
    rte_eal_cleanup();
    return 2;
  }
  const unsigned worker_count = rte_lcore_count() - 1;
  if (worker_count == 0 || worker_count > np::stats::kMaxLcores) {
    rte_eal_cleanup();
    return Fail("give the EAL 2 to 17 lcores (-l): the main lcore loads tables, the others forward");
  }

  int exit_code = 0;
  {
    auto stats = np::StatsRegion::Create(options.instance);
    if (!stats) return Fail(stats.error().message);
    // One ring per worker, the last one for the main lcore's sweeper.
    auto flows = np::flows::FlowRegion::Create(options.instance, worker_count + 1);
    if (!flows) return Fail(flows.error().message);
    // npctl trace/capture talk to the workers through this file.
    auto debug = np::DebugRegion::Create(options.instance, worker_count);
    if (!debug) return Fail(debug.error().message);

    // The tables region is created by the control plane: wait for it.
    std::optional<np::TablesRegion> region;
    std::string last_error;
    bool terminated = false;
    while (!region && !terminated) {
      auto opened = np::TablesRegion::Open(options.instance);
      if (opened) {
        region.emplace(std::move(opened).value());
      } else {
        if (opened.error().message != last_error)
          std::fprintf(stderr, "nodeplane-dataplane: waiting for the control plane: %s\n",
                       opened.error().message.c_str());
        last_error = opened.error().message;
        terminated = TerminationRequested(signal_fd, 200);
      }
    }
    if (terminated) {
      rte_eal_cleanup();
      return 0;
    }
    region->ReportBoot(static_cast<uint32_t>(getpid()));

    stats->header().tsc_hz = rte_get_tsc_hz();
    np::SharedState shared;
    shared.worker_count = static_cast<uint16_t>(worker_count);
    shared.stats = &*stats;
    shared.flows = &*flows;
    shared.debug = &debug->header();
    shared.pool =
        rte_pktmbuf_pool_create("np_mbufs", options.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (shared.pool == nullptr) return Fail(std::string("cannot create the mbuf pool: ") + rte_strerror(rte_errno));
    const size_t rcu_bytes = rte_rcu_qsbr_get_memsize(np::RcuThreadCount(worker_count));
    shared.rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("np_rcu", rcu_bytes, RTE_CACHE_LINE_SIZE));
    if (shared.rcu == nullptr || rte_rcu_qsbr_init(shared.rcu, np::RcuThreadCount(worker_count)) != 0)
      return Fail("cannot set up RCU");

    np::PortManager ports(shared.pool, static_cast<uint16_t>(worker_count));
    np::Loader loader(shared, *region, ports, *stats);
    std::printf("nodeplane-dataplane: instance %s, %u worker lcore(s); waiting for the node tables\n",
                options.instance.c_str(), worker_count);
    std::fflush(stdout);
    while (!loader.has_node() && !terminated) {
      loader.Tick();
      loader.Poll();
      terminated = TerminationRequested(signal_fd, 10);
    }

    std::unique_ptr<np::NeighborTable> neighbors;
    std::optional<np::ConntrackMemory> conntrack;
    std::vector<std::unique_ptr<np::Worker>> workers;
    if (!terminated) {
      const np::abi::NodeInfo& info = loader.first_node_image()->info;
      neighbors = std::make_unique<np::NeighborTable>(info.neighbor_capacity);
      shared.neighbors = neighbors.get();
      auto attached = np::ConntrackMemory::OpenOrCreate(options.instance, info.conntrack_capacity,
                                                         np::ct::Timeouts::FromNodeInfo(info));
      if (!attached) return Fail(attached.error().message);
      conntrack.emplace(std::move(attached).value());
      shared.conntrack = &conntrack->table();
      shared.affinity = &conntrack->affinity();

      unsigned index = 0;
      unsigned lcore_id = 0;
      RTE_LCORE_FOREACH_WORKER(lcore_id) {
        workers.push_back(std::make_unique<np::Worker>(shared, static_cast<uint16_t>(index)));
        stats->header().worker_lcores[index].store(lcore_id, std::memory_order_relaxed);
        ++index;
      }
      stats->header().lcore_count = static_cast<uint32_t>(workers.size());
      index = 0;
      RTE_LCORE_FOREACH_WORKER(lcore_id) {
        rte_eal_remote_launch(RunWorker, workers[index++].get(), lcore_id);
      }
      std::printf("nodeplane-dataplane: forwarding\n");
      std::fflush(stdout);
      while (!terminated) {
        loader.Tick();
        loader.Poll();
        terminated = TerminationRequested(signal_fd, 1);
      }
    }
    std::printf("nodeplane-dataplane: stopping\n");
    shared.stop.store(true, std::memory_order_release);
    rte_eal_mp_wait_lcore();
    ports.DetachAll();
    rte_free(shared.rcu);
  }
  rte_eal_cleanup();
  return exit_code;
}
