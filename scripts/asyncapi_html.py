#!/usr/bin/env python3
"""Renders the event contract docs/asyncapi/relais.yaml (AsyncAPI 3) as one self-contained HTML
page: no script, no stylesheet or font from elsewhere, so relais-api serves it at /docs/events
without anything fetched at run time. Run at build time (CMake embeds the page in relais-api);
the AsyncAPI generator's HTML template is not used because it downloads its template from npm
when it runs, which a build must not need.

    scripts/asyncapi_html.py [IN.yaml] OUT.html

Everything from the document is HTML-escaped. Sections: the info text, servers, channels (with
their messages), operations, messages (key, headers, payload), and every payload schema (fields
with their protobuf numbers, enums with their values)."""

from __future__ import annotations

import html
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "asyncapi" / "relais.yaml"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;background:#fafbfc}
main{max-width:70rem;margin:0 auto;padding:1.5rem 2rem 4rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #d8dee6;padding-bottom:.3rem;margin-top:2.5rem}
h3{margin:1.6rem 0 .4rem}code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;background:#fff}
th,td{border:1px solid #d8dee6;padding:.35rem .55rem;text-align:left;vertical-align:top}
th{background:#eef2f6}.tag{display:inline-block;padding:0 .4rem;border-radius:.3rem;background:#e3ecf7;
font-size:.85em;margin-right:.3rem}.req{color:#b3261e;font-weight:600}nav a{margin-right:1rem}
p.desc{white-space:pre-wrap}
"""


def esc(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def anchor(kind: str, name: str) -> str:
    return esc(f"{kind}-{name}")


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(s: dict) -> str:
    if "$ref" in s:
        n = ref_name(s["$ref"])
        return f'<a href="#{anchor("schema", n)}">{esc(n)}</a>'
    if "allOf" in s and s["allOf"]:
        return type_of(s["allOf"][0])
    if s.get("type") == "array":
        return "array of " + type_of(s.get("items", {}))
    if s.get("type") == "object" and "additionalProperties" in s:
        return "map to " + type_of(s["additionalProperties"] if isinstance(s["additionalProperties"], dict) else {})
    t = esc(s.get("type", ""))
    if s.get("format"):
        t += f" ({esc(s['format'])})"
    if s.get("enum"):
        t += " one of " + ", ".join(f"<code>{esc(v)}</code>" for v in s["enum"])
    return t


def desc(text) -> str:
    return f'<p class="desc">{esc(text)}</p>' if text else ""


def render(doc: dict) -> str:
    info = doc.get("info", {})
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(info.get('title'))} {esc(info.get('version'))}</title>",
           f"<style>{STYLE}</style></head><body><main>",
           f"<h1>{esc(info.get('title'))}</h1>",
           f"<p><span class=\"tag\">AsyncAPI {esc(doc.get('asyncapi'))}</span>"
           f"<span class=\"tag\">version {esc(info.get('version'))}</span>"
           f"<span class=\"tag\">default content type {esc(doc.get('defaultContentType'))}</span>"
           ' <a href="/docs/events/relais.yaml">relais.yaml</a></p>',
           '<nav><a href="#servers">Servers</a><a href="#channels">Channels</a><a href="#operations">Operations</a>'
           '<a href="#messages">Messages</a><a href="#schemas">Schemas</a></nav>']
    for para in str(info.get("description", "")).split("\n\n"):
        out.append(desc(para))

    out.append('<h2 id="servers">Servers</h2><table><tr><th>name</th><th>host</th><th>protocol</th>'
               "<th>description</th></tr>")
    for name, s in doc.get("servers", {}).items():
        variables = "".join(f"<br><code>{esc(k)}</code> default <code>{esc(v.get('default'))}</code>: "
                            f"{esc(v.get('description'))}" for k, v in s.get("variables", {}).items())
        out.append(f"<tr><td>{esc(name)}</td><td><code>{esc(s.get('host'))}</code>{variables}</td>"
                   f"<td>{esc(s.get('protocol'))}</td><td>{esc(s.get('description'))}</td></tr>")
    out.append("</table>")

    out.append('<h2 id="channels">Channels</h2>')
    for name, ch in doc.get("channels", {}).items():
        out.append(f'<h3 id="{anchor("channel", name)}"><code>{esc(ch.get("address"))}</code> '
                   f'<small>{esc(ch.get("title"))}</small></h3>')
        out.append(desc(ch.get("description")))
        for p, spec in ch.get("parameters", {}).items():
            out.append(f"<p>parameter <code>{{{esc(p)}}}</code>: {esc(spec.get('description'))}</p>")
        msgs = [ref_name(m.get("$ref", k)) for k, m in ch.get("messages", {}).items()]
        out.append("<p>messages: " + ", ".join(f'<a href="#{anchor("message", m)}">{esc(m)}</a>' for m in msgs)
                   + "</p>")

    out.append('<h2 id="operations">Operations</h2><table><tr><th>operation</th><th>action</th><th>channel</th>'
               "<th>summary</th></tr>")
    for name, op in doc.get("operations", {}).items():
        ch = ref_name(op.get("channel", {}).get("$ref", ""))
        address = doc.get("channels", {}).get(ch, {}).get("address", ch)
        out.append(f"<tr><td>{esc(name)}</td><td>{esc(op.get('action'))}</td>"
                   f'<td><a href="#{anchor("channel", ch)}"><code>{esc(address)}</code></a></td>'
                   f"<td>{esc(op.get('summary'))}</td></tr>")
    out.append("</table>")

    out.append('<h2 id="messages">Messages</h2>')
    for name, m in doc.get("components", {}).get("messages", {}).items():
        out.append(f'<h3 id="{anchor("message", name)}">{esc(name)} <small>{esc(m.get("title"))}</small></h3>')
        payload = m.get("payload", {})
        out.append(f"<p>content type <code>{esc(m.get('contentType'))}</code>; payload {type_of(payload)}</p>")
        key = m.get("bindings", {}).get("kafka", {}).get("key")
        if key:
            out.append(f"<p>Kafka key: {type_of(key)} {esc(key.get('description'))}"
                       + (f" (pattern <code>{esc(key['pattern'])}</code>)" if key.get("pattern") else "") + "</p>")
        headers = m.get("headers", {})
        required = set(headers.get("required", []))
        out.append("<table><tr><th>header</th><th>type</th><th>description</th></tr>")
        for h, spec in headers.get("properties", {}).items():
            req = ' <span class="req">required</span>' if h in required else ""
            out.append(f"<tr><td><code>{esc(h)}</code>{req}</td><td>{type_of(spec)}</td>"
                       f"<td>{esc(spec.get('description'))}</td></tr>")
        out.append("</table>")

    out.append('<h2 id="schemas">Schemas</h2>')
    for name, s in doc.get("components", {}).get("schemas", {}).items():
        out.append(f'<h3 id="{anchor("schema", name)}"><code>{esc(name)}</code></h3>')
        out.append(desc(s.get("description")))
        if "x-protobuf-values" in s:
            out.append("<table><tr><th>value</th><th>number</th></tr>")
            for v, n in s["x-protobuf-values"].items():
                out.append(f"<tr><td><code>{esc(v)}</code></td><td>{esc(n)}</td></tr>")
            out.append("</table>")
            continue
        props = s.get("properties", {})
        if props:
            out.append("<table><tr><th>field</th><th>number</th><th>type</th><th>description</th></tr>")
            for f, spec in props.items():
                out.append(f"<tr><td><code>{esc(f)}</code></td><td>{esc(spec.get('x-protobuf-field-number'))}</td>"
                           f"<td>{type_of(spec)}</td><td>{esc(spec.get('description'))}</td></tr>")
            out.append("</table>")
    out.append("<p><small>Rendered from docs/asyncapi/relais.yaml by scripts/asyncapi_html.py.</small></p>")
    out.append("</main></body></html>\n")
    return "\n".join(x for x in out if x)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = (Path(argv[1]), Path(argv[2])) if len(argv) == 3 else (DOC, Path(argv[1]))
    text = render(yaml.safe_load(src.read_text()))
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
