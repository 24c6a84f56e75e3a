// Zero packet loss caused by table updates (issue "Live table updates"):
// the real Loader and a real Worker (its own thread, running Worker::Run
// with RCU) over net_ring ports, traffic injected as fast as the worker
// takes it, and 100 services updates a second (endpoint churn, a Service
// removed and added back) published through the tables region while it
// flows. Proven with counters:
//  - every packet received is transmitted or dropped with a counted reason
//    (rx = tx + drops), and no drop is of a reason an update could cause
//    (tx queue full, no mbufs, conntrack full...);
//  - every established connection keeps its backend and loses no packet,
//    also when its backend leaves the EndpointSlice (TCP keeps its backend
//    while the connection lives, like kube-proxy's conntrack);
//  - new connections to the Service that comes and goes are DNATed while it
//    exists and forwarded untouched while it does not, never lost.
// The worker's longest busy loop (stats: longest_loop_cycles) is printed
// for a phase without updates and one with them: the worst stall a swap
// causes, on a machine where 2 vCPUs are shared by 4 threads here.
#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/stats_abi.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/packet/headers.h"
#include "dataplane/pipeline/worker.h"
#include "dataplane/route/node_tables.h"
#include "dataplane/runtime/stats_region.h"
#include "perf/micro/frames.h"
#include "tests/harness/in_process_dataplane.h"
#include "tests/harness/test_eal.h"

namespace np {
namespace {

namespace fs = std::filesystem;
using perf::Frame;
using perf::Ip;

constexpr uint64_t kGatewayMac = 0x02cc00000001ull;
constexpr uint64_t kUplinkMac = 0x02bb00000001ull;
constexpr int kStableServices = 8;       // svc-0..7: endpoints never change
constexpr int kChurnServices = 4;        // svc-8..11: one endpoint replaced per update
constexpr int kTransientService = 12;    // removed and added back
constexpr int kFlowsPerService = 32;
constexpr uint32_t kClientBase = Ip(10, 244, 2, 1);
constexpr uint64_t kInFlight = 1024;  // below every ring's 2048
constexpr int kUpdates = 300;

uint32_t ClusterIp(int service) { return Ip(10, 96, 1, static_cast<uint8_t>(service + 1)); }
std::string Quad(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." + std::to_string((ip >> 8) & 255) +
         "." + std::to_string(ip & 255);
}

class ScratchDirectory {
 public:
  ScratchDirectory() : path_(fs::temp_directory_path() / ("np-update-traffic-" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_ / "manifests");
  }
  ~ScratchDirectory() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// One file per Service (Service + EndpointSlice), backends 10.244.3.x on
// another node, reached through the uplink gateway.
void WriteService(const fs::path& dir, int service, const std::vector<int>& backends) {
  std::ofstream out(dir / ("svc-" + std::to_string(service) + ".yaml"));
  out << "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-" << service
      << "\n  namespace: default\nspec:\n  clusterIP: " << Quad(ClusterIp(service)) << "\n  clusterIPs: ["
      << Quad(ClusterIp(service)) << "]\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n    targetPort: 8080\n"
      << "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-" << service
      << "-x\n  namespace: default\n  labels:\n    kubernetes.io/service-name: svc-" << service
      << "\naddressType: IPv4\nendpoints:\n";
  for (int backend : backends)
    out << "- addresses: [10.244.3." << backend << "]\n  conditions: {ready: true}\n  nodeName: node-b\n";
  out << "ports:\n- name: http\n  port: 8080\n  protocol: TCP\n";
}

struct FlowKey {
  uint32_t client;
  uint16_t port;
  friend auto operator<=>(const FlowKey&, const FlowKey&) = default;
};

struct FlowSeen {
  uint64_t injected = 0;
  uint64_t transmitted = 0;
  uint32_t backend_ip = 0;
  uint16_t backend_port = 0;
  bool backend_changed = false;
};

class UpdateUnderTraffic : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(scratch_.path() / "node.yaml")
        << "apiVersion: nodeplane.io/v1alpha1\nkind: NodeConfig\nnode:\n  name: node-a\n"
           "  addresses: [192.168.100.10]\n  podCIDR: 10.244.1.0/24\n  clusterCIDR: 10.244.0.0/16\n"
           "  serviceCIDR: 10.96.0.0/12\n  uplinkGateway: 192.168.100.1\ndataplane:\n  conntrackCapacity: 65536\n"
           "  maglevSeed: 1\nports:\n  - name: uplink\n    role: uplink\n    devargs: net_ring_uplink\n";
    for (int s = 0; s < kTransientService + 1; ++s) {
      backends_[s] = {s * 16 + 1, s * 16 + 2, s * 16 + 3, s * 16 + 4};
      WriteService(manifests(), s, backends_[s]);
    }
    ASSERT_TRUE(dataplane_.Setup(scratch_.path() / "node.yaml")) << dataplane_.error();
    ASSERT_TRUE(dataplane_.PublishServices(manifests())) << dataplane_.error();
    uplink_ = dataplane_.PortNamed("uplink");
    ASSERT_NE(uplink_, nullptr);
    dataplane_.neighbors().Learn(Ip(192, 168, 100, 1), kGatewayMac, uplink_->port_id, dataplane_.shared().now_s.load());
    dataplane_.DrainAndFree();
  }

