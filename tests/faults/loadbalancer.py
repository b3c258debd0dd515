"""HAProxy (Debian's) in front of several relais-ingest and relais-api instances, for the rolling
restarts of the fault suite (run_faults.py --rolling, docs/reliability.md "Rolling restarts").

What it does as a production layer-7 balancer would: each instance is checked on /readyz twice a
second and taken out of rotation when it fails twice (a stopping instance closes its listener
first: the check fails and new requests go to the other); a request whose connection to an
instance fails, or gets no answer because the instance went away, is sent again to another
instance (`retry-on`, with `option redispatch`): relais-ingest is idempotent by ticket, and the
calls relais-api receives here are idempotent or answered 409 on a second attempt. HAProxy's own
503 (no instance at all) carries `Retry-After: 1`, as Relais's do."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import requests


class LoadBalancer:
    def __init__(self, run_dir: Path, backends: dict[str, list[int]], ports: dict[str, int]):
        """backends: name -> the instances' ports on 127.0.0.1; ports: name -> the balancer's port."""
        self.run_dir = run_dir
        self.backends = backends
        self.ports = ports
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        out = [
            "global",
            "  maxconn 2000",
            "  tune.bufsize 131072",   # a whole NDJSON batch of the suite is buffered, so it can be retried
            "defaults",
            "  mode http",
            "  timeout connect 2s",
            "  timeout client 120s",
            "  timeout server 120s",
            "  timeout http-request 60s",
            "  retries 3",
            "  option redispatch 1",
            "  option http-buffer-request",
            "  retry-on conn-failure empty-response response-timeout 502 504",
            "  http-reuse never",
            "  http-error status 503 content-type text/plain string \"no instance available\" hdr Retry-After 1",
        ]
        for name, ports in self.backends.items():
            out += [f"frontend fe_{name}", f"  bind 127.0.0.1:{self.ports[name]}", f"  default_backend be_{name}",
                    f"backend be_{name}", "  balance roundrobin",
                    "  option httpchk GET /readyz",
                    "  timeout check 2s",
                    "  default-server inter 500ms fall 2 rise 2"]
            out += [f"  server {name}{i} 127.0.0.1:{p} check" for i, p in enumerate(ports)]
        return "\n".join(out) + "\n"

    def start(self) -> "LoadBalancer":
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        cfg = self.run_dir / "haproxy.cfg"
        cfg.write_text(self.config())
        log = open(self.run_dir / "haproxy.log", "ab")
        # -db: foreground, no daemon; -W: master-worker off; logs of the checks go to stderr
        self.proc = subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}; see {self.run_dir / 'haproxy.log'}")
            try:
                if all(requests.get(f"{self.url(n)}/healthz", timeout=2).status_code == 200 for n in self.ports):
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("haproxy: the instances did not become reachable through it within 20 s")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
