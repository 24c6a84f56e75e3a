#include "control/flows/collector.h"

#include <cstddef>
#include <vector>

#include "common/shm_region.h"
#include "control/k8s/ip.h"

namespace np::flows {
namespace {

constexpr uint32_t kBatch = 256;

// The region is usable once the dataplane wrote a header of our major
// version, and the file holds the rings it says it uses.
std::optional<std::string> CheckRegion(const SharedMemoryFile& file) {
  if (file.size() < offsetof(FlowsHeader, rings)) return "smaller than its header";
  const auto& header = *reinterpret_cast<const FlowsHeader*>(file.data());
  if (header.magic != kFlowsMagic) return "not initialised yet (no magic)";
  if (header.version_major != kFlowsVersionMajor)
    return "ABI major " + std::to_string(header.version_major) + ", this control plane reads " +
           std::to_string(kFlowsVersionMajor);
  if (header.ring_records != kRingRecords) return "ring of " + std::to_string(header.ring_records) + " records";
  if (header.producer_count > kMaxProducers) return "producer_count " + std::to_string(header.producer_count);
  if (file.size() < offsetof(FlowsHeader, rings) + header.producer_count * sizeof(Ring))
    return "smaller than its " + std::to_string(header.producer_count) + " rings";
  return std::nullopt;
}

FlowsHeader& HeaderOf(const SharedMemoryFile& file) { return *reinterpret_cast<FlowsHeader*>(file.data()); }

}  // namespace

const char* VerdictName(uint8_t verdict) {
  switch (static_cast<Verdict>(verdict)) {
    case Verdict::kNoPolicy: return "no-policy";
    case Verdict::kAllowed: return "allowed";
    case Verdict::kDenied: return "denied";
    case Verdict::kWouldDeny: return "would-deny";
    case Verdict::kAlwaysAllowed: return "always-allowed";
  }
  return "unknown";
}

const char* EndReasonName(uint8_t reason) {
  switch (static_cast<EndReason>(reason)) {
    case EndReason::kNone: return "";
    case EndReason::kExpired: return "expired";
    case EndReason::kTcpReused: return "tcp-reused";
    case EndReason::kPolicyCut: return "policy-cut";
    case EndReason::kBackendGone: return "backend-gone";
    case EndReason::kEvicted: return "evicted";
  }
  return "unknown";
}

std::string ProtocolText(uint8_t protocol) {
  switch (protocol) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 132: return "SCTP";
  }
  return std::to_string(protocol);
}

FlowCollector::FlowCollector(FlowCollectorOptions options) : options_(std::move(options)) {
  // What a previous control plane of this instance learned stays on the map.
  const std::filesystem::path path = TrafficMapPath(options_.run_dir, options_.instance);
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<TrafficMapFile> previous = ParseTrafficMapJson(text);
  if (!previous) {
    log_messages_.push_back("flows: " + path.string() + ": " + previous.error().message + " (starting a new map)");
    return;
  }
  map_.Restore(previous->edges);
  restored_map_ns_ = previous->updated_ns;
  log_messages_.push_back("flows: kept the " + std::to_string(previous->edges.size()) + " edges of " + path.string());
}

void FlowCollector::SetResolver(std::shared_ptr<const IdentityResolver> resolver) {
  std::lock_guard lock(mutex_);
  resolver_ = std::move(resolver);
}

FlowMetrics FlowCollector::Metrics() const {
  std::lock_guard lock(mutex_);
  return metrics_;
}

TrafficMapFile FlowCollector::Map() const {
  std::lock_guard lock(mutex_);
  TrafficMapFile map;
  map.records = metrics_.records;
  map.records_dropped = metrics_.records_dropped;
  map.active_flows = metrics_.active;
  map.edges = map_.Edges();
  map.edges_overflow = map_.overflow();
  return map;
}

std::vector<std::string> FlowCollector::TakeLog() {
  std::lock_guard lock(mutex_);
  return std::exchange(log_messages_, {});
}

