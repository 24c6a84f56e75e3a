// Micro-benchmarks of the fast-path stages that need no DPDK: parse, NAT
// rewrite with incremental checksums, conntrack lookup (hit, miss) and
// insert at several table sizes, Maglev table build and lookup, flow-record
// emission.
//
// Every benchmark works on bursts of 32 packets or keys (kBurst) and reports
//   ns/pkt   wall time per packet (or key)
//   tsc/pkt  TSC ticks per packet: cycles at the TSC's nominal rate, which is
//            the figure the end-to-end harness uses too (see RESULTS.md)
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <optional>
#include <vector>

#include "common/flow_hash.h"
#include "common/maglev.h"
#include "dataplane/conntrack/snat_ports.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/flows/flow_emitter.h"
#include "dataplane/nat/rewrite.h"
#include "dataplane/packet/parse.h"
#include "perf/micro/frames.h"
#include "tests/conntrack/test_memory.h"

namespace np::perf {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint64_t kClientMac = 0x02aa00000001ull;
constexpr uint64_t kNodeMac = 0x02bb00000001ull;
constexpr uint32_t kVip = Ip(10, 96, 0, 10);
constexpr uint32_t kBackend = Ip(10, 244, 1, 12);

// Per-packet figures from the iteration count (kBurst packets each) and the
// TSC ticks spent between Start() and Stop().
class PacketClock {
 public:
  explicit PacketClock(benchmark::State& state) : state_(state) {}
  void Start() { start_ = __rdtsc(); }
  // Around untimed work (with state.PauseTiming()): excluded from tsc/pkt.
  void Pause() { paused_at_ = __rdtsc(); }
  void Resume() { excluded_ += __rdtsc() - paused_at_; }
  void Stop(uint64_t per_iteration = kBurst) {
    const double packets = static_cast<double>(state_.iterations()) * per_iteration;
    state_.counters["ns/pkt"] =
        benchmark::Counter(packets, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state_.counters["tsc/pkt"] = static_cast<double>(__rdtsc() - start_ - excluded_) / packets;
    state_.SetItemsProcessed(static_cast<int64_t>(packets));
  }

 private:
  benchmark::State& state_;
  uint64_t start_ = 0;
  uint64_t paused_at_ = 0;
  uint64_t excluded_ = 0;
};

std::vector<Frame> ClientFrames(uint32_t count, uint8_t flags) {
  std::vector<Frame> frames;
  for (uint32_t i = 0; i < count; ++i)
    frames.push_back(TcpFrame(kClientMac, kNodeMac, Ip(10, 244, 2, static_cast<uint8_t>(1 + i % 200)), kVip,
                              static_cast<uint16_t>(20000 + i), 80, flags));
  return frames;
}

// --- parse -------------------------------------------------------------------

void BM_ParseBurst(benchmark::State& state) {
  const std::vector<Frame> frames = ClientFrames(kBurst, 0x10);
  PacketMeta meta[kBurst];
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; ++i) {
      const ParseResult result = Parse(frames[i].data(), kFrameLength, meta[i]);
      benchmark::DoNotOptimize(result);
    }
    benchmark::ClobberMemory();
  }
  clock.Stop();
}
BENCHMARK(BM_ParseBurst);

// --- NAT rewrite with incremental checksums -------------------------------------

// DNAT (VIP:80 -> backend:8080), then SNAT + DNAT (NodePort with
// externalTrafficPolicy Cluster), alternating between two targets so that
// every rewrite changes the bytes.
void BM_NatRewriteBurst(benchmark::State& state) {
  const bool both = state.range(0) != 0;
  std::vector<Frame> frames = ClientFrames(kBurst, 0x10);
  PacketMeta meta[kBurst];
  for (uint32_t i = 0; i < kBurst; ++i) Parse(frames[i].data(), kFrameLength, meta[i]);
  uint32_t flip = 0;
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    flip ^= 1;
    for (uint32_t i = 0; i < kBurst; ++i) {
      const uint32_t dst = flip ? kBackend : kVip;
      const uint16_t dport = flip ? 8080 : 80;
      bool ok = both ? RewriteSourceAndDestination(frames[i].data(), meta[i], Ip(192, 168, 100, 10),
                                                   static_cast<uint16_t>(61000 + i + flip), dst, dport)
                     : RewriteDestination(frames[i].data(), meta[i], dst, dport);
      ok = ok && DecrementTtl(frames[i].data(), meta[i]);
      benchmark::DoNotOptimize(ok);
      frames[i][14 + 8] = 64;  // keep the TTL from running out (checksum is re-derived on the next rewrite)
    }
    benchmark::ClobberMemory();
  }
  clock.Stop();
  state.SetLabel(both ? "snat+dnat+ttl" : "dnat+ttl");
}
BENCHMARK(BM_NatRewriteBurst)->Arg(0)->Arg(1);

