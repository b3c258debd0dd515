// Declarative XML -> JSON mappings (pure): how a partner's XML body becomes the JSON form of a
// Relais flow message, which the ingest then decodes and validates exactly like a JSON post, so
// the same notification posted as JSON, protobuf or SOAP yields the same canonical record.
// One mapping file per flow (deploy/mappings/<flow>.yaml): adding or changing a partner XSD is
// configuration, not C++.
//
//   flow: notify-person
//   root: {namespace: "urn:…", element: NotifyPerson}   # the SOAP body element it applies to
//   include: [_envelope.yaml]                            # fields shared by several flows, first
//   namespaces: {n: "urn:…", c: "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"}
//   fields:
//     - {path: n:Ticket, field: ticket}
//     - {path: n:Person/n:SSIN, field: ssin}
//     - {path: n:Event/@code, field: event, codes: {IT020: ADDRESS_CHANGE, …}}
//     - {path: n:Civil/n:Code, field: civil_status_code, type: integer}
//     - {path: n:Address, field: address, fields: [ … ]}                 # a nested object
//     - {path: n:Member, field: members, repeated: true, fields: [ … ]}  # a list of objects
//
// A path is steps `prefix:Local` separated by `/`, relative to the element being mapped; the last
// step may be `@attribute` (no namespace). Text is whitespace-trimmed. A path that matches
// nothing leaves the field absent (validation decides whether it was required); a path that
// matches several elements for a non-repeated field is an error, as is a value missing from a
// `codes` table. Elements the mapping does not mention are ignored (the XSD already decided what
// may appear).
#pragma once

#include <boost/json/object.hpp>
#include <boost/system/result.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct _xmlNode;  // NOLINT(bugprone-reserved-identifier): libxml2's own name, declared ahead

namespace relais::xmlmap {

struct Error {
  std::string code;  // MAPPING_INVALID (a bad mapping file) | XML_AMBIGUOUS | XML_UNKNOWN_CODE |
                     // XML_BAD_VALUE
  std::string message;
  std::string path;  // the XML element path (or the mapping entry) concerned
};

struct Step {
  std::string ns;  // namespace URI (empty for an attribute)
  std::string local;
  bool attribute = false;
};

struct Field {
  std::vector<Step> path;
  std::string field;  // JSON name in the flow message
  enum class Type { string, integer, boolean } type = Type::string;
  std::map<std::string, std::string> codes;  // source value -> JSON value (empty: as is)
  bool repeated = false;
  std::vector<Field> fields;  // nested object when not empty
};

struct Mapping {
  std::string flow;
  std::string root_ns, root_element;
  std::vector<Field> fields;
};

// Parses a mapping file (YAML). Every prefix must be declared; every entry needs path and field.
// `include` names files of `folder` (no path separator) whose namespaces and fields come first;
// without a folder, an include is refused.
boost::system::result<Mapping, Error> load(std::string_view yaml_text,
                                           const std::string& folder = {});

// Maps `element` (the SOAP body's element; its name must be the mapping's root) to the JSON
// object of the flow message.
boost::system::result<boost::json::object, Error> apply(const Mapping& m, _xmlNode* element);

// The mappings of a folder (every *.yaml except those starting with "_", which are only
// included), by (root namespace, root element). Two mappings for
// the same root, or one that does not load, is an error naming the file.
struct Catalog {
  std::map<std::pair<std::string, std::string>, Mapping> by_root;
  const Mapping* find(std::string_view ns, std::string_view element) const;
};
boost::system::result<Catalog, Error> load_folder(const std::string& dir);

}  // namespace relais::xmlmap
