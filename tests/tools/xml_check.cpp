// Relais's XML verdict on documents, for the differential test against xmllint
// (tests/xml/test_xsd_differential.py):
//   relais_xml_check --root DIR [--root DIR...] --xsd FILE [--xsd FILE...] DOC...
// prints one JSON line per document: {"doc": path, "valid": bool, "code": ..., "path": ...,
// "message": ...}.
#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "relais/xml/xml.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> roots, xsds, docs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--root" && i + 1 < argc) {
      roots.emplace_back(argv[++i]);
    } else if (a == "--xsd" && i + 1 < argc) {
      xsds.emplace_back(argv[++i]);
    } else {
      docs.push_back(a);
    }
  }
  if (roots.empty() || xsds.empty()) {
    std::cerr << "usage: relais_xml_check --root DIR --xsd FILE [--xsd FILE...] DOC...\n";
    return 2;
  }
  auto schema = relais::xml::Schema::load(xsds, roots);
  if (!schema.has_value()) {
    std::cerr << "schema: " << schema.error().message << "\n";
    return 1;
  }
  for (const auto& d : docs) {
    std::ifstream in(d, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    boost::json::object o{{"doc", d}};
    auto parsed = relais::xml::parse(ss.str());
    if (!parsed.has_value()) {
      o["valid"] = false;
      o["code"] = relais::xml::code_name(parsed.error().code);
      o["message"] = parsed.error().message;
    } else if (auto errors = (*schema)->validate(*parsed); !errors.empty()) {
      o["valid"] = false;
      o["code"] = relais::xml::code_name(errors.front().code);
      o["path"] = errors.front().path;
      o["message"] = errors.front().message;
    } else {
      o["valid"] = true;
    }
    std::cout << boost::json::serialize(o) << "\n";
  }
  return 0;
}
