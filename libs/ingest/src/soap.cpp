#include "relais/ingest/soap.hpp"

#include <boost/json.hpp>

#include "relais/codec/flow.hpp"

namespace relais::ingest {
namespace {

// SOAP over HTTP: a reply, even one whose ResultSummary says NO, is 200. A Fault caused by the
// sender is 400 in both versions (the SOAP 1.2 HTTP binding's rule; WS-I Basic Profile asks 500
// for every SOAP 1.1 fault, but a 5xx for a client's malformed document would page the
// operator: docs/bcss.md names this choice); faults of the server itself are 5xx.
unsigned fault_status(soap::Version, bool sender) {
  return sender ? 400 : 500;
}

SoapDecoded refuse_fault(SoapDecoded d, std::string code, const std::string& message,
                         const std::string& path = {}) {
  d.ok = false;
  d.status = fault_status(d.version, true);
  d.answer = soap::fault(d.version, true, message, soap::failure(code, message, path));
  d.code = std::move(code);
  return d;
}

SoapDecoded refuse_reply(SoapDecoded d, std::string code, const std::string& message,
                         const std::string& path, const std::string& value = {}) {
  d.ok = false;
  d.status = 200;
  d.answer = soap::envelope(d.version,
                            soap::result_summary_xml(soap::failure(code, message, path, value)));
  d.code = std::move(code);
  return d;
}

}  // namespace

std::shared_ptr<const SoapGateway::State> SoapGateway::load(const SoapConfig& c,
                                                            std::string& error) {
  auto schema = xml::Schema::load(c.xsd_files, c.xsd_roots);
  if (!schema) {
    error = "XSD set: " + schema.error().message;
    return nullptr;
  }
  auto catalog = xmlmap::load_folder(c.mappings_dir);
  if (!catalog) {
    error = "mappings: " + catalog.error().message;
    return nullptr;
  }
  for (const auto& [root, m] : catalog->by_root) {
    if (!codec::flow_from_id(m.flow)) {
      error = "mappings: unknown flow '" + m.flow + "' for " + root.second;
      return nullptr;
    }
  }
  auto s = std::make_shared<State>();
  s->schema = std::move(*schema);
  s->catalog = std::move(*catalog);
  return s;
}

std::unique_ptr<SoapGateway> SoapGateway::create(SoapConfig config, std::string& error) {
  auto state = load(config, error);
  if (!state) return nullptr;
  std::unique_ptr<SoapGateway> g(new SoapGateway());
  g->config_ = std::move(config);
  g->state_ = std::move(state);
  return g;
}

std::optional<std::string> SoapGateway::reload() {
  std::string error;
  auto state = load(config_, error);
  if (!state) return error;
  std::lock_guard lock(mu_);
  state_ = std::move(state);
  return std::nullopt;
}

std::shared_ptr<const SoapGateway::State> SoapGateway::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

SoapDecoded SoapGateway::decode(std::string_view body, const codec::Limits& limits,
                                soap::Version hint) const {
  SoapDecoded d;
  d.version = hint;
  auto doc = xml::parse(body, config_.limits);
  if (!doc) {
    return refuse_fault(
        std::move(d), std::string(xml::code_name(doc.error().code)),
        doc.error().message +
            (doc.error().line ? " (line " + std::to_string(doc.error().line) + ")" : ""),
        doc.error().path);
  }
  auto env = soap::open(*doc);
  if (!env) {
    // The version is known when the root was an envelope at all.
    if (xml::namespace_uri(doc->root()) == soap::kSoap12) d.version = soap::Version::soap12;
    if (xml::namespace_uri(doc->root()) == soap::kSoap11) d.version = soap::Version::soap11;
    return refuse_fault(std::move(d), std::string(soap::code_name(env.error().code)),
                        env.error().message);
  }
  d.version = env->version;
  const auto st = state();
  const auto* mapping =
      st->catalog.find(xml::namespace_uri(env->payload), xml::local_name(env->payload));
  if (mapping == nullptr) {
    return refuse_reply(std::move(d), "UNKNOWN_BODY",
                        "no mapping for the body element {" +
                            std::string(xml::namespace_uri(env->payload)) + "}" +
                            std::string(xml::local_name(env->payload)),
                        xml::node_path(env->payload));
  }
  d.flow_id = mapping->flow;
  if (auto errors = st->schema->validate_element(env->payload); !errors.empty()) {
    return refuse_reply(std::move(d), std::string(xml::code_name(errors.front().code)),
                        errors.front().message, errors.front().path);
  }
  auto json = xmlmap::apply(*mapping, env->payload);
  if (!json)
    return refuse_reply(std::move(d), json.error().code, json.error().message, json.error().path);
  const auto flow = *codec::flow_from_id(mapping->flow);
  if (auto e = codec::decode_and_validate_json(flow, boost::json::serialize(*json), d.notification,
                                               limits)) {
    return refuse_reply(std::move(d), e->code, e->message, e->field);
  }
  d.ok = true;
  return d;
}

MappedRecord SoapGateway::map_record(std::string_view text, std::string_view ticket) const {
  MappedRecord m;
  auto fail = [&](std::string code, std::string message, std::string path) {
    m.code = std::move(code);
    m.message = std::move(message);
    m.path = std::move(path);
    return m;
  };
  auto doc = xml::parse(text, config_.limits);
  if (!doc)
    return fail(std::string(xml::code_name(doc.error().code)), doc.error().message,
                doc.error().path);
  auto* el = doc->root();
  const auto st = state();
  const auto* mapping = st->catalog.find(xml::namespace_uri(el), xml::local_name(el));
  if (mapping == nullptr) {
    return fail("UNKNOWN_BODY",
                "no mapping for the element {" + std::string(xml::namespace_uri(el)) + "}" +
                    std::string(xml::local_name(el)),
                xml::node_path(el));
  }
  m.flow_id = mapping->flow;
  const auto ns = xml::namespace_uri(el);
  if (auto* ctx = xml::first_child(el, ns, "Context");
      ctx != nullptr && !ticket.empty() && xml::first_child(ctx, ns, "Ticket") == nullptr) {
    xml::prepend_child_text(ctx, "Ticket", ticket);
  }
  if (auto errors = st->schema->validate_element(el); !errors.empty()) {
    return fail(std::string(xml::code_name(errors.front().code)), errors.front().message,
                errors.front().path);
  }
  auto json = xmlmap::apply(*mapping, el);
  if (!json) return fail(json.error().code, json.error().message, json.error().path);
  m.json = boost::json::serialize(*json);
  m.ok = true;
  return m;
}

std::string SoapGateway::accepted(soap::Version v, std::string_view ticket) {
  soap::ResultSummary r = soap::success();
  soap::Detail detail;
  detail.severity = "INFORMATION";
  detail.reason_code = "ACCEPTED";
  detail.diagnostic = "durably received; routed to the CPAS that integrated the person";
  detail.information.push_back({"ticket", std::string(ticket)});
  r.details.push_back(std::move(detail));
  return soap::envelope(v, soap::result_summary_xml(r));
}

std::string SoapGateway::busy(soap::Version v, std::string_view code, std::string_view message) {
  soap::ResultSummary r = soap::failure(std::string(code), std::string(message));
  return soap::fault(v, false, message, r);
}

}  // namespace relais::ingest
