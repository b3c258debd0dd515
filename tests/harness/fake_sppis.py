#!/usr/bin/env python3
"""A fake SPP IS PCSAAAlertReaction endpoint for tests: upstream_standin.py behind mutual TLS.

Python standard library only, no Relais code. What it adds to the stand-in, to behave like the
real service as far as its behaviour is known (docs/clignotants.md "Transport"):

  - TLS with a server certificate (--cert/--key, from the test CA) on the reaction port;
  - a client certificate is REQUIRED and verified against --client-ca: a client without one, or
    with one from another CA, fails the handshake (counted in /_stats as handshake_failures);
    a verified certificate whose subject CN is not in --allowed-clients gets 403
    CLIENT_NOT_ALLOWED (counted as refused_client) and nothing is recorded;
  - a key already received is answered 409 {"code": "ALREADY_RECEIVED"} (SPP IS's "already
    received"), the first time 201;
  - slow ("delay_ms"), failing ("fail_rate", "status", "mode": "fail"), unreachable
    ("down": true, or "down_for_s": N for a window) through the control API of upstream_standin.py;
  - GET /_counts {"counts": {idempotency key: times received}} on the control port (plain HTTP on
    127.0.0.1, always up).

Prints "PORT <n> CONTROL <m>" when ready.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import upstream_standin as base  # noqa: E402
from tls_handshake import HandshakeInConnectionThread, peer_cn  # noqa: E402


class Handler(base.Handler):
    server_version = "fake-sppis/1"
    duplicate_status = 409
    allowed: frozenset[str] = frozenset()

    def refusal(self):
        cn = peer_cn(self.connection)
        if not cn:
            return 403, {"code": "CLIENT_CERTIFICATE_REQUIRED"}
        if self.allowed and cn not in self.allowed:
            return 403, {"code": "CLIENT_NOT_ALLOWED", "message": f"client {cn!r} is not allowed"}
        return None


class TlsServer(HandshakeInConnectionThread, base.Server):
    """The handshake runs in the connection's own thread (tls_handshake.py)."""

    def handshake_failed(self) -> None:
        with base.STATE.lock:
            base.STATE.stats["handshake_failures"] = base.STATE.stats.get("handshake_failures", 0) + 1

    def shutdown_request(self, request):
        try:
            request.close()
        except OSError:
            pass


class FakeSppIs(base.StandIn):
    handler = Handler
    server_class = TlsServer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0, help="reaction port, TLS (0 = any free port)")
    ap.add_argument("--control-port", type=int, default=0, help="control port, plain HTTP (0 = any free port)")
    ap.add_argument("--cert", required=True, help="server certificate (PEM)")
    ap.add_argument("--key", required=True, help="server key (PEM)")
    ap.add_argument("--client-ca", required=True, help="CA(s) a client certificate must chain to (PEM)")
    ap.add_argument("--allowed-clients", default="", help="comma-separated subject CNs accepted (empty = any)")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    TlsServer.context = ctx
    Handler.allowed = frozenset(n for n in args.allowed_clients.split(",") if n)
    return base.run_forever(FakeSppIs(args.port, args.control_port))


if __name__ == "__main__":
    sys.exit(main())
