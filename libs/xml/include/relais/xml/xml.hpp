// XML as hostile input, parsed once and bounded (libxml2 wrapped once: nothing else in Relais
// includes libxml headers). No DTD (a document with a DOCTYPE is refused before any of it is
// read), hence no entity expansion and no external entity; no network from the parser; limits on
// size, depth, element count, attribute count and text length. XSD sets compiled once from local
// files (the loader refuses anything but files under the schema folder) and validated against.
#pragma once

#include <boost/system/result.hpp>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

// libxml2's own type names, forward-declared so that callers do not include libxml2:
struct _xmlDoc;              // NOLINT(bugprone-reserved-identifier)
struct _xmlNode;             // NOLINT(bugprone-reserved-identifier)
struct _xmlSchema;           // NOLINT(bugprone-reserved-identifier)
struct _xmlSchemaValidCtxt;  // NOLINT(bugprone-reserved-identifier)

namespace relais::xml {

enum class errc {
  too_large,            // more bytes than Limits::max_bytes
  malformed,            // not well-formed XML (or not UTF-8)
  dtd_forbidden,        // a DOCTYPE: DTDs and entities are never accepted
  too_deep,             // element nesting over Limits::max_depth
  too_many_nodes,       // more elements than Limits::max_elements
  too_many_attributes,  // one element with more than Limits::max_attributes
  text_too_long,        // one text or attribute value over Limits::max_text_bytes
  schema_invalid,       // well-formed, but the XSD set refuses it
  schema_load_failed,   // the XSD set itself does not compile (configuration)
};

// Stable UPPER_SNAKE names ("XML_DTD_FORBIDDEN"...), as they appear in answers and journals.
std::string_view code_name(errc e);

struct Error {
  errc code = errc::malformed;
  std::string message;  // libxml2's message, trimmed, control characters removed, bounded
  int line = 0;         // 1-based, 0 when unknown
  std::string path;     // the failing node ("/SSDNRequest/ServiceRequest[1]/...") when known
};

struct Limits {
  std::size_t max_bytes = 4u << 20;  // the whole document
  std::size_t max_depth = 64;        // element nesting
  std::size_t max_elements = 100000;
  std::size_t max_attributes = 64;        // per element (namespace declarations included)
  std::size_t max_text_bytes = 1u << 16;  // one text node or attribute value
};

// A parsed document (owns the libxml2 tree). Move-only.
class Document {
 public:
  Document() = default;
  explicit Document(_xmlDoc* doc);
  _xmlDoc* get() const { return doc_.get(); }
  _xmlNode* root() const;
  explicit operator bool() const { return doc_ != nullptr; }

 private:
  struct Free {
    void operator()(_xmlDoc* d) const;
  };
  std::unique_ptr<_xmlDoc, Free> doc_;
};

// Parses `bytes` under `limits` (see errc). Thread-safe.
boost::system::result<Document, Error> parse(std::string_view bytes, const Limits& limits = {});

// A compiled XSD set. Thread-safe for validate(); immutable once loaded.
class Schema {
 public:
  // Compiles the schema made of `files` (absolute or relative paths to .xsd files), imported in
  // that order by a wrapper (libxml2 keeps the first file per namespace: put the envelope's root
  // before the bodies'). Every file, and every file they include or import, must lie under
  // `root_dir`; nothing is read from the network.
  static boost::system::result<std::shared_ptr<const Schema>, Error> load(
      const std::vector<std::string>& files, const std::string& root_dir);
  // The same with several folders (e.g. the partner's XSDs and Relais's own): every file must
  // lie under one of them. A schema may import a namespace without schemaLocation when an
  // earlier file of the list provides it.
  static boost::system::result<std::shared_ptr<const Schema>, Error> load(
      const std::vector<std::string>& files, const std::vector<std::string>& root_dirs);
  ~Schema();
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  // All the problems (at most `max_errors`), empty when valid.
  std::vector<Error> validate(const Document& doc, std::size_t max_errors = 10) const;
  // The same for one element of a document and its subtree (e.g. the element inside a SOAP
  // Body, whose envelope is not part of the set).
  std::vector<Error> validate_element(_xmlNode* element, std::size_t max_errors = 10) const;

 private:
  Schema() = default;
  _xmlSchema* schema_ = nullptr;
  // Validation contexts are reused (creating one per document costs as much as a small
  // validation): taken from this pool for one call, given back after it, freed with the schema.
  mutable std::mutex pool_mu_;
  mutable std::vector<_xmlSchemaValidCtxt*> pool_;
  friend struct ValidCtxtLease;
};

// Element helpers over a parsed tree (namespace URI + local name; nullptr/empty when absent).
_xmlNode* first_child(_xmlNode* parent, std::string_view ns, std::string_view name);
std::vector<_xmlNode*> children(_xmlNode* parent, std::string_view ns, std::string_view name);
// Every child element, in order.
std::vector<_xmlNode*> element_children(_xmlNode* parent);
// An attribute's value (`ns` empty: an attribute without namespace); empty when absent.
std::string attribute(_xmlNode* node, std::string_view ns, std::string_view name);
std::string text(_xmlNode* node);  // the concatenated text content
std::string_view local_name(_xmlNode* node);
std::string_view namespace_uri(_xmlNode* node);
std::string node_path(_xmlNode* node);
// Adds <name>text</name> (in the parent's namespace) as the parent's first child element.
void prepend_child_text(_xmlNode* parent, std::string_view name, std::string_view text);

}  // namespace relais::xml
