#include "control/k8s/loader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "control/k8s/decode.h"

namespace np::k8s {
namespace {

struct DocumentText {
  std::string text;
  size_t first_line = 0;  // 0-based line of the document's first line in the file
};

// Splits on "---" lines ourselves (rather than YAML::LoadAll) so that a
// syntax error in one document does not lose the documents after it.
std::vector<DocumentText> SplitDocuments(std::string_view text) {
  std::vector<DocumentText> documents(1);
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const bool separator = line.substr(0, 3) == "---" &&
                           (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    if (separator) {
      documents.push_back(DocumentText{std::string(), line_number});
      // "--- {inline: document}": keep the rest, on the same line number.
      documents.back().text.append(line.substr(3)).append("\n");
    } else if (line.substr(0, 3) == "..." && line.find_first_not_of(". \t\r") == std::string_view::npos) {
      documents.back().text.append("\n");  // document end marker: keep line numbers
    } else {
      documents.back().text.append(line).append("\n");
    }
    ++line_number;
  }
  return documents;
}

struct KindInfo {
  const char* kind;
  const char* api_version;
  bool namespaced;
};

constexpr KindInfo kDecodedKinds[] = {
    {"Service", "v1", true},  {"EndpointSlice", "discovery.k8s.io/v1", true},
    {"Pod", "v1", true},      {"Namespace", "v1", false},
    {"Node", "v1", false},
    {"NetworkPolicy", "networking.k8s.io/v1", true},
};

const KindInfo* FindKind(std::string_view kind) {
  for (const KindInfo& info : kDecodedKinds)
    if (kind == info.kind) return &info;
  return nullptr;
}

class DocumentLoader {
 public:
  DocumentLoader(const std::string& file_name, LoadResult& result) : file_(file_name), result_(result) {}

  // `where` locates the document in the file for messages that cannot name
  // an object yet ("file:12: document 2").
  void Load(const YAML::Node& document, const std::string& where, int list_depth) {
    Report report{where, {}, {}};
    Field root(document, "", &report);
    if (!document.IsMap()) {
      root.Error("expected an object (a mapping with apiVersion and kind), got " + Describe(document));
      return Fail(std::nullopt, report);
    }
    const std::string kind = root["kind"].String().value_or("");
    const std::string api_version = root["apiVersion"].String().value_or("");
    if (kind.empty()) root["kind"].Error("required");
    if (api_version.empty()) root["apiVersion"].Error("required");
    if (report.failed()) return Fail(std::nullopt, report);

    if (kind == "List" || (kind.size() > 4 && kind.ends_with("List"))) {
      if (list_depth > 0) {
        root["kind"].Error("a List inside a List is not supported");
        return Fail(std::nullopt, report);
      }
      const std::vector<Field> items = root["items"].Items();
      if (report.failed()) return Fail(std::nullopt, report);
      for (const Field& item : items) Load(item.node(), where + ": " + item.path(), list_depth + 1);
      return;
    }

    const KindInfo* info = FindKind(kind);
    const Field metadata = root["metadata"];
    auto scalar = [&](const char* key) {
      const Field field = metadata[key];
      return field.present() && field.node().IsScalar() ? field.node().Scalar() : std::string();
    };
    NamespacedName id{scalar("namespace"), scalar("name")};
    if (info && info->namespaced && id.namespace_.empty()) id.namespace_ = "default";
    if (info && !info->namespaced) id.namespace_.clear();
    const ObjectKey key{kind, id};
    report.prefix = file_ + ": " + kind + " " + (id.name.empty() ? "<no name>" : id.ToString());

    if (id.name.empty()) {
      metadata["name"].Error("required");
      return Fail(std::nullopt, report);
    }
    if (info && api_version != info->api_version) {
      root["apiVersion"].Error("\"" + api_version + "\" is not supported (expected " + info->api_version + ")");
      return Fail(key, report);
    }
    if (std::optional<std::string> first_file = FirstDefinition(key)) {
      report.Error("", "defined twice (first in " + *first_file + "); this definition is ignored");
      return Fail(key, report);
    }

    try {
      Decode(kind, key, root, report);
    } catch (const YAML::Exception& error) {  // yaml-cpp throws on some malformed nodes
      report.Error("", std::string("cannot decode: ") + error.what());
      Fail(key, report);
    }
  }

