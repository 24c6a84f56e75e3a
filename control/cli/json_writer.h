// A small streaming JSON writer (pretty-printed, two-space indent) so that
// `npctl ... -o json` output is always valid: strings are escaped and commas
// placed by the writer, never by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace np::cli {

class JsonWriter {
 public:
  enum class Style { kPretty, kCompact };  // kCompact: one line (JSON-lines logs)
  JsonWriter() = default;
  explicit JsonWriter(Style style) : compact_(style == Style::kCompact) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // Shorthands for an object member.
  JsonWriter& Field(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(std::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(std::string_view key, uint32_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(std::string_view key, bool value) { return Key(key).Bool(value); }

  // The document, newline-terminated.
  std::string Finish() const { return out_ + "\n"; }

 private:
  void BeforeValue();
  void Open(char bracket);
  void Close(char bracket);
  void Indent();

  std::string out_;
  std::vector<bool> has_elements_;  // per open container
  bool after_key_ = false;
  bool compact_ = false;
};

std::string JsonEscape(std::string_view text);  // with the quotes

}  // namespace np::cli
