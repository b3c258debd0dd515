#include "relais/xmlmap/xmlmap.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "relais/validation/text.hpp"
#include "relais/xml/xml.hpp"

namespace relais::xmlmap {
namespace {

Error bad_mapping(std::string message, std::string where = {}) {
  return Error{"MAPPING_INVALID", std::move(message), std::move(where)};
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

boost::system::result<std::vector<Step>, Error> parse_path(
    const std::string& text, const std::map<std::string, std::string>& ns) {
  std::vector<Step> steps;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, '/')) {
    if (part.empty()) return bad_mapping("empty step in path '" + text + "'", text);
    if (!steps.empty() && steps.back().attribute)
      return bad_mapping("an attribute must be the last step", text);
    Step st;
    if (part[0] == '@') {
      st.attribute = true;
      st.local = part.substr(1);
    } else {
      const auto colon = part.find(':');
      if (colon == std::string::npos)
        return bad_mapping("step '" + part + "' needs a namespace prefix", text);
      auto it = ns.find(part.substr(0, colon));
      if (it == ns.end()) return bad_mapping("undeclared prefix in '" + part + "'", text);
      st.ns = it->second;
      st.local = part.substr(colon + 1);
    }
    if (st.local.empty()) return bad_mapping("empty name in path '" + text + "'", text);
    steps.push_back(std::move(st));
  }
  if (steps.empty()) return bad_mapping("empty path", text);
  return steps;
}

boost::system::result<std::vector<Field>, Error> parse_fields(
    const YAML::Node& list, const std::map<std::string, std::string>& ns) {
  if (!list || !list.IsSequence()) return bad_mapping("fields must be a list");
  std::vector<Field> out;
  for (const auto& e : list) {
    if (!e.IsMap() || !e["path"] || !e["field"])
      return bad_mapping("every entry needs path and field");
    Field f;
    const auto path_text = e["path"].as<std::string>();
    auto path = parse_path(path_text, ns);
    if (!path) return path.error();
    f.path = std::move(*path);
    f.field = e["field"].as<std::string>();
    if (auto t = e["type"]) {
      const auto type = t.as<std::string>();
      if (type == "integer")
        f.type = Field::Type::integer;
      else if (type == "boolean")
        f.type = Field::Type::boolean;
      else if (type != "string")
        return bad_mapping("unknown type '" + type + "'", path_text);
    }
    if (auto c = e["codes"]) {
      if (!c.IsMap()) return bad_mapping("codes must be a map", path_text);
      for (const auto& kv : c) f.codes[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    f.repeated = e["repeated"] && e["repeated"].as<bool>();
    if (auto sub = e["fields"]) {
      auto nested = parse_fields(sub, ns);
      if (!nested) return nested.error();
      f.fields = std::move(*nested);
      if (f.path.back().attribute)
        return bad_mapping("an object cannot come from an attribute", path_text);
    }
    out.push_back(std::move(f));
  }
  return out;
}

// The nodes a path designates from `from`: elements, or (last step) the attribute values.
struct Match {
  std::vector<_xmlNode*> elements;
  std::vector<std::string> attributes;
};

Match follow(_xmlNode* from, const std::vector<Step>& path) {
  std::vector<_xmlNode*> current{from};
  Match m;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const Step& st = path[i];
    if (st.attribute) {
      for (auto* n : current) {
        auto v = xml::attribute(n, "", st.local);
        if (!v.empty()) m.attributes.push_back(std::move(v));
      }
      return m;
    }
    std::vector<_xmlNode*> next;
    for (auto* n : current) {
      auto c = xml::children(n, st.ns, st.local);
      next.insert(next.end(), c.begin(), c.end());
    }
    current = std::move(next);
  }
  m.elements = std::move(current);
  return m;
}

// `at`: the node whose path names an error (computed only then: a path costs allocations).
boost::system::result<boost::json::value, Error> scalar(const Field& f, std::string_view raw,
                                                        _xmlNode* at) {
  std::string v = trim(raw);
  auto where = [at] { return xml::node_path(at); };
  if (!f.codes.empty()) {
    auto it = f.codes.find(v);
    if (it == f.codes.end()) {
      return Error{
          "XML_UNKNOWN_CODE",
          "value '" + validation::sanitize_text(v, 64) + "' is not in the mapping's code list",
          where()};
    }
    v = it->second;
  }
  switch (f.type) {
    case Field::Type::integer: {
      std::int64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size()) {
        return Error{"XML_BAD_VALUE",
                     "'" + validation::sanitize_text(v, 64) + "' is not an integer", where()};
      }
      return boost::json::value(n);
    }
    case Field::Type::boolean:
      if (v == "true" || v == "1") return boost::json::value(true);
      if (v == "false" || v == "0") return boost::json::value(false);
      return Error{"XML_BAD_VALUE", "'" + validation::sanitize_text(v, 64) + "' is not a boolean",
                   where()};
    case Field::Type::string:
      break;
  }
  return boost::json::value(v);
}

boost::system::result<boost::json::object, Error> map_fields(const std::vector<Field>& fields,
                                                             _xmlNode* element);

boost::system::result<boost::json::value, Error> one_value(const Field& f, _xmlNode* node) {
  if (!f.fields.empty()) {
    auto o = map_fields(f.fields, node);
    if (!o) return o.error();
    return boost::json::value(std::move(*o));
  }
  return scalar(f, xml::text(node), node);
}

boost::system::result<boost::json::object, Error> map_fields(const std::vector<Field>& fields,
                                                             _xmlNode* element) {
  boost::json::object out;
  for (const auto& f : fields) {
    Match m = follow(element, f.path);
    const std::size_t count = f.path.back().attribute ? m.attributes.size() : m.elements.size();
    if (count == 0) continue;
    if (f.repeated) {
      boost::json::array arr;
      for (std::size_t i = 0; i < count; ++i) {
        auto v = f.path.back().attribute ? scalar(f, m.attributes[i], element)
                                         : one_value(f, m.elements[i]);
        if (!v) return v.error();
        arr.push_back(std::move(*v));
      }
      out[f.field] = std::move(arr);
      continue;
    }
    if (count > 1) {
      return Error{
          "XML_AMBIGUOUS", std::to_string(count) + " values for '" + f.field + "', which takes one",
          count && !m.elements.empty() ? xml::node_path(m.elements[1]) : xml::node_path(element)};
    }
    auto v =
        f.path.back().attribute ? scalar(f, m.attributes[0], element) : one_value(f, m.elements[0]);
    if (!v) return v.error();
    out[f.field] = std::move(*v);
  }
  return out;
}

}  // namespace

