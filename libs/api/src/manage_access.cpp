#include "relais/api/manage_access.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <ctime>
#include <random>

#include "relais/api/service.hpp"
#include "relais/common/log.hpp"
#include "relais/http/client.hpp"
#include "relais/manageaccess/manageaccess.hpp"
#include "relais/soap/soap.hpp"
#include "relais/validation/date.hpp"

namespace relais::api {
namespace asio = boost::asio;
namespace json = boost::json;
namespace ma = relais::manageaccess;
namespace {
const log::Logger logger{"manage-access"};

std::string now_utc() {  // t_DateTimeUTC: yyyyMMddThhmmss
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  return buf;
}

std::string new_ticket() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  auto a = rng(), b = rng();
  std::snprintf(
      buf, sizeof buf, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xffff),
      static_cast<unsigned long long>(a & 0xfff), static_cast<unsigned long long>(b >> 52),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

http::Response soap_response(unsigned status, soap::Version v, std::string body) {
  http::Response r;
  r.status = status;
  r.content_type = std::string(soap::content_type(v));
  r.body = std::move(body);
  return r;
}

http::Response fault(unsigned status, soap::Version v, bool sender, std::string_view code,
                     const std::string& message, std::string path = {}) {
  auto r = soap_response(
      status, v,
      soap::fault(v, sender, message, soap::failure(std::string(code), message, std::move(path))));
  if (status == 503 || status == 504) r.headers.emplace_back("Retry-After", "2");
  return r;
}

// A stored line (integration_json) as a ManageAccess registration of this CPAS.
ma::Registration registration_of(const json::value& v, const std::string& cbe) {
  const auto& o = v.as_object();
  ma::Registration g;
  g.purpose = o.at("quality_code").as_int64();
  g.period.start = std::string(o.at("start_date").as_string());
  if (o.at("end_date").is_string()) g.period.end = std::string(o.at("end_date").as_string());
  g.org_unit = cbe;
  g.reg = ma::Register::primary;
  return g;
}

// The change applied to the mirror through the directory's write path: the outcome to answer.
ma::Outcome apply(pg::Connection& c, const std::string& cbe, const ma::Change& ch,
                  const ma::Request& rq, const std::string& actor) {
  ma::Outcome out;
  const Reply r = [&]() -> Reply {
    switch (ch.action) {
      case ma::Action::register_:
        return write_integration(
            c, cbe, IntegrationLine{ch.line.ssin, ch.line.quality, ch.line.start, ch.line.end},
            actor);
      case ma::Action::unregister:
        return close_integrations(c, cbe, ch.line.ssin, std::to_string(ch.line.quality),
                                  ch.close_end, actor);
      case ma::Action::list:
        break;
    }
    return person_integrations(c, cbe, ch.line.ssin);
  }();
  if (!r) {
    const auto& e = r.error();
    out.summary = soap::failure(e.code, e.message, e.field);
    out.has_reply = false;
    return out;
  }
  auto v = json::parse(r->body);
  const auto& o = v.as_object();
  if (ch.action == ma::Action::register_) {
    out.registrations.push_back(registration_of(o.at("integration"), cbe));
    for (const auto& x : o.at("overlapping").as_array())
      out.registrations.push_back(registration_of(x, cbe));
  } else if (ch.action == ma::Action::unregister) {
    for (const auto& x : o.at("closed").as_array())
      out.registrations.push_back(registration_of(x, cbe));
  } else if (!ch.other_sector) {
    for (const auto& x : o.at("integrations").as_array()) {
      auto g = registration_of(x, cbe);
      if ((!rq.purpose || g.purpose == *rq.purpose) && ma::overlaps(g.period, rq.period))
        out.registrations.push_back(std::move(g));
    }
  }
  return out;
}

struct BcssCall {
  std::optional<http::FailureKind> failure;  // no answer: why
  unsigned status = 0;
  std::string body;
  std::string error;
};

}  // namespace

std::optional<BcssEndpoint> bcss_endpoint(const std::string& url, const http::ClientTls& tls,
                                          std::string& error) {
  std::string err;
  auto u = http::parse_http_url(url, err);
  if (!u) {
    error = "manage_access.bcss_url: " + err;
    return std::nullopt;
  }
  BcssEndpoint out{*u, u->https};
  if (!u->https) {
    if (!tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty()) {
      error = "manage_access.tls.* is set but manage_access.bcss_url is not https://";
      return std::nullopt;
    }
    return out;
  }
  for (const auto& [value, key] :
       {std::pair{&tls.cert_file, "cert_file"}, {&tls.key_file, "key_file"}})
    if (value->empty()) {
      error = std::string("manage_access.tls.") + key +
              " is required with an https:// manage_access.bcss_url: BCSS authenticates the "
              "data centre by its client certificate";
      return std::nullopt;
    }
  return out;
}

BcssFailure bcss_failure(http::FailureKind kind) {
  switch (kind) {
    case http::FailureKind::timeout:
      return {504, "BCSS_TIMEOUT", "bcss_timeout"};
    case http::FailureKind::tls:
      return {503, "BCSS_UNAVAILABLE", "bcss_tls_error"};
    case http::FailureKind::connect:
    case http::FailureKind::reset:
    case http::FailureKind::io:
      break;
  }
  return {503, "BCSS_UNAVAILABLE", "bcss_unreachable"};
}

ManageAccessService::ManageAccessService(ManageAccessOptions o, pg::Pool& pool,
                                         metrics::Registry& m)
    : o_(std::move(o)),
      pool_(pool),
      calls_(m.counter("relais_api_manage_access_total",
                       "ManageAccess calls by mode, action and result",
                       {"mode", "action", "result"})) {
  if (!o_.enabled) return;
  auto s = xml::Schema::load(ma::schema_files(o_.xsd_dir), o_.xsd_dir);
  if (!s)
    throw std::runtime_error("manage_access.xsd_dir: the ManageAccess XSD set does not load: " +
                             s.error().message);
  schema_ = *s;
  if (o_.proxy) {
    std::string err;
    auto e = bcss_endpoint(o_.bcss_url, o_.bcss_tls, err);
    if (!e) throw std::runtime_error(err);
    bcss_ = e->url;
    if (e->mtls) {
      bcss_tls_ = http::make_client_tls(o_.bcss_tls, err);
      // make_client_tls names the file and its setting's last part ("cert_file \"...\": ...").
      if (!bcss_tls_) throw std::runtime_error("manage_access.tls." + err);
    }
  }
}

ManageAccessService::~ManageAccessService() {
  bcss_calls_.join();
}

void ManageAccessService::add_routes(RouteTable& t) {
  if (!o_.enabled) return;
  // BCSS's ManageAccess for the CPAS of the path (the body's OrgUnit is never used). Its answers
  // are SOAP (replies and Faults), never problem documents: BCSS's clients read SOAP.
  t.add({http::verb::post, "/v1/cpas/{cbe}/soap/manage-access", Policy::cpas,
         SsinFrom::manage_access_body},
        [this](http::Request& q, const Caller& c) -> asio::awaitable<Reply> {
          co_return Reply(co_await handle(q, c));
        });
}

asio::awaitable<http::Response> ManageAccessService::handle(http::Request& req,
                                                            const Caller& caller) {
  const std::string time_receive = now_utc();
  auto ct = req.content_type();
  soap::Version v = ct == "application/soap+xml" ? soap::Version::soap12 : soap::Version::soap11;
  const std::string mode = o_.proxy ? "proxy" : "mirror";
  if (ct != "text/xml" && ct != "application/soap+xml")
    co_return http::json_error(415, "UNSUPPORTED_MEDIA_TYPE",
                               "use text/xml (SOAP 1.1) or application/soap+xml (1.2)",
                               "Content-Type");
  auto doc = xml::parse(req.body);
  if (!doc) {
    calls_.with({mode, "-", "malformed"}).inc();
    co_return fault(400, v, true, xml::code_name(doc.error().code), doc.error().message,
                    doc.error().path);
  }
  auto env = soap::open(*doc);
  if (!env) {
    calls_.with({mode, "-", "malformed"}).inc();
    co_return fault(400, v, true, soap::code_name(env.error().code), env.error().message);
  }
  v = env->version;
  auto rq = ma::parse(env->payload, *schema_);
  if (!rq) {
    calls_.with({mode, "-", "refused"}).inc();
    co_return fault(400, v, true, ma::code_name(rq.error().code), rq.error().message,
                    rq.error().path);
  }
  auto ch = ma::to_change(*rq);
  if (!ch)
    co_return fault(400, v, true, ma::code_name(ch.error().code), ch.error().message,
                    ch.error().path);
  // The CPAS is the path's, which the access guard matched against the caller's token scope.
  const std::string cbe = req.params["cbe"], actor = caller.actor, ticket = new_ticket();
  const std::string action(ma::to_string(rq->action));
  ma::Outcome outcome;
  if (!o_.proxy) {
    auto request = *rq;
    auto change = *ch;
    // A named job: GCC 12 mishandles temporaries inside co_await expressions.
    auto job = [cbe, change, request, actor](pg::Connection& c) {
      return apply(c, cbe, change, request, actor);
    };
    outcome = co_await pool_.run<ma::Outcome>(std::move(job));
  } else {
    std::string body = ma::forward_xml(*rq, cbe, o_.user_id, o_.email);
    const http::HttpUrl to = bcss_;
    auto tls = bcss_tls_;
    auto timeout = o_.bcss_timeout;
    // The blocking client on its own threads, never on the event loop.
    auto call = [to, tls, body, timeout]() -> asio::awaitable<BcssCall> {
      BcssCall c;
      const http::ClientHeaders headers{{"SOAPAction", "\"\""}};
      const std::string ct = "text/xml; charset=utf-8";
      try {
        auto r = tls ? http::request(*tls, to.host, to.port, http::verb::post, to.target, body, ct,
                                     headers, timeout)
                     : http::request(to.host, to.port, http::verb::post, to.target, body, ct,
                                     headers, timeout);
        c.status = r.status;
        c.body = std::move(r.body);
      } catch (const http::ClientError& e) {
        c.failure = http::failure_kind(e);
        c.error = e.what();
      } catch (const std::exception& e) {  // not a transport failure the client names
        c.failure = http::FailureKind::io;
        c.error = e.what();
      }
      co_return c;
    };
    auto res =
        co_await asio::co_spawn(bcss_calls_.get_executor(), std::move(call), asio::use_awaitable);
    if (res.failure) {
      const auto f = bcss_failure(*res.failure);
      calls_.with({mode, action, std::string(f.result)}).inc();
      // The client's message: the phase and the library's reason (e.g. "TLS handshake:
      // certificate verify failed"); no body, no key material.
      logger.warn("BCSS did not answer", {{"cbe", cbe},
                                          {"failure", std::string(http::to_string(*res.failure))},
                                          {"error", res.error}});
      co_return fault(
          f.status, v, false, f.code,
          std::string(f.status == 504 ? "BCSS did not answer in time" : "BCSS cannot be reached") +
              "; the directory was not changed and the request can be sent again");
    }
    auto answer = ma::read_bcss_reply(res.body, *schema_);
    if (!answer) {
      calls_.with({mode, action, "bcss_bad_reply"}).inc();
      logger.warn("BCSS's answer could not be read",
                  {{"cbe", cbe}, {"status", res.status}, {"error", answer.error().message}});
      co_return fault(502, v, false, ma::code_name(answer.error().code),
                      answer.error().message + "; the directory was not changed",
                      answer.error().path);
    }
    outcome = answer->outcome;
    if (answer->accepted && rq->action != ma::Action::list) {
      // BCSS accepted: the mirror follows. A repeated request writes the same line again (upsert),
      // an UNREGISTER with nothing left to close changes nothing: both are fine here.
      auto request = *rq;
      auto change = *ch;
      auto job = [cbe, change, request, actor](pg::Connection& c) {
        return apply(c, cbe, change, request, actor);
      };
      auto mirrored = co_await pool_.run<ma::Outcome>(std::move(job));
      if (mirrored.summary.ok == soap::Ok::no &&
          !(rq->action == ma::Action::unregister &&
            mirrored.summary.details.front().reason_code == "INTEGRATION_NOT_FOUND"))
        logger.error("BCSS accepted but the mirror refused the change",
                     {{"cbe", cbe}, {"code", mirrored.summary.details.front().reason_code}});
    }
  }
  calls_.with({mode, action, outcome.summary.ok == soap::Ok::no ? "refused" : "accepted"}).inc();
  // A bare request refused is answered by a Fault (the bare reply has no ResultSummary): 400.
  const bool fault_reply =
      rq->form == ma::Form::bare && (outcome.summary.ok == soap::Ok::no || !outcome.has_reply);
  co_return soap_response(fault_reply ? 400 : 200, v,
                          ma::soap_reply(v, *rq, outcome, ticket, time_receive, now_utc()));
}

}  // namespace relais::api
