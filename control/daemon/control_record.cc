#include "control/daemon/control_record.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace np::daemon {
namespace {

std::string OneLine(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

bool ParseUint(const std::string& text, uint64_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, ','))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

}  // namespace

std::filesystem::path ControlRecordPath(const std::filesystem::path& run_dir, const std::string& instance) {
  return run_dir / (instance + ".control");
}

std::string FormatControlRecord(const ControlRecord& r) {
  std::ostringstream out;
  out << "# nodeplane-control of instance " << r.instance << "; read by npctl\n";
  out << "pid=" << r.pid << "\n";
  out << "instance=" << OneLine(r.instance) << "\n";
  out << "node_config=" << OneLine(r.node_config) << "\n";
  out << "manifests=" << OneLine(r.manifests) << "\n";
  out << "metrics=" << OneLine(r.metrics) << "\n";
  out << "started_ns=" << r.started_ns << "\n";
  out << "reload_seq=" << r.reload_seq << "\n";
  out << "reload_started_ns=" << r.reload_started_ns << "\n";
  out << "reload_finished_ns=" << r.reload_finished_ns << "\n";
  for (const auto& [section, generation] : r.generations) out << "generation." << section << "=" << generation << "\n";
  out << "published=";
  for (size_t i = 0; i < r.published.size(); ++i) out << (i ? "," : "") << r.published[i];
  out << "\n";
  for (const std::string& error : r.errors) out << "error=" << OneLine(error) << "\n";
  for (const std::string& warning : r.warnings) out << "warning=" << OneLine(warning) << "\n";
  return out.str();
}

Result<ControlRecord> ParseControlRecord(const std::string& text) {
  ControlRecord r;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  bool has_pid = false;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t equals = line.find('=');
    if (equals == std::string::npos) return MakeError("line " + std::to_string(number) + ": no '='");
    const std::string key = line.substr(0, equals);
    const std::string value = line.substr(equals + 1);
    uint64_t number_value = 0;
    auto need_number = [&](uint64_t* out) -> Status {
      if (!ParseUint(value, out)) return MakeError("line " + std::to_string(number) + ": " + key + " is not a number");
      return Ok{};
    };
    Status status = Ok{};
    if (key == "pid") {
      status = need_number(&number_value);
      r.pid = static_cast<pid_t>(number_value);
      has_pid = true;
    } else if (key == "instance") {
      r.instance = value;
    } else if (key == "node_config") {
      r.node_config = value;
    } else if (key == "manifests") {
      r.manifests = value;
    } else if (key == "metrics") {
      r.metrics = value;
    } else if (key == "started_ns") {
      status = need_number(&r.started_ns);
    } else if (key == "reload_seq") {
      status = need_number(&r.reload_seq);
    } else if (key == "reload_started_ns") {
      status = need_number(&r.reload_started_ns);
    } else if (key == "reload_finished_ns") {
      status = need_number(&r.reload_finished_ns);
    } else if (key.rfind("generation.", 0) == 0) {
      status = need_number(&number_value);
      r.generations[key.substr(11)] = number_value;
    } else if (key == "published") {
      r.published = SplitCommas(value);
    } else if (key == "error") {
      r.errors.push_back(value);
    } else if (key == "warning") {
      r.warnings.push_back(value);
    }
    if (!status) return status.error();
  }
  if (!has_pid || r.pid <= 0) return MakeError("no pid");
  if (r.manifests.empty()) return MakeError("no manifests directory");
  return r;
}

Status WriteControlRecord(const std::filesystem::path& path, const ControlRecord& record) {
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  if (error) return MakeError("cannot create " + path.parent_path().string() + ": " + error.message());
  const std::filesystem::path temporary = path.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << FormatControlRecord(record);
    out.flush();
    if (!out) return MakeError("cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    return MakeError("cannot rename " + temporary.string() + " to " + path.string());
  }
  return Ok{};
}

Result<ControlRecord> ReadControlRecord(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return MakeError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  Result<ControlRecord> record = ParseControlRecord(text.str());
  if (!record) return MakeError(path.string() + ": " + record.error().message);
  return record;
}

void RemoveControlRecord(const std::filesystem::path& path, pid_t pid) {
  Result<ControlRecord> record = ReadControlRecord(path);
  if (!record || record->pid != pid) return;
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

}  // namespace np::daemon
