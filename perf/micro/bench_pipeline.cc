// The whole per-packet pipeline, in one process: the real loader and
// Worker::ProcessBurst over net_ring ports, as tests/pcap/replay.cc drives
// them (the set-up below is the same sequence; see RESULTS.md for the
// proposal to share it in a harness library).
//
//   np-bench-pipeline [EAL options] -- [benchmark options]
//   (defaults: --no-huge -m 1024 --no-pci --no-shconf -l 0 when no EAL options)
//
// Each iteration is one burst of 32 frames received on the uplink: mbufs are
// allocated and filled (what a PMD does), ProcessBurst + Flush run, and the
// transmitted mbufs are drained from the tx rings and freed (what a NIC
// does). BM_PipelineHarnessOnly measures that rx/tx scaffolding alone so its
// cost can be subtracted.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/shm_region.h"
#include "control/compile/routes_compiler.h"
#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/pipeline/worker.h"
#include "dataplane/port/port_manager.h"
#include "dataplane/runtime/conntrack_memory.h"
#include "dataplane/runtime/loader.h"
#include "dataplane/runtime/stats_region.h"
#include "perf/micro/frames.h"

#ifndef NP_PIPELINE_CASE
#error "NP_PIPELINE_CASE must name the directory with node.yaml and manifests/"
#endif

namespace fs = std::filesystem;

namespace np::perf {
namespace {

constexpr uint32_t kBurst = kBurstSize;
constexpr uint64_t kGatewayMac = 0x02cc00000001ull;
constexpr uint64_t kUplinkMac = 0x02bb00000001ull;
constexpr uint32_t kVip = Ip(10, 96, 0, 10);
constexpr uint32_t kNode = Ip(192, 168, 100, 10);

class Pipeline {
 public:
  bool Setup(const fs::path& case_dir);
  ~Pipeline() {
    for (const char* what : {"tables", "stats", "conntrack", "affinity"})
      SharedMemoryFile::Remove(ShmName(instance_, what));
  }

  // One burst: frames in on the uplink, through the worker, out and freed.
  // Returns packets transmitted.
  uint32_t Burst(const Frame* frames, uint32_t count, bool process = true) {
    rte_mbuf* mbufs[kBurst];
    if (rte_pktmbuf_alloc_bulk(shared_.pool, mbufs, count) != 0) return 0;
    for (uint32_t i = 0; i < count; ++i) {
      std::memcpy(rte_pktmbuf_mtod(mbufs[i], void*), frames[i].data(), kFrameLength);
      mbufs[i]->data_len = kFrameLength;
      mbufs[i]->pkt_len = kFrameLength;
    }
    if (process) {
      worker_->ProcessBurst(*node_, shared_.services.load(std::memory_order_acquire), uplink_slot_, mbufs,
                            static_cast<uint16_t>(count));
      worker_->Flush(*node_);
    } else {
      const uint16_t sent = rte_eth_tx_burst(pod_port_, 0, mbufs, static_cast<uint16_t>(count));
      for (uint16_t i = sent; i < count; ++i) rte_pktmbuf_free(mbufs[i]);
    }
    uint32_t transmitted = 0;
    void* objects[2 * kBurst];
    for (rte_ring* ring : tx_rings_) {
      unsigned n;
      while ((n = rte_ring_dequeue_burst(ring, objects, std::size(objects), nullptr)) > 0) {
        rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(objects), n);
        transmitted += n;
      }
    }
    return transmitted;
  }
  const stats::LcoreCounters& counters() const { return stats_->lcore(0); }
  uint64_t ConntrackInserts() const { return counters().conntrack_inserts.load(); }
  // Empties the conntrack table between benchmark runs (untimed): each run
  // sees only its own flows, and SNAT ports are free again.
  void ClearConntrack() {
    ct::Table& table = conntrack_->table();
    std::vector<uint32_t> live;
    table.ForEach([&](const ct::EntrySnapshot& entry) { live.push_back(entry.index); });
    for (uint32_t entry : live) table.Remove(entry);
    table.Reclaim(table.DetachRetired());
  }
  uint32_t ConntrackEntries() { return static_cast<uint32_t>(conntrack_->table().ReadCounters().entries); }

