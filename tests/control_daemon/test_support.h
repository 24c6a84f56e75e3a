// Helpers for the control daemon tests: unique shm instances that clean up
// after themselves, scratch directories, and a stand-in for the dataplane's
// table loader.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "common/policy_image.h"
#include "common/section_image.h"
#include "common/shm_region.h"
#include "control/config/device_check.h"

namespace np::testing {

// "test-<pid>-<n>": parallel test processes never share a region.
class UniqueInstance {
 public:
  UniqueInstance() {
    static std::atomic<int> counter{0};
    name_ = "npdtest-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    RemoveAll();
  }
  ~UniqueInstance() { RemoveAll(); }
  const std::string& name() const { return name_; }

 private:
  void RemoveAll() {
    for (const char* what : {"tables", "stats", "conntrack", "affinity"}) SharedMemoryFile::Remove(ShmName(name_, what));
  }
  std::string name_;
};

class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "npdtest-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

// The fixture node config names af_packet interfaces this machine lacks.
inline config::PathExists EveryDeviceExists() {
  return [](const std::string&) { return true; };
}

// Plays the dataplane's loader: claims each newly published section,
// decodes it as the dataplane would, and applies it or refuses it with the
// reason `refuse` returns (empty: apply).
class FakeDataplane {
 public:
  using Verdict = std::function<std::string(abi::SectionKind kind, std::span<const uint8_t> image)>;

  FakeDataplane(const std::string& instance, Verdict verdict = {})
      : region_(TablesRegion::Open(instance)), verdict_(std::move(verdict)) {
    region_->ReportBoot(static_cast<uint32_t>(getpid()));
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeDataplane() {
    stop_ = true;
    thread_.join();
  }
  TablesRegion& region() { return *region_; }

 private:
  void Loop() {
    uint64_t seen[abi::kMaxSections] = {};
    while (!stop_) {
      region_->ReportHeartbeat();
      for (abi::SectionKind kind : abi::kPublishedSections) {
        const auto index = static_cast<uint32_t>(kind);
        std::optional<TablesRegion::Claim> claim = region_->ClaimPublished(kind, seen[index]);
        if (!claim) continue;
        std::string reason;
        if (kind == abi::SectionKind::kNode) {
          Result<NodeImage> image = DecodeNodeSection(claim->image.data(), claim->image.size(), &claim->checksum);
          if (!image) reason = image.error().message;
        } else if (kind == abi::SectionKind::kServices) {
          Result<ServicesImage> image =
              DecodeServicesSection(claim->image.data(), claim->image.size(), &claim->checksum);
          if (!image) reason = image.error().message;
        } else if (kind == abi::SectionKind::kServicesDelta) {
          Result<ServicesDelta> delta =
              DecodeServicesDeltaSection(claim->image.data(), claim->image.size(), &claim->checksum);
          if (!delta) reason = delta.error().message;
        } else {
          Result<PolicyImage> image = DecodePolicySection(claim->image.data(), claim->image.size(), &claim->checksum);
          if (!image) reason = image.error().message;
        }
        if (reason.empty() && verdict_) reason = verdict_(kind, claim->image);
        region_->Release(kind);
        seen[index] = claim->generation;
        if (reason.empty()) region_->ReportApplied(kind, claim->generation);
        else region_->ReportRefused(kind, claim->generation, reason);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  Result<TablesRegion> region_;
  Verdict verdict_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A plain HTTP/1.1 GET to 127.0.0.1:port; "" when nothing listens.
inline std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[65536];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) response.append(buffer, static_cast<size_t>(n));
  close(fd);
  return response;
}

inline std::string HttpBody(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace np::testing