  static harness::InProcessOptions Options() {
    harness::InProcessOptions options;
    options.workers = 1;
    options.mbufs = 16383;
    options.mbuf_cache = 0;  // the generator and the drain are not EAL threads
    options.ring_size = 2048;
    options.instance_prefix = "updtraffic";
    return options;
  }
  fs::path manifests() const { return scratch_.path() / "manifests"; }

  // Injects `frame` on the uplink's rx ring, waiting while the ring is full
  // (the generator never drops: every loss must be the dataplane's).
  bool Inject(const Frame& frame) {
    rte_mbuf* mbuf = nullptr;
    while ((mbuf = rte_pktmbuf_alloc(dataplane_.shared().pool)) == nullptr) {
      if (!running_.load()) return false;
      std::this_thread::yield();
    }
    std::memcpy(rte_pktmbuf_mtod(mbuf, void*), frame.data(), frame.size());
    mbuf->data_len = static_cast<uint16_t>(frame.size());
    mbuf->pkt_len = static_cast<uint32_t>(frame.size());
    // Closed loop: at most kInFlight packets between injection and the
    // drain, so the tx rings (like a NIC's) never overflow because this
    // test's drain thread was descheduled.
    while (injected_.load(std::memory_order_relaxed) - Accounted() >= kInFlight) {
      if (!running_.load()) {
        rte_pktmbuf_free(mbuf);
        return false;
      }
      std::this_thread::yield();
    }
    while (rte_ring_enqueue(uplink_->rx, mbuf) != 0) std::this_thread::yield();
    injected_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  uint64_t Accounted() const {
    const stats::LcoreCounters& counters = dataplane_.counters(0);
    uint64_t dropped = 0;
    for (const auto& count : counters.drops) dropped += count.load(std::memory_order_relaxed);
    return transmitted_.load(std::memory_order_relaxed) + dropped;
  }

  // Frees what the worker transmitted, remembering each connection's backend.
  void Drain() {
    void* objects[64];
    while (draining_.load() || [&] {
      for (rte_ring* ring : uplink_->tx)
        if (rte_ring_count(ring) > 0) return true;
      return false;
    }()) {
      bool any = false;
      for (rte_ring* ring : uplink_->tx) {
        const unsigned count = rte_ring_dequeue_burst(ring, objects, 64, nullptr);
        any |= count > 0;
        for (unsigned i = 0; i < count; ++i) {
          auto* mbuf = static_cast<rte_mbuf*>(objects[i]);
          Account(rte_pktmbuf_mtod(mbuf, const uint8_t*), rte_pktmbuf_data_len(mbuf));
          rte_pktmbuf_free(mbuf);
        }
      }
      if (!any) std::this_thread::yield();
    }
  }

  void Account(const uint8_t* frame, uint32_t length) {
    if (length < 54 || LoadBe16(frame + 12) != 0x0800 || frame[14 + 9] != 6) {
      other_transmitted_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    transmitted_.fetch_add(1, std::memory_order_relaxed);
    const uint32_t source = LoadBe32(frame + 26), destination = LoadBe32(frame + 30);
    const uint16_t source_port = LoadBe16(frame + 34), destination_port = LoadBe16(frame + 36);
    std::lock_guard lock(flows_mutex_);  // test bookkeeping, not the dataplane
    FlowSeen& flow = flows_[{source, source_port}];
    if (flow.transmitted++ == 0) {
      flow.backend_ip = destination;
      flow.backend_port = destination_port;
    } else if (flow.backend_ip != destination || flow.backend_port != destination_port) {
      flow.backend_changed = true;
    }
  }

  // Runs traffic for `duration` or, when `update` is given, until it was
  // called `update_count` times, once every `period` at most (a slow
  // machine takes longer; the rate achieved is reported). Returns the
  // updates done.
  int RunPhase(std::chrono::milliseconds duration, std::chrono::milliseconds period, int update_count,
               const std::function<void(int)>& update, double* worst_apply_ms) {
    if (!update) {
      std::this_thread::sleep_for(duration);
      return 0;
    }
    auto next = std::chrono::steady_clock::now() + period;
    int updates = 0;
    while (updates < update_count && !::testing::Test::HasFatalFailure()) {
      std::this_thread::sleep_until(next);
      next = std::max(next + period, std::chrono::steady_clock::now());
      const auto start = std::chrono::steady_clock::now();
      update(updates++);
      *worst_apply_ms = std::max(
          *worst_apply_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    return updates;
  }

  ScratchDirectory scratch_;
  harness::InProcessDataplane dataplane_{Options()};
  const harness::RingPort* uplink_ = nullptr;
  std::map<int, std::vector<int>> backends_;
  std::atomic<bool> running_{true};
  std::atomic<bool> draining_{true};
  std::atomic<uint64_t> injected_{0};
  std::atomic<uint64_t> transmitted_{0};
  std::atomic<uint64_t> other_transmitted_{0};
  std::mutex flows_mutex_;
  std::map<FlowKey, FlowSeen> flows_;
};

TEST_F(UpdateUnderTraffic, HundredUpdatesASecondLoseNoPacketAndBreakNoConnection) {
  // Established connections: SYN once, then ACKs round-robin, to the stable
  // and the churned Services. Probes: one SYN per new connection to the
  // transient Service.
  std::vector<FlowKey> established;
  std::map<FlowKey, uint64_t> injected_per_flow;
  for (int s = 0; s < kStableServices + kChurnServices; ++s)
    for (int f = 0; f < kFlowsPerService; ++f)
      established.push_back({kClientBase + static_cast<uint32_t>(s), static_cast<uint16_t>(20000 + f)});
  std::atomic<uint64_t> probes{0};

  std::thread worker([&] { dataplane_.worker(0).Run(); });
  std::thread drain([&] { Drain(); });
  std::atomic<bool> generating{true};
  std::thread generator([&] {
    auto frame_for = [](const FlowKey& flow, uint8_t flags) {
      const int service = static_cast<int>(flow.client - kClientBase);
      return perf::TcpFrame(kGatewayMac, kUplinkMac, flow.client, ClusterIp(service), flow.port, 80, flags);
    };
    for (const FlowKey& flow : established) {
      Inject(frame_for(flow, 0x02));
      ++injected_per_flow[flow];
    }
    uint16_t probe_port = 1024;
    for (uint64_t round = 0; generating.load(); ++round) {
      for (const FlowKey& flow : established) {
        if (!Inject(frame_for(flow, 0x10))) return;
        ++injected_per_flow[flow];
      }
      Inject(perf::TcpFrame(kGatewayMac, kUplinkMac, Ip(10, 244, 4, 1), ClusterIp(kTransientService), probe_port++, 80,
                            0x02));
      probes.fetch_add(1);
      if (probe_port == 0) probe_port = 1024;
    }
  });

  stats::LcoreCounters& counters = dataplane_.stats().lcore(0);
  double unused = 0;
  RunPhase(std::chrono::milliseconds(1000), std::chrono::milliseconds(0), 0, nullptr, &unused);
  const uint64_t quiet_longest = counters.longest_loop_cycles.load();
  const uint64_t quiet_packets = injected_.load();
  counters.longest_loop_cycles.store(0);

  int next_backend = 200;
  double worst_apply_ms = 0;
  const auto updates_start = std::chrono::steady_clock::now();
  const uint64_t packets_before_updates = injected_.load();
  const int updates = RunPhase(std::chrono::milliseconds(0), std::chrono::milliseconds(10), kUpdates, [&](int n) {
    if (n % 4 == 3) {  // the transient Service goes, or comes back
      const fs::path file = manifests() / ("svc-" + std::to_string(kTransientService) + ".yaml");
      if (fs::exists(file)) fs::remove(file);
      else WriteService(manifests(), kTransientService, backends_[kTransientService]);
    } else {  // one endpoint of a churned Service replaced by a new one
      const int service = kStableServices + n % kChurnServices;
      std::vector<int>& backends = backends_[service];
      backends.erase(backends.begin());
      backends.push_back(next_backend++ % 250 + 1);
      WriteService(manifests(), service, backends);
    }
    ASSERT_TRUE(dataplane_.PublishServices(manifests())) << dataplane_.error();
  }, &worst_apply_ms);
  const double update_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - updates_start).count();
  const uint64_t update_packets = injected_.load() - packets_before_updates;

  generating = false;
  generator.join();
  // Let the worker empty its rx ring, then stop it and the drain.
  while (rte_ring_count(uplink_->rx) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dataplane_.shared().stop = true;
  worker.join();
  running_ = false;
  draining_ = false;
  drain.join();
  const uint64_t updates_longest = counters.longest_loop_cycles.load();
  const uint64_t swap_longest = counters.longest_swap_loop_cycles.load();

  // rx = tx + drops, by the dataplane's own counters and by what came out.
  const stats::PortCounters& uplink_counters = counters.ports[dataplane_.node_tables().port(dataplane_.SlotOf(*uplink_)).counter_slot];
  uint64_t drops = 0;
  for (size_t reason = 0; reason < static_cast<size_t>(stats::DropReason::kCount); ++reason) {
    const uint64_t count = counters.drops[reason].load();
    drops += count;
    if (count > 0) std::printf("drops %s: %llu\n", stats::kDropReasonNames[reason], static_cast<unsigned long long>(count));
    EXPECT_EQ(count, 0u) << "no packet of this test may be dropped, yet " << stats::kDropReasonNames[reason] << " counted "
                         << count;
  }
  EXPECT_EQ(uplink_counters.rx_packets.load(), injected_.load());
  EXPECT_EQ(transmitted_.load() + drops, injected_.load()) << "packets lost without a counted reason";

  // Established connections: every packet out, always to the same backend.
  uint64_t broken = 0, moved = 0;
  for (const FlowKey& flow : established) {
    const FlowSeen& seen = flows_[flow];
    broken += seen.transmitted != injected_per_flow[flow];
    moved += seen.backend_changed;
  }
  EXPECT_EQ(broken, 0u) << "established connections lost packets";
  EXPECT_EQ(moved, 0u) << "established connections changed backend";
  // Probes to the transient Service: DNATed to one of its backends while it
  // existed, forwarded to its ClusterIP (the gateway) while it did not.
  uint64_t probes_dnat = 0, probes_plain = 0;
  for (const auto& [flow, seen] : flows_) {
    if (flow.client != Ip(10, 244, 4, 1)) continue;
    if (seen.backend_ip == ClusterIp(kTransientService)) ++probes_plain;
    else ++probes_dnat;
  }
  EXPECT_EQ(probes_dnat + probes_plain, probes.load());
  EXPECT_GT(probes_dnat, 0u);
  EXPECT_GT(probes_plain, 0u);
  EXPECT_EQ(updates, kUpdates);

  const double tsc_us = static_cast<double>(rte_get_tsc_hz()) / 1e6;
  std::printf(
      "update-under-traffic: %d updates in %.2f s (%.0f/s; worst publish+apply %.2f ms), %llu packets during updates "
      "(%.2f Mpps; %llu without updates in 1 s), %zu established connections, %llu probe connections (%llu DNAT, %llu "
      "to an absent Service), 0 lost; worker's longest busy loop: %.1f us without updates, %.1f us with updates, %.1f us in a loop that met a "
      "new snapshot\n",
      updates, update_seconds, updates / update_seconds, worst_apply_ms, static_cast<unsigned long long>(update_packets),
      update_packets / update_seconds / 1e6, static_cast<unsigned long long>(quiet_packets), established.size(),
      static_cast<unsigned long long>(probes.load()), static_cast<unsigned long long>(probes_dnat),
      static_cast<unsigned long long>(probes_plain), quiet_longest / tsc_us, updates_longest / tsc_us, swap_longest / tsc_us);
}

}  // namespace
}  // namespace np

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!np::harness::InitTestEal("np-update-traffic", "np-update-traffic-" + std::to_string(getpid()), 512)) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  const int result = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return result;
}
