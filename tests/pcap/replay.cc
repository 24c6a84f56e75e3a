// Golden pcap replay: drives the real loader and worker pipeline with
// packets from pcap files, one packet at a time, and compares what the
// dataplane transmits on each port with the expected pcaps, byte for byte.
//
//   np-pcap-replay [EAL options] -- --case DIR [--write-actual DIR]
//
// DIR holds node.yaml, manifests/ and `steps`, one step a line:
//   in PORT FILE.pcap        send every packet of FILE on PORT, in order
//   manifests SUBDIR         republish the services compiled from SUBDIR
//   expect PORT FILE.pcap    everything PORT transmitted since the last
//                            expect on it must equal FILE
//   expect-none PORT         PORT transmitted nothing since the last expect
//   counter NAME VALUE       a drop reason (stats::kDropReasonNames) or
//                            conntrack_inserts/arp_replies/icmp_generated
//   workers N                (first line only) run N workers...
//   worker I                 ...and hand the next packets to worker I, as
//                            RSS would put them on its queue
//
// Ports are net_ring devices created here, named by the node config's
// devargs, so packets enter and leave without any kernel interface.
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
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

namespace fs = std::filesystem;

namespace {

using Packet = std::vector<uint8_t>;

struct RingPort {
  rte_ring* rx = nullptr;
  std::vector<rte_ring*> tx;
  std::vector<Packet> transmitted;  // since the last expect
};

std::optional<std::vector<Packet>> ReadPcap(const fs::path& path, std::string& error) {
  char message[PCAP_ERRBUF_SIZE];
  pcap_t* handle = pcap_open_offline(path.c_str(), message);
  if (handle == nullptr) {
    error = path.string() + ": " + message;
    return std::nullopt;
  }
  std::vector<Packet> packets;
  pcap_pkthdr* header = nullptr;
  const u_char* bytes = nullptr;
  while (pcap_next_ex(handle, &header, &bytes) == 1) packets.emplace_back(bytes, bytes + header->caplen);
  pcap_close(handle);
  return packets;
}

void WritePcap(const fs::path& path, const std::vector<Packet>& packets) {
  pcap_t* handle = pcap_open_dead(DLT_EN10MB, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(handle, path.c_str());
  for (const Packet& packet : packets) {
    pcap_pkthdr header{};
    header.caplen = header.len = static_cast<bpf_u_int32>(packet.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, packet.data());
  }
  pcap_dump_close(dumper);
  pcap_close(handle);
}

std::string Hex(const Packet& packet) {
  std::string text;
  char byte[4];
  for (size_t i = 0; i < packet.size(); ++i) {
    std::snprintf(byte, sizeof(byte), "%02x", packet[i]);
    text += byte;
    if (i % 2 == 1) text += ' ';
  }
  return text;
}

class Replay {
 public:
  Replay(fs::path case_dir, std::optional<fs::path> actual_dir)
      : case_dir_(std::move(case_dir)), actual_dir_(std::move(actual_dir)),
        instance_("replay" + std::to_string(getpid())) {}
  ~Replay() {
    for (const char* what : {"tables", "stats", "conntrack", "affinity"})
      np::SharedMemoryFile::Remove(np::ShmName(instance_, what));
  }

  int Run();

 private:
  bool Fail(const std::string& message) {
    std::fprintf(stderr, "%s: %s\n", case_dir_.filename().c_str(), message.c_str());
    return false;
  }
  bool Setup();
  bool PublishServices(const fs::path& manifests);
  bool Step(const std::string& line);
  bool Send(const std::string& port, const fs::path& file);
  static uint16_t PortIdOf(const std::string& device);
  bool Expect(const std::string& port, const std::optional<fs::path>& file);
  bool CheckCounter(const std::string& name, uint64_t expected);
  void Drain();

  fs::path case_dir_;
  std::optional<fs::path> actual_dir_;
  std::string instance_;
  np::NodeImage node_;
  uint64_t generation_ = 0;
  std::map<std::string, RingPort> ports_;   // by devargs device name
  std::map<std::string, std::string> device_by_port_;
  std::optional<np::TablesRegion> region_;
  std::optional<np::StatsRegion> stats_;
  std::optional<np::ConntrackMemory> conntrack_;
  std::unique_ptr<np::NeighborTable> neighbors_;
  np::SharedState shared_;
  rte_rcu_qsbr* rcu_ = nullptr;
  std::unique_ptr<np::PortManager> port_manager_;
  std::unique_ptr<np::Loader> loader_;
  std::vector<std::unique_ptr<np::Worker>> workers_;
  uint16_t worker_count_ = 1;
  uint16_t current_worker_ = 0;
};

bool Replay::Setup() {
  auto node = np::config::LoadNodeConfig(case_dir_ / "node.yaml");
  if (!node) return Fail(node.error().message);
  node_ = std::move(node).value();
  for (size_t i = 0; i < node_.ports.size(); ++i) {
    const std::string device = node_.port_devargs[i].substr(0, node_.port_devargs[i].find(','));
    RingPort ring;
    ring.rx = rte_ring_create(("rx_" + device).c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    for (int queue = 0; queue <= worker_count_; ++queue)
      ring.tx.push_back(rte_ring_create(("tx" + std::to_string(queue) + "_" + device).c_str(), 1024, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ));
    for (rte_ring* ring_queue : ring.tx)
      if (ring.rx == nullptr || ring_queue == nullptr) return Fail("cannot create rings");
    // rte_eth_from_rings names the port "net_ring_<name>".
    if (device.rfind("net_ring_", 0) != 0) return Fail("golden cases use net_ring_<name> ports, not " + device);
    if (rte_eth_from_rings(device.substr(9).c_str(), &ring.rx, 1, ring.tx.data(),
                           static_cast<unsigned>(ring.tx.size()), SOCKET_ID_ANY) < 0)
      return Fail("cannot create ring port " + device);
    device_by_port_[node_.port_names[i]] = device;
    ports_[device] = ring;
  }
  auto region = np::TablesRegion::OpenOrCreate(instance_, np::DefaultRegionLayout());
  if (!region) return Fail(region.error().message);
  region_.emplace(std::move(region).value());
  auto stats = np::StatsRegion::Create(instance_);
  if (!stats) return Fail(stats.error().message);
  stats_.emplace(std::move(stats).value());

  shared_.worker_count = worker_count_;
  shared_.stats = &*stats_;
  shared_.pool = rte_pktmbuf_pool_create("replay_mbufs", 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  rcu_ = static_cast<rte_rcu_qsbr*>(
      rte_zmalloc("replay_rcu", rte_rcu_qsbr_get_memsize(worker_count_), RTE_CACHE_LINE_SIZE));
  if (shared_.pool == nullptr || rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, worker_count_) != 0)
    return Fail("no memory");
  shared_.rcu = rcu_;
  port_manager_ = std::make_unique<np::PortManager>(shared_.pool, worker_count_);
  loader_ = std::make_unique<np::Loader>(shared_, *region_, *port_manager_, *stats_);

  np::k8s::ClusterState empty;
  node_.routes = np::compile::CompileRoutes(empty, node_);
  node_.generation = ++generation_;
  if (auto status = region_->Publish(np::abi::SectionKind::kNode, np::EncodeNodeSection(node_), generation_); !status)
    return Fail(status.error().message);
  loader_->Tick();
  loader_->Poll();
  if (!loader_->has_node()) return Fail("node tables refused: " + region_->RefusalReason(np::abi::SectionKind::kNode));
  neighbors_ = std::make_unique<np::NeighborTable>(node_.info.neighbor_capacity);
  shared_.neighbors = neighbors_.get();
  auto conntrack = np::ConntrackMemory::OpenOrCreate(instance_, node_.info.conntrack_capacity,
                                                     np::ct::Timeouts::FromNodeInfo(node_.info));
  if (!conntrack) return Fail(conntrack.error().message);
  conntrack_.emplace(std::move(conntrack).value());
  shared_.conntrack = &conntrack_->table();
  shared_.affinity = &conntrack_->affinity();
  for (uint16_t index = 0; index < worker_count_; ++index)
    workers_.push_back(std::make_unique<np::Worker>(shared_, index));
  return PublishServices(case_dir_ / "manifests");
}

bool Replay::PublishServices(const fs::path& manifests) {
  auto loaded = np::k8s::LoadManifestDirectory(manifests);
  if (!loaded) return Fail(loaded.error().message);
  for (const auto& failure : loaded->failures)
    for (const auto& message : failure.messages) return Fail("manifest error: " + message);
  auto compiled = np::compile::CompileServices(loaded->state, node_);
  compiled.image.generation = ++generation_;
  if (auto status = region_->Publish(np::abi::SectionKind::kServices, np::EncodeServicesSection(compiled.image),
                                     generation_);
      !status)
    return Fail(status.error().message);
  loader_->Poll();
  if (region_->AppliedGeneration(np::abi::SectionKind::kServices) != generation_)
    return Fail("services refused: " + region_->RefusalReason(np::abi::SectionKind::kServices));
  Drain();  // gratuitous ARP for owned addresses goes out here
  return true;
}

void Replay::Drain() {
  for (auto& [device, port] : ports_) {
    for (rte_ring* ring : port.tx) {
      void* object = nullptr;
      while (rte_ring_dequeue(ring, &object) == 0) {
        auto* mbuf = static_cast<rte_mbuf*>(object);
        const uint8_t* data = rte_pktmbuf_mtod(mbuf, const uint8_t*);
        port.transmitted.emplace_back(data, data + rte_pktmbuf_data_len(mbuf));
        rte_pktmbuf_free(mbuf);
      }
    }
  }
}

bool Replay::Send(const std::string& port, const fs::path& file) {
  auto device = device_by_port_.find(port);
  if (device == device_by_port_.end()) return Fail("no port named " + port);
  std::string error;
  auto packets = ReadPcap(case_dir_ / file, error);
  if (!packets) return Fail(error);
  // Straight into the chosen worker's pipeline, as if RSS had put the
  // packet on that worker's queue.
  const np::NodeTables* node = shared_.node.load();
  const uint8_t slot = node->SlotOfDpdkPort(PortIdOf(device->second));
  for (const Packet& packet : *packets) {
    rte_mbuf* mbuf = rte_pktmbuf_alloc(shared_.pool);
    if (mbuf == nullptr) return Fail("out of mbufs");
    std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(packet.size())), packet.data(), packet.size());
    np::Worker& worker = *workers_[current_worker_];
    worker.ProcessBurst(*node, shared_.services.load(), slot, &mbuf, 1);
    worker.Flush(*node);
    Drain();
  }
  return true;
}

uint16_t Replay::PortIdOf(const std::string& device) {
  uint16_t port_id = 0;
  rte_eth_dev_get_port_by_name(device.c_str(), &port_id);
  return port_id;
}

bool Replay::Expect(const std::string& port, const std::optional<fs::path>& file) {
  auto device = device_by_port_.find(port);
  if (device == device_by_port_.end()) return Fail("no port named " + port);
  std::vector<Packet> actual = std::move(ports_[device->second].transmitted);
  ports_[device->second].transmitted.clear();
  std::vector<Packet> expected;
  if (file) {
    std::string error;
    auto read = ReadPcap(case_dir_ / *file, error);
    if (!read) return Fail(error);
    expected = std::move(read).value();
    if (actual_dir_) {
      fs::create_directories(*actual_dir_);
      WritePcap(*actual_dir_ / file->filename(), actual);
    }
  }
  if (actual.size() != expected.size()) {
    for (const Packet& packet : actual) std::fprintf(stderr, "  sent: %s\n", Hex(packet).c_str());
    return Fail("port " + port + " transmitted " + std::to_string(actual.size()) + " packets, expected " +
                std::to_string(expected.size()));
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] != expected[i]) {
      std::fprintf(stderr, "  expected: %s\n  actual:   %s\n", Hex(expected[i]).c_str(), Hex(actual[i]).c_str());
      return Fail("port " + port + " packet " + std::to_string(i + 1) + " differs");
    }
  }
  return true;
}

