#include "relais/manageaccess/manageaccess.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include "relais/validation/date.hpp"
#include "relais/validation/ids.hpp"

namespace relais::manageaccess {
namespace {

using xml::first_child;
using xml::text;

constexpr std::string_view kCommon = soap::kBcssCommon;

std::string trimmed(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string child_text(_xmlNode* parent, std::string_view ns, std::string_view name) {
  auto* n = parent ? first_child(parent, ns, name) : nullptr;
  return n ? trimmed(text(n)) : std::string{};
}

std::optional<long> child_long(_xmlNode* parent, std::string_view ns, std::string_view name) {
  auto t = child_text(parent, ns, name);
  if (t.empty()) return std::nullopt;
  if (t.front() == '+') t.erase(0, 1);
  long v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc{} || p != t.data() + t.size())
    return -1;  // schema-valid but huge: refused later
  return v;
}

// xs:date may carry a timezone ("2012-05-24+02:00", "2012-05-24Z"): the day is the first 10.
std::string date_of(const std::string& s) {
  return s.size() > 10 ? s.substr(0, 10) : s;
}

Period period_of(_xmlNode* p) {
  Period out;
  out.start = date_of(child_text(p, kCommon, "StartDate"));
  out.end = date_of(child_text(p, kCommon, "EndDate"));
  return out;
}

std::optional<Register> register_of(const std::string& s) {
  if (s == "PRIMARY") return Register::primary;
  if (s == "SECONDARY") return Register::secondary;
  if (s == "ALL") return Register::all;
  return std::nullopt;
}

Error schema_error(const std::vector<xml::Error>& errs) {
  const auto& e = errs.front();
  return Error{errc::schema_invalid, e.message, e.path};
}

std::string esc(std::string_view s) {
  return soap::escape(s, 4096);
}

std::string el(std::string_view name, std::string_view value) {
  return "<" + std::string(name) + ">" + esc(value) + "</" + std::string(name) + ">";
}

std::string period_xml(const Period& p) {
  std::string out = "<Period><c:StartDate>" + esc(p.start) + "</c:StartDate>";
  if (!p.end.empty()) out += "<c:EndDate>" + esc(p.end) + "</c:EndDate>";
  return out + "</Period>";
}

std::string ma_open(std::string_view name) {
  return "<" + std::string(name) + " xmlns=\"" + std::string(kNs) + "\" xmlns:c=\"" +
         std::string(kCommon) + "\">";
}

std::string request_xml(const Request& r) {
  std::string out = ma_open("ManageAccessRequest") + el("SSIN", r.ssin);
  if (r.purpose) out += el("Purpose", std::to_string(*r.purpose));
  out += period_xml(r.period) + el("Action", to_string(r.action));
  if (r.sector) out += el("Sector", std::to_string(*r.sector));
  if (r.query_register) out += el("QueryRegister", to_string(*r.query_register));
  out += "<ProofOfAuthentication>";
  if (!r.proof.sis_card_number.empty()) out += el("SISCardNumber", r.proof.sis_card_number);
  if (!r.proof.identity_card_number.empty())
    out += el("IdentityCardNumber", r.proof.identity_card_number);
  if (r.proof.person) {
    out += "<PersonData>" + el("LastName", r.proof.person->last_name);
    if (!r.proof.person->first_name.empty()) out += el("FirstName", r.proof.person->first_name);
    out += el("BirthDate", r.proof.person->birth_date) + "</PersonData>";
  }
  return out + "</ProofOfAuthentication></ManageAccessRequest>";
}

std::string authorized_user_xml(const Context& c) {
  std::string out = "<AuthorizedUser>" + el("UserID", c.user_id) + el("Email", c.email);
  if (!c.org_unit.empty()) out += el("OrgUnit", c.org_unit);
  out += el("MatrixID", std::to_string(c.matrix_id));
  if (c.matrix_sub_id) out += el("MatrixSubID", std::to_string(*c.matrix_sub_id));
  return out + "</AuthorizedUser>";
}

std::vector<soap::Detail> details_of(_xmlNode* summary) {
  std::vector<soap::Detail> out;
  for (auto* d : xml::children(summary, kCommon, "Detail")) {
    soap::Detail x;
    x.severity = child_text(d, kCommon, "Severity");
    x.reason_code = child_text(d, kCommon, "ReasonCode");
    x.diagnostic = child_text(d, kCommon, "Diagnostic");
    for (auto* i : xml::children(d, kCommon, "Information"))
      x.information.push_back(
          {child_text(i, kCommon, "FieldName"), child_text(i, kCommon, "FieldValue")});
    out.push_back(std::move(x));
  }
  return out;
}

soap::ResultSummary summary_of(_xmlNode* summary) {
  soap::ResultSummary s;
  auto ok = xml::attribute(summary, "", "ok");
  s.ok = ok == "YES" ? soap::Ok::yes : ok == "WARNING" ? soap::Ok::warning : soap::Ok::no;
  s.return_code = static_cast<int>(child_long(summary, kCommon, "ReturnCode").value_or(10000));
  s.details = details_of(summary);
  return s;
}

std::vector<Registration> registrations_of(_xmlNode* reply) {
  std::vector<Registration> out;
  for (auto* g : xml::children(reply, kNs, "Registrations")) {
    Registration x;
    x.purpose = child_long(g, kNs, "Purpose").value_or(0);
    x.period = period_of(first_child(g, kNs, "Period"));
    x.org_unit = child_text(g, kNs, "OrgUnit");
    x.reg = register_of(child_text(g, kNs, "Register")).value_or(Register::primary);
    out.push_back(std::move(x));
  }
  return out;
}

void collect_replies(_xmlNode* n, std::vector<_xmlNode*>& out) {
  if (xml::local_name(n) == "ManageAccessReply" && xml::namespace_uri(n) == kNs) {
    out.push_back(n);
    return;
  }
  for (auto* c : xml::element_children(n)) collect_replies(c, out);
}

bool cancelled(const Line& l) {
  if (l.end.empty()) return false;
  auto s = validation::parse_iso_date(l.start), e = validation::parse_iso_date(l.end);
  return s && e && e->days < s->days;
}

std::string day_before(const std::string& iso) {
  auto d = validation::parse_iso_date(iso);
  return d ? validation::to_string(validation::Date{d->days - 1}) : iso;
}

std::optional<Error> check_dates(const Period& p, std::string_view where) {
  auto s = validation::parse_iso_date(p.start);
  if (!s)
    return Error{errc::invalid_date, "StartDate is not a day Relais can record",
                 std::string(where) + "/StartDate"};
  if (!p.end.empty()) {
    auto e = validation::parse_iso_date(p.end);
    if (!e)
      return Error{errc::invalid_date, "EndDate is not a day Relais can record",
                   std::string(where) + "/EndDate"};
    if (e->days < s->days - 1)
      return Error{errc::date_order, "EndDate is before StartDate",
                   std::string(where) + "/EndDate"};
  }
  return std::nullopt;
}

std::optional<Line> csv_line(std::string_view text) {
  std::vector<std::string> f;
  std::size_t pos = 0;
  while (true) {
    auto c = text.find(',', pos);
    f.push_back(trimmed(std::string(
        text.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos))));
    if (c == std::string_view::npos) break;
    pos = c + 1;
  }
  if (f.size() < 3 || f.size() > 4) return std::nullopt;
  Line l;
  l.ssin = f[0];
  auto [p, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), l.quality);
  if (ec != std::errc{} || p != f[1].data() + f[1].size()) return std::nullopt;
  l.start = f[2];
  if (f.size() == 4) l.end = f[3];
  return l;
}

}  // namespace

