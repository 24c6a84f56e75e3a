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
//   trace SRC DST [PROTO]    arm a trace like `npctl trace --src SRC --dst
//                            DST [--protocol PROTO]` (IP[:PORT]; "-" = any)
//   expect-trace FILE        the walk traced since `trace`, formatted as
//                            npctl prints it (control/cli/trace.h), must
//                            equal FILE; the trace is disarmed
//
// Ports are net_ring devices created by the in-process harness
// (tests/harness), named by the node config's devargs, so packets enter and
// leave without any kernel interface.
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/stats_abi.h"
#include "control/cli/trace.h"
#include "control/daemon/section_publisher.h"
#include "dataplane/runtime/debug_region.h"
#include "dataplane/runtime/stats_region.h"
#include "tests/harness/in_process_dataplane.h"

namespace fs = std::filesystem;

namespace {

using Packet = std::vector<uint8_t>;

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
      : case_dir_(std::move(case_dir)), actual_dir_(std::move(actual_dir)) {}

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
  bool Expect(const std::string& port, const std::optional<fs::path>& file);
  bool CheckCounter(const std::string& name, uint64_t expected);
  bool ArmTrace(const std::string& src, const std::string& dst, const std::string& protocol);
  bool ExpectTrace(const fs::path& file);
  void Drain();

  fs::path case_dir_;
  std::optional<fs::path> actual_dir_;
  std::unique_ptr<np::harness::InProcessDataplane> dataplane_;
  std::map<std::string, std::vector<Packet>> transmitted_;  // by port name, since the last expect
  uint16_t worker_count_ = 1;
  uint16_t current_worker_ = 0;
  uint32_t trace_sequence_ = 0;  // 0: no trace armed
};

bool Replay::ArmTrace(const std::string& src, const std::string& dst, const std::string& protocol) {
  auto request = np::cli::ParseTraceFilter(src == "-" ? "" : src, dst == "-" ? "" : dst, protocol);
  if (!request) return Fail(request.error().message);
  request->max_packets = 64;
  // No lease: the replay's clock stands still.
  auto sequence = np::cli::ArmTrace(dataplane_->debug().header(), *request, 0, 0);
  if (!sequence) return Fail(sequence.error().message);
  trace_sequence_ = *sequence;
  return true;
}

bool Replay::ExpectTrace(const fs::path& file) {
  if (trace_sequence_ == 0) return Fail("expect-trace without trace");
  np::debug::DebugHeader& header = dataplane_->debug().header();
  std::map<uint32_t, np::cli::TracedPacket> packets;
  const uint64_t lost = np::cli::CollectTrace(header, trace_sequence_, packets);
  np::cli::DisarmTrace(header);
  trace_sequence_ = 0;
  if (lost != 0) return Fail(std::to_string(lost) + " trace steps lost to a full ring");
  np::cli::TraceNames names = np::cli::TraceNamesFromStats(dataplane_->stats().header());
  if (dataplane_->tables_region().PublishedGeneration(np::abi::SectionKind::kPolicy) != 0) {
    std::optional<std::vector<uint8_t>> bytes = np::daemon::ReadPublishedImage(dataplane_->tables_region(),
                                                                               np::abi::SectionKind::kPolicy);
    if (!bytes) return Fail("cannot copy the policy section");
    auto image = np::DecodePolicySection(bytes->data(), bytes->size(), nullptr);
    if (!image) return Fail(image.error().message);
    np::cli::AddPolicyNames(*image, names);
  }
  const std::string actual = np::cli::FormatTraceText(packets, names);
  if (actual_dir_) {
    fs::create_directories(*actual_dir_);
    std::ofstream(*actual_dir_ / file.filename()) << actual;
  }
  std::ifstream expected_stream(case_dir_ / file);
  if (!expected_stream) return Fail("cannot read " + file.string());
  std::stringstream expected;
  expected << expected_stream.rdbuf();
  if (actual != expected.str()) {
    std::fprintf(stderr, "--- expected\n%s--- actual\n%s", expected.str().c_str(), actual.c_str());
    return Fail("trace differs from " + file.string());
  }
  return true;
}

bool Replay::Setup() {
  np::harness::InProcessOptions options;
  options.workers = worker_count_;
  options.mbufs = 4095;
  options.instance_prefix = "replay";
  dataplane_ = std::make_unique<np::harness::InProcessDataplane>(options);
  if (!dataplane_->Setup(case_dir_ / "node.yaml")) return Fail(dataplane_->error());
  return PublishServices(case_dir_ / "manifests");
}

bool Replay::PublishServices(const fs::path& manifests) {
  if (!dataplane_->PublishServices(manifests)) return Fail(dataplane_->error());
  Drain();  // gratuitous ARP for owned addresses goes out here
  return true;
}

void Replay::Drain() {
  for (const np::harness::RingPort& port : dataplane_->ports()) {
    std::vector<Packet>& sent = transmitted_[port.name];
    dataplane_->DrainTx(port, [&](rte_mbuf* mbuf) {
      const uint8_t* data = rte_pktmbuf_mtod(mbuf, const uint8_t*);
      sent.emplace_back(data, data + rte_pktmbuf_data_len(mbuf));
      rte_pktmbuf_free(mbuf);
    });
  }
}

bool Replay::Send(const std::string& port, const fs::path& file) {
  const np::harness::RingPort* ring_port = dataplane_->PortNamed(port);
  if (ring_port == nullptr) return Fail("no port named " + port);
  std::string error;
  auto packets = ReadPcap(case_dir_ / file, error);
  if (!packets) return Fail(error);
  // Straight into the chosen worker's pipeline, as if RSS had put the
  // packet on that worker's queue.
  const uint8_t slot = dataplane_->SlotOf(*ring_port);
  for (const Packet& packet : *packets) {
    rte_mbuf* mbuf = rte_pktmbuf_alloc(dataplane_->shared().pool);
    if (mbuf == nullptr) return Fail("out of mbufs");
    std::memcpy(rte_pktmbuf_append(mbuf, static_cast<uint16_t>(packet.size())), packet.data(), packet.size());
    dataplane_->Process(current_worker_, slot, &mbuf, 1);
    Drain();
  }
  return true;
}

bool Replay::Expect(const std::string& port, const std::optional<fs::path>& file) {
  if (dataplane_->PortNamed(port) == nullptr) return Fail("no port named " + port);
  std::vector<Packet> actual = std::move(transmitted_[port]);
  transmitted_[port].clear();
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
  const np::stats::LcoreCounters& counters = dataplane_->counters(0);
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
  std::string verb, first, second, third;
  words >> verb >> first >> second >> third;
  if (verb.empty() || verb[0] == '#') return true;
  if (verb == "in") return Send(first, second);
  if (verb == "expect") return Expect(first, fs::path(second));
  if (verb == "expect-none") return Expect(first, std::nullopt);
  if (verb == "manifests") return PublishServices(case_dir_ / first);
  if (verb == "counter") return CheckCounter(first, std::stoull(second));
  if (verb == "trace") return ArmTrace(first, second, third);
  if (verb == "expect-trace") return ExpectTrace(first);
  if (verb == "workers") return true;  // read before set-up
  if (verb == "worker") {
    const unsigned long index = std::stoul(first);
    if (index >= worker_count_) return Fail("no worker " + first);
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
  for (const auto& [port, sent] : transmitted_)
    if (!sent.empty())
      return Fail("port " + port + " transmitted " + std::to_string(sent.size()) +
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
