#include "control/k8s/yaml_field.h"

#include <algorithm>
#include <charconv>

namespace np::k8s {

void Report::Error(std::string_view path, std::string_view message) {
  std::string text = prefix;
  if (!path.empty()) text.append(": ").append(path);
  errors.push_back(text.append(": ").append(message));
}

void Report::Warning(std::string_view path, std::string_view message) {
  std::string text = prefix;
  if (!path.empty()) text.append(": ").append(path);
  warnings.push_back(text.append(": ").append(message));
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return "null";
    case YAML::NodeType::Scalar: break;
  }
  std::string text = node.Scalar();
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return node.Tag() == "!" ? "\"" + text + "\"" : text;
}

Field Field::operator[](std::string_view key) const {
  std::string child_path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!present() || !node_.IsMap()) return Field(YAML::Node(YAML::NodeType::Undefined), child_path, report_);
  // A missing key yields an "invalid" yaml-cpp node that throws on most
  // calls (even assignment): hand out a plain undefined node instead.
  const YAML::Node& self = node_;
  const YAML::Node child = self[std::string(key)];
  return Field(child.IsDefined() ? child : YAML::Node(YAML::NodeType::Undefined), std::move(child_path), report_);
}

bool Field::ExpectMap(std::initializer_list<std::string_view> known, bool open) const {
  if (!present()) return true;
  if (!node_.IsMap()) {
    Error("expected a mapping, got " + Describe(node_));
    return false;
  }
  if (open) return true;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    report_->Warning(path_.empty() ? key : path_ + "." + key, "unknown field, ignored");
  }
  return true;
}

std::vector<Field> Field::Items() const {
  std::vector<Field> items;
  if (!present()) return items;
  if (!node_.IsSequence()) {
    Error("expected a list, got " + Describe(node_));
    return items;
  }
  for (size_t i = 0; i < node_.size(); ++i)
    items.emplace_back(node_[i], path_ + "[" + std::to_string(i) + "]", report_);
  return items;
}

std::optional<std::string> Field::Scalar(std::string_view expected) const {
  if (!present()) return std::nullopt;
  if (!node_.IsScalar()) {
    Error("expected " + std::string(expected) + ", got " + Describe(node_));
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<std::string> Field::String() const { return Scalar("a string"); }

std::optional<int64_t> Field::Int(int64_t min, int64_t max) const {
  std::optional<std::string> text = Scalar("an integer");
  if (!text) return std::nullopt;
  int64_t value = 0;
  auto [end, status] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (Quoted() || status != std::errc{} || end != text->data() + text->size() || text->empty()) {
    Error("expected an integer, got " + Describe(node_));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Error(*text + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Field::Bool() const {
  std::optional<std::string> text = Scalar("true or false");
  if (!text) return std::nullopt;
  if (!Quoted()) {
    if (*text == "true" || *text == "True" || *text == "TRUE") return true;
    if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  }
  Error("expected true or false, got " + Describe(node_));
  return std::nullopt;
}

std::optional<uint16_t> Field::Port() const {
  std::optional<std::string> text = Scalar("a port number");
  if (!text) return std::nullopt;
  int64_t value = 0;
  auto [end, status] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (Quoted() || status != std::errc{} || end != text->data() + text->size() || text->empty()) {
    Error("expected a port number, got " + Describe(node_));
    return std::nullopt;
  }
  if (value < 1 || value > 65535) {
    Error(*text + " is not a port (1-65535)");
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<IpAddress> Field::Ip() const {
  std::optional<std::string> text = Scalar("an IP address");
  if (!text) return std::nullopt;
  std::optional<IpAddress> ip = ParseIp(*text);
  if (!ip) Error("\"" + *text + "\" is not an IP address");
  return ip;
}

std::optional<IpCidr> Field::Cidr() const {
  std::optional<std::string> text = Scalar("a CIDR");
  if (!text) return std::nullopt;
  std::optional<IpCidr> cidr = ParseCidr(*text);
  if (!cidr) Error("\"" + *text + "\" is not a CIDR (address/prefix-length)");
  return cidr;
}

std::optional<std::string> Field::Enum(std::initializer_list<std::string_view> allowed,
                                       std::string_view fallback) const {
  if (!present()) return std::string(fallback);
  std::optional<std::string> text = Scalar("a string");
  if (!text) return std::nullopt;
  if (text->empty() && !fallback.empty()) return std::string(fallback);
  if (std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) return text;
  std::string choices;
  for (std::string_view choice : allowed) choices.append(choices.empty() ? "" : ", ").append(choice);
  Error("\"" + *text + "\" is not one of " + choices);
  return std::nullopt;
}

std::map<std::string, std::string> Field::StringMap() const {
  std::map<std::string, std::string> values;
  if (!present()) return values;
  if (!node_.IsMap()) {
    Error("expected a mapping of strings, got " + Describe(node_));
    return values;
  }
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    const YAML::Node value = it->second;
    if (value.IsNull()) {
      values[key] = "";
    } else if (value.IsScalar()) {
      values[key] = value.Scalar();
    } else {
      report_->Error(path_ + "." + key, "expected a string, got " + Describe(value));
    }
  }
  return values;
}

std::vector<std::string> Field::StringList() const {
  std::vector<std::string> values;
  for (const Field& item : Items())
    if (std::optional<std::string> text = item.String()) values.push_back(*text);
  return values;
}

}  // namespace np::k8s