std::vector<std::string> schema_files(const std::string& xsd_dir) {
  return {xsd_dir + "/SSDN/Service/NamespaceRoot.xsd",
          xsd_dir + "/SSDN/OCMW_CPAS/ManageAccess/NamespaceRoot.xsd"};
}

std::string_view code_name(errc e) {
  switch (e) {
    case errc::unknown_body:
      return "MANAGE_ACCESS_UNKNOWN_BODY";
    case errc::schema_invalid:
      return "XML_SCHEMA_INVALID";
    case errc::wrong_service:
      return "MANAGE_ACCESS_WRONG_SERVICE";
    case errc::invalid_ssin:
      return "INVALID_SSIN";
    case errc::missing_purpose:
      return "MISSING_FIELD";
    case errc::invalid_quality_code:
      return "INVALID_QUALITY_CODE";
    case errc::invalid_date:
      return "INVALID_DATE";
    case errc::date_order:
      return "DATE_ORDER";
    case errc::bad_reply:
      return "BCSS_BAD_REPLY";
  }
  return "MANAGE_ACCESS_ERROR";
}

std::string_view to_string(Action a) {
  switch (a) {
    case Action::register_:
      return "REGISTER";
    case Action::unregister:
      return "UNREGISTER";
    case Action::list:
      return "LIST";
  }
  return "LIST";
}

