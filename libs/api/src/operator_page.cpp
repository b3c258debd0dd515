// GET /ops/cpas: the operator's table of every CPAS. The page holds no data: its script asks for
// the operator token (kept in the tab's sessionStorage only; "#token=…" in the address is taken
// and removed from it), reads GET /v1/ops/cpas with it every `refresh` seconds (default 10, from
// the query string "?refresh=N") and writes text only (textContent). Charts: the last 15 minutes
// kept by the page (service::chart_script).
#include <string>

#include "relais/api/operator_view.hpp"
#include "relais/service/status.hpp"

namespace relais::api {
namespace {

constexpr std::string_view kHead = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Relais: every CPAS</title>
<style>
body{font:13px/1.35 system-ui,sans-serif;margin:1em 1.5em;color:#222;background:#fafafa}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em;color:#444}
.meta span{margin-right:1.2em}#conn{color:#666}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.critical{background:#c62828;color:#fff;font-weight:bold}.warning{background:#f9a825;font-weight:bold}
.ok{background:#2e7d32;color:#fff}td.app{font-size:12px;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{background:#fff;border:1px solid #ddd;padding:.3em}
.chart b{display:block;font-size:12px}.legend{font-size:11px;max-width:360px}
#login{background:#fff3e0;border:1px solid #ffb74d;padding:.6em;margin:.6em 0}
#detail{background:#fff;border:1px solid #90caf9;padding:.6em;margin:.6em 0}.hidden{display:none}
input[type=search]{width:22em}
</style></head><body>
<h1>Relais: every CPAS</h1>
<p class="meta"><span><b id="n-cpas">-</b> CPAS</span><span class="critical" id="n-critical">-</span>
<span class="warning" id="n-warning">-</span><span>subscriber health pass <b id="pass">-</b></span>
<span id="conn">not loaded</span> <span>refreshes: <b id="refreshes">0</b></span></p>
<div id="login" class="hidden"><form id="login-form">Operator token:
<input type="password" id="token" autocomplete="off" size="40"> <button>Show</button>
<span id="login-error"></span></form></div>
<div class="charts">
<div class="chart"><b>Records waiting, all CPAS applications</b><svg id="chart-lag" width="360" height="120"></svg></div>
<div class="chart"><b>CPAS critical / warning</b><svg id="chart-sev" width="360" height="120"></svg>
<div class="legend" id="legend-sev"></div></div>
<div class="chart"><b>Routed in the last hour, all CPAS</b><svg id="chart-routed" width="360" height="120"></svg></div>
</div>
<div id="detail" class="hidden"><h2>CPAS <span id="d-cbe"></span> <span id="d-name"></span>
<a href="#" id="d-close">(close)</a></h2>
<div class="charts"><div class="chart"><b>Records waiting per application</b>
<svg id="chart-d-lag" width="360" height="120"></svg><div class="legend" id="legend-d-lag"></div></div>
<div class="chart"><b>Oldest unread record per application</b>
<svg id="chart-d-age" width="360" height="120"></svg><div class="legend" id="legend-d-age"></div></div></div>
<table><thead><tr><th>application</th><th>state</th><th>members</th><th>waiting</th><th>oldest unread</th>
<th>retention left</th><th>last commit</th><th>lost</th></tr></thead><tbody id="d-apps"></tbody></table></div>
<p><input type="search" id="filter" placeholder="filter: CBE, name or application">
<label><input type="checkbox" id="problems"> only CPAS with a problem</label> <span id="shown"></span></p>
<table><thead><tr><th></th><th>CBE</th><th>name</th><th>persons</th><th>routed 1 h</th><th>routed 24 h</th>
<th>last delivery</th><th>applications: waiting / retention left</th><th>dead letters 24 h</th>
<th>open clignotants</th></tr></thead><tbody id="rows"></tbody></table>
<script>
)HTML";

constexpr std::string_view kScript = R"JS(
(function(){
var $=function(id){return document.getElementById(id);};
var q=new URLSearchParams(location.search),REFRESH=Math.max(1,+(q.get('refresh')||10))*1000;
var n=0,data=null,selected=null,timer=null;
var m=/(?:^#|&)token=([^&]+)/.exec(location.hash);
if(m){sessionStorage.setItem('relais-operator-token',decodeURIComponent(m[1]));
history.replaceState(null,'',location.pathname+location.search);}
function token(){return sessionStorage.getItem('relais-operator-token');}
function dur(s){if(s===null||s===undefined)return '';var neg=s<0;s=Math.abs(Math.round(s));
var d=Math.floor(s/86400),h=Math.floor(s%86400/3600),mi=Math.floor(s%3600/60);
return (neg?'-':'')+(d?d+'d '+h+'h':h?h+'h '+mi+'m':mi?mi+'m '+(s%60)+'s':s+'s');}
function td(text,cls){var c=document.createElement('td');c.textContent=text;if(cls)c.className=cls;return c;}
function clear(e){while(e.firstChild)e.removeChild(e.firstChild);}
function appText(a){return a.application+': '+a.lag_records+(a.retention_left_s!==null?' / '+dur(a.retention_left_s):'')
+(a.has_members?'':' (no member)');}
function matches(c,f,onlyProblems){if(onlyProblems&&c.severity==='ok')return false;if(!f)return true;
if(c.cbe.indexOf(f)>=0||c.name.toLowerCase().indexOf(f)>=0)return true;
return c.applications.some(function(a){return a.application.toLowerCase().indexOf(f)>=0;});}
function renderRows(){if(!data)return;var f=$('filter').value.trim().toLowerCase(),p=$('problems').checked;
var body=$('rows'),frag=document.createDocumentFragment(),shown=0;
data.cpas.forEach(function(c){if(!matches(c,f,p))return;shown++;var tr=document.createElement('tr');
tr.appendChild(td(c.severity.toUpperCase(),c.severity));var cell=document.createElement('td');var a=document.createElement('a');
a.href='#cpas='+c.cbe;a.textContent=c.cbe;cell.appendChild(a);tr.appendChild(cell);tr.appendChild(td(c.name));
tr.appendChild(td(c.persons,'num'));tr.appendChild(td(c.routed_1h,'num'));tr.appendChild(td(c.routed_24h,'num'));
tr.appendChild(td(c.last_delivery_age_s===null?'never':dur(c.last_delivery_age_s)+' ago'));
tr.appendChild(td(c.applications.length?c.applications.map(appText).join('\n'):'(none)','app'));
tr.lastChild.style.whiteSpace='pre';
tr.appendChild(td(c.dead_letters_24h,'num'));tr.appendChild(td(c.open_alerts,'num'));frag.appendChild(tr);});
clear(body);body.appendChild(frag);$('shown').textContent=shown+' shown';}
function renderDetail(){var d=$('detail');var c=data&&selected&&data.cpas.find(function(x){return x.cbe===selected;});
if(!c){d.className='hidden';return;}d.className='';$('d-cbe').textContent=c.cbe;$('d-name').textContent=c.name;
var body=$('d-apps');clear(body);c.applications.forEach(function(a){var tr=document.createElement('tr');
tr.appendChild(td(a.application,a.severity));tr.appendChild(td(a.state));tr.appendChild(td(a.has_members?'yes':'no'));
tr.appendChild(td(a.lag_records,'num'));tr.appendChild(td(dur(a.oldest_unread_age_s),'num'));
tr.appendChild(td(a.retention_left_s===null?'-':dur(a.retention_left_s),'num'));
tr.appendChild(td(dur(a.last_commit_age_s)+' ago','num'));tr.appendChild(td(a.lost_records,'num'));body.appendChild(tr);});
var lines=c.applications.map(function(a){return {name:a.application,key:'lag:'+c.cbe+':'+a.application};});
var ages=c.applications.map(function(a){return {name:a.application,key:'age:'+c.cbe+':'+a.application};});
RelaisCharts.draw($('chart-d-lag'),lines,'');RelaisCharts.legend($('legend-d-lag'),lines);
RelaisCharts.draw($('chart-d-age'),ages,'s');RelaisCharts.legend($('legend-d-age'),ages);}
function record(s){var t=Date.now(),lag=0,routed=0;s.cpas.forEach(function(c){lag+=c.lag_records;routed+=c.routed_1h;
c.applications.forEach(function(a){RelaisCharts.push('lag:'+c.cbe+':'+a.application,a.lag_records,t);
RelaisCharts.push('age:'+c.cbe+':'+a.application,a.oldest_unread_age_s===null?0:a.oldest_unread_age_s,t);});});
RelaisCharts.push('lag',lag,t);RelaisCharts.push('routed',routed,t);
RelaisCharts.push('critical',s.summary.critical,t);RelaisCharts.push('warning',s.summary.warning,t);}
function render(s){data=s;$('n-cpas').textContent=s.summary.cpas;$('n-critical').textContent=s.summary.critical+' critical';
$('n-warning').textContent=s.summary.warning+' warning';var h=s.subscriber_health;
$('pass').textContent=h.finished_age_s===null?'not run yet':dur(h.finished_age_s)+' ago, '+h.seconds.toFixed(2)+' s, '
+h.requests+' Kafka requests'+(h.error?' ('+h.error+')':'');record(s);
RelaisCharts.draw($('chart-lag'),[{name:'waiting',key:'lag'}],'');
var sev=[{name:'critical',key:'critical',color:'#c62828'},{name:'warning',key:'warning',color:'#f9a825'}];
RelaisCharts.draw($('chart-sev'),sev,'');RelaisCharts.legend($('legend-sev'),sev);
RelaisCharts.draw($('chart-routed'),[{name:'routed',key:'routed'}],'');renderRows();renderDetail();}
function ask(msg){$('login').className='';$('login-error').textContent=msg||'';}
function tick(){var tok=token();if(!tok){ask('');return;}
fetch('/v1/ops/cpas',{cache:'no-store',headers:{'Authorization':'Bearer '+tok}}).then(function(r){
if(r.status===401||r.status===403){sessionStorage.removeItem('relais-operator-token');ask('refused ('+r.status+')');throw 0;}
if(!r.ok)throw new Error('HTTP '+r.status);return r.json();}).then(function(s){var t0=performance.now();n++;render(s);
$('refreshes').textContent=n;$('conn').textContent='live, '+new Date().toLocaleTimeString();
document.body.setAttribute('data-render-ms',(performance.now()-t0).toFixed(1));
}).catch(function(e){if(e!==0)$('conn').textContent='relais-api unreachable';});}
function route(){var m=/cpas=([0-9]{10})/.exec(location.hash);selected=m?m[1]:null;renderDetail();}
$('login-form').addEventListener('submit',function(e){e.preventDefault();
sessionStorage.setItem('relais-operator-token',$('token').value.trim());$('token').value='';$('login').className='hidden';tick();});
$('filter').addEventListener('input',renderRows);$('problems').addEventListener('change',renderRows);
$('d-close').addEventListener('click',function(e){e.preventDefault();history.replaceState(null,'',location.pathname+location.search);route();});
window.addEventListener('hashchange',route);route();tick();timer=setInterval(tick,REFRESH);
})();
</script>
</body></html>
)JS";

}  // namespace

std::string_view cpas_page() {
  static const std::string page =
      std::string(kHead) + std::string(service::chart_script()) + std::string(kScript);
  return page;
}

}  // namespace relais::api
