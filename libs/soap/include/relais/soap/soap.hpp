// SOAP 1.1 and 1.2 around a BCSS-style body (pure, over a relais::xml tree): open an envelope,
// and write replies with a ResultSummary as the public BCSS schema defines it
// (XSD/SSDN/Common/ResultSummary.xsd: ok YES|NO|WARNING, ReturnCode 0|1|10000, up to 30
// Detail = Severity, ReasonCode?, Diagnostic?, AuthorCodeList?, up to 5 Information =
// FieldName?, FieldValue?), or SOAP Faults for envelopes that cannot be processed.
#pragma once

#include <boost/system/result.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relais/xml/xml.hpp"

namespace relais::soap {

inline constexpr std::string_view kSoap11 = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view kSoap12 = "http://www.w3.org/2003/05/soap-envelope";
inline constexpr std::string_view kBcssCommon = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common";

enum class Version { soap11, soap12 };

enum class errc {
  not_an_envelope,        // the root is not a SOAP 1.1 or 1.2 Envelope
  no_body,                // no Body element
  empty_body,             // a Body without an element
  several_body_elements,  // more than one element in the Body (one message per request)
  must_understand,        // a header block marked mustUnderstand that Relais does not process
};
std::string_view code_name(errc e);  // "SOAP_NOT_AN_ENVELOPE"...

struct Error {
  errc code;
  std::string message;
};

// A view into a parsed document (valid while the Document lives).
struct Envelope {
  Version version = Version::soap11;
  _xmlNode* header = nullptr;   // the Header element, when present
  _xmlNode* payload = nullptr;  // the one element of the Body
};

// Opens `doc` as a SOAP envelope. Header blocks: any with mustUnderstand="1"/"true" is refused
// unless its namespace is in `understood` (Relais reads BCSS's own header namespaces only).
boost::system::result<Envelope, Error> open(const xml::Document& doc,
                                            const std::vector<std::string_view>& understood = {});

struct Information {
  std::string field_name;   // e.g. the failing path
  std::string field_value;  // e.g. the offending value (bounded, sanitised)
};
struct Detail {
  std::string severity = "ERROR";        // INFORMATION | WARNING | ERROR
  std::string reason_code;               // Relais's stable code (e.g. INVALID_SSIN_CHECKSUM)
  std::string diagnostic;                // for humans
  std::vector<Information> information;  // at most 5 are written
};
enum class Ok { yes, no, warning };
struct ResultSummary {
  Ok ok = Ok::yes;
  int return_code = 0;          // 0 OK, 1 warning, 10000 error (the public schema's values)
  std::vector<Detail> details;  // at most 30 are written
};
ResultSummary success();
ResultSummary failure(std::string reason_code, std::string diagnostic, std::string field_name = {},
                      std::string field_value = {});

// `<ResultSummary xmlns="…/SSDN/Common" ok="…">…</ResultSummary>`. Text is escaped, stripped of
// what XML 1.0 cannot carry and bounded.
std::string result_summary_xml(const ResultSummary& r);
// An Envelope whose Body holds `body_xml` (already well-formed XML).
std::string envelope(Version v, std::string_view body_xml);
// A Fault (1.1: faultcode soap:Client/soap:Server + faultstring + detail; 1.2: Code/Value
// Sender/Receiver + Reason/Text + Detail), with a ResultSummary in its detail.
std::string fault(Version v, bool sender_fault, std::string_view reason,
                  const ResultSummary& detail);
// The HTTP Content-Type of a reply in version `v`.
std::string_view content_type(Version v);

// XML text/attribute escaping of & < > " ' (and characters XML 1.0 cannot carry removed).
std::string escape(std::string_view s, std::size_t max_bytes = 1024);

}  // namespace relais::soap
