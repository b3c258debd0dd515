#!/usr/bin/env python3
"""A local stand-in for the PCSAAAlertReaction upstream, for tests and `make run`.

Python standard library only, no Relais code. It behaves like a real,
duplicate-tolerant service that can be told to misbehave:

  POST /pcsaa/alert-reactions   records (Idempotency-Key, body, time); answers
                                201 the first time a key is seen, 200 for a
                                repeated key (a duplicate: body {"duplicate": true}).
                                A request without Idempotency-Key gets 400.
  POST /_control                JSON, every key optional:
      {"mode": "ok" | "fail",   fail = answer 503 to every reaction
       "fail_rate": 0.5,        answer 503 to this fraction of reactions (random)
       "status": 503,           the failure status to answer (e.g. 500, 429, 422)
       "delay_ms": 2000,        wait before answering (slow upstream)
       "timeout": true,         accept and read the request, never answer (until turned off)
       "reset": true,           close every reaction connection abruptly (RST)
       "down": true,            close the listening socket: connection refused (false reopens it)
       "down_for_s": 20,        down now, and back by itself after that many seconds
       "clear": true}           forget what was received and the counters
  GET  /_received               {"received": [{"key", "body", "at", "status"}...]} (every request that was recorded)
  GET  /_counts                 {"counts": {idempotency key: how many times it was received}}
  GET  /_stats                  counters: requests, accepted (new keys), duplicates, failed, resets, timed_out, keys, and the current mode
  GET  /_health                 200

The control API listens on the same port, so it is unreachable while "down";
pass --control-port to get a second, always-up listener for it (tests use it).
Prints "PORT <n> CONTROL <m>" on stdout when ready (n = the reaction port).
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REACTION_PATH = "/pcsaa/alert-reactions"


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.keys: dict[str, int] = {}
        self.stats = {"requests": 0, "accepted": 0, "duplicates": 0, "failed": 0, "resets": 0, "timed_out": 0,
                      "refused_no_key": 0}
        self.mode = "ok"
        self.fail_rate = 0.0
        self.fail_status = 503
        self.delay_ms = 0
        self.timeout = False
        self.reset = False
        self.down = False
        self.release = threading.Event()  # set to free requests held by "timeout"

    def control(self, c: dict) -> dict:
        with self.lock:
            if c.get("clear"):
                self.received.clear()
                self.keys.clear()
                for k in self.stats:
                    self.stats[k] = 0
            if "mode" in c:
                if c["mode"] not in ("ok", "fail"):
                    raise ValueError("mode is ok or fail")
                self.mode = c["mode"]
            if "fail_rate" in c:
                self.fail_rate = float(c["fail_rate"])
            if "status" in c:
                self.fail_status = int(c["status"])
            if "delay_ms" in c:
                self.delay_ms = int(c["delay_ms"])
            if "timeout" in c:
                self.timeout = bool(c["timeout"])
                if self.timeout:
                    self.release.clear()
                else:
                    self.release.set()
            if "reset" in c:
                self.reset = bool(c["reset"])
            return self.describe()

    def describe(self) -> dict:
        return {"mode": self.mode, "fail_rate": self.fail_rate, "status": self.fail_status,
                "delay_ms": self.delay_ms, "timeout": self.timeout, "reset": self.reset, "down": self.down}


STATE = State()


def abort_connection(handler: BaseHTTPRequestHandler) -> None:
    """Closes the connection with a TCP RST (SO_LINGER 0)."""
    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    handler.close_connection = True
    try:
        handler.connection.close()
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pcsaa-standin/1"
    control_only = False  # set on the control listener's handler class
    duplicate_status = 200  # the answer to a key already received (fake_sppis.py: 409)

    def refusal(self):
        """(status, body) refusing this caller before anything is recorded, or None (fake_sppis.py
        checks the client certificate's name here)."""
        return None

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        if self.path == "/_received":
            with STATE.lock:
                self._send(200, {"received": list(STATE.received)})
        elif self.path == "/_stats":
            with STATE.lock:
                self._send(200, dict(STATE.stats, keys=len(STATE.keys), **STATE.describe()))
        elif self.path == "/_counts":
            with STATE.lock:
                self._send(200, {"counts": dict(STATE.keys)})
        elif self.path == "/_health":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"code": "NOT_FOUND"})

    def do_POST(self):
        body = self._body()
        if self.path == "/_control":
            try:
                c = json.loads(body or b"{}")
                if not isinstance(c, dict):
                    raise ValueError("expected a JSON object")
                down = c.pop("down", None)
                down_for = c.pop("down_for_s", None)
                if down_for is not None:  # unreachable for a window, then back by itself
                    down = True
                    standin = self.server.standin
                    threading.Timer(float(down_for), lambda: standin.set_down(False)).start()
                state = STATE.control(c)
                if down is not None:
                    self.server.standin.set_down(bool(down))
                    state = STATE.describe()
                self._send(200, state)
            except (ValueError, TypeError) as e:
                self._send(400, {"code": "BAD_CONTROL", "message": str(e)})
            return
        if self.path != REACTION_PATH or self.control_only:
            self._send(404, {"code": "NOT_FOUND"})
            return
        refused = self.refusal()
        if refused:
            with STATE.lock:
                STATE.stats["refused_client"] = STATE.stats.get("refused_client", 0) + 1
            self._send(*refused)
            return
        with STATE.lock:
            STATE.stats["requests"] += 1
            reset, timeout, delay = STATE.reset, STATE.timeout, STATE.delay_ms
            fail = STATE.mode == "fail" or (STATE.fail_rate > 0 and random.random() < STATE.fail_rate)
            fail_status = STATE.fail_status
        if reset:
            with STATE.lock:
                STATE.stats["resets"] += 1
            abort_connection(self)
            return
        if timeout:
            with STATE.lock:
                STATE.stats["timed_out"] += 1
            STATE.release.wait(600)
            abort_connection(self)
            return
        if delay:
            time.sleep(delay / 1000.0)
        if fail:
            with STATE.lock:
                STATE.stats["failed"] += 1
            self._send(fail_status, {"code": "UNAVAILABLE", "message": "stand-in told to fail"})
            return
        key = self.headers.get("Idempotency-Key")
        if not key:
            with STATE.lock:
                STATE.stats["refused_no_key"] += 1
            self._send(400, {"code": "MISSING_IDEMPOTENCY_KEY"})
            return
        with STATE.lock:
            seen = key in STATE.keys
            STATE.keys[key] = STATE.keys.get(key, 0) + 1
            status = self.duplicate_status if seen else 201
            STATE.stats["duplicates" if seen else "accepted"] += 1
            STATE.received.append({"key": key, "body": body.decode("utf-8", "replace"), "at": time.time(),
                                   "status": status})
        if seen and status == 409:
            self._send(status, {"code": "ALREADY_RECEIVED", "message": "already received", "idempotency_key": key})
        else:
            self._send(status, {"received": True, "duplicate": seen, "idempotency_key": key})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StandIn:
    def __init__(self, port: int, control_port: int | None) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.server: Server | None = None
        self.thread: threading.Thread | None = None
        self._open()
        self.port = self.server.server_address[1]
        self.control = None
        if control_port is not None:
            h = type("ControlHandler", (self.handler,), {"control_only": True})
            self.control = Server(("127.0.0.1", control_port), h)
            self.control.standin = self
            threading.Thread(target=self.control.serve_forever, daemon=True).start()

    handler = Handler
    server_class = Server

    def _open(self) -> None:
        self.server = self.server_class(("127.0.0.1", self.port), self.handler)
        self.server.standin = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_down(self, down: bool) -> None:
        """down: stop listening (connection refused); up: listen again on the same port."""
        def apply():
            with self.lock:
                if down and not STATE.down:
                    srv = self.server
                    srv.shutdown()
                    srv.server_close()
                    STATE.down = True
                elif not down and STATE.down:
                    for _ in range(100):
                        try:
                            self._open()
                            break
                        except OSError:
                            time.sleep(0.05)
                    STATE.down = False
        if down:
            # shutdown() waits for serve_forever, which runs the request asking for it when it
            # comes through the reaction port: do it from another thread.
            t = threading.Thread(target=apply)
            t.start()
            t.join(5)
        else:
            apply()


def run_forever(s: StandIn) -> int:
    """Announces the ports ("PORT <n> CONTROL <m>") and serves until interrupted."""
    cport = s.control.server_address[1] if s.control else s.port
    print(f"PORT {s.port} CONTROL {cport}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8099, help="reaction port (0 = any free port)")
    ap.add_argument("--control-port", type=int, default=None, help="separate control port (0 = any free port)")
    args = ap.parse_args()
    return run_forever(StandIn(args.port, args.control_port))


if __name__ == "__main__":
    sys.exit(main())
