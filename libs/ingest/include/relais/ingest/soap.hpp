// relais-ingest's SOAP boundary (docs/bcss.md): a SOAP 1.1/1.2 envelope whose Body holds one
// notification in a partner (or Relais's own) XML schema. Decoding, in order: parse as hostile
// XML (relais::xml limits, no DTD), open the envelope (relais::soap), validate the body element
// against the configured XSD set, find its flow's mapping by the body element's name
// (deploy/mappings, relais::xmlmap), map it to the flow's JSON form, then decode and validate
// that JSON exactly like a JSON post (relais::codec). The XSD set and the mappings are loaded
// at start and reloaded on SIGHUP; a reload that fails keeps the previous set.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "relais/codec/decode.hpp"
#include "relais/soap/soap.hpp"
#include "relais/v1/records.pb.h"
#include "relais/xml/xml.hpp"
#include "relais/xmlmap/xmlmap.hpp"

namespace relais::ingest {

struct SoapConfig {
  std::vector<std::string> xsd_files;  // imported in this order (Common types before the bodies)
  std::vector<std::string> xsd_roots;  // the folders they may be read from
  std::string mappings_dir;
  xml::Limits limits;
};

// The outcome of decoding one SOAP request.
struct SoapDecoded {
  soap::Version version = soap::Version::soap11;
  std::string flow_id;  // empty until the body's mapping is known
  relais::v1::Notification notification;
  bool ok = false;
  // When !ok: the HTTP status and the SOAP document to answer (a Fault for what is not a
  // processable envelope; a reply whose ResultSummary says NO for a refused notification), and
  // the stable code (metrics).
  unsigned status = 0;
  std::string answer;
  std::string code;
};

// One notification element of a batch file mapped to its flow's JSON form (not yet decoded:
// relais-ingest decodes and validates that JSON as any JSON post).
struct MappedRecord {
  bool ok = false;
  std::string flow_id;              // when the element's mapping is known
  std::string json;                 // when ok
  std::string code, message, path;  // when !ok
};

class SoapGateway {
 public:
  // Loads the XSD set and the mappings; an error text when either fails.
  static std::unique_ptr<SoapGateway> create(SoapConfig config, std::string& error);
  // Loads them again from the same configuration; on failure the previous ones stay in use
  // and the error is returned.
  std::optional<std::string> reload();
  // `hint`: the version the Content-Type announces, used to answer until the envelope says.
  SoapDecoded decode(std::string_view body, const codec::Limits& limits,
                     soap::Version hint = soap::Version::soap11) const;

  // A batch record: `xml` is one notification element (relais::xml::StreamReader), parsed under
  // the configured limits, validated against the XSD set, mapped by its root's mapping. When
  // its Context has no Ticket, `ticket` is put there first (batch records get tickets derived
  // from the file id and their sequence number, as NDJSON lines do).
  MappedRecord map_record(std::string_view xml, std::string_view ticket) const;
  // The answer for an accepted notification: ResultSummary ok=YES with the ticket.
  static std::string accepted(soap::Version v, std::string_view ticket);
  // A Fault (Receiver/Server) for a broker that is unavailable or busy: retry later.
  static std::string busy(soap::Version v, std::string_view code, std::string_view message);

 private:
  struct State {
    std::shared_ptr<const xml::Schema> schema;
    xmlmap::Catalog catalog;
  };
  static std::shared_ptr<const State> load(const SoapConfig& c, std::string& error);
  std::shared_ptr<const State> state() const;

  SoapConfig config_;
  mutable std::mutex mu_;
  std::shared_ptr<const State> state_;
};

}  // namespace relais::ingest