std::string_view to_string(Register r) {
  switch (r) {
    case Register::primary:
      return "PRIMARY";
    case Register::secondary:
      return "SECONDARY";
    case Register::all:
      return "ALL";
  }
  return "ALL";
}

std::string_view to_string(DiffKind k) {
  switch (k) {
    case DiffKind::missing_in_mirror:
      return "missing_in_mirror";
    case DiffKind::missing_at_bcss:
      return "missing_at_bcss";
    case DiffKind::period_differs:
      return "period_differs";
    case DiffKind::quality_differs:
      return "quality_differs";
  }
  return "?";
}

bool is_cpas_quality(long code) {
  return code > 0 && code < 900 && validation::is_known_quality_code(static_cast<int>(code));
}

bool overlaps(const Period& a, const Period& b) {
  constexpr std::int32_t kOpen = std::numeric_limits<std::int32_t>::max();
  auto days = [](const std::string& s, std::int32_t missing) -> std::optional<std::int32_t> {
    if (s.empty()) return missing;
    auto d = validation::parse_iso_date(s);
    return d ? std::optional<std::int32_t>(d->days) : std::nullopt;
  };
  auto as = days(a.start, -1), ae = days(a.end, kOpen), bs = days(b.start, -1),
       be = days(b.end, kOpen);
  if (!as || !ae || !bs || !be || a.start.empty() || b.start.empty()) return false;
  if (*ae < *as || *be < *bs) return false;
  return *as <= *be && *bs <= *ae;
}

boost::system::result<Request, Error> parse(_xmlNode* payload, const xml::Schema& schema) {
  Request r;
  _xmlNode* body = nullptr;
  if (xml::local_name(payload) == "ManageAccessRequest" && xml::namespace_uri(payload) == kNs) {
    r.form = Form::bare;
    body = payload;
  } else if (xml::local_name(payload) == "SSDNRequest" &&
             xml::namespace_uri(payload) == kServiceNs) {
    r.form = Form::ssdn;
  } else {
    return Error{errc::unknown_body,
                 "expected a ManageAccessRequest or an SSDNRequest carrying one",
                 xml::node_path(payload)};
  }
  if (auto errs = schema.validate_element(payload); !errs.empty()) return schema_error(errs);
  if (r.form == Form::ssdn) {
    auto* user = first_child(first_child(payload, kServiceNs, "RequestContext"), kServiceNs,
                             "AuthorizedUser");
    r.context.user_id = child_text(user, kServiceNs, "UserID");
    r.context.email = child_text(user, kServiceNs, "Email");
    r.context.org_unit = child_text(user, kServiceNs, "OrgUnit");
    r.context.matrix_id = child_long(user, kServiceNs, "MatrixID").value_or(kSectorCpas);
    r.context.matrix_sub_id = child_long(user, kServiceNs, "MatrixSubID");
    auto* msg =
        first_child(first_child(payload, kServiceNs, "RequestContext"), kServiceNs, "Message");
    r.context.reference = child_text(msg, kServiceNs, "Reference");
    auto services = xml::children(payload, kServiceNs, "ServiceRequest");
    if (services.size() != 1)
      return Error{errc::wrong_service, "exactly one ServiceRequest per ManageAccess call",
                   xml::node_path(payload)};
    auto* sr = services.front();
    if (child_text(sr, kServiceNs, "ServiceId") != kServiceId ||
        child_text(sr, kServiceNs, "Version") != kVersion)
      return Error{errc::wrong_service,
                   "this endpoint serves ServiceId " + std::string(kServiceId) + " version " +
                       std::string(kVersion),
                   xml::node_path(sr) + "/ServiceId"};
    body = first_child(sr, kNs, "ManageAccessRequest");
    if (!body)
      return Error{errc::unknown_body, "the ServiceRequest holds no ManageAccessRequest",
                   xml::node_path(sr)};
  }
  const std::string where = xml::node_path(body);
  r.ssin = child_text(body, kNs, "SSIN");
  r.purpose = child_long(body, kNs, "Purpose");
  r.period = period_of(first_child(body, kNs, "Period"));
  auto action = child_text(body, kNs, "Action");
  r.action = action == "REGISTER"     ? Action::register_
             : action == "UNREGISTER" ? Action::unregister
                                      : Action::list;
  r.sector = child_long(body, kNs, "Sector");
  r.query_register = register_of(child_text(body, kNs, "QueryRegister"));
  auto* proof = first_child(body, kNs, "ProofOfAuthentication");
  r.proof.sis_card_number = child_text(proof, kNs, "SISCardNumber");
  r.proof.identity_card_number = child_text(proof, kNs, "IdentityCardNumber");
  if (auto* pd = proof ? first_child(proof, kNs, "PersonData") : nullptr)
    r.proof.person = PersonData{child_text(pd, kNs, "LastName"), child_text(pd, kNs, "FirstName"),
                                child_text(pd, kNs, "BirthDate")};
  // What the XSD leaves open and Relais's directory needs.
  if (auto e = validation::validate_ssin(r.ssin, "SSIN"))
    return Error{errc::invalid_ssin, e->message, where + "/SSIN"};
  if (auto e = check_dates(r.period, where + "/Period")) return *e;
  if (r.action != Action::list && !r.purpose)
    return Error{errc::missing_purpose,
                 "Purpose (the quality code) is required for REGISTER and UNREGISTER",
                 where + "/Purpose"};
  if (r.purpose && !is_cpas_quality(*r.purpose))
    return Error{errc::invalid_quality_code, "Purpose is not a quality code of sector 17 (CPAS)",
                 where + "/Purpose"};
  return r;
}

