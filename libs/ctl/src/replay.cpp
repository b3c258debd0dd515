#include "relais/ctl/replay.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "relais/http/client.hpp"

namespace relais::ctl {
namespace json = boost::json;
using boost::beast::http::verb;

namespace {
ReplayStatus status_of(const std::string& body) {
  auto v = json::parse(body).as_object().at("replay").as_object();
  ReplayStatus st;
  st.id = std::string(v.at("id").as_string());
  st.state = std::string(v.at("state").as_string());
  st.topic = std::string(v.at("topic").as_string());
  st.total = v.at("total").as_int64();
  st.published = v.at("published").as_int64();
  if (v.at("error").is_string()) st.error = std::string(v.at("error").as_string());
  return st;
}
}  // namespace

ReplayStatus replay(const Settings& s, const ReplayCall& call,
                    const std::function<void(const ReplayStatus&)>& on_progress) {
  auto url = parse_url(s.api_url);
  if (!url) throw std::invalid_argument("api.url: not an http://host:port URL: " + s.api_url);
  http::Client client(url->host, url->port, std::chrono::milliseconds(s.timeout_ms));
  // Who asks is the token's credential (relais-api records it), never a header.
  http::ClientHeaders headers;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, single-threaded command.
  if (const char* t = std::getenv("RELAIS_API_TOKEN"); t && *t)
    headers.emplace_back("Authorization", std::string("Bearer ") + t);
  json::object body{{"since", call.since}};
  if (!call.until.empty()) body["until"] = call.until;
  if (call.again) body["again"] = true;
  const std::string base = url->base_path + "/v1/cpas/" + call.cbe + "/replays";
  auto r = client.request(verb::post, base, json::serialize(body), "application/json", headers);
  if (r.status != 200 && r.status != 202)
    throw std::runtime_error("relais-api refused the replay: HTTP " + std::to_string(r.status) +
                             " " + r.body);
  ReplayStatus st = status_of(r.body);
  st.created = r.status == 202;
  on_progress(st);
  while (call.wait && st.state == "running") {
    std::this_thread::sleep_for(call.poll);
    auto g = client.request(verb::get, base + "/" + st.id, {}, {}, headers);
    if (g.status != 200)
      throw std::runtime_error("relais-api GET replay: HTTP " + std::to_string(g.status) + " " +
                               g.body);
    const bool created = st.created;
    st = status_of(g.body);
    st.created = created;
    on_progress(st);
  }
  return st;
}

}  // namespace relais::ctl