 private:
  bool Fail(const std::string& message) {
    std::fprintf(stderr, "np-bench-pipeline: %s\n", message.c_str());
    return false;
  }

  std::string instance_ = "benchpipe" + std::to_string(getpid());
  NodeImage image_;
  std::optional<TablesRegion> region_;
  std::optional<StatsRegion> stats_;
  std::optional<ConntrackMemory> conntrack_;
  std::unique_ptr<NeighborTable> neighbors_;
  SharedState shared_;
  std::unique_ptr<PortManager> port_manager_;
  std::unique_ptr<Loader> loader_;
  std::unique_ptr<Worker> worker_;
  std::vector<rte_ring*> tx_rings_;
  const NodeTables* node_ = nullptr;
  uint8_t uplink_slot_ = 0;
  uint16_t pod_port_ = 0;
};

bool Pipeline::Setup(const fs::path& case_dir) {
  auto node = config::LoadNodeConfig(case_dir / "node.yaml");
  if (!node) return Fail(node.error().message);
  image_ = std::move(node).value();
  constexpr uint16_t kWorkers = 1;
  for (size_t i = 0; i < image_.ports.size(); ++i) {
    const std::string device = image_.port_devargs[i].substr(0, image_.port_devargs[i].find(','));
    if (device.rfind("net_ring_", 0) != 0) return Fail("net_ring_<name> ports only");
    rte_ring* rx = rte_ring_create(("rx_" + device).c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    std::vector<rte_ring*> tx;
    for (int queue = 0; queue <= kWorkers; ++queue)
      tx.push_back(rte_ring_create(("tx" + std::to_string(queue) + "_" + device).c_str(), 1024, SOCKET_ID_ANY,
                                   RING_F_SP_ENQ | RING_F_SC_DEQ));
    for (rte_ring* ring : tx)
      if (rx == nullptr || ring == nullptr) return Fail("cannot create rings");
    if (rte_eth_from_rings(device.substr(9).c_str(), &rx, 1, tx.data(), static_cast<unsigned>(tx.size()),
                           SOCKET_ID_ANY) < 0)
      return Fail("cannot create ring port " + device);
    tx_rings_.insert(tx_rings_.end(), tx.begin(), tx.end());
  }
  auto region = TablesRegion::OpenOrCreate(instance_, DefaultRegionLayout());
  if (!region) return Fail(region.error().message);
  region_.emplace(std::move(region).value());
  auto stats = StatsRegion::Create(instance_);
  if (!stats) return Fail(stats.error().message);
  stats_.emplace(std::move(stats).value());
  shared_.worker_count = kWorkers;
  shared_.stats = &*stats_;
  shared_.pool = rte_pktmbuf_pool_create("bench_mbufs", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  auto* rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_rcu", rte_rcu_qsbr_get_memsize(kWorkers), 64));
  if (shared_.pool == nullptr || rcu == nullptr || rte_rcu_qsbr_init(rcu, kWorkers) != 0) return Fail("no memory");
  shared_.rcu = rcu;
  port_manager_ = std::make_unique<PortManager>(shared_.pool, kWorkers);
  loader_ = std::make_unique<Loader>(shared_, *region_, *port_manager_, *stats_);
  k8s::ClusterState empty;
  image_.routes = compile::CompileRoutes(empty, image_);
  image_.generation = 1;
  if (auto status = region_->Publish(abi::SectionKind::kNode, EncodeNodeSection(image_), 1); !status)
    return Fail(status.error().message);
  loader_->Tick();
  loader_->Poll();
  if (!loader_->has_node()) return Fail("node refused: " + region_->RefusalReason(abi::SectionKind::kNode));
  neighbors_ = std::make_unique<NeighborTable>(image_.info.neighbor_capacity);
  shared_.neighbors = neighbors_.get();
  auto conntrack = ConntrackMemory::OpenOrCreate(instance_, image_.info.conntrack_capacity,
                                                 ct::Timeouts::FromNodeInfo(image_.info));
  if (!conntrack) return Fail(conntrack.error().message);
  conntrack_.emplace(std::move(conntrack).value());
  shared_.conntrack = &conntrack_->table();
  shared_.affinity = &conntrack_->affinity();
  worker_ = std::make_unique<Worker>(shared_, 0);

  auto loaded = k8s::LoadManifestDirectory(case_dir / "manifests");
  if (!loaded) return Fail(loaded.error().message);
  auto compiled = compile::CompileServices(loaded->state, image_);
  compiled.image.generation = 2;
  if (auto status = region_->Publish(abi::SectionKind::kServices, EncodeServicesSection(compiled.image), 2); !status)
    return Fail(status.error().message);
  loader_->Poll();
  if (region_->AppliedGeneration(abi::SectionKind::kServices) != 2)
    return Fail("services refused: " + region_->RefusalReason(abi::SectionKind::kServices));
  node_ = shared_.node.load();
  uint16_t uplink_port = 0;
  rte_eth_dev_get_port_by_name("net_ring_uplink", &uplink_port);
  rte_eth_dev_get_port_by_name("net_ring_poda", &pod_port_);
  uplink_slot_ = node_->SlotOfDpdkPort(uplink_port);
  // The gateway's MAC: an ARP reply would teach it; the benchmark sends none.
  neighbors_->Learn(Ip(192, 168, 100, 1), kGatewayMac, uplink_port, shared_.now_s.load());
  Burst(nullptr, 0);  // drains the gratuitous ARPs
  return true;
}

Pipeline* g_pipeline = nullptr;

void Report(benchmark::State& state, uint64_t tsc_start, uint64_t packets) {
  state.counters["ns/pkt"] =
      benchmark::Counter(static_cast<double>(packets), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["tsc/pkt"] = static_cast<double>(rte_rdtsc() - tsc_start) / static_cast<double>(packets);
  state.SetItemsProcessed(static_cast<int64_t>(packets));
}

// In-cluster client (a pod on another node, 10.244.2.1 upwards) to the
// ClusterIP, DNAT only.
Frame ClusterIpFrame(uint32_t flow, uint8_t flags) {
  return TcpFrame(kGatewayMac, kUplinkMac, Ip(10, 244, 2, 1) + (flow >> 14),
                  kVip, static_cast<uint16_t>(10000 + (flow & 0x3fff)), 80, flags);
}
// External client to the NodePort: DNAT + SNAT to the node IP.
Frame NodePortFrame(uint32_t flow, uint8_t flags) {
  return TcpFrame(kGatewayMac, kUplinkMac, Ip(172, 16, 0, 0) + (flow >> 14), kNode,
                  static_cast<uint16_t>(10000 + (flow & 0x3fff)), 30080, flags);
}

// Established flows: the conntrack entries are created by a SYN of each
// flow first (untimed), then ACKs of `flows` flows cycle through.
void BM_PipelineEstablished(benchmark::State& state) {
  static uint32_t flow_base = 0;
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  g_pipeline->ClearConntrack();
  std::vector<Frame> frames;
  for (uint32_t f = 0; f < flows; ++f) frames.push_back(ClusterIpFrame(flow_base + f, 0x02));
  const uint64_t inserts_before = g_pipeline->ConntrackInserts();
  for (uint32_t f = 0; f < flows; f += kBurst) g_pipeline->Burst(&frames[f], std::min(kBurst, flows - f));
  if (g_pipeline->ConntrackInserts() - inserts_before != flows) {
    state.SkipWithError("warm-up did not create one entry per flow");
    return;
  }
  for (uint32_t f = 0; f < flows; ++f) frames[f] = ClusterIpFrame(flow_base + f, 0x10);
  flow_base += flows;
  uint32_t cursor = 0;
  uint64_t sent = 0;
  const uint64_t hits_before = g_pipeline->counters().conntrack_hits.load();
  const uint64_t start = rte_rdtsc();
  for (auto _ : state) {
    sent += g_pipeline->Burst(&frames[cursor], kBurst);
    cursor = cursor + 2 * kBurst > flows ? 0 : cursor + kBurst;
  }
  Report(state, start, state.iterations() * kBurst);
  if (sent != static_cast<uint64_t>(state.iterations()) * kBurst) state.SkipWithError("packets were dropped");
  if (g_pipeline->counters().conntrack_hits.load() - hits_before != sent) state.SkipWithError("not all hits");
}
BENCHMARK(BM_PipelineEstablished)->Arg(1024)->Arg(65536)->ArgName("flows");

// New connections: every packet is the SYN of a flow never seen before.
// Fixed iterations keep the table (1M entries) from filling; range(0) = 0
// ClusterIP (DNAT), 1 NodePort (DNAT + SNAT to the node IP).
void BM_PipelineNewConnection(benchmark::State& state) {
  static uint32_t flow_base = 1u << 22;  // (flow >> 14) >= 256: never an established flow's tuple
  const bool nodeport = state.range(0) != 0;
  g_pipeline->ClearConntrack();
  const uint32_t flows = static_cast<uint32_t>(state.max_iterations) * kBurst;
  std::vector<Frame> frames;
  frames.reserve(flows);
  for (uint32_t f = 0; f < flows; ++f)
    frames.push_back(nodeport ? NodePortFrame(flow_base + f, 0x02) : ClusterIpFrame(flow_base + f, 0x02));
  flow_base += flows;
  const uint64_t inserts_before = g_pipeline->ConntrackInserts();
  uint32_t cursor = 0;
  uint64_t sent = 0;
  const uint64_t start = rte_rdtsc();
  for (auto _ : state) {
    sent += g_pipeline->Burst(&frames[cursor], kBurst);
    cursor += kBurst;
  }
  Report(state, start, state.iterations() * kBurst);
  const uint64_t inserts = g_pipeline->ConntrackInserts() - inserts_before;
  state.counters["inserts/pkt"] = static_cast<double>(inserts) / static_cast<double>(state.iterations() * kBurst);
  if (sent != static_cast<uint64_t>(state.iterations()) * kBurst) state.SkipWithError("packets were dropped");
  if (inserts != sent) state.SkipWithError("not one conntrack insert per SYN");
  state.SetLabel(nodeport ? "NodePort dnat+snat" : "ClusterIP dnat");
}
// 1024 x 32 = 32768 new connections per run: a quarter of the SNAT reply
// tuples (2 backends x 64512 ports), 3% of the conntrack capacity.
BENCHMARK(BM_PipelineNewConnection)->Arg(0)->Arg(1)->ArgName("nodeport")->Iterations(1024)->Repetitions(3)
    ->ReportAggregatesOnly(false);

// The rx/tx scaffolding alone: alloc + fill 32 mbufs, tx_burst to a ring,
// drain and free. Subtract it from the pipeline figures.
void BM_PipelineHarnessOnly(benchmark::State& state) {
  std::vector<Frame> frames;
  for (uint32_t f = 0; f < kBurst; ++f) frames.push_back(ClusterIpFrame(f, 0x10));
  const uint64_t start = rte_rdtsc();
  for (auto _ : state) g_pipeline->Burst(frames.data(), kBurst, false);
  Report(state, start, state.iterations() * kBurst);
}
BENCHMARK(BM_PipelineHarnessOnly);

}  // namespace
}  // namespace np::perf

int main(int argc, char** argv) {
  // EAL options before "--", benchmark options after it.
  std::vector<char*> eal_args{argv[0]};
  std::vector<char*> bench_args{argv[0]};
  int split = 1;
  while (split < argc && std::strcmp(argv[split], "--") != 0) ++split;
  static char defaults[][16] = {"--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "-l", "0",
                                "--log-level", "*:error"};
  if (split == 1 || split == argc) {
    for (auto& arg : defaults) eal_args.push_back(arg);
  }
  const bool had_split = split < argc;
  const int eal_end = had_split ? split : 1;
  for (int i = 1; i < eal_end; ++i) eal_args.push_back(argv[i]);
  for (int i = had_split ? split + 1 : 1; i < argc; ++i) bench_args.push_back(argv[i]);
  int eal_argc = static_cast<int>(eal_args.size());
  if (rte_eal_init(eal_argc, eal_args.data()) < 0) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  int result = 0;
  {
    np::perf::Pipeline pipeline;
    if (!pipeline.Setup(NP_PIPELINE_CASE)) {
      result = 1;
    } else {
      np::perf::g_pipeline = &pipeline;
      std::printf("tsc_hz=%lu\n", static_cast<unsigned long>(rte_get_tsc_hz()));
      int bench_argc = static_cast<int>(bench_args.size());
      benchmark::Initialize(&bench_argc, bench_args.data());
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
    }
  }
  rte_eal_cleanup();
  return result;
}