// --- conntrack -------------------------------------------------------------------

ct::FlowKey Key(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  ct::FlowKey key;
  key.src_ip = src;
  key.dst_ip = dst;
  key.src_port = sport;
  key.dst_port = dport;
  key.protocol = 6;
  return key;
}

// Flow i: client 10.<i>... :sport -> VIP:80, DNATed to backend:8080.
ct::FlowKey Original(uint32_t i) { return Key(Ip(11, 0, 0, 0) + (i >> 10), static_cast<uint16_t>(1024 + (i & 1023)), kVip, 80); }
ct::FlowKey Reply(uint32_t i) {
  const ct::FlowKey o = Original(i);
  return Key(kBackend, 8080, o.src_ip, o.src_port);
}

// One table per size, filled once and shared by the benchmarks of that size.
struct FilledTable {
  std::unique_ptr<ct::testing::TestMemory> memory;
  ct::Table table;
  uint32_t entries = 0;
  std::vector<uint32_t> order;  // a random permutation of [0, entries): no prefetch-friendly strides
};

constexpr uint32_t kInsertBatch = 4096;  // inserts between two (untimed) clean-ups

FilledTable& TableOf(uint32_t entries) {
  static std::map<uint32_t, std::unique_ptr<FilledTable>> tables;
  auto& slot = tables[entries];
  if (slot) return *slot;
  slot = std::make_unique<FilledTable>();
  const uint32_t capacity = entries + 2 * kInsertBatch;
  slot->memory = std::make_unique<ct::testing::TestMemory>(ct::Table::RequiredBytes(capacity));
  auto attached = ct::Table::Attach(slot->memory->data(), slot->memory->size(), {capacity}, ct::AttachMode::kCreate);
  if (!attached.ok()) std::abort();
  slot->table = *attached;
  ct::EntryInit init;
  init.nat_flags = ct::kNatDnat;
  init.service_port_id = 1;
  init.tcp_state = ct::TcpState::kEstablished;
  for (uint32_t i = 0; i < entries; ++i)
    if (!slot->table.Insert(Original(i), Reply(i), init, 1).ok()) std::abort();
  slot->entries = entries;
  slot->order.resize(std::min<uint32_t>(entries, 1u << 20));
  std::mt19937 random(7);
  for (uint32_t i = 0; i < slot->order.size(); ++i) slot->order[i] = random() % entries;
  return *slot;
}

// Lookup of 32 keys, one at a time (what Worker::HandleIpv4 does today) or
// with Table::LookupBurst (hash all, prefetch buckets, then probe).
// range(0) = entries, range(1) = 1 hit / 0 miss, range(2) = 1 burst API.
// The next burst of keys in the table's shuffled order: existing flows (odd
// ones by their reply key, as un-NAT looks them up) or flows it never held.
void NextBurstKeys(const FilledTable& filled, bool hit, uint32_t& cursor, ct::FlowKey* keys) {
  const uint32_t order_size = static_cast<uint32_t>(filled.order.size());
  for (uint32_t i = 0; i < kBurst; ++i) {
    const uint32_t flow = filled.order[cursor];
    cursor = cursor + 1 == order_size ? 0 : cursor + 1;
    keys[i] = hit ? ((flow & 1) ? Reply(flow) : Original(flow)) : Original(filled.entries + 1000000 + flow);
  }
}

void BM_ConntrackLookup(benchmark::State& state) {
  FilledTable& filled = TableOf(static_cast<uint32_t>(state.range(0)));
  const bool hit = state.range(1) != 0;
  const bool burst_api = state.range(2) != 0;
  ct::FlowKey keys[kBurst];
  ct::LookupResult results[kBurst];
  uint32_t cursor = 0;
  uint64_t hits = 0;
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    NextBurstKeys(filled, hit, cursor, keys);
    if (burst_api) {
      filled.table.LookupBurst(keys, kBurst, results);
    } else {
      for (uint32_t i = 0; i < kBurst; ++i) results[i] = filled.table.Lookup(keys[i]);
    }
    for (uint32_t i = 0; i < kBurst; ++i) hits += results[i].hit();
    benchmark::ClobberMemory();
  }
  clock.Stop();
  if (hits != (hit ? static_cast<uint64_t>(state.iterations()) * kBurst : 0)) state.SkipWithError("unexpected hit count");
  state.SetLabel(std::string(hit ? "hit" : "miss") + (burst_api ? " LookupBurst" : " Lookup"));
}
BENCHMARK(BM_ConntrackLookup)
    ->ArgsProduct({{1000, 100000, 1000000}, {1, 0}, {0, 1}})
    ->ArgNames({"entries", "hit", "burst"});

