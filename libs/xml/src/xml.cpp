#include "relais/xml/xml.hpp"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlstring.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>

#include "relais/validation/text.hpp"

namespace relais::xml {
namespace {

constexpr std::size_t kMaxMessage = 300;

std::string clean(const char* s) {
  if (s == nullptr) return {};
  std::string_view v(s);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' '))
    v.remove_suffix(1);
  return validation::sanitize_text(v, kMaxMessage);
}

Error make(errc code, std::string message, int line = 0, std::string path = {}) {
  return Error{code, std::move(message), line, std::move(path)};
}

// The folders XSDs may be read from: set by Schema::load on its own thread for the time it
// compiles a set (libxml2 calls the loader synchronously), unset everywhere else, so that
// outside a schema load nothing at all can be read.
thread_local const std::vector<std::string>* t_roots = nullptr;

struct RootsScope {
  explicit RootsScope(const std::vector<std::string>& roots) { t_roots = &roots; }
  ~RootsScope() { t_roots = nullptr; }
  RootsScope(const RootsScope&) = delete;
  RootsScope& operator=(const RootsScope&) = delete;
};

bool under_allowed_root(const std::string& path) {
  if (t_roots == nullptr) return false;
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  const std::string c = canonical.string();
  for (const auto& r : *t_roots) {
    if (c.size() > r.size() && c.compare(0, r.size(), r) == 0 && c[r.size()] == '/') return true;
  }
  return false;
}

// Every external resource libxml2 wants to read comes here: only local files under a schema
// root are read (the XSDs a Schema imports and includes); URLs with any other scheme, and files
// anywhere else, are refused. A message document never gets here (no DTD is accepted).
xmlParserInputPtr load_entity(const char* url, const char* /*id*/, xmlParserCtxtPtr ctxt) {
  if (url == nullptr) return nullptr;
  std::string u(url);
  std::string path;
  if (u.rfind("file://", 0) == 0) {
    char* unescaped = xmlURIUnescapeString(u.c_str() + 7, 0, nullptr);
    if (unescaped == nullptr) return nullptr;
    path = unescaped;
    xmlFree(unescaped);
  } else if (u.find("://") == std::string::npos && !u.empty() && u[0] == '/') {
    path = u;
  } else {
    return nullptr;  // http://, ftp://, relative paths without a base: never
  }
  if (!under_allowed_root(path)) return nullptr;
  return xmlNewInputFromFile(ctxt, path.c_str());
}

void init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    xmlSetExternalEntityLoader(load_entity);
  });
}

struct ParseState {
  bool dtd = false;
};

// SAX hook: a DOCTYPE stops the parser before its internal subset is read, so no entity is
// ever declared, expanded or fetched.
void on_internal_subset(void* ctx, const xmlChar* /*name*/, const xmlChar* /*ext*/,
                        const xmlChar* /*sys*/) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  static_cast<ParseState*>(ctxt->_private)->dtd = true;
  xmlStopParser(ctxt);
}