bool FlowCollector::EnsureAttached(uint64_t now_ns) {
  const bool check = !region_ || now_ns - last_reattach_check_ns_ >= options_.reattach_check_ns;
  if (!check) return true;
  last_reattach_check_ns_ = now_ns;
  // Opened by name each time: a restarted dataplane may have made a new file.
  Result<SharedMemoryFile> file = SharedMemoryFile::Open(ShmName(options_.instance, "flows"), /*writable=*/true);
  if (!file) return region_.has_value();
  if (std::optional<std::string> problem = CheckRegion(*file)) {
    // A region being created has no magic for a moment: not worth a message.
    if (problem->find("no magic") == std::string::npos) Warn("flows: " + file->name() + ": " + *problem + " (not read)");
    return region_.has_value();  // keep reading the old one until the new one is ready
  }
  const uint64_t epoch = HeaderOf(*file).boot_epoch;
  if (region_ && epoch == boot_epoch_) return true;
  std::lock_guard lock(mutex_);
  if (region_) {
    log_messages_.push_back("flows: the dataplane restarted (boot epoch " + std::to_string(epoch) +
                            "): re-attached; " + std::to_string(active_.size()) +
                            " connections of the previous boot are forgotten");
    // Their conntrack entries died with the dataplane: no end record will come.
    for (auto& [id, entry] : active_) {
      entry.event = "end";
      entry.end_reason = "dataplane-restart";
      AppendLog(entry);
    }
    active_.clear();
    dropped_previous_boots_ += dropped_this_boot_;
    dropped_this_boot_ = 0;
  } else {
    log_messages_.push_back("flows: attached " + file->name() + " (" +
                            std::to_string(HeaderOf(*file).producer_count) + " rings)");
  }
  region_ = std::move(*file);
  boot_epoch_ = epoch;
  metrics_.attached = true;
  metrics_.active = 0;
  return true;
}

FlowLogEntry FlowCollector::Describe(const FlowRecord& record, const IdentityResolver& resolver) const {
  FlowLogEntry entry;
  entry.flow_id = record.flow_id;
  entry.start_ns = record.start_ns;
  entry.time_ns = record.time_ns;
  entry.protocol = ProtocolText(record.protocol);
  entry.src_ip = k8s::Ipv4ToString(record.original_src_ip);
  entry.src_port = record.original_src_port;
  entry.dst_ip = k8s::Ipv4ToString(record.original_dst_ip);
  entry.dst_port = record.original_dst_port;
  // The backend answers from the reply tuple's source; a record without a
  // reply tuple (a denial before NAT) names the original destination.
  const bool has_reply = record.reply_src_ip != 0;
  const uint32_t backend_ip = has_reply ? record.reply_src_ip : record.original_dst_ip;
  entry.backend_ip = k8s::Ipv4ToString(backend_ip);
  entry.backend_port = has_reply ? record.reply_src_port : record.original_dst_port;
  entry.verdict = VerdictName(record.verdict);
  if (record.service_port_id != kNoServicePort) entry.service = resolver.ServicePortName(record.service_port_id);
  entry.client = resolver.Resolve(record.original_src_ip);
  entry.server = resolver.Resolve(backend_ip);
  for (int direction = 0; direction < 2; ++direction) {
    entry.packets[direction] = record.packets[direction];
    entry.bytes[direction] = record.bytes[direction];
  }
  return entry;
}

// The workload label of a metric: every external address is "external"
// and the node is "node", so that the series stay as many as the workload
// pairs, whatever the clients' addresses.
std::string MetricWorkload(const FlowPeer& peer) {
  if (peer.kind == "pod") return peer.workload;
  if (peer.kind == "service-vip") return "service/" + peer.workload;
  return peer.kind;
}