// What an established packet asks of conntrack: LookupBurst of 32 keys,
// then per hit the fields the worker reads (revalidation stamps, TCP state,
// counter slot) and Touch (counters, last seen). At 1M entries this pays
// for every cache line of the entry, not only the key's.
void BM_ConntrackLookupTouch(benchmark::State& state) {
  FilledTable& filled = TableOf(static_cast<uint32_t>(state.range(0)));
  ct::FlowKey keys[kBurst];
  ct::LookupResult results[kBurst];
  uint32_t cursor = 0;
  uint64_t hits = 0;
  uint64_t checksum = 0;
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    NextBurstKeys(filled, true, cursor, keys);
    filled.table.LookupBurst(keys, kBurst, results);
    for (uint32_t i = 0; i < kBurst; ++i) {
      if (!results[i].hit()) continue;
      ++hits;
      const ct::Entry& entry = filled.table.At(results[i].entry);
      checksum += entry.services_generation.load(std::memory_order_relaxed) +
                  entry.policy_epoch.load(std::memory_order_relaxed) +
                  entry.tcp_state.load(std::memory_order_relaxed) +
                  entry.counter_slot.load(std::memory_order_relaxed);
      filled.table.Touch(results[i].entry, results[i].direction, 60, 2);
    }
    benchmark::ClobberMemory();
  }
  clock.Stop();
  benchmark::DoNotOptimize(checksum);
  if (hits != static_cast<uint64_t>(state.iterations()) * kBurst) state.SkipWithError("unexpected hit count");
  state.SetLabel("hit LookupBurst + Touch");
}
BENCHMARK(BM_ConntrackLookupTouch)->Arg(1000)->Arg(100000)->Arg(1000000)->ArgName("entries");

// Keeps the table at its nominal occupancy between timed batches.
void RemoveInserted(FilledTable& filled, std::vector<uint32_t>& inserted) {
  for (uint32_t entry : inserted) filled.table.Remove(entry);
  filled.table.Reclaim(filled.table.DetachRetired());
  inserted.clear();
}

ct::EntryInit DnatInit(uint32_t service_port_id) {
  ct::EntryInit init;
  init.nat_flags = ct::kNatDnat;
  init.service_port_id = service_port_id;
  init.tcp_state = ct::TcpState::kSynSent;
  return init;
}

// Bursts of `insert_one(n)` (which returns the new entry, or nullopt on
// failure) into a table holding `entries`; every `batch` inserts the new
// entries are removed and reclaimed with the clock paused, so the
// occupancy stays at `entries`. Returns the number of failed inserts.
template <class InsertOne>
uint64_t TimedInserts(benchmark::State& state, FilledTable& filled, uint32_t batch, InsertOne&& insert_one) {
  std::vector<uint32_t> inserted;
  inserted.reserve(batch);
  uint32_t next = 0;
  uint64_t failed = 0;
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; ++i) {
      const std::optional<uint32_t> entry = insert_one(next++ & 0xfffff);
      if (entry) inserted.push_back(*entry); else ++failed;
    }
    if (inserted.size() + kBurst > batch) {
      clock.Pause();
      state.PauseTiming();
      RemoveInserted(filled, inserted);
      state.ResumeTiming();
      clock.Resume();
    }
  }
  clock.Stop();
  RemoveInserted(filled, inserted);
  return failed;
}

// Insert of new DNAT flows.
void BM_ConntrackInsert(benchmark::State& state) {
  FilledTable& filled = TableOf(static_cast<uint32_t>(state.range(0)));
  const ct::EntryInit init = DnatInit(1);
  const uint64_t failed = TimedInserts(state, filled, kInsertBatch, [&](uint32_t n) -> std::optional<uint32_t> {
    const uint32_t flow = filled.entries + 2000000 + n;
    const ct::InsertResult result = filled.table.Insert(Original(flow), Reply(flow), init, 2);
    if (!result.ok()) return std::nullopt;
    return result.entry;
  });
  if (failed != 0) state.SkipWithError("inserts failed");
}
BENCHMARK(BM_ConntrackInsert)->Arg(1000)->Arg(100000)->Arg(1000000)->ArgName("entries");