std::optional<std::string> ssin_of(std::string_view soap_body) {
  auto doc = xml::parse(soap_body);
  if (!doc) return std::nullopt;
  std::vector<_xmlNode*> stack{doc->root()};
  while (!stack.empty()) {
    auto* n = stack.back();
    stack.pop_back();
    if (xml::local_name(n) == "SSIN" && xml::namespace_uri(n) == kNs) {
      auto t = trimmed(text(n));
      if (t.size() == 11 && t.find_first_not_of("0123456789") == std::string::npos) return t;
      return std::nullopt;
    }
    auto kids = xml::element_children(n);
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
  }
  return std::nullopt;
}

boost::system::result<Change, Error> to_change(const Request& r) {
  Change c;
  c.action = r.action;
  c.line.ssin = r.ssin;
  c.line.quality = r.purpose ? static_cast<int>(*r.purpose) : 0;
  c.line.start = r.period.start;
  c.line.end = r.period.end;
  if (r.action == Action::unregister) c.close_end = day_before(r.period.start);
  if (r.action == Action::list && r.sector && *r.sector != kSectorCpas) c.other_sector = true;
  if (r.action != Action::list && c.line.quality == 0)
    return Error{errc::missing_purpose, "Purpose is required for REGISTER and UNREGISTER",
                 "Purpose"};
  return c;
}

std::string reply_xml(const Request& r, const std::vector<Registration>& regs) {
  std::string out = ma_open("ManageAccessReply") + "<OriginalRequest>" + el("SSIN", r.ssin) +
                    el("Purpose", std::to_string(r.purpose.value_or(0))) + period_xml(r.period) +
                    el("Action", to_string(r.action));
  if (r.query_register) out += el("Register", to_string(*r.query_register));
  out += "</OriginalRequest>";
  for (const auto& g : regs)
    out += "<Registrations>" + el("Purpose", std::to_string(g.purpose)) + period_xml(g.period) +
           el("OrgUnit", g.org_unit) + el("Register", to_string(g.reg)) + "</Registrations>";
  return out + "</ManageAccessReply>";
}

