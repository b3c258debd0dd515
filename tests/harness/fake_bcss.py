#!/usr/bin/env python3
"""A fake BCSS ManageAccess endpoint (OCMWCPASManageAccess 20050930), for tests only.

Python standard library only (and tls_handshake.py beside it), no Relais code. It answers a SOAP 1.1 envelope holding an
SSDNRequest with one ManageAccessRequest the way BCSS's public schemas describe
(../shared/docs/bcss-schemas.md §2-3): an SSDNReply whose ReplyContext and ServiceReply carry a
ResultSummary, and a ManageAccessReply echoing the request plus the overlapping registrations.
It keeps its own register of (OrgUnit, SSIN, Purpose, StartDate) → EndDate.

  POST /ManageAccess      (any path not starting with /_)
      REGISTER    new line: ok="YES"; the same line again: ok="WARNING", ReturnCode 1,
                  Detail WARNING ReasonCode DUPLICATE_REGISTRATION (a duplicate), the line kept once
      UNREGISTER  the lines of (OrgUnit, SSIN, Purpose) active on StartDate end the day before;
                  the same UNREGISTER again: ok="WARNING", ReasonCode ALREADY_UNREGISTERED;
                  none at all: ok="NO", ReturnCode 10000, ReasonCode NOT_REGISTERED
      LIST        every registration of the SSIN overlapping the Period (every OrgUnit)
  POST /_control  JSON, every key optional:
      {"mode": "accept" | "refuse" | "fault",  refuse = ok="NO" ReasonCode REFUSED_BY_BCSS with
                                                Diagnostic; fault = HTTP 500 SOAP Fault
       "delay_ms": 3000,   process the request, then wait before answering (a caller with a shorter
                           timeout gives up although BCSS recorded it: its retry is a duplicate)
       "clear": true}      forget the register and what was received
  GET  /_received         {"received": [{"org_unit", "action", "ssin", "purpose", "answered",
                           "client_cn"}...], "handshake_failures": n}; client_cn is the subject CN
                           of the caller's verified client certificate ("" over plain HTTP)
  GET  /_registrations    {"registrations": [{"org_unit", "ssin", "purpose", "start", "end"}...]}
  GET  /_health           200

Options: --port (0: any), --tls-cert/--tls-key (serve HTTPS; the handshake runs in the
connection's thread, a failed one is counted in handshake_failures), --tls-client-ca FILE (HTTPS
only: a client certificate from that CA is required, as BCSS authenticates the data centre by
its certificate; no certificate or another CA's fails the handshake), --control-port N (also
serve every path, /_control, /_received and /_registrations included, over plain HTTP on
127.0.0.1:N, 0 = any free port: the tests' way in when the main port requires a client
certificate). Prints "PORT <n>" when ready, "PORT <n> CONTROL <m>" with --control-port.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tls_handshake import HandshakeInConnectionThread, peer_cn  # noqa: E402

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SVC = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service"
COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
MA = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mode = "accept"
        self.delay_ms = 0
        self.register: dict[tuple[str, str, int, str], str] = {}  # (org, ssin, purpose, start) -> end ("" open)
        self.received: list[dict] = []
        self.handshake_failures = 0


STATE = State()


def t(node, path: str) -> str:
    n = node.find(path, {"s": SVC, "c": COMMON, "m": MA})
    return (n.text or "").strip() if n is not None else ""


def day(s: str) -> date:
    return date.fromisoformat(s[:10])


def overlaps(start: str, end: str, p_start: str, p_end: str) -> bool:
    if end and day(end) < day(start):
        return False
    return (not p_end or day(start) <= day(p_end)) and (not end or day(p_start) <= day(end))


def summary(ok: str, code: int, severity: str = "", reason: str = "", diagnostic: str = "") -> str:
    out = f'<ResultSummary xmlns="{COMMON}" ok="{ok}"><ReturnCode>{code}</ReturnCode>'
    if reason:
        out += (f"<Detail><Severity>{severity}</Severity><ReasonCode>{escape(reason)}</ReasonCode>"
                f"<Diagnostic>{escape(diagnostic)}</Diagnostic></Detail>")
    return out + "</ResultSummary>"


def period(start: str, end: str) -> str:
    out = f"<Period><c:StartDate>{start}</c:StartDate>"
    if end:
        out += f"<c:EndDate>{end}</c:EndDate>"
    return out + "</Period>"


def handle_request(body: bytes, client_cn: str = "") -> tuple[int, str, dict]:
    root = ET.fromstring(body)
    req = root.find(f"{{{SOAP}}}Body/{{{SVC}}}SSDNRequest")
    if req is None:
        return 500, fault("Client", "expected an SSDNRequest"), {}
    user = req.find(f"{{{SVC}}}RequestContext/{{{SVC}}}AuthorizedUser")
    org = t(user, "s:OrgUnit")
    ma = req.find(f"{{{SVC}}}ServiceRequest/{{{MA}}}ManageAccessRequest")
    if ma is None:
        return 500, fault("Client", "no ManageAccessRequest"), {}
    ssin, action = t(ma, "m:SSIN"), t(ma, "m:Action")
    purpose = int(t(ma, "m:Purpose") or 0)
    p_start, p_end = t(ma, "m:Period/c:StartDate")[:10], t(ma, "m:Period/c:EndDate")[:10]
    qreg = t(ma, "m:QueryRegister")
    seen = {"org_unit": org, "action": action, "ssin": ssin, "purpose": purpose, "start": p_start, "end": p_end,
            "client_cn": client_cn}
    ok, code, sev, reason, diag = "YES", 0, "", "", ""
    regs: list[tuple] = []
    with STATE.lock:
        if STATE.mode == "fault":
            return 500, fault("Server", "service unavailable"), seen
        if STATE.mode == "refuse":
            ok, code, sev, reason, diag = "NO", 10000, "ERROR", "REFUSED_BY_BCSS", "the proof of authentication does not match"
        elif action == "REGISTER":
            key = (org, ssin, purpose, p_start)
            if key in STATE.register and STATE.register[key] == p_end:
                ok, code, sev, reason, diag = "WARNING", 1, "WARNING", "DUPLICATE_REGISTRATION", "already registered"
            STATE.register[key] = p_end
            regs = [(k[2], k[3], e, k[0]) for k, e in STATE.register.items()
                    if k[1] == ssin and overlaps(k[3], e, p_start, p_end)]
        elif action == "UNREGISTER":
            closed = 0
            for k, e in list(STATE.register.items()):
                if k[0] == org and k[1] == ssin and k[2] == purpose and (not e or day(e) >= day(p_start)):
                    STATE.register[k] = (day(p_start) - timedelta(days=1)).isoformat() \
                        if day(k[3]) < day(p_start) else (day(k[3]) - timedelta(days=1)).isoformat()
                    regs.append((k[2], k[3], STATE.register[k], k[0]))
                    closed += 1
            done_before = [(k[2], k[3], e, k[0]) for k, e in STATE.register.items()
                           if k[0] == org and k[1] == ssin and k[2] == purpose and e and
                           day(e) == (day(p_start) if day(k[3]) < day(p_start) else day(k[3])) - timedelta(days=1)]
            if not closed and done_before:  # the same UNREGISTER again: a warning, nothing changes
                ok, code, sev, reason, diag = "WARNING", 1, "WARNING", "ALREADY_UNREGISTERED", "already unregistered"
                regs = done_before
            elif not closed:
                ok, code, sev, reason, diag = "NO", 10000, "ERROR", "NOT_REGISTERED", "no such registration"
        else:  # LIST
            regs = [(k[2], k[3], e, k[0]) for k, e in STATE.register.items()
                    if k[1] == ssin and overlaps(k[3], e, p_start, p_end) and (not purpose or k[2] == purpose)]
        seen["answered"] = ok
        STATE.received.append(seen)
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    rs = summary(ok, code, sev, reason, diag)
    user_xml = ET.tostring(user, encoding="unicode") if user is not None else ""
    reply = ""
    if ok != "NO":
        reply = (f'<ManageAccessReply xmlns="{MA}" xmlns:c="{COMMON}"><OriginalRequest><SSIN>{ssin}</SSIN>'
                 f"<Purpose>{purpose}</Purpose>{period(p_start, p_end)}<Action>{action}</Action>"
                 + (f"<Register>{qreg}</Register>" if qreg else "") + "</OriginalRequest>"
                 + "".join(f"<Registrations><Purpose>{p}</Purpose>{period(s, e)}<OrgUnit>{escape(o)}</OrgUnit>"
                           "<Register>PRIMARY</Register></Registrations>" for p, s, e, o in regs)
                 + "</ManageAccessReply>")
    out = (f'<SSDNReply xmlns="{SVC}"><ReplyContext>{rs}{user_xml}<Message><Ticket>{uuid.uuid4()}</Ticket>'
           f"<TimeReceive>{now}</TimeReceive><TimeResponse>{now}</TimeResponse></Message></ReplyContext>"
           f"<ServiceReply>{rs}<ServiceId>OCMWCPASManageAccess</ServiceId><Version>20050930</Version>{reply}"
           "</ServiceReply></SSDNReply>")
    return 200, envelope(out), seen


def envelope(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


def fault(code: str, text: str) -> str:
    return envelope(f"<soapenv:Fault><faultcode>soapenv:{code}</faultcode><faultstring>{escape(text)}</faultstring>"
                    "</soapenv:Fault>")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        with STATE.lock:
            if self.path == "/_received":
                return self._send(200, json.dumps({"received": STATE.received,
                                                   "handshake_failures": STATE.handshake_failures}))
            if self.path == "/_registrations":
                return self._send(200, json.dumps({"registrations": [
                    {"org_unit": k[0], "ssin": k[1], "purpose": k[2], "start": k[3], "end": e or None}
                    for k, e in sorted(STATE.register.items())]}))
        if self.path == "/_health":
            return self._send(200, "{}")
        self._send(404, "{}")

    def do_POST(self):
        body = self._body()
        if self.path == "/_control":
            c = json.loads(body or b"{}")
            with STATE.lock:
                STATE.mode = c.get("mode", STATE.mode)
                STATE.delay_ms = int(c.get("delay_ms", STATE.delay_ms))
                if c.get("clear"):
                    STATE.register.clear()
                    STATE.received.clear()
                out = {"mode": STATE.mode, "delay_ms": STATE.delay_ms}
            return self._send(200, json.dumps(out))
        try:
            status, reply, _ = handle_request(body, peer_cn(self.connection))
        except ET.ParseError as e:
            status, reply = 500, fault("Client", f"not XML: {e}")
        with STATE.lock:
            delay = STATE.delay_ms
        if delay:
            time.sleep(delay / 1000)
        try:
            self._send(status, reply, "text/xml; charset=utf-8")
        except OSError:
            pass  # the caller gave up (timeout)


class TlsServer(HandshakeInConnectionThread, ThreadingHTTPServer):
    """HTTPS, the handshake in the connection's own thread (tls_handshake.py)."""
    daemon_threads = True

    def handshake_failed(self) -> None:
        with STATE.lock:
            STATE.handshake_failures += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require a client certificate from this CA (PEM)")
    ap.add_argument("--control-port", type=int, help="also serve over plain HTTP on this port (0 = any)")
    a = ap.parse_args()
    if a.tls_client_ca and not a.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert/--tls-key")
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls_client_ca:
            ctx.load_verify_locations(a.tls_client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        TlsServer.context = ctx
        srv = TlsServer(("127.0.0.1", a.port), Handler)
    else:
        srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
        srv.daemon_threads = True
    ready = f"PORT {srv.server_address[1]}"
    if a.control_port is not None:
        ctl = ThreadingHTTPServer(("127.0.0.1", a.control_port), Handler)
        ctl.daemon_threads = True
        threading.Thread(target=ctl.serve_forever, daemon=True).start()
        ready += f" CONTROL {ctl.server_address[1]}"
    print(ready, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