void FlowCollector::Count(const FlowLogEntry& entry) {
  ++metrics_.flows_total[{entry.verdict, entry.client.namespace_, MetricWorkload(entry.client),
                          entry.server.namespace_, MetricWorkload(entry.server)}];
}

void FlowCollector::Process(const FlowRecord& record, const IdentityResolver& resolver) {
  ++metrics_.records;
  const auto event = static_cast<FlowEvent>(record.event);
  auto active = record.flow_id != 0 ? active_.find(record.flow_id) : active_.end();
  // A connection first seen by an update or an end, that started before the
  // map this collector restored was written, was counted by the previous
  // control plane already.
  const bool counted_before = event != FlowEvent::kStart && event != FlowEvent::kDenied && record.start_ns != 0 &&
                              record.start_ns <= restored_map_ns_;
  auto first_sight = [&](const char* name) {
    FlowLogEntry entry = Describe(record, resolver);
    entry.event = name;
    map_.Observe(entry, /*new_connection=*/!counted_before);
    if (!counted_before) Count(entry);
    AppendLog(entry);
    map_dirty_ = true;
    return entry;
  };
  switch (event) {
    case FlowEvent::kStart:
    case FlowEvent::kUpdate:
      if (active == active_.end()) {
        // An update without its start: the collector attached mid-flow.
        FlowLogEntry entry = first_sight("start");
        if (record.flow_id != 0 && active_.size() < options_.max_active_flows) active_.emplace(record.flow_id, entry);
      } else {
        FlowLogEntry& entry = active->second;
        entry.time_ns = record.time_ns;
        entry.verdict = VerdictName(record.verdict);
        for (int direction = 0; direction < 2; ++direction) {
          entry.packets[direction] = record.packets[direction];
          entry.bytes[direction] = record.bytes[direction];
        }
      }
      break;
    case FlowEvent::kEnd: {
      FlowLogEntry entry;
      if (active == active_.end()) {
        entry = Describe(record, resolver);  // started before we attached
        map_.Observe(entry, /*new_connection=*/!counted_before);
        if (!counted_before) Count(entry);
      } else {
        entry = std::move(active->second);  // identities as resolved when it started
        active_.erase(active);
        entry.time_ns = record.time_ns;
        entry.verdict = VerdictName(record.verdict);
        for (int direction = 0; direction < 2; ++direction) {
          entry.packets[direction] = record.packets[direction];
          entry.bytes[direction] = record.bytes[direction];
        }
        map_.Observe(entry, /*new_connection=*/false);
      }
      entry.event = "end";
      entry.end_reason = EndReasonName(record.end_reason);
      AppendLog(entry);
      map_dirty_ = true;
      break;
    }
    case FlowEvent::kDenied: {
      const auto tuple = std::tuple(record.original_src_ip, record.original_dst_ip, record.original_src_port,
                                    record.original_dst_port, record.protocol);
      auto [it, inserted] = recent_denials_.try_emplace(tuple, record.time_ns);
      const bool retry = !inserted && record.time_ns - it->second < options_.denied_retry_window_ns;
      it->second = record.time_ns;
      if (!retry) first_sight("denied");
      break;
    }
    default: {
      WarnLocked("flows: records with unknown event " + std::to_string(record.event) + " ignored");
      break;
    }
  }
}

void FlowCollector::AppendLog(const FlowLogEntry& entry) { pending_log_ += FormatFlowLogLine(entry); }