std::string soap_reply(soap::Version v, const Request& r, const Outcome& o, std::string_view ticket,
                       std::string_view time_receive, std::string_view time_response) {
  if (r.form == Form::bare) {
    if (o.summary.ok == soap::Ok::no || !o.has_reply)
      return soap::fault(
          v, true, o.summary.details.empty() ? "refused" : o.summary.details.front().diagnostic,
          o.summary);
    return soap::envelope(v, reply_xml(r, o.registrations));
  }
  const std::string summary = soap::result_summary_xml(o.summary);
  std::string out = "<SSDNReply xmlns=\"" + std::string(kServiceNs) + "\"><ReplyContext>" +
                    summary + authorized_user_xml(r.context) + "<Message>";
  if (!r.context.reference.empty()) out += el("Reference", r.context.reference);
  out += el("Ticket", ticket) + el("TimeReceive", time_receive) +
         el("TimeResponse", time_response) + "</Message></ReplyContext><ServiceReply>" + summary +
         el("ServiceId", kServiceId) + el("Version", kVersion);
  if (o.has_reply) out += reply_xml(r, o.registrations);
  return soap::envelope(v, out + "</ServiceReply></SSDNReply>");
}

std::string forward_xml(const Request& r, std::string_view cpas_cbe,
                        std::string_view default_user_id, std::string_view default_email) {
  Context c = r.context;
  if (r.form == Form::bare || c.user_id.empty()) c.user_id = default_user_id;
  if (r.form == Form::bare || c.email.empty()) c.email = default_email;
  c.org_unit = cpas_cbe;  // the authenticated CPAS, whatever the body named
  c.matrix_id = kSectorCpas;
  c.matrix_sub_id = 1;
  std::string out = "<SSDNRequest xmlns=\"" + std::string(kServiceNs) + "\"><RequestContext>" +
                    authorized_user_xml(c);
  if (!c.reference.empty()) out += "<Message>" + el("Reference", c.reference) + "</Message>";
  out += "</RequestContext><ServiceRequest>" + el("ServiceId", kServiceId) +
         el("Version", kVersion) + request_xml(r) + "</ServiceRequest></SSDNRequest>";
  return soap::envelope(soap::Version::soap11, out);
}

boost::system::result<BcssAnswer, Error> read_bcss_reply(std::string_view body,
                                                         const xml::Schema& schema) {
  auto doc = xml::parse(body);
  if (!doc)
    return Error{errc::bad_reply, "BCSS's answer is not XML: " + doc.error().message,
                 doc.error().path};
  auto env = soap::open(*doc);
  if (!env)
    return Error{errc::bad_reply, "BCSS's answer is not a SOAP envelope: " + env.error().message,
                 ""};
  BcssAnswer a;
  auto* p = env->payload;
  if (xml::local_name(p) == "Fault") {
    // A Fault: refused, with the ResultSummary of its detail when there is one.
    a.outcome.has_reply = false;
    a.outcome.summary = soap::failure("BCSS_FAULT", "BCSS answered a SOAP Fault");
    std::vector<_xmlNode*> stack{p};
    while (!stack.empty()) {
      auto* n = stack.back();
      stack.pop_back();
      if (xml::local_name(n) == "ResultSummary" && xml::namespace_uri(n) == kCommon) {
        a.outcome.summary = summary_of(n);
        a.outcome.summary.ok = soap::Ok::no;
        break;
      }
      if (xml::local_name(n) == "faultstring" || xml::local_name(n) == "Text")
        a.outcome.summary.details.front().diagnostic = trimmed(text(n));
      for (auto* c : xml::element_children(n)) stack.push_back(c);
    }
    return a;
  }
  if (xml::local_name(p) != "SSDNReply" || xml::namespace_uri(p) != kServiceNs)
    return Error{errc::bad_reply, "BCSS's answer holds no SSDNReply", xml::node_path(p)};
  if (auto errs = schema.validate_element(p); !errs.empty()) {
    auto e = schema_error(errs);
    e.code = errc::bad_reply;
    e.message = "BCSS's answer does not match the public XSD: " + e.message;
    return e;
  }
  auto ctx =
      summary_of(first_child(first_child(p, kServiceNs, "ReplyContext"), kCommon, "ResultSummary"));
  auto* sr = first_child(p, kServiceNs, "ServiceReply");
  auto svc = sr ? summary_of(first_child(sr, kCommon, "ResultSummary")) : ctx;
  // The refusal of either level is the answer; details of both kept.
  a.outcome.summary = svc;
  if (ctx.ok == soap::Ok::no && svc.ok != soap::Ok::no) a.outcome.summary = ctx;
  auto* reply = sr ? first_child(sr, kNs, "ManageAccessReply") : nullptr;
  a.outcome.has_reply = reply != nullptr;
  if (reply) a.outcome.registrations = registrations_of(reply);
  a.accepted = ctx.ok != soap::Ok::no && svc.ok != soap::Ok::no && reply != nullptr;
  return a;
}