boost::system::result<Mapping, Error> load(std::string_view yaml_text, const std::string& folder) {
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return bad_mapping(std::string("not YAML: ") + e.what());
  }
  try {
    if (!doc.IsMap() || !doc["flow"] || !doc["root"] || !doc["fields"])
      return bad_mapping("needs flow, root and fields");
    Mapping m;
    m.flow = doc["flow"].as<std::string>();
    if (!doc["root"]["namespace"] || !doc["root"]["element"])
      return bad_mapping("root needs namespace and element");
    m.root_ns = doc["root"]["namespace"].as<std::string>();
    m.root_element = doc["root"]["element"].as<std::string>();
    // Included files first: their namespaces and fields.
    std::vector<YAML::Node> parts;
    if (auto inc = doc["include"]) {
      if (!inc.IsSequence()) return bad_mapping("include must be a list of file names");
      if (folder.empty()) return bad_mapping("include needs the mapping folder");
      const std::string dir = folder + "/";
      for (const auto& name_node : inc) {
        const auto name = name_node.as<std::string>();
        if (name.empty() || name.find('/') != std::string::npos ||
            name.find("..") != std::string::npos) {
          return bad_mapping("include '" + name + "': a file name of the mapping folder", name);
        }
        try {
          parts.push_back(YAML::LoadFile(dir + name));
        } catch (const YAML::Exception& e) {
          return bad_mapping("include '" + name + "': " + e.what(), name);
        }
      }
    }
    parts.push_back(doc);
    std::map<std::string, std::string> ns;
    for (const auto& part : parts) {
      if (auto n = part["namespaces"]) {
        if (!n.IsMap()) return bad_mapping("namespaces must be a map of prefix: URI");
        for (const auto& kv : n) ns[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
    }
    for (const auto& part : parts) {
      auto fields = parse_fields(part["fields"], ns);
      if (!fields) return fields.error();
      m.fields.insert(m.fields.end(), std::make_move_iterator(fields->begin()),
                      std::make_move_iterator(fields->end()));
    }
    return m;
  } catch (const YAML::Exception& e) {
    return bad_mapping(std::string("bad value: ") + e.what());
  }
}

boost::system::result<boost::json::object, Error> apply(const Mapping& m, _xmlNode* element) {
  if (element == nullptr || xml::local_name(element) != m.root_element ||
      xml::namespace_uri(element) != m.root_ns) {
    return Error{"MAPPING_INVALID",
                 "the element is not the mapping's root {" + m.root_ns + "}" + m.root_element,
                 xml::node_path(element)};
  }
  return map_fields(m.fields, element);
}

const Mapping* Catalog::find(std::string_view ns, std::string_view element) const {
  auto it = by_root.find({std::string(ns), std::string(element)});
  return it == by_root.end() ? nullptr : &it->second;
}

boost::system::result<Catalog, Error> load_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return bad_mapping("mapping folder " + dir + " is not a directory", dir);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".yaml" &&
        !e.path().filename().string().starts_with("_")) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  Catalog c;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    auto m = load(ss.str(), dir);
    if (!m) {
      auto e = m.error();
      e.message = f.filename().string() + ": " + e.message;
      return e;
    }
    auto key = std::make_pair(m->root_ns, m->root_element);
    if (c.by_root.count(key))
      return bad_mapping(f.filename().string() + ": a second mapping for " + m->root_element,
                         f.string());
    c.by_root.emplace(key, std::move(*m));
  }
  return c;
}

}  // namespace relais::xmlmap
