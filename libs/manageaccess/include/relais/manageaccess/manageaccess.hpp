// ManageAccess (BCSS service OCMWCPASManageAccess, version 20050930) as the public XSD defines it
// (XSD/SSDN/OCMW_CPAS/ManageAccess/, ../shared/docs/bcss-schemas.md §3), pure: parse a request
// (bare, or inside an SSDNRequest) validated against the public XSD set into a typed Request, map
// it onto Relais's directory lines (CPAS, SSIN, quality code, period), build the
// ManageAccessReply / SSDNReply, read BCSS's reply (proxy mode) and a LIST export, and diff a
// LIST export against the mirror (relaisctl directory reconcile). No I/O here.
#pragma once

#include <boost/system/result.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "relais/soap/soap.hpp"
#include "relais/xml/xml.hpp"

namespace relais::manageaccess {

inline constexpr std::string_view kNs =
    "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess";
inline constexpr std::string_view kServiceNs = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service";
inline constexpr std::string_view kServiceId = "OCMWCPASManageAccess";
inline constexpr std::string_view kVersion = "20050930";
inline constexpr int kSectorCpas = 17;

// The XSD files (relative to the BCSS XSD folder, in import order) that validate an SSDNRequest
// or SSDNReply carrying ManageAccess, and a bare ManageAccessRequest/Reply.
std::vector<std::string> schema_files(const std::string& xsd_dir);

enum class errc {
  unknown_body,          // neither a ManageAccessRequest nor an SSDNRequest carrying one
  schema_invalid,        // the public XSD refuses it
  wrong_service,         // an SSDNRequest for another ServiceId/Version, or several ServiceRequests
  invalid_ssin,          // the XSD takes any 11 digits; Relais checks mod 97
  missing_purpose,       // REGISTER/UNREGISTER without Purpose (documented as required)
  invalid_quality_code,  // Purpose not a sector 17 quality code
  invalid_date,          // a Period date outside Relais's calendar range
  date_order,            // EndDate before StartDate - 1
  bad_reply,             // a BCSS reply Relais cannot read (proxy mode)
};
std::string_view code_name(errc e);  // "MANAGE_ACCESS_UNKNOWN_BODY"... (schema: XML_SCHEMA_INVALID)

struct Error {
  errc code = errc::unknown_body;
  std::string message;
  std::string path;  // the failing element, when known
};

enum class Action { register_, unregister, list };
enum class Register { primary, secondary, all };
std::string_view to_string(Action a);
std::string_view to_string(Register r);

struct Period {
  std::string start;  // "YYYY-MM-DD" (a timezone suffix of xs:date dropped)
  std::string end;    // empty: open
};

struct PersonData {
  std::string last_name, first_name, birth_date;
};
struct Proof {
  std::string sis_card_number, identity_card_number;
  std::optional<PersonData> person;
};

// The SSDN request context (form ssdn only).
struct Context {
  std::string user_id, email, org_unit, reference;
  long matrix_id = kSectorCpas;
  std::optional<long> matrix_sub_id;
};

enum class Form { bare, ssdn };

struct Request {
  Form form = Form::ssdn;
  Context context;  // form ssdn
  std::string ssin;
  std::optional<long> purpose;
  Period period;
  Action action = Action::list;
  std::optional<long> sector;
  std::optional<Register> query_register;
  Proof proof;
};

// `payload`: the element of the SOAP Body. Validated against `schema` (schema_files()) first.
boost::system::result<Request, Error> parse(_xmlNode* payload, const xml::Schema& schema);

// The SSIN a ManageAccess SOAP body names (the first ManageAccess SSIN element; 11 digits), for
// the access journal, before and whatever the handler decides. Not a validation.
std::optional<std::string> ssin_of(std::string_view soap_body);

// ---- onto Relais's directory

// One line of a CPAS's directory, as relais-api stores it.
struct Line {
  std::string ssin;
  int quality = 0;
  std::string start, end;  // end empty: open; end = start - 1: cancelled
  friend bool operator==(const Line&, const Line&) = default;
};

// What a request does to the mirror of the authenticated CPAS (whose CBE is never read from the
// request). REGISTER: upsert `line`. UNREGISTER: close the person's lines of that quality still
// active on `close_from` (their end becomes close_from - 1). LIST: read the lines of the person
// overlapping the period (of `quality` when given).
struct Change {
  Action action = Action::list;
  Line line;                  // ssin, quality (0 = any, LIST), start, end
  std::string close_end;      // UNREGISTER: the new end date (StartDate - 1)
  bool other_sector = false;  // LIST for a sector other than 17: the mirror holds none
};
boost::system::result<Change, Error> to_change(const Request& r);

bool is_cpas_quality(long code);
// Two periods (inclusive days, end empty = open) share a day; a cancelled one (end < start) or
// one with an unreadable date overlaps nothing.
bool overlaps(const Period& a, const Period& b);

// ---- replies

struct Registration {
  long purpose = 0;
  Period period;
  std::string org_unit;
  Register reg = Register::primary;
};

// The service's outcome: its ResultSummary and, when it answered, the ManageAccessReply's
// registrations (the OriginalRequest is the request's echo).
struct Outcome {
  soap::ResultSummary summary;
  bool has_reply = true;
  std::vector<Registration> registrations;
};

// `<ManageAccessReply>` as the XSD defines it. OriginalRequest/Purpose is required by the reply
// XSD but optional in the request: 0 when the request had none (a LIST of every purpose).
std::string reply_xml(const Request& r, const std::vector<Registration>& regs);
// The whole SOAP reply in the request's form: form ssdn → SSDNReply (ReplyContext with the
// summary, the AuthorizedUser echoed, Message with `ticket` and the times; one ServiceReply with
// the summary and, when present, the ManageAccessReply); form bare → the ManageAccessReply, or a
// SOAP Fault carrying the summary when the service refused.
std::string soap_reply(soap::Version v, const Request& r, const Outcome& o, std::string_view ticket,
                       std::string_view time_receive, std::string_view time_response);

// The request as Relais forwards it to BCSS (proxy mode): a SOAP 1.1 envelope holding an
// SSDNRequest whose AuthorizedUser/OrgUnit is `cpas_cbe` (MatrixID 17, MatrixSubID 1), whatever
// the caller's body said, and the ManageAccessRequest rebuilt from the typed request.
std::string forward_xml(const Request& r, std::string_view cpas_cbe,
                        std::string_view default_user_id, std::string_view default_email);

// BCSS's answer (an SSDNReply in a SOAP envelope, or a SOAP Fault), validated against `schema`.
// accepted = both ResultSummary ok YES or WARNING.
struct BcssAnswer {
  bool accepted = false;
  Outcome outcome;
};
boost::system::result<BcssAnswer, Error> read_bcss_reply(std::string_view body,
                                                         const xml::Schema& schema);

// ---- LIST export and reconciliation

// A LIST export: every ManageAccessReply found in an XML file (a bare reply, an SSDNReply, a
// SOAP envelope or any wrapper holding several), or the CSV form
// "ssin,quality_code,start_date[,end_date]" (header line optional), the whole CPAS.
struct Export {
  std::vector<Line> lines;      // the registrations of `cbe` (OrgUnit = the CBE), or every CSV line
  std::set<std::string> ssins;  // the persons the export covers (XML: each OriginalRequest/SSIN)
  bool complete = false;        // CSV: the export is the CPAS's whole list
};
// `org_units`: the identifiers BCSS uses for this CPAS in OrgUnit (its CBE, its NIS codes).
boost::system::result<Export, Error> read_export(std::string_view text,
                                                 const std::set<std::string>& org_units,
                                                 const xml::Schema* schema);

enum class DiffKind { missing_in_mirror, missing_at_bcss, period_differs, quality_differs };
std::string_view to_string(DiffKind k);

struct Difference {
  DiffKind kind;
  std::optional<Line> mirror;  // the mirror's line (absent: missing_in_mirror)
  std::optional<Line> bcss;    // BCSS's line (absent: missing_at_bcss)
  // The repairs that make the mirror equal BCSS's list: lines to upsert (a cancellation is an
  // upsert with end = start - 1, which the directory keeps as "cancelled").
  std::vector<Line> repairs;
};

// Pure. Mirror lines of persons the export does not cover are ignored (unless complete);
// cancelled mirror lines (end = start - 1) count as absent. Ordered by SSIN then start date.
std::vector<Difference> diff(const std::vector<Line>& mirror, const Export& bcss);

}  // namespace relais::manageaccess
