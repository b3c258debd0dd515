#include "relais/soap/soap.hpp"

#include <algorithm>

#include "relais/validation/text.hpp"

namespace relais::soap {
namespace {

std::string_view ns_of(Version v) {
  return v == Version::soap11 ? kSoap11 : kSoap12;
}

bool is_true(const std::string& s) {
  return s == "1" || s == "true";
}

std::string_view ok_text(Ok ok) {
  switch (ok) {
    case Ok::yes:
      return "YES";
    case Ok::no:
      return "NO";
    case Ok::warning:
      return "WARNING";
  }
  return "NO";
}

}  // namespace

std::string_view code_name(errc e) {
  switch (e) {
    case errc::not_an_envelope:
      return "SOAP_NOT_AN_ENVELOPE";
    case errc::no_body:
      return "SOAP_NO_BODY";
    case errc::empty_body:
      return "SOAP_EMPTY_BODY";
    case errc::several_body_elements:
      return "SOAP_SEVERAL_BODY_ELEMENTS";
    case errc::must_understand:
      return "SOAP_MUST_UNDERSTAND";
  }
  return "SOAP_ERROR";
}

boost::system::result<Envelope, Error> open(const xml::Document& doc,
                                            const std::vector<std::string_view>& understood) {
  _xmlNode* root = doc.root();
  Envelope env;
  const auto ns = xml::namespace_uri(root);
  if (xml::local_name(root) != "Envelope" || (ns != kSoap11 && ns != kSoap12)) {
    return Error{errc::not_an_envelope, "the root element is not a SOAP 1.1 or 1.2 Envelope"};
  }
  env.version = ns == kSoap11 ? Version::soap11 : Version::soap12;
  env.header = xml::first_child(root, ns, "Header");
  if (env.header != nullptr) {
    for (_xmlNode* h : xml::element_children(env.header)) {
      if (!is_true(xml::attribute(h, ns, "mustUnderstand"))) continue;
      const auto hns = xml::namespace_uri(h);
      if (std::find(understood.begin(), understood.end(), hns) == understood.end()) {
        return Error{errc::must_understand,
                     "header block " + validation::sanitize_text(xml::local_name(h), 128) +
                         " is marked mustUnderstand and Relais does not process it"};
      }
    }
  }
  _xmlNode* body = xml::first_child(root, ns, "Body");
  if (body == nullptr) return Error{errc::no_body, "the Envelope has no Body"};
  const auto elements = xml::element_children(body);
  if (elements.empty()) return Error{errc::empty_body, "the Body holds no element"};
  if (elements.size() > 1) {
    return Error{errc::several_body_elements,
                 "the Body holds more than one element (one message per request)"};
  }
  env.payload = elements.front();
  return env;
}

ResultSummary success() {
  return ResultSummary{};
}

ResultSummary failure(std::string reason_code, std::string diagnostic, std::string field_name,
                      std::string field_value) {
  ResultSummary r;
  r.ok = Ok::no;
  r.return_code = 10000;
  Detail d;
  d.reason_code = std::move(reason_code);
  d.diagnostic = std::move(diagnostic);
  if (!field_name.empty() || !field_value.empty())
    d.information.push_back({std::move(field_name), std::move(field_value)});
  r.details.push_back(std::move(d));
  return r;
}

std::string escape(std::string_view s, std::size_t max_bytes) {
  // sanitize_text: valid UTF-8, no control character (XML 1.0 cannot carry most of them).
  const std::string safe = validation::sanitize_text(s, max_bytes);
  std::string out;
  out.reserve(safe.size());
  for (char c : safe) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string result_summary_xml(const ResultSummary& r) {
  std::string out = "<ResultSummary xmlns=\"" + std::string(kBcssCommon) + "\" ok=\"" +
                    std::string(ok_text(r.ok)) + "\"><ReturnCode>" + std::to_string(r.return_code) +
                    "</ReturnCode>";
  const std::size_t details = std::min<std::size_t>(r.details.size(), 30);
  for (std::size_t i = 0; i < details; ++i) {
    const Detail& d = r.details[i];
    out += "<Detail><Severity>" + escape(d.severity, 16) + "</Severity>";
    if (!d.reason_code.empty()) out += "<ReasonCode>" + escape(d.reason_code, 64) + "</ReasonCode>";
    if (!d.diagnostic.empty()) out += "<Diagnostic>" + escape(d.diagnostic) + "</Diagnostic>";
    const std::size_t infos = std::min<std::size_t>(d.information.size(), 5);
    for (std::size_t k = 0; k < infos; ++k) {
      out += "<Information>";
      if (!d.information[k].field_name.empty())
        out += "<FieldName>" + escape(d.information[k].field_name, 256) + "</FieldName>";
      if (!d.information[k].field_value.empty())
        out += "<FieldValue>" + escape(d.information[k].field_value, 256) + "</FieldValue>";
      out += "</Information>";
    }
    out += "</Detail>";
  }
  return out + "</ResultSummary>";
}

std::string envelope(Version v, std::string_view body_xml) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"" +
         std::string(ns_of(v)) + "\"><soap:Body>" + std::string(body_xml) +
         "</soap:Body></soap:Envelope>";
}

std::string fault(Version v, bool sender_fault, std::string_view reason,
                  const ResultSummary& detail) {
  std::string body;
  if (v == Version::soap11) {
    body = std::string("<soap:Fault><faultcode>soap:") + (sender_fault ? "Client" : "Server") +
           "</faultcode><faultstring>" + escape(reason) + "</faultstring><detail>" +
           result_summary_xml(detail) + "</detail></soap:Fault>";
  } else {
    body = std::string("<soap:Fault><soap:Code><soap:Value>soap:") +
           (sender_fault ? "Sender" : "Receiver") +
           "</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang=\"en\">" + escape(reason) +
           "</soap:Text></soap:Reason><soap:Detail>" + result_summary_xml(detail) +
           "</soap:Detail></soap:Fault>";
  }
  return envelope(v, body);
}

std::string_view content_type(Version v) {
  return v == Version::soap11 ? "text/xml; charset=utf-8" : "application/soap+xml; charset=utf-8";
}

}  // namespace relais::soap
