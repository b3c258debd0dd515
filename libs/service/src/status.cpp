#include "relais/service/status.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <memory>

#include "relais/common/log.hpp"

#ifndef RELAIS_VERSION
#define RELAIS_VERSION "unknown"
#endif

namespace relais::service {
namespace {
const auto g_status_started = std::chrono::steady_clock::now();

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string duration_text(double seconds) {
  auto s = static_cast<long long>(seconds);
  long long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
  std::string out;
  if (d) out += std::to_string(d) + "d ";
  if (d || h) out += std::to_string(h) + "h ";
  out += std::to_string(m) + "m " + std::to_string(s % 60) + "s";
  return out;
}

struct StatusState {
  std::string service;
  Checks checks;
  std::vector<Figure> figures;
  metrics::Registry* registry;
  RateTracker rates{std::chrono::seconds(10), g_status_started};
};

boost::json::object snapshot(StatusState& st) {
  namespace json = boost::json;
  json::array checks;
  bool ready = true;
  if (st.checks) {
    for (const auto& c : st.checks()) {
      ready = ready && c.ok;
      checks.push_back(json::object{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    }
  }
  json::array figures;
  auto now = RateTracker::Clock::now();
  for (std::size_t i = 0; i < st.figures.size(); ++i) {
    const auto& f = st.figures[i];
    double v = st.registry->sum(f.metric, f.match);
    if (f.kind == Figure::Kind::rate) {
      double r = st.rates.rate(std::to_string(i), v, now);
      figures.push_back(
          json::object{{"label", f.label}, {"kind", "rate"}, {"rate", r}, {"total", v}});
    } else {
      figures.push_back(json::object{{"label", f.label}, {"kind", "value"}, {"value", v}});
    }
  }
  json::array errors;
  for (auto& line : log::recent_problems()) errors.push_back(json::string(line));
  return json::object{
      {"service", st.service},
      {"version", RELAIS_VERSION},
      {"uptime_seconds", std::chrono::duration<double>(now - g_status_started).count()},
      {"ready", ready},
      {"checks", std::move(checks)},
      {"figures", std::move(figures)},
      {"errors", std::move(errors)},
  };
}

std::string str(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return {};
}

// The page carries its first figures (readable without JavaScript); the script then refreshes them
// from status.json every 2 s, writing text only (textContent: no markup from data is ever parsed).
std::string render_page(const boost::json::object& s) {
  std::string svc = html_escape(str(s.at("service")));
  std::string out;
  out.reserve(8192);
  out += R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>relais-)" +
         svc + R"( status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em 2em;color:#222;background:#fafafa}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em;color:#444}
.meta span{margin-right:1.2em}table{border-collapse:collapse;min-width:40em;background:#fff}
td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#fff;background:#2e7d32;font-weight:bold}.bad{color:#fff;background:#c62828;font-weight:bold}
ol#errors{font:12px/1.4 monospace;background:#fff;border:1px solid #ddd;padding:.5em 2.5em;max-width:100%;overflow-x:auto}
ol#errors li{white-space:pre-wrap;word-break:break-all}ol#errors li.none{list-style:none;color:#666}#conn{color:#666}
</style></head><body>
<h1>relais-<span id="service">)" +
         svc + R"(</span></h1>
<p class="meta"><span>version <b id="version">)" +
         html_escape(str(s.at("version"))) + R"(</b></span>)";
  out += "<span>up <b id=\"uptime\">" + duration_text(s.at("uptime_seconds").to_number<double>()) +
         "</b></span>";
  bool ready = s.at("ready").as_bool();
  out += std::string("<span id=\"ready\" class=\"") + (ready ? "ok" : "bad") + "\">" +
         (ready ? "READY" : "NOT READY") +
         "</span><span id=\"conn\">server-rendered</span> <span>refreshes: <b "
         "id=\"refreshes\">0</b></span></p>\n";
  out +=
      "<h2>Dependencies</h2>\n<table><thead><tr><th>check</th><th>state</th><th>detail</th></tr></"
      "thead><tbody id=\"checks\">";
  for (const auto& cv : s.at("checks").as_array()) {
    const auto& c = cv.as_object();
    bool ok = c.at("ok").as_bool();
    out += "<tr><td>" + html_escape(str(c.at("name"))) + "</td><td class=\"" + (ok ? "ok" : "bad") +
           "\">" + (ok ? "OK" : "FAILING") + "</td><td>" + html_escape(str(c.at("detail"))) +
           "</td></tr>";
  }
  out +=
      "</tbody></table>\n<h2>Figures</h2>\n<table><thead><tr><th>figure</th><th>now (last 10 "
      "s)</th><th>total</th></tr></thead><tbody id=\"figures\">";
  for (const auto& fv : s.at("figures").as_array()) {
    const auto& f = fv.as_object();
    out += "<tr><td>" + html_escape(str(f.at("label"))) + "</td>";
    if (str(f.at("kind")) == "rate")
      out += "<td class=\"num\">" + fixed(f.at("rate").to_number<double>(), 2) +
             "</td><td class=\"num\">" + fixed(f.at("total").to_number<double>(), 0) + "</td></tr>";
    else
      out += "<td class=\"num\">" + fixed(f.at("value").to_number<double>(), 0) +
             "</td><td></td></tr>";
  }
  out += "</tbody></table>\n<h2>Last warnings and errors</h2>\n<ol id=\"errors\">";
  for (const auto& e : s.at("errors").as_array()) out += "<li>" + html_escape(str(e)) + "</li>";
  if (s.at("errors").as_array().empty()) out += "<li class=\"none\">(none)</li>";
  out += R"(</ol>
<h2>Last 15 minutes</h2>
<div id="charts" style="display:flex;flex-wrap:wrap;gap:1em"></div>
<p><a href="metrics">metrics</a> · <a href="readyz">readyz</a> · <a href="status.json">status.json</a></p>
<script>)";
  out += chart_script();
  out += R"(
(function(){
var n=0;
function $(id){return document.getElementById(id);}
function dur(s){s=Math.floor(s);var d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60);
return (d?d+'d ':'')+(d||h?h+'h ':'')+m+'m '+(s%60)+'s';}
function row(cells){var tr=document.createElement('tr');cells.forEach(function(c){var td=document.createElement('td');
td.textContent=c[0];if(c[1])td.className=c[1];tr.appendChild(td);});return tr;}
function fill(id,rows){var t=$(id);while(t.firstChild)t.removeChild(t.firstChild);rows.forEach(function(r){t.appendChild(r);});}
function render(s){
$('service').textContent=s.service;$('version').textContent=s.version;$('uptime').textContent=dur(s.uptime_seconds);
$('ready').textContent=s.ready?'READY':'NOT READY';$('ready').className=s.ready?'ok':'bad';
fill('checks',s.checks.map(function(c){return row([[c.name],[c.ok?'OK':'FAILING',c.ok?'ok':'bad'],[c.detail]]);}));
fill('figures',s.figures.map(function(f){return f.kind==='rate'?row([[f.label],[f.rate.toFixed(2),'num'],[f.total.toFixed(0),'num']])
:row([[f.label],[f.value.toFixed(0),'num'],['']]);}));
var ol=$('errors');while(ol.firstChild)ol.removeChild(ol.firstChild);
s.errors.forEach(function(e){var li=document.createElement('li');li.textContent=e;ol.appendChild(li);});
if(!s.errors.length){var n=document.createElement('li');n.className='none';n.textContent='(none)';ol.appendChild(n);}
charts(s.figures);}
function charts(figs){var box=$('charts');figs.forEach(function(f,i){var id='chart-'+i,svg=$(id);
if(!svg){var d=document.createElement('div');d.style.cssText='background:#fff;border:1px solid #ddd;padding:.3em';
var b=document.createElement('b');b.style.cssText='display:block;font-size:12px';b.textContent=f.label;d.appendChild(b);
svg=document.createElementNS('http://www.w3.org/2000/svg','svg');svg.id=id;svg.setAttribute('width',300);svg.setAttribute('height',100);
svg.setAttribute('class','chart');d.appendChild(svg);box.appendChild(d);}
RelaisCharts.push(f.label,f.kind==='rate'?f.rate:f.value);RelaisCharts.draw(svg,[{name:f.label,key:f.label}],'');});}
function tick(){fetch('status.json',{cache:'no-store'}).then(function(r){return r.json();}).then(function(s){
n++;render(s);$('refreshes').textContent=n;$('conn').textContent='live, '+new Date().toLocaleTimeString();})
.catch(function(){$('conn').textContent='service unreachable';});}
tick();setInterval(tick,2000);
})();
</script>
</body></html>
)";
  return out;
}
}  // namespace

