// The live charts of the status pages and of relais-api's CPAS page: a few lines of script that
// keep the last 15 minutes of each series in the page and draw them as inline SVG. No library,
// no CDN, nothing fetched (docs/operations.md, "Charts").
#include "relais/service/status.hpp"

namespace relais::service {

std::string_view chart_script() {
  return R"JS(
var RelaisCharts=(function(){
var NS='http://www.w3.org/2000/svg',KEEP=15*60*1000,COLORS=['#1565c0','#c62828','#2e7d32','#ef6c00','#6a1b9a','#00838f','#5d4037','#ad1457'];
var hist={};
function push(key,v,t){var h=hist[key]||(hist[key]=[]);t=t||Date.now();if(typeof v!=='number'||!isFinite(v))v=null;
h.push([t,v]);while(h.length&&h[0][0]<t-KEEP)h.shift();return h;}
function series(key){return hist[key]||[];}
function el(n,a){var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);return e;}
function fmt(v,unit){if(unit==='s'){if(v>=86400)return (v/86400).toFixed(1)+'d';if(v>=3600)return (v/3600).toFixed(1)+'h';
if(v>=60)return (v/60).toFixed(0)+'m';return v.toFixed(0)+'s';}if(Math.abs(v)>=1000)return (v/1000).toFixed(1)+'k';
return Math.abs(v)<10&&v%1?v.toFixed(2):v.toFixed(0);}
// draw(svg, [{name, key, color?}], unit): one polyline per series over the history kept (1 to 15
// minutes), y from 0 to the max.
function draw(svg,lines,unit){var W=+svg.getAttribute('width')||360,H=+svg.getAttribute('height')||120,L=44,B=16,T=6,R=6;
while(svg.firstChild)svg.removeChild(svg.firstChild);var now=Date.now(),max=0,pts=0,first=now;
lines.forEach(function(l){series(l.key).forEach(function(p){first=Math.min(first,p[0]);if(p[1]!==null){max=Math.max(max,p[1]);pts++;}});});
// the window widens with the history kept: one minute at least, 15 at most
var span=Math.min(KEEP,Math.max(60000,now-first));
if(max<=0)max=1;svg.appendChild(el('rect',{x:L,y:T,width:W-L-R,height:H-T-B,fill:'#fff',stroke:'#ccc'}));
function x(t){return L+(W-L-R)*(1-(now-t)/span);}function y(v){return T+(H-T-B)*(1-v/max);}
[[max,T+8],[0,H-B]].forEach(function(a){var t=el('text',{x:L-4,y:a[1],'text-anchor':'end','font-size':10,fill:'#555'});
t.textContent=fmt(a[0],unit);svg.appendChild(t);});
var tl=el('text',{x:L,y:H-3,'font-size':10,fill:'#555'});tl.textContent='-'+Math.round(span/60000)+' min';svg.appendChild(tl);
var tr=el('text',{x:W-R,y:H-3,'font-size':10,fill:'#555','text-anchor':'end'});tr.textContent='now';svg.appendChild(tr);
lines.forEach(function(l,i){var d='',pen=false;series(l.key).forEach(function(p){if(p[1]===null){pen=false;return;}
d+=(pen?'L':'M')+x(p[0]).toFixed(1)+' '+y(p[1]).toFixed(1);pen=true;});
if(d)svg.appendChild(el('path',{d:d,fill:'none',stroke:l.color||COLORS[i%COLORS.length],'stroke-width':1.5,'class':'line'}));
var s=series(l.key);if(s.length&&s[s.length-1][1]!==null){var c=el('circle',{cx:x(s[s.length-1][0]),cy:y(s[s.length-1][1]),r:2.5,fill:l.color||COLORS[i%COLORS.length]});svg.appendChild(c);}});
svg.setAttribute('data-points',pts);return pts;}
function legend(div,lines){while(div.firstChild)div.removeChild(div.firstChild);lines.forEach(function(l,i){
var s=document.createElement('span');s.style.color=l.color||COLORS[i%COLORS.length];s.textContent='\u25A0 '+l.name+'  ';div.appendChild(s);});}
return {push:push,draw:draw,legend:legend,series:series};})();
)JS";
}

}  // namespace relais::service