 private:
  void Fail(std::optional<ObjectKey> key, Report& report) {
    result_.failures.push_back({file_, std::move(key), std::move(report.errors)});
    Warn(report);
  }
  void Warn(Report& report) {
    for (std::string& warning : report.warnings) result_.warnings.push_back(std::move(warning));
  }

  std::optional<std::string> FirstDefinition(const ObjectKey& key) const {
    if (!result_.state.Contains(key)) return std::nullopt;
    for (const auto& [other, file] : result_.state.Inventory())
      if (other == key) return file;
    return std::nullopt;
  }

  template <class T>
  void Keep(std::optional<T> object, std::map<NamespacedName, T>& objects, const ObjectKey& key,
            Report& report) {
    if (!object || report.failed()) return Fail(key, report);
    object->meta.source_file = file_;
    objects.insert_or_assign(key.id, std::move(*object));
    Warn(report);
  }

  void Decode(const std::string& kind, const ObjectKey& key, const Field& root, Report& report) {
    ClusterState& state = result_.state;
    if (kind == "Service") return Keep(DecodeService(root), state.services, key, report);
    if (kind == "EndpointSlice") return Keep(DecodeEndpointSlice(root), state.endpoint_slices, key, report);
    if (kind == "Pod") return Keep(DecodePod(root), state.pods, key, report);
    if (kind == "Namespace") return Keep(DecodeNamespace(root), state.namespaces, key, report);
    if (kind == "Node") return Keep(DecodeNode(root), state.nodes, key, report);
    if (kind == "NetworkPolicy") return Keep(DecodeNetworkPolicy(root), state.network_policies, key, report);
    // Other kinds are kept undecoded for later stages; no field checks here.
    OtherObject other{root["apiVersion"].String().value_or(""), kind, {}, root.node()};
    other.meta.name = key.id.name;
    other.meta.namespace_ = key.id.namespace_;
    other.meta.source_file = file_;
    state.others.insert_or_assign(key, std::move(other));
  }

  const std::string& file_;
  LoadResult& result_;
};

}  // namespace

void LoadManifestText(std::string_view text, const std::string& file_name, LoadResult& result) {
  DocumentLoader loader(file_name, result);
  const std::vector<DocumentText> documents = SplitDocuments(text);
  for (size_t index = 0; index < documents.size(); ++index) {
    const DocumentText& document = documents[index];
    const std::string where = file_name + ":" + std::to_string(document.first_line + 1) + ": document " +
                              std::to_string(index + 1);
    YAML::Node node;
    try {
      node = YAML::Load(document.text);
    } catch (const YAML::ParserException& error) {
      result.failures.push_back(
          {file_name, std::nullopt,
           {file_name + ":" + std::to_string(document.first_line + error.mark.line + 1) + ":" +
            std::to_string(error.mark.column + 1) + ": document " + std::to_string(index + 1) +
            ": not valid YAML: " + error.msg}});
      continue;
    } catch (const YAML::Exception& error) {
      result.failures.push_back({file_name, std::nullopt, {where + ": not valid YAML: " + error.what()}});
      continue;
    }
    if (!node.IsDefined() || node.IsNull()) continue;  // empty document (e.g. a leading ---)
    loader.Load(node, where, 0);
  }
}

void LoadManifestFile(const std::filesystem::path& path, LoadResult& result, const std::string& display_name) {
  const std::string name = display_name.empty() ? path.string() : display_name;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    result.failures.push_back({name, std::nullopt, {name + ": cannot read the file"}});
    return;
  }
  LoadManifestText(text.str(), name, result);
}

Result<std::vector<std::filesystem::path>> ListManifestFiles(const std::filesystem::path& directory) {
  std::error_code error;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
    const std::string extension = it->path().extension().string();
    if (extension != ".yaml" && extension != ".yml" && extension != ".json") continue;
    if (it->is_directory()) continue;
    files.push_back(it->path());
  }
  if (error) return MakeError(directory.string() + ": cannot list the directory: " + error.message());
  std::sort(files.begin(), files.end());
  return files;
}

Result<LoadResult> LoadManifestDirectory(const std::filesystem::path& directory) {
  Result<std::vector<std::filesystem::path>> files = ListManifestFiles(directory);
  if (!files) return files.error();
  LoadResult result;
  for (const std::filesystem::path& file : *files) LoadManifestFile(file, result, file.filename().string());
  return result;
}

}  // namespace np::k8s