bool Replay::CheckCounter(const std::string& name, uint64_t expected) {
  const np::stats::LcoreCounters& counters = stats_->lcore(0);
  std::optional<uint64_t> value;
  for (size_t i = 0; i < static_cast<size_t>(np::stats::DropReason::kCount); ++i)
    if (name == np::stats::kDropReasonNames[i]) value = counters.drops[i].load();
  if (name == "conntrack_inserts") value = counters.conntrack_inserts.load();
  if (name == "arp_replies") value = counters.arp_replies.load();
  if (name == "icmp_generated") value = counters.icmp_generated.load();
  if (name == "fragments") value = counters.fragments.load();
  if (!value) return Fail("unknown counter " + name);
  if (*value != expected)
    return Fail("counter " + name + " is " + std::to_string(*value) + ", expected " + std::to_string(expected));
  return true;
}

bool Replay::Step(const std::string& line) {
  std::istringstream words(line);
  std::string verb, first, second;
  words >> verb >> first >> second;
  if (verb.empty() || verb[0] == '#') return true;
  if (verb == "in") return Send(first, second);
  if (verb == "expect") return Expect(first, fs::path(second));
  if (verb == "expect-none") return Expect(first, std::nullopt);
  if (verb == "manifests") return PublishServices(case_dir_ / first);
  if (verb == "counter") return CheckCounter(first, std::stoull(second));
  if (verb == "workers") return true;  // read before set-up
  if (verb == "worker") {
    const unsigned long index = std::stoul(first);
    if (index >= workers_.size()) return Fail("no worker " + first);
    current_worker_ = static_cast<uint16_t>(index);
    return true;
  }
  return Fail("unknown step: " + line);
}