uint64_t FlowCollector::Poll(uint64_t now_ns) {
  if (!EnsureAttached(now_ns)) {
    if (map_dirty_ && now_ns - map_written_ns_ >= options_.map_interval_ns) WriteMap(now_ns);
    return 0;
  }
  FlowsHeader& header = HeaderOf(*region_);
  std::shared_ptr<const IdentityResolver> resolver;
  {
    std::lock_guard lock(mutex_);
    resolver = resolver_;
  }
  // Until the first reload names the pods, records wait in the rings
  // (a restarted control plane would otherwise call every pod external).
  if (!resolver) return 0;
  uint64_t read = 0;
  uint64_t dropped = 0;
  std::vector<FlowRecord> batch(kBatch);
  const uint32_t producers = std::min(header.producer_count, kMaxProducers);
  {
    std::lock_guard lock(mutex_);
    for (uint32_t index = 0; index < producers; ++index) {
      Ring& ring = header.rings[index];
      // Bounded per round: one busy producer cannot starve the others.
      for (uint32_t round = 0; round < kRingRecords / kBatch; ++round) {
        const uint32_t count = ring.Pop(batch.data(), kBatch);
        for (uint32_t i = 0; i < count; ++i) Process(batch[i], *resolver);
        read += count;
        if (count < kBatch) break;
      }
      dropped += ring.dropped.load(std::memory_order_relaxed);
    }
    dropped_this_boot_ = dropped;
    metrics_.records_dropped = dropped_previous_boots_ + dropped_this_boot_;
    // Forget denials older than the retry window (bounded memory).
    if (recent_denials_.size() > 4096)
      std::erase_if(recent_denials_, [&](const auto& entry) {
        return now_ns > entry.second && now_ns - entry.second > options_.denied_retry_window_ns;
      });
    if (metrics_.active != active_.size()) map_dirty_ = true;
    metrics_.active = active_.size();
  }
  header.consumer_heartbeat_ns.store(now_ns, std::memory_order_release);

  if (!pending_log_.empty()) FlushLog();
  if (map_dirty_ && now_ns - map_written_ns_ >= options_.map_interval_ns) WriteMap(now_ns);
  return read;
}

void FlowCollector::FlushLog() {
  std::error_code error;
  const std::filesystem::path path = FlowLogPath(options_.run_dir, options_.instance);
  // Reopened when someone removed or moved the file: append to what npctl reads.
  if (log_.is_open() && !std::filesystem::exists(path, error)) log_.close();
  if (!log_.is_open()) {
    std::filesystem::create_directories(options_.run_dir, error);
    log_.clear();
    log_.open(path, std::ios::app | std::ios::binary);
  }
  log_ << pending_log_;
  log_.flush();
  pending_log_.clear();  // on failure too: a log that cannot be written must not grow memory
  if (!log_) {
    Warn("flows: cannot write " + path.string());
    log_.close();
    return;
  }
  if (static_cast<uint64_t>(log_.tellp()) > options_.log_max_bytes) {
    log_.close();
    std::filesystem::rename(path, path.string() + ".1", error);  // replaces the older rotation
  }
}

void FlowCollector::Warn(const std::string& message) {
  std::lock_guard lock(mutex_);
  WarnLocked(message);
}

void FlowCollector::WarnLocked(const std::string& message) {
  if (message == last_warning_) return;  // a failure that repeats every poll is said once
  last_warning_ = message;
  log_messages_.push_back(message);
}

void FlowCollector::WriteMap(uint64_t now_ns) {
  TrafficMapFile map = Map();
  map.updated_ns = now_ns;
  const std::filesystem::path path = TrafficMapPath(options_.run_dir, options_.instance);
  const std::filesystem::path temporary = path.string() + ".tmp";
  std::error_code error;
  std::filesystem::create_directories(options_.run_dir, error);
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    out << FormatTrafficMapJson(map);
    if (!out) return Warn("flows: cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, path, error);
  if (error) return Warn("flows: cannot rename " + temporary.string() + ": " + error.message());
  map_dirty_ = false;
  map_written_ns_ = now_ns;
}

FlowCollectorThread::FlowCollectorThread(FlowCollector& collector, std::chrono::milliseconds interval)
    : collector_(collector) {
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      lock.unlock();
      collector_.Poll(RealtimeNanoseconds());
      lock.lock();
      wake_.wait_for(lock, interval, [this] { return stop_; });
    }
  });
}

FlowCollectorThread::~FlowCollectorThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

}  // namespace np::flows