double RateTracker::rate(const std::string& key, double value, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto& q = samples_[key];
  // Keep one sample per 250 ms at most: frequent callers cannot grow the queue.
  if (q.empty() || now - q.back().at >= std::chrono::milliseconds(250)) q.push_back({now, value});
  // Drop samples while the next one is already old enough to serve as the reference.
  while (q.size() >= 2 && q[1].at <= now - window_) q.pop_front();
  Sample ref = q.front();
  if (ref.at >= now || (q.size() == 1 && q.front().at == now)) ref = {start_, 0.0};
  double dt = std::chrono::duration<double>(now - ref.at).count();
  if (dt <= 0 || value < ref.value) return 0.0;
  return (value - ref.value) / dt;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
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
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

void add_status_routes(http::Router& r, metrics::Registry& m, std::string service, Checks checks,
                       std::vector<Figure> figures) {
  auto st = std::make_shared<StatusState>();
  st->service = std::move(service);
  st->checks = std::move(checks);
  st->figures = std::move(figures);
  st->registry = &m;
  r.add(http::verb::get, "/", [st](http::Request&) -> boost::asio::awaitable<http::Response> {
    http::Response resp;
    resp.content_type = "text/html; charset=utf-8";
    resp.body = render_page(snapshot(*st));
    resp.headers.emplace_back("Cache-Control", "no-store");
    co_return resp;
  });
  r.add(http::verb::get, "/status.json",
        [st](http::Request&) -> boost::asio::awaitable<http::Response> {
          http::Response resp;
          resp.body = boost::json::serialize(snapshot(*st));
          resp.headers.emplace_back("Cache-Control", "no-store");
          co_return resp;
        });
}

void add_openapi_route(http::Router& r, std::string_view document) {
  r.add(http::verb::get, "/openapi.yaml",
        [document](http::Request&) -> boost::asio::awaitable<http::Response> {
          http::Response resp;
          resp.content_type = "application/yaml";
          resp.body = std::string(document);
          co_return resp;
        });
}

void add_events_routes(http::Router& r, std::string_view html, std::string_view yaml) {
  auto serve = [](std::string_view body, const char* type) {
    return [body, type](http::Request&) -> boost::asio::awaitable<http::Response> {
      http::Response resp;
      resp.content_type = type;
      resp.body = std::string(body);
      co_return resp;
    };
  };
  r.add(http::verb::get, "/docs/events", serve(html, "text/html; charset=utf-8"));
  r.add(http::verb::get, "/docs/events/relais.yaml", serve(yaml, "application/yaml"));
}

}  // namespace relais::service
