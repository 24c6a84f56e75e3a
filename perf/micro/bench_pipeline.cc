// The whole per-packet pipeline, in one process: the real loader and
// Worker::ProcessBurst over net_ring ports, set up by the in-process
// harness library shared with tests/pcap/replay.cc (tests/harness).
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
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/stats_abi.h"
#include "control/cli/capture.h"
#include "control/cli/trace.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/neighbor/neighbor_table.h"
#include "dataplane/pipeline/worker.h"
#include "dataplane/runtime/debug_region.h"
#include "perf/micro/frames.h"
#include "tests/harness/in_process_dataplane.h"

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

// The in-process dataplane (tests/harness) with one worker, fed bursts of
// frames on the uplink.
class Pipeline {
 public:
  Pipeline() : dataplane_(Options()) {}
  bool Setup(const fs::path& case_dir);

  // One burst: frames in on the uplink, through the worker, out and freed.
  // Returns packets transmitted.
  uint32_t Burst(const Frame* frames, uint32_t count, bool process = true) {
    rte_mbuf* mbufs[kBurst];
    if (rte_pktmbuf_alloc_bulk(dataplane_.shared().pool, mbufs, count) != 0) return 0;
    for (uint32_t i = 0; i < count; ++i) {
      std::memcpy(rte_pktmbuf_mtod(mbufs[i], void*), frames[i].data(), kFrameLength);
      mbufs[i]->data_len = kFrameLength;
      mbufs[i]->pkt_len = kFrameLength;
    }
    if (process) {
      dataplane_.Process(0, uplink_slot_, mbufs, static_cast<uint16_t>(count));
    } else {
      const uint16_t sent = rte_eth_tx_burst(pod_port_, 0, mbufs, static_cast<uint16_t>(count));
      for (uint16_t i = sent; i < count; ++i) rte_pktmbuf_free(mbufs[i]);
    }
    return static_cast<uint32_t>(dataplane_.DrainAndFree());
  }
  const stats::LcoreCounters& counters() const { return dataplane_.counters(0); }
  uint64_t ConntrackInserts() const { return counters().conntrack_inserts.load(); }
  // Empties the conntrack table between benchmark runs (untimed): each run
  // sees only its own flows, and SNAT ports are free again.
  void ClearConntrack() {
    ct::Table& table = dataplane_.conntrack();
    std::vector<uint32_t> live;
    table.ForEach([&](const ct::EntrySnapshot& entry) { live.push_back(entry.index); });
    for (uint32_t entry : live) table.Remove(entry);
    table.Reclaim(table.DetachRetired());
  }
  uint32_t ConntrackEntries() { return static_cast<uint32_t>(dataplane_.conntrack().ReadCounters().entries); }
  debug::DebugHeader& debug() { return dataplane_.debug().header(); }
  uint32_t uplink_stats_slot() const { return dataplane_.node_tables().port(uplink_slot_).counter_slot; }

 private:
  static harness::InProcessOptions Options() {
    harness::InProcessOptions options;
    options.workers = 1;
    options.mbufs = 8191;
    options.mbuf_cache = 256;
    options.instance_prefix = "benchpipe";
    return options;
  }
  bool Fail(const std::string& message) {
    std::fprintf(stderr, "np-bench-pipeline: %s\n", message.c_str());
    return false;
  }

  harness::InProcessDataplane dataplane_;
  uint8_t uplink_slot_ = 0;
  uint16_t pod_port_ = 0;
};

bool Pipeline::Setup(const fs::path& case_dir) {
  if (!dataplane_.Setup(case_dir / "node.yaml")) return Fail(dataplane_.error());
  if (!dataplane_.PublishServices(case_dir / "manifests")) return Fail(dataplane_.error());
  const harness::RingPort* uplink = dataplane_.PortNamed("uplink");
  const harness::RingPort* pod = dataplane_.PortNamed("poda");
  if (uplink == nullptr || pod == nullptr) return Fail("the case needs ports named uplink and poda");
  pod_port_ = pod->port_id;
  uplink_slot_ = dataplane_.SlotOf(*uplink);
  // The gateway's MAC: an ARP reply would teach it; the benchmark sends none.
  dataplane_.neighbors().Learn(Ip(192, 168, 100, 1), kGatewayMac, uplink->port_id,
                               dataplane_.shared().now_s.load());
  dataplane_.DrainAndFree();  // the gratuitous ARPs
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
BENCHMARK(BM_PipelineEstablished)->Arg(1024)->Arg(65536)->Arg(1000000)->ArgName("flows");

// The cost of npctl trace/capture while armed (disarmed, they cost one load
// per burst: compare BM_PipelineEstablished). mode 0: a trace armed whose
// filter matches none of these packets (what every other packet pays while
// someone traces); mode 1: the uplink captured (every packet copied, the
// ring drained here each burst as npctl would on another core).
void BM_PipelineEstablishedDebugArmed(benchmark::State& state) {
  const bool capture = state.range(0) != 0;
  constexpr uint32_t kFlows = 1024;
  g_pipeline->ClearConntrack();
  std::vector<Frame> frames;
  for (uint32_t f = 0; f < kFlows; ++f) frames.push_back(ClusterIpFrame((1u << 21) + f, 0x02));
  for (uint32_t f = 0; f < kFlows; f += kBurst) g_pipeline->Burst(&frames[f], kBurst);
  for (uint32_t f = 0; f < kFlows; ++f) frames[f] = ClusterIpFrame((1u << 21) + f, 0x10);
  debug::DebugHeader& header = g_pipeline->debug();
  uint32_t sequence = 0;
  if (capture) {
    cli::CaptureRequest request;
    request.port_slot = g_pipeline->uplink_stats_slot();
    request.direction = debug::kCaptureRx;
    auto armed = cli::ArmCapture(header, request, 0, 0);
    if (!armed) return state.SkipWithError(armed.error().message.c_str());
    sequence = *armed;
  } else {
    cli::TraceRequest request;
    request.filter.src_ip = Ip(203, 0, 113, 1);  // nobody in this benchmark
    auto armed = cli::ArmTrace(header, request, 0, 0);
    if (!armed) return state.SkipWithError(armed.error().message.c_str());
  }
  uint32_t cursor = 0;
  uint64_t sent = 0, captured = 0;
  const uint64_t start = rte_rdtsc();
  for (auto _ : state) {
    sent += g_pipeline->Burst(&frames[cursor], kBurst);
    if (capture) cli::DrainCapture(header, sequence, [&](const debug::CaptureRecord&) { ++captured; });
    cursor = cursor + 2 * kBurst > kFlows ? 0 : cursor + kBurst;
  }
  Report(state, start, state.iterations() * kBurst);
  if (capture)
    cli::DisarmCapture(header);
  else
    cli::DisarmTrace(header);
  state.SetLabel(capture ? "capture armed on the uplink, drained each burst" : "trace armed, matching nothing");
  if (sent != static_cast<uint64_t>(state.iterations()) * kBurst) state.SkipWithError("packets were dropped");
  if (capture && captured != sent) state.SkipWithError("not every packet was captured");
}
BENCHMARK(BM_PipelineEstablishedDebugArmed)->Arg(0)->Arg(1)->ArgName("capture");

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