int Replay::Run() {
  std::ifstream steps(case_dir_ / "steps");
  if (!steps) return Fail("no steps file"), 1;
  std::string line;
  while (std::getline(steps, line)) {
    if (line.rfind("workers ", 0) == 0) worker_count_ = static_cast<uint16_t>(std::stoul(line.substr(8)));
  }
  if (worker_count_ == 0 || worker_count_ > 8) return Fail("workers must be 1 to 8"), 1;
  steps.clear();
  steps.seekg(0);
  if (!Setup()) return 1;
  while (std::getline(steps, line))
    if (!Step(line)) return 1;
  // Whatever was transmitted and not expected is a failure too.
  for (const auto& [port, device] : device_by_port_)
    if (!ports_[device].transmitted.empty())
      return Fail("port " + port + " transmitted " + std::to_string(ports_[device].transmitted.size()) +
                  " packets no step expected"),
             1;
  std::printf("%s: ok\n", case_dir_.filename().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int eal_args = rte_eal_init(argc, argv);
  if (eal_args < 0) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  std::optional<fs::path> case_dir;
  std::optional<fs::path> actual_dir;
  for (int i = eal_args + 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    if (option == "--case") case_dir = argv[i + 1];
    if (option == "--write-actual") actual_dir = argv[i + 1];
  }
  if (!case_dir) {
    std::fprintf(stderr, "usage: np-pcap-replay [EAL options] -- --case DIR [--write-actual DIR]\n");
    return 2;
  }
  int result = 0;
  {
    Replay replay(*case_dir, actual_dir);
    result = replay.Run();
  }
  rte_eal_cleanup();
  return result;
}
