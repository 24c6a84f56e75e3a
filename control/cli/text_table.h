// Aligned columns as kubectl prints them: upper-case headers, three spaces
// between columns, no trailing padding.
#pragma once

#include <string>
#include <vector>

namespace np::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells);
  std::string Render() const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace np::cli
