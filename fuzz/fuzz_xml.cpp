// The XML decoder of the SOAP boundary (relais/xml/xml.hpp), on arbitrary bytes, with small
// limits so the fuzzer reaches them. Properties: parse never crashes, never reads a file or the
// network (the entity loader refuses, no DTD is accepted); a document it accepts has no DTD and
// no entity reference, and is within every limit (checked here by an independent walk); schema
// validation of an accepted document never crashes and names an element path for its errors.
#include <libxml/tree.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "relais/xml/xml.hpp"

using namespace relais;

namespace {

constexpr xml::Limits kLimits{.max_bytes = 1 << 16,
                              .max_depth = 12,
                              .max_elements = 500,
                              .max_attributes = 8,
                              .max_text_bytes = 256};

void check_within(xmlNodePtr n, std::size_t depth, std::size_t& elements) {
  for (; n != nullptr; n = n->next) {
    if (n->type == XML_ENTITY_REF_NODE || n->type == XML_DTD_NODE) std::abort();
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content && static_cast<std::size_t>(xmlStrlen(n->content)) > kLimits.max_text_bytes)
        std::abort();
    }
    if (n->type != XML_ELEMENT_NODE) continue;
    if (depth > kLimits.max_depth || ++elements > kLimits.max_elements) std::abort();
    std::size_t attrs = 0;
    for (xmlAttrPtr a = n->properties; a; a = a->next) ++attrs;
    for (xmlNsPtr ns = n->nsDef; ns; ns = ns->next) ++attrs;
    if (attrs > kLimits.max_attributes) std::abort();
    if (xml::node_path(n).empty() || xml::node_path(n)[0] != '/') std::abort();
    check_within(n->children, depth + 1, elements);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto schema = [] {
    auto s = xml::Schema::load({RELAIS_FUZZ_XSD_DIR "/person.xsd"}, RELAIS_FUZZ_XSD_DIR);
    if (!s.has_value()) std::abort();
    return *s;
  }();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = xml::parse(bytes, kLimits);
  if (!doc.has_value()) {
    if (doc.error().message.empty()) std::abort();
    return 0;
  }
  if (doc->get()->intSubset != nullptr || doc->get()->extSubset != nullptr) std::abort();
  std::size_t elements = 0;
  check_within(doc->root(), 1, elements);
  for (const auto& e : schema->validate(*doc)) {
    if (e.code != xml::errc::schema_invalid || e.message.empty()) std::abort();
  }
  return 0;
}