std::optional<Error> check_tree(xmlNodePtr root, const Limits& limits) {
  struct Item {
    xmlNodePtr node;
    std::size_t depth;
  };
  std::vector<Item> stack{{root, 1}};
  std::size_t elements = 0;
  while (!stack.empty()) {
    auto [n, depth] = stack.back();
    stack.pop_back();
    switch (n->type) {
      case XML_ELEMENT_NODE: {
        if (depth > limits.max_depth) {
          return make(errc::too_deep,
                      "elements nested deeper than " + std::to_string(limits.max_depth),
                      static_cast<int>(xmlGetLineNo(n)));
        }
        if (++elements > limits.max_elements) {
          return make(errc::too_many_nodes,
                      "more than " + std::to_string(limits.max_elements) + " elements",
                      static_cast<int>(xmlGetLineNo(n)));
        }
        std::size_t attrs = 0;
        for (xmlNsPtr ns = n->nsDef; ns != nullptr; ns = ns->next) ++attrs;
        for (xmlAttrPtr a = n->properties; a != nullptr; a = a->next) {
          ++attrs;
          if (a->children != nullptr && a->children->content != nullptr &&
              xmlStrlen(a->children->content) > static_cast<int>(limits.max_text_bytes)) {
            return make(errc::text_too_long,
                        "an attribute value is longer than " +
                            std::to_string(limits.max_text_bytes) + " bytes",
                        static_cast<int>(xmlGetLineNo(n)), node_path(n));
          }
        }
        if (attrs > limits.max_attributes) {
          return make(
              errc::too_many_attributes,
              "an element has more than " + std::to_string(limits.max_attributes) + " attributes",
              static_cast<int>(xmlGetLineNo(n)), node_path(n));
        }
        for (xmlNodePtr c = n->children; c != nullptr; c = c->next) stack.push_back({c, depth + 1});
        break;
      }
      case XML_TEXT_NODE:
      case XML_CDATA_SECTION_NODE:
        if (n->content != nullptr &&
            static_cast<std::size_t>(xmlStrlen(n->content)) > limits.max_text_bytes) {
          return make(errc::text_too_long,
                      "a text is longer than " + std::to_string(limits.max_text_bytes) + " bytes",
                      static_cast<int>(xmlGetLineNo(n)),
                      n->parent ? node_path(n->parent) : std::string());
        }
        break;
      case XML_ENTITY_REF_NODE:
      case XML_ENTITY_NODE:
      case XML_DTD_NODE:
        return make(errc::dtd_forbidden, "entity references are not accepted",
                    static_cast<int>(xmlGetLineNo(n)));
      default:
        break;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view code_name(errc e) {
  switch (e) {
    case errc::too_large:
      return "XML_TOO_LARGE";
    case errc::malformed:
      return "XML_MALFORMED";
    case errc::dtd_forbidden:
      return "XML_DTD_FORBIDDEN";
    case errc::too_deep:
      return "XML_TOO_DEEP";
    case errc::too_many_nodes:
      return "XML_TOO_MANY_NODES";
    case errc::too_many_attributes:
      return "XML_TOO_MANY_ATTRIBUTES";
    case errc::text_too_long:
      return "XML_TEXT_TOO_LONG";
    case errc::schema_invalid:
      return "XML_SCHEMA_INVALID";
    case errc::schema_load_failed:
      return "XML_SCHEMA_LOAD_FAILED";
  }
  return "XML_ERROR";
}

Document::Document(_xmlDoc* doc) : doc_(doc) {}
void Document::Free::operator()(_xmlDoc* d) const {
  xmlFreeDoc(d);
}
_xmlNode* Document::root() const {
  return doc_ ? xmlDocGetRootElement(doc_.get()) : nullptr;
}

boost::system::result<Document, Error> parse(std::string_view bytes, const Limits& limits) {
  init_once();
  if (bytes.size() > limits.max_bytes) {
    return make(errc::too_large,
                "document larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    return make(errc::too_large, "document too large");
  xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(bytes.data(), static_cast<int>(bytes.size()));
  if (ctxt == nullptr) return make(errc::malformed, "empty or unreadable document");
  ParseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = on_internal_subset;
  ctxt->sax->externalSubset = nullptr;
  // No NOENT (entities never substituted), no DTDLOAD/DTDATTR/DTDVALID, no XINCLUDE, no HUGE
  // (libxml2's own depth and amplification limits stay on), and no network at all.
  xmlCtxtUseOptions(ctxt,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
  xmlParseDocument(ctxt);
  xmlDocPtr raw = ctxt->myDoc;
  ctxt->myDoc = nullptr;
  Document doc(raw);
  const bool well_formed = ctxt->wellFormed != 0;
  Error err = make(errc::malformed, "not well-formed XML");
  if (const xmlError* e = xmlCtxtGetLastError(ctxt); e != nullptr && e->message != nullptr) {
    err.message = clean(e->message);
    err.line = e->line;
  }
  xmlFreeParserCtxt(ctxt);
  if (state.dtd) return make(errc::dtd_forbidden, "a DOCTYPE is not accepted (no DTD, no entity)");
  if (!well_formed || !doc || doc.root() == nullptr) return err;
  if (auto e = check_tree(doc.root(), limits)) return *e;
  return doc;
}

namespace {

std::string attr_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '<':
        out += "&lt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string uri_of(const std::string& path) {
  xmlChar* escaped = xmlURIEscapeStr(reinterpret_cast<const xmlChar*>(path.c_str()),
                                     reinterpret_cast<const xmlChar*>("/"));
  std::string out = "file://" + std::string(reinterpret_cast<const char*>(escaped));
  xmlFree(escaped);
  return out;
}

struct Collected {
  std::vector<Error>* out;
  std::size_t max;
  errc code;
};

void collect(void* data, xmlErrorPtr e) {
  auto* c = static_cast<Collected*>(data);
  if (e == nullptr || c->out->size() >= c->max) return;
  std::string path;
  if (e->node != nullptr && static_cast<xmlNodePtr>(e->node)->type == XML_ELEMENT_NODE) {
    path = node_path(static_cast<xmlNodePtr>(e->node));
  }
  c->out->push_back(make(c->code, clean(e->message), e->line, std::move(path)));
}

}  // namespace

boost::system::result<std::shared_ptr<const Schema>, Error> Schema::load(
    const std::vector<std::string>& files, const std::string& root_dir) {
  return load(files, std::vector<std::string>{root_dir});
}

boost::system::result<std::shared_ptr<const Schema>, Error> Schema::load(
    const std::vector<std::string>& files, const std::vector<std::string>& root_dirs) {
  init_once();
  std::error_code ec;
  std::string roots_text;
  std::vector<std::string> roots;
  for (const auto& root_dir : root_dirs) {
    const auto root = std::filesystem::weakly_canonical(root_dir, ec);
    if (ec || !std::filesystem::is_directory(root)) {
      return make(errc::schema_load_failed,
                  "schema folder " + root_dir + " is not a readable directory");
    }
    roots.push_back(root.string());
    roots_text += (roots_text.empty() ? "" : ", ") + root.string();
  }
  const RootsScope scope(roots);
  std::string wrapper =
      "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" elementFormDefault=\"qualified\">";
  for (const auto& f : files) {
    const auto path = std::filesystem::weakly_canonical(std::filesystem::absolute(f), ec);
    if (ec || !under_allowed_root(path.string()) || !std::filesystem::is_regular_file(path)) {
      return make(errc::schema_load_failed,
                  // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
                  "schema file " + f + " is not a file under " + roots_text);
    }
    // The file's target namespace decides import (namespaced) or include (no namespace).
    xmlDocPtr xsd = xmlReadFile(path.c_str(), nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (xsd == nullptr || xmlDocGetRootElement(xsd) == nullptr) {
      if (xsd) xmlFreeDoc(xsd);
      return make(errc::schema_load_failed, "schema file " + f + " is not well-formed XML");
    }
    xmlChar* tns =
        xmlGetProp(xmlDocGetRootElement(xsd), reinterpret_cast<const xmlChar*>("targetNamespace"));
    std::string ns = tns ? reinterpret_cast<const char*>(tns) : "";
    if (tns) xmlFree(tns);
    xmlFreeDoc(xsd);
    if (ns.empty()) {
      wrapper += "<xs:include schemaLocation=\"" + attr_escape(uri_of(path.string())) + "\"/>";
    } else {
      wrapper += "<xs:import namespace=\"" + attr_escape(ns) + "\" schemaLocation=\"" +
                 attr_escape(uri_of(path.string())) + "\"/>";
    }
  }
  wrapper += "</xs:schema>";
  std::vector<Error> errors;
  Collected c{&errors, 5, errc::schema_load_failed};
  xmlSchemaParserCtxtPtr pctxt =
      xmlSchemaNewMemParserCtxt(wrapper.data(), static_cast<int>(wrapper.size()));
  if (pctxt == nullptr) return make(errc::schema_load_failed, "cannot create the schema parser");
  xmlSchemaSetParserStructuredErrors(pctxt, collect, &c);
  xmlSchemaPtr compiled = xmlSchemaParse(pctxt);
  xmlSchemaFreeParserCtxt(pctxt);
  if (compiled == nullptr) {
    if (!errors.empty()) return errors.front();
    return make(errc::schema_load_failed, "the schema set does not compile");
  }
  std::shared_ptr<Schema> s(new Schema());
  s->schema_ = compiled;
  return std::shared_ptr<const Schema>(std::move(s));
}

Schema::~Schema() {
  for (auto* v : pool_) xmlSchemaFreeValidCtxt(v);
  if (schema_) xmlSchemaFree(schema_);
}

// One validation context of a Schema's pool for the time of one validation.
struct ValidCtxtLease {
  const Schema& schema;
  xmlSchemaValidCtxtPtr v = nullptr;
  explicit ValidCtxtLease(const Schema& s) : schema(s) {
    {
      std::lock_guard lock(s.pool_mu_);
      if (!s.pool_.empty()) {
        v = s.pool_.back();
        s.pool_.pop_back();
      }
    }
    if (v == nullptr) v = xmlSchemaNewValidCtxt(s.schema_);
  }
  ~ValidCtxtLease() {
    if (v == nullptr) return;
    xmlSchemaSetValidStructuredErrors(v, nullptr, nullptr);
    std::lock_guard lock(schema.pool_mu_);
    if (schema.pool_.size() < 64) {
      schema.pool_.push_back(v);
    } else {
      xmlSchemaFreeValidCtxt(v);
    }
  }
  ValidCtxtLease(const ValidCtxtLease&) = delete;
  ValidCtxtLease& operator=(const ValidCtxtLease&) = delete;
};

namespace {

// Runs `validate` (xmlSchemaValidateDoc or xmlSchemaValidateOneElement) in a fresh context,
// collecting at most `max_errors` problems.
template <class Run>
std::vector<Error> run_validation(const Schema& schema, std::size_t max_errors, Run&& validate) {
  std::vector<Error> errors;
  ValidCtxtLease lease(schema);
  xmlSchemaValidCtxtPtr v = lease.v;
  if (v == nullptr) {
    errors.push_back(make(errc::schema_invalid, "cannot create a validation context"));
    return errors;
  }
  Collected c{&errors, max_errors, errc::schema_invalid};
  xmlSchemaSetValidStructuredErrors(v, collect, &c);
  const int rc = validate(v);
  if (rc != 0 && errors.empty()) {
    errors.push_back(
        make(errc::schema_invalid, rc < 0 ? "validation failed internally" : "not valid"));
  }
  return errors;
}

}  // namespace

std::vector<Error> Schema::validate(const Document& doc, std::size_t max_errors) const {
  if (!doc) return {make(errc::schema_invalid, "no document")};
  return run_validation(*this, max_errors, [&](xmlSchemaValidCtxtPtr v) {
    return xmlSchemaValidateDoc(v, doc.get());
  });
}

std::vector<Error> Schema::validate_element(_xmlNode* element, std::size_t max_errors) const {
  if (element == nullptr) return {make(errc::schema_invalid, "no element")};
  return run_validation(*this, max_errors, [&](xmlSchemaValidCtxtPtr v) {
    return xmlSchemaValidateOneElement(v, element);
  });
}

_xmlNode* first_child(_xmlNode* parent, std::string_view ns, std::string_view name) {
  if (parent == nullptr) return nullptr;
  for (xmlNodePtr c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && local_name(c) == name && namespace_uri(c) == ns) return c;
  }
  return nullptr;
}

std::vector<_xmlNode*> children(_xmlNode* parent, std::string_view ns, std::string_view name) {
  std::vector<_xmlNode*> out;
  if (parent == nullptr) return out;
  for (xmlNodePtr c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE && local_name(c) == name && namespace_uri(c) == ns)
      out.push_back(c);
  }
  return out;
}

std::vector<_xmlNode*> element_children(_xmlNode* parent) {
  std::vector<_xmlNode*> out;
  if (parent == nullptr) return out;
  for (xmlNodePtr c = parent->children; c != nullptr; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) out.push_back(c);
  }
  return out;
}

std::string attribute(_xmlNode* node, std::string_view ns, std::string_view name) {
  if (node == nullptr) return {};
  const std::string n(name), u(ns);
  xmlChar* v = u.empty() ? xmlGetNoNsProp(node, reinterpret_cast<const xmlChar*>(n.c_str()))
                         : xmlGetNsProp(node, reinterpret_cast<const xmlChar*>(n.c_str()),
                                        reinterpret_cast<const xmlChar*>(u.c_str()));
  std::string out = v ? reinterpret_cast<const char*>(v) : "";
  if (v) xmlFree(v);
  return out;
}

std::string text(_xmlNode* node) {
  if (node == nullptr) return {};
  xmlChar* t = xmlNodeGetContent(node);
  std::string out = t ? reinterpret_cast<const char*>(t) : "";
  if (t) xmlFree(t);
  return out;
}

std::string_view local_name(_xmlNode* node) {
  return node && node->name ? std::string_view(reinterpret_cast<const char*>(node->name))
                            : std::string_view();
}

std::string_view namespace_uri(_xmlNode* node) {
  return node && node->ns && node->ns->href
             ? std::string_view(reinterpret_cast<const char*>(node->ns->href))
             : std::string_view();
}

// "/SSDNRequest/ServiceRequest[2]/Version": local names, with the position among same-named
// siblings when there are several.
std::string node_path(_xmlNode* node) {
  std::vector<std::string> parts;
  for (xmlNodePtr n = node; n != nullptr && n->type == XML_ELEMENT_NODE; n = n->parent) {
    std::string part(local_name(n));
    std::size_t index = 1, same = 0;
    if (n->parent != nullptr) {
      for (xmlNodePtr s = n->parent->children; s != nullptr; s = s->next) {
        if (s->type != XML_ELEMENT_NODE || local_name(s) != local_name(n)) continue;
        ++same;
        if (s == n) index = same;
      }
    }
    if (same > 1) part += "[" + std::to_string(index) + "]";
    parts.push_back(std::move(part));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += "/" + *it;
  return out;
}

void prepend_child_text(_xmlNode* parent, std::string_view name, std::string_view text) {
  if (parent == nullptr) return;
  const std::string n(name), t(text);
  xmlNodePtr c =
      xmlNewDocNode(parent->doc, parent->ns, reinterpret_cast<const xmlChar*>(n.c_str()), nullptr);
  xmlNodeAddContentLen(c, reinterpret_cast<const xmlChar*>(t.data()), static_cast<int>(t.size()));
  xmlNodePtr first = parent->children;
  while (first != nullptr && first->type != XML_ELEMENT_NODE) first = first->next;
  if (first != nullptr) {
    xmlAddPrevSibling(first, c);
  } else {
    xmlAddChild(parent, c);
  }
}

}  // namespace relais::xml
