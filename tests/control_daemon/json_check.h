// A strict JSON validator (RFC 8259 grammar) for checking npctl -o json.
#pragma once

#include <cctype>
#include <string_view>

namespace np::testing {

class JsonChecker {
 public:
  static bool Valid(std::string_view text) {
    JsonChecker checker(text);
    checker.SkipSpace();
    if (!checker.Value()) return false;
    checker.SkipSpace();
    return checker.at_ == text.size();
  }

 private:
  explicit JsonChecker(std::string_view text) : text_(text) {}
  bool More() const { return at_ < text_.size(); }
  char Peek() const { return More() ? text_[at_] : '\0'; }
  void SkipSpace() {
    while (More() && (Peek() == ' ' || Peek() == '\n' || Peek() == '\r' || Peek() == '\t')) ++at_;
  }
  bool Literal(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }
  bool Value() {
    switch (Peek()) {
      case '{': return Object();
      case '[': return Array();
      case '"': return String();
      case 't': return Literal("true");
      case 'f': return Literal("false");
      case 'n': return Literal("null");
      default: return Number();
    }
  }
  bool Object() {
    ++at_;
    SkipSpace();
    if (Peek() == '}') return ++at_, true;
    for (;;) {
      SkipSpace();
      if (!String()) return false;
      SkipSpace();
      if (Peek() != ':') return false;
      ++at_;
      SkipSpace();
      if (!Value()) return false;
      SkipSpace();
      if (Peek() == '}') return ++at_, true;
      if (Peek() != ',') return false;
      ++at_;
    }
  }
  bool Array() {
    ++at_;
    SkipSpace();
    if (Peek() == ']') return ++at_, true;
    for (;;) {
      SkipSpace();
      if (!Value()) return false;
      SkipSpace();
      if (Peek() == ']') return ++at_, true;
      if (Peek() != ',') return false;
      ++at_;
    }
  }
  bool String() {
    if (Peek() != '"') return false;
    ++at_;
    while (More()) {
      const char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        const char e = Peek();
        ++at_;
        if (e == 'u') {
          for (int i = 0; i < 4; ++i, ++at_)
            if (!std::isxdigit(static_cast<unsigned char>(Peek()))) return false;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool Number() {
    const size_t start = at_;
    if (Peek() == '-') ++at_;
    if (Peek() == '0') ++at_;
    else if (std::isdigit(static_cast<unsigned char>(Peek())))
      while (std::isdigit(static_cast<unsigned char>(Peek()))) ++at_;
    else return false;
    if (Peek() == '.') {
      ++at_;
      if (!std::isdigit(static_cast<unsigned char>(Peek()))) return false;
      while (std::isdigit(static_cast<unsigned char>(Peek()))) ++at_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++at_;
      if (Peek() == '+' || Peek() == '-') ++at_;
      if (!std::isdigit(static_cast<unsigned char>(Peek()))) return false;
      while (std::isdigit(static_cast<unsigned char>(Peek()))) ++at_;
    }
    return at_ > start;
  }

  std::string_view text_;
  size_t at_ = 0;
};

}  // namespace np::testing
