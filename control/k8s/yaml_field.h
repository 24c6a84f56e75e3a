// Typed, path-aware access to a parsed YAML document.
//
// Every accessor records a precise message in a Report instead of throwing:
// "services.yaml: Service default/vote: spec.ports[0].port: 70000 is not a
// port (1-65535)". Scalars are converted here rather than by yaml-cpp so that
// an int field rejects a quoted "80" (as the API server does) and "010" is
// not read as octal.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/k8s/ip.h"

namespace np::k8s {

// Messages collected while decoding one object (or one config file).
struct Report {
  std::string prefix;  // "file: Kind ns/name" or "file"
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  bool failed() const { return !errors.empty(); }
  void Error(std::string_view path, std::string_view message);
  void Warning(std::string_view path, std::string_view message);
};

class Field {
 public:
  Field(YAML::Node node, std::string path, Report* report)
      : node_(std::move(node)), path_(std::move(path)), report_(report) {}

  // Absent and explicit null are the same thing, as for the API server.
  bool present() const { return node_.IsDefined() && !node_.IsNull(); }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }

  Field operator[](std::string_view key) const;
  // A mapping: false (and an error) when present but not a mapping. Keys not
  // in `known` are reported as warnings; `open` maps skip that check (large
  // upstream structs where only a few fields matter, e.g. Pod.spec).
  bool ExpectMap(std::initializer_list<std::string_view> known, bool open = false) const;
  // Elements of a sequence ([] when absent; an error when not a sequence).
  std::vector<Field> Items() const;

  std::optional<std::string> String() const;
  std::optional<int64_t> Int(int64_t min, int64_t max) const;
  std::optional<bool> Bool() const;
  std::optional<uint16_t> Port() const;  // 1-65535
  std::optional<IpAddress> Ip() const;
  std::optional<IpCidr> Cidr() const;
  // One of `allowed`; absent gives `fallback`.
  std::optional<std::string> Enum(std::initializer_list<std::string_view> allowed,
                                  std::string_view fallback) const;
  // A map of string to string (labels, selectors).
  std::map<std::string, std::string> StringMap() const;
  std::vector<std::string> StringList() const;

  void Error(std::string_view message) const { report_->Error(path_, message); }
  void Warning(std::string_view message) const { report_->Warning(path_, message); }
  Report* report() const { return report_; }

 private:
  std::optional<std::string> Scalar(std::string_view expected) const;
  bool Quoted() const { return node_.Tag() == "!"; }

  YAML::Node node_;
  std::string path_;
  Report* report_;
};

// Shown in messages: the value as written, shortened.
std::string Describe(const YAML::Node& node);

}  // namespace np::k8s