// SNAT allocation + insert (NodePort, externalTrafficPolicy Cluster), same
// occupancy scheme. One backend: 4536 SNAT ports; the allocator probes
// linearly from a hashed first choice, at most 64 ports: keep the share a
// quarter full.
void BM_ConntrackSnatInsert(benchmark::State& state) {
  FilledTable& filled = TableOf(static_cast<uint32_t>(state.range(0)));
  const ct::SnatPortAllocator snat(61000, 65535, 0, 1, 1);
  const ct::EntryInit init = DnatInit(2);
  constexpr uint32_t kSnatBatch = 1024;
  uint64_t attempts = 0;
  const uint64_t failed = TimedInserts(state, filled, kSnatBatch, [&](uint32_t n) -> std::optional<uint32_t> {
    const ct::FlowKey key = Key(Ip(172, 16, 0, 0) + (n >> 10), static_cast<uint16_t>(1024 + (n & 1023)),
                                Ip(192, 168, 100, 10), 30080);
    const ct::SnatRequest request{key, kBackend, 8080, Ip(192, 168, 100, 10)};
    const ct::SnatResult result = snat.AllocateAndInsert(filled.table, request, init, 2);
    attempts += result.attempts;
    if (!result.insert.ok()) return std::nullopt;
    return result.insert.entry;
  });
  state.counters["ports_tried"] = static_cast<double>(attempts) / (static_cast<double>(state.iterations()) * kBurst);
  if (failed != 0) state.SkipWithError("SNAT inserts failed");
}
BENCHMARK(BM_ConntrackSnatInsert)->Arg(1000)->Arg(100000)->Arg(1000000)->ArgName("entries");

// --- Maglev ------------------------------------------------------------------------

std::vector<MaglevKey> BackendKeys(uint32_t count) {
  std::vector<MaglevKey> keys;
  for (uint32_t i = 0; i < count; ++i) keys.push_back(MaglevKeyOf(Ip(10, 244, 1 + i / 250, 1 + i % 250), 8080));
  return keys;
}

void BM_MaglevBuild(benchmark::State& state) {
  const std::vector<MaglevKey> keys = BackendKeys(static_cast<uint32_t>(state.range(0)));
  const uint32_t size = MaglevTableSize(static_cast<uint32_t>(keys.size()));
  for (auto _ : state) {
    auto table = BuildMaglevTable(keys, size, 1);
    benchmark::DoNotOptimize(table.data());
  }
  state.counters["table_size"] = size;
}
BENCHMARK(BM_MaglevBuild)->Arg(3)->Arg(10)->Arg(100)->Arg(1000)->ArgName("backends")->Unit(benchmark::kMicrosecond);

// What ServiceTables::PickBackend does per new connection: FlowHash of the
// tuple, then table[hash % size].
void BM_MaglevLookupBurst(benchmark::State& state) {
  const std::vector<MaglevKey> keys = BackendKeys(static_cast<uint32_t>(state.range(0)));
  const uint32_t size = MaglevTableSize(static_cast<uint32_t>(keys.size()));
  const std::vector<uint32_t> table = BuildMaglevTable(keys, size, 1);
  uint32_t sport = 0;
  uint64_t sum = 0;
  PacketClock clock(state);
  clock.Start();
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; ++i) {
      ++sport;
      const uint64_t hash = FlowHash(Ip(172, 16, 0, 1) + (sport >> 16), static_cast<uint16_t>(sport), kVip, 80, 6, 1);
      sum += table[hash % size];
    }
    benchmark::DoNotOptimize(sum);
  }
  clock.Stop();
  state.counters["table_size"] = size;
}
BENCHMARK(BM_MaglevLookupBurst)->Arg(3)->Arg(100)->Arg(1000)->ArgName("backends");

// --- flow records ---------------------------------------------------------------

// What a worker pays per new connection for its kStart record: build the
// 128-byte record from the entry and push it (range(0) = 1), or find the
// ring full and count the drop (range(0) = 0). The clock is read once per
// burst of 32 records, as the worker does. A collector drains the ring
// between batches, untimed.
void BM_FlowRecordStart(benchmark::State& state) {
  const bool consumer_keeps_up = state.range(0) != 0;
  FilledTable& filled = TableOf(1000);
  auto ring = std::make_unique<flows::Ring>();
  flows::FlowEmitter emitter(ring.get(), 0);
  emitter.SetEnabled(true);
  std::vector<flows::FlowRecord> drained(flows::kRingRecords);
  const flows::FlowPolicy policy{flows::Verdict::kAllowed, flows::kNoRule, 3, 256, 257, 1};
  if (!consumer_keeps_up)
    while (ring->Push(flows::FlowRecord{})) {
    }
  PacketClock clock(state);
  clock.Start();
  uint32_t entry = 0;
  for (auto _ : state) {
    emitter.BeginBurst();
    for (uint32_t i = 0; i < kBurst; ++i) emitter.Start(filled.table, (entry + i) % filled.entries, policy);
    entry += kBurst;
    if (consumer_keeps_up && ring->head.load() - ring->tail.load() > flows::kRingRecords - kBurst) {
      clock.Pause();
      state.PauseTiming();
      ring->Pop(drained.data(), flows::kRingRecords);
      state.ResumeTiming();
      clock.Resume();
    }
  }
  clock.Stop();
  state.SetLabel(consumer_keeps_up ? "pushed" : "ring full: dropped and counted");
}
BENCHMARK(BM_FlowRecordStart)->Arg(1)->Arg(0)->ArgName("consumer");

}  // namespace
}  // namespace np::perf

BENCHMARK_MAIN();
