"""ManageAccess in proxy mode over HTTPS with a client certificate (issue 17 item 2; docs/bcss.md):
the real relais-api calls the fake BCSS (tests/harness/fake_bcss.py) over TLS with relais-api's
client certificate, and the fake requires a client certificate from the test CA (BCSS
authenticates the data centre by it) and records the subject CN of the one it verified.

- The round trip works over mTLS: the fake saw relais-api's certificate (CN relais-api), BCSS's
  register and the mirror hold the line.
- relais-api presenting a certificate of another CA: the fake refuses the handshake, relais-api
  answers a SOAP Fault 503 BCSS_UNAVAILABLE, nothing reached BCSS, the mirror is unchanged.
- An impostor BCSS (a server certificate of another CA, the right name): relais-api refuses it
  (certificate verify failed, logged), 503 BCSS_UNAVAILABLE, the mirror unchanged.
- relais-api refuses to start (exit 2) with https but no client certificate, an unreadable one,
  or a key that does not match it, naming the setting or the file.

Certificates are made by openssl at test time (tests/tls/make-certs.sh), never committed. The
plain-HTTP proxy (towards a local egress proxy) is tests/e2e/test_manage_access.py."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

import e2e_util
from e2e_util import fresh_cbes, fresh_ssins
from relais_harness import BUILD, REPO, Relais, api_put_cpas, ensure_operator_token, issue_token
from test_manage_access import XSD, lines, ma_body, ok_of, post, registrations, ssdn

TIMEOUT_MS = 3000


@pytest.fixture(scope="module")
def certs(run_dir) -> Path:
    return e2e_util.make_test_certs(run_dir, "bcss-certs")


class FakeBcss:
    """fake_bcss.py over TLS requiring a client certificate of the test CA; its control API on a
    plain-HTTP port of its own."""

    def __init__(self, certs: Path, server: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "harness" / "fake_bcss.py"),
             "--tls-cert", str(certs / f"{server}.pem"), "--tls-key", str(certs / f"{server}.key"),
             "--tls-client-ca", str(certs / "ca.pem"), "--control-port", "0"],
            stdout=subprocess.PIPE, text=True)
        words = self.proc.stdout.readline().split()  # PORT <n> CONTROL <m>
        assert words[:1] == ["PORT"] and words[2:3] == ["CONTROL"], words
        self.port, self.control_port = int(words[1]), int(words[3])

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/ManageAccess"

    def get(self, what: str) -> dict:
        return requests.get(f"http://127.0.0.1:{self.control_port}/_{what}", timeout=5).json()

    def received(self, ssin: str) -> list[dict]:
        return [x for x in self.get("received")["received"] if x["ssin"] == ssin]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def bcss(certs):
    f = FakeBcss(certs, "server")
    yield f
    f.stop()


@pytest.fixture(scope="module")
def impostor(certs):
    f = FakeBcss(certs, "other-server")  # CN/SAN localhost, but signed by another CA
    yield f
    f.stop()


def tls_env(url: str, certs: Path, client: str | None = "relais-api") -> dict[str, str]:
    env = {"RELAIS_MANAGE_ACCESS_ENABLED": "true", "RELAIS_MANAGE_ACCESS_XSD_DIR": str(XSD),
           "RELAIS_MANAGE_ACCESS_MODE": "proxy", "RELAIS_MANAGE_ACCESS_BCSS_URL": url,
           "RELAIS_MANAGE_ACCESS_BCSS_TIMEOUT_MS": str(TIMEOUT_MS),
           "RELAIS_MANAGE_ACCESS_TLS_CA_FILE": str(certs / "ca.pem")}
    if client:
        env["RELAIS_MANAGE_ACCESS_TLS_CERT_FILE"] = str(certs / f"{client}.pem")
        env["RELAIS_MANAGE_ACCESS_TLS_KEY_FILE"] = str(certs / f"{client}.key")
    return env


@pytest.fixture(scope="module")
def world(stack, run_dir, db, certs, bcss, impostor):
    ensure_operator_token(stack["RELAIS_PG_DSN"])
    r = Relais(stack=stack, run_dir=run_dir)
    apis = {}
    for name, url, client in (("mtls", bcss.url, "relais-api"), ("other-ca", bcss.url, "relais-api-other"),
                              ("impostor", impostor.url, "relais-api")):
        svc = r.add("api", f"ma-tls-{name}")
        svc.env.update(tls_env(url, certs, client),
                       RELAIS_API_ALERTS_GROUP_ID=f"relais-api-alerts-e2e-ma-tls-{name}-{uuid.uuid4().hex[:6]}")
        svc.start()
        apis[name] = svc
    for svc in apis.values():
        svc.wait_ready()
    rng = random.Random()
    (a,) = fresh_cbes(rng, 1)
    api_put_cpas(apis["mtls"].url, a, "CPAS e2e ManageAccess mTLS", [])
    tag = uuid.uuid4().hex[:8]
    yield {"apis": apis, "a": a, "ssins": fresh_ssins(db, rng, 3, bis_ratio=0), "relais": r,
           "tok": issue_token(stack["RELAIS_PG_DSN"], f"e2e-ma-tls-{tag}", [a])["token"]}
    r.stop_all()


def manage_access_results(svc) -> dict[str, float]:
    """relais_api_manage_access_total by result."""
    out: dict[str, float] = {}
    for k, v in svc.metrics().items():
        if k.startswith("relais_api_manage_access_total{"):
            result = k.split('result="')[1].split('"')[0]
            out[result] = out.get(result, 0) + v
    return out


def test_register_round_trip_over_mtls(world, db, bcss):
    w = world
    a, s = w["a"], w["ssins"][0]
    url = w["apis"]["mtls"].url
    r = post(url, a, w["tok"], ssdn(ma_body("REGISTER", s, 3, "2026-01-01"), a))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert registrations(r) == [(3, "2026-01-01", None, a)]
    got = bcss.received(s)
    assert [(x["org_unit"], x["action"], x["purpose"], x["client_cn"]) for x in got] == \
        [(a, "REGISTER", 3, "relais-api")], got  # BCSS verified relais-api's client certificate
    assert lines(db, a, s) == [("3", "2026-01-01", "")]
    regs = [x for x in bcss.get("registrations")["registrations"] if x["ssin"] == s]
    assert [(x["org_unit"], x["purpose"], x["start"]) for x in regs] == [(a, 3, "2026-01-01")]
    # LIST: BCSS's register, over the same TLS client.
    r = post(url, a, w["tok"], ssdn(ma_body("LIST", s, None, "2026-02-01"), a))
    assert r.status_code == 200 and registrations(r) == [(3, "2026-01-01", None, a)], r.text


def test_a_client_certificate_of_another_ca_is_refused_by_bcss(world, db, bcss):
    w = world
    a, s = w["a"], w["ssins"][1]
    svc = w["apis"]["other-ca"]
    before = bcss.get("received")["handshake_failures"]
    r = post(svc.url, a, w["tok"], ssdn(ma_body("REGISTER", s, 3, "2026-01-01"), a))
    assert r.status_code == 503, r.text
    assert "Fault" in r.text and "BCSS_UNAVAILABLE" in r.text and "not changed" in r.text, r.text
    assert r.headers.get("Retry-After") == "2"
    assert bcss.received(s) == [], "nothing reached BCSS"
    assert bcss.get("received")["handshake_failures"] > before, "the fake refused the handshake"
    assert lines(db, a, s) == []
    results = manage_access_results(svc)
    assert results.get("bcss_tls_error", 0) + results.get("bcss_unreachable", 0) >= 1, results
    assert results.get("accepted", 0) == 0, results


def test_an_impostor_bcss_is_refused_by_relais(world, db, impostor):
    w = world
    a, s = w["a"], w["ssins"][2]
    svc = w["apis"]["impostor"]
    r = post(svc.url, a, w["tok"], ssdn(ma_body("REGISTER", s, 5, "2026-01-01"), a))
    assert r.status_code == 503 and "BCSS_UNAVAILABLE" in r.text and "Fault" in r.text, r.text
    assert impostor.received(s) == [], "the request never left relais-api"
    assert lines(db, a, s) == []
    assert manage_access_results(svc).get("bcss_tls_error", 0) >= 1
    # The reason is in relais-api's log, without any secret.
    log = svc.log_path.read_text(errors="replace")
    assert "BCSS did not answer" in log and "certificate verify failed" in log, log[-3000:]
    assert "PRIVATE KEY" not in log


@pytest.mark.parametrize("case", ["no_cert_file", "no_key_file", "unreadable_cert", "key_mismatch"])
def test_https_without_a_usable_client_certificate_does_not_start(world, certs, bcss, case):
    svc = world["relais"].add("api", f"ma-tls-bad-{case}")
    env = dict(svc.env, **tls_env(bcss.url, certs))
    want = {"no_cert_file": "manage_access.tls.cert_file", "no_key_file": "manage_access.tls.key_file",
            "unreadable_cert": str(certs / "missing.pem"), "key_mismatch": str(certs / "client.key")}[case]
    if case == "no_cert_file":
        del env["RELAIS_MANAGE_ACCESS_TLS_CERT_FILE"]
    elif case == "no_key_file":
        del env["RELAIS_MANAGE_ACCESS_TLS_KEY_FILE"]
    elif case == "unreadable_cert":
        env["RELAIS_MANAGE_ACCESS_TLS_CERT_FILE"] = str(certs / "missing.pem")
    else:
        env["RELAIS_MANAGE_ACCESS_TLS_KEY_FILE"] = str(certs / "client.key")  # another certificate's key
    p = subprocess.run([str(BUILD / "services/relais-api")], env=env, cwd=str(REPO), capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    assert want in out, out