boost::system::result<Export, Error> read_export(std::string_view text_in,
                                                 const std::set<std::string>& org_units,
                                                 const xml::Schema* schema) {
  Export out;
  auto first = text_in.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  if (first != std::string_view::npos && text_in[first] == '<') {
    auto doc = xml::parse(text_in);
    if (!doc) return Error{errc::schema_invalid, doc.error().message, doc.error().path};
    std::vector<_xmlNode*> replies;
    collect_replies(doc->root(), replies);
    if (replies.empty()) return Error{errc::unknown_body, "no ManageAccessReply in this file", ""};
    for (auto* rep : replies) {
      if (schema)
        if (auto errs = schema->validate_element(rep); !errs.empty()) return schema_error(errs);
      auto ssin = child_text(first_child(rep, kNs, "OriginalRequest"), kNs, "SSIN");
      out.ssins.insert(ssin);
      for (const auto& g : registrations_of(rep)) {
        if (!org_units.contains(g.org_unit)) continue;
        out.lines.push_back(Line{ssin, static_cast<int>(g.purpose), g.period.start, g.period.end});
      }
    }
    return out;
  }
  out.complete = true;
  std::size_t pos = 0, number = 0;
  while (pos < text_in.size()) {
    auto nl = text_in.find('\n', pos);
    auto line =
        text_in.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text_in.size() : nl + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (number == 1 && line.starts_with("ssin")) continue;
    auto l = csv_line(line);
    const std::string at = "line " + std::to_string(number);
    if (!l)
      return Error{errc::unknown_body, "expected ssin,quality_code,start_date[,end_date]", at};
    if (auto e = validation::validate_ssin(l->ssin, "ssin"))
      return Error{errc::invalid_ssin, e->message, at};
    if (auto e = check_dates(Period{l->start, l->end}, at)) return *e;
    out.ssins.insert(l->ssin);
    out.lines.push_back(std::move(*l));
  }
  return out;
}

std::vector<Difference> diff(const std::vector<Line>& mirror, const Export& bcss) {
  using Key = std::tuple<std::string, int, std::string>;  // ssin, quality, start
  std::map<Key, Line> m, b;
  for (const auto& l : mirror)
    if (!cancelled(l) && (bcss.complete || bcss.ssins.contains(l.ssin)))
      m[{l.ssin, l.quality, l.start}] = l;
  for (const auto& l : bcss.lines)
    if (!cancelled(l)) b[{l.ssin, l.quality, l.start}] = l;
  std::vector<Difference> out;
  std::vector<Line> only_mirror, only_bcss;
  for (const auto& [k, l] : m) {
    auto it = b.find(k);
    if (it == b.end())
      only_mirror.push_back(l);
    else if (it->second.end != l.end)
      out.push_back({DiffKind::period_differs, l, it->second, {it->second}});
  }
  for (const auto& [k, l] : b)
    if (!m.contains(k)) only_bcss.push_back(l);
  // Same person and start date, another quality code: one difference, two repairs.
  std::vector<bool> paired(only_bcss.size(), false);
  for (const auto& ml : only_mirror) {
    Line cancel = ml;
    cancel.end = day_before(ml.start);
    bool found = false;
    for (std::size_t i = 0; i < only_bcss.size() && !found; ++i) {
      if (paired[i] || only_bcss[i].ssin != ml.ssin || only_bcss[i].start != ml.start) continue;
      paired[i] = found = true;
      out.push_back({DiffKind::quality_differs, ml, only_bcss[i], {cancel, only_bcss[i]}});
    }
    if (!found) out.push_back({DiffKind::missing_at_bcss, ml, std::nullopt, {cancel}});
  }
  for (std::size_t i = 0; i < only_bcss.size(); ++i)
    if (!paired[i])
      out.push_back({DiffKind::missing_in_mirror, std::nullopt, only_bcss[i], {only_bcss[i]}});
  auto key = [](const Difference& d) {
    const Line& l = d.mirror ? *d.mirror : *d.bcss;
    return std::tie(l.ssin, l.start, l.quality);
  };
  std::sort(out.begin(), out.end(),
            [&](const Difference& x, const Difference& y) { return key(x) < key(y); });
  return out;
}

}  // namespace relais::manageaccess
