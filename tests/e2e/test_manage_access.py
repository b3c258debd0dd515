"""ManageAccess in relais-api (docs/bcss.md), on the real binaries, PostgreSQL and a fake BCSS
(tests/harness/fake_bcss.py): REGISTER / UNREGISTER / LIST round trips in mirror mode and in proxy
mode; BCSS refusing (mirror unchanged); BCSS timing out (504 BCSS_TIMEOUT, mirror unchanged, the
retry succeeds without a duplicate); another CPAS's token refused, and a body naming another CPAS
changing only the caller's CPAS; relaisctl directory reconcile reporting and repairing the
mirror against a LIST export, journaled."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import uuid

import pytest
import requests

from e2e_util import fresh_cbes, fresh_ssins, wait_for
from relais_harness import BUILD, REPO, Relais, api_headers, api_put_cpas, ensure_operator_token, issue_token

XSD = REPO / "var" / "bcss" / "cbss" / "XSD"
MA = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess"
COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
SVC = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TIMEOUT_MS = 1500


def ma_body(action: str, ssin: str, purpose: int | None, start: str, end: str | None = None, extra: str = "") -> str:
    p = f"<Purpose>{purpose}</Purpose>" if purpose is not None else ""
    e = f"<c:EndDate>{end}</c:EndDate>" if end else ""
    return (f'<ManageAccessRequest xmlns="{MA}" xmlns:c="{COMMON}"><SSIN>{ssin}</SSIN>{p}'
            f"<Period><c:StartDate>{start}</c:StartDate>{e}</Period><Action>{action}</Action>{extra}"
            "<ProofOfAuthentication><PersonData><LastName>Test</LastName><BirthDate>1980-01-01</BirthDate>"
            "</PersonData></ProofOfAuthentication></ManageAccessRequest>")


def ssdn(body: str, org_unit: str) -> str:
    """As Lino Welfare sends it: SSDNRequest, AuthorizedUser with the CPAS's OrgUnit, sector 17."""
    return (f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body><SSDNRequest xmlns="{SVC}"><RequestContext>'
            "<AuthorizedUser><UserID>68060105329</UserID><Email>agent@cpas.example</Email>"
            f"<OrgUnit>{org_unit}</OrgUnit><MatrixID>17</MatrixID><MatrixSubID>1</MatrixSubID></AuthorizedUser>"
            "<Message><Reference>e2e</Reference></Message></RequestContext><ServiceRequest>"
            "<ServiceId>OCMWCPASManageAccess</ServiceId><Version>20050930</Version>"
            f"{body}</ServiceRequest></SSDNRequest></soapenv:Body></soapenv:Envelope>")


def bare(body: str) -> str:
    return f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'


def post(url: str, cbe: str, token: str, xml: str) -> requests.Response:
    return requests.post(f"{url}/v1/cpas/{cbe}/soap/manage-access", data=xml.encode(),
                         headers=api_headers(token, **{"Content-Type": "text/xml; charset=utf-8"}), timeout=30)


def ok_of(r: requests.Response) -> list[str]:
    """The ok attribute of every ResultSummary of a reply."""
    return re.findall(r'ResultSummary[^>]*ok="(\w+)"', r.text)


def registrations(r: requests.Response) -> list[tuple]:
    out = []
    for g in re.findall(r"<Registrations>(.*?)</Registrations>", r.text):
        purpose = int(re.search(r"<Purpose>(\d+)</Purpose>", g).group(1))
        start = re.search(r"StartDate>([0-9-]{10})", g).group(1)
        end = re.search(r"EndDate>([0-9-]{10})", g)
        org = re.search(r"<OrgUnit>([^<]*)</OrgUnit>", g).group(1)
        out.append((purpose, start, end.group(1) if end else None, org))
    return sorted(out)


def lines(db, cbe: str, ssin: str) -> list[tuple]:
    return [tuple(x) for x in db.query(
        "SELECT quality_code::text, start_date::text, coalesce(end_date::text, '') FROM integrations "
        f"WHERE cbe = '{cbe}' AND ssin = '{ssin}' ORDER BY quality_code, start_date")]


@pytest.fixture(scope="module")
def fake():
    p = subprocess.Popen([sys.executable, str(REPO / "tests" / "harness" / "fake_bcss.py")], stdout=subprocess.PIPE,
                         text=True)
    port = int(p.stdout.readline().split()[1])
    url = f"http://127.0.0.1:{port}"
    yield url
    p.terminate()
    p.wait(timeout=10)


def control(fake: str, **kw):
    assert requests.post(f"{fake}/_control", json=kw, timeout=5).status_code == 200


@pytest.fixture(scope="module")
def world(stack, run_dir, db, fake):
    ensure_operator_token(stack["RELAIS_PG_DSN"])
    r = Relais(stack=stack, run_dir=run_dir)
    common = {"RELAIS_MANAGE_ACCESS_ENABLED": "true", "RELAIS_MANAGE_ACCESS_XSD_DIR": str(XSD)}
    apis = {}
    for mode in ("mirror", "proxy"):
        svc = r.add("api", f"ma-{mode}")
        svc.env.update(common, RELAIS_MANAGE_ACCESS_MODE=mode,
                       RELAIS_API_ALERTS_GROUP_ID=f"relais-api-alerts-e2e-ma-{mode}-{uuid.uuid4().hex[:6]}")
        if mode == "proxy":
            svc.env.update(RELAIS_MANAGE_ACCESS_BCSS_URL=f"{fake}/ManageAccess",
                           RELAIS_MANAGE_ACCESS_BCSS_TIMEOUT_MS=str(TIMEOUT_MS))
        svc.start()
        apis[mode] = svc
    for svc in apis.values():
        svc.wait_ready()
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    url = apis["mirror"].url
    api_put_cpas(url, a, "CPAS e2e ManageAccess A", [])
    api_put_cpas(url, b, "CPAS e2e ManageAccess B", [])
    tag = uuid.uuid4().hex[:8]
    yield {"mirror": apis["mirror"].url, "proxy": apis["proxy"].url, "a": a, "b": b,
           "ssins": fresh_ssins(db, rng, 9, bis_ratio=0),
           "tok_a": issue_token(stack["RELAIS_PG_DSN"], f"e2e-ma-a-{tag}", [a])["token"],
           "tok_b": issue_token(stack["RELAIS_PG_DSN"], f"e2e-ma-b-{tag}", [b])["token"]}
    r.stop_all()


def test_mirror_round_trip_and_the_cpas_is_the_callers(world, db):
    w = world
    a, b, url, tok = w["a"], w["b"], w["mirror"], w["tok_a"]
    s = w["ssins"][0]
    # REGISTER, the body's OrgUnit naming CPAS B: only A (the token's and the path's) changes.
    r = post(url, a, tok, ssdn(ma_body("REGISTER", s, 2, "2026-01-01"), org_unit=b))
    assert r.status_code == 200, r.text
    assert ok_of(r) == ["YES", "YES"], r.text
    assert "<SSDNReply" in r.text and "<Ticket>" in r.text
    assert registrations(r) == [(2, "2026-01-01", None, a)]
    assert lines(db, a, s) == [("2", "2026-01-01", "")]
    assert lines(db, b, s) == []
    # journaled: directory_journal (trigger) and the access journal, with the SSIN of the body
    assert db.query(f"SELECT count(*) FROM directory_journal WHERE cbe = '{a}' AND ssin = '{s}'")[0][0] == "1"
    wait_for(lambda: db.query("SELECT count(*) FROM access_journal WHERE route = '/v1/cpas/{cbe}/soap/manage-access' "
                              f"AND cpas_cbe = '{a}' AND ssin = '{s}' AND status = 200")[0][0] == "1", 10,
             what="the access journal entry")
    # LIST: the registration, OrgUnit = the CPAS.
    r = post(url, a, tok, ssdn(ma_body("LIST", s, None, "2026-06-01", extra="<QueryRegister>PRIMARY</QueryRegister>"), a))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert registrations(r) == [(2, "2026-01-01", None, a)]
    assert "<Register>PRIMARY</Register>" in r.text
    # UNREGISTER from 2026-03-01: the line ends on 2026-02-28.
    r = post(url, a, tok, ssdn(ma_body("UNREGISTER", s, 2, "2026-03-01"), a))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert lines(db, a, s) == [("2", "2026-01-01", "2026-02-28")]
    r = post(url, a, tok, ssdn(ma_body("LIST", s, None, "2026-06-01"), a))
    assert registrations(r) == []
    # UNREGISTER again: nothing to close, refused in the ResultSummary, nothing changed.
    r = post(url, a, tok, ssdn(ma_body("UNREGISTER", s, 2, "2026-03-01"), a))
    assert r.status_code == 200 and ok_of(r) == ["NO", "NO"], r.text
    assert "INTEGRATION_NOT_FOUND" in r.text
    assert lines(db, a, s) == [("2", "2026-01-01", "2026-02-28")]


def test_bare_requests_and_bad_bodies(world, db):
    w = world
    a, url, tok = w["a"], w["mirror"], w["tok_a"]
    s = w["ssins"][1]
    r = post(url, a, tok, bare(ma_body("REGISTER", s, 7, "2026-02-01", "2026-12-31")))
    assert r.status_code == 200, r.text
    assert "<ManageAccessReply" in r.text and "ResultSummary" not in r.text
    assert registrations(r) == [(7, "2026-02-01", "2026-12-31", a)]
    assert lines(db, a, s) == [("7", "2026-02-01", "2026-12-31")]
    # SOAP 1.2: answered in SOAP 1.2.
    env12 = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
             + ma_body("LIST", s, 7, "2026-03-01") + "</env:Body></env:Envelope>")
    r = requests.post(f"{url}/v1/cpas/{a}/soap/manage-access", data=env12.encode(),
                      headers=api_headers(tok, **{"Content-Type": "application/soap+xml"}), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/soap+xml")
    assert "http://www.w3.org/2003/05/soap-envelope" in r.text
    assert registrations(r) == [(7, "2026-02-01", "2026-12-31", a)]
    before = lines(db, a, s)
    bad_ssin = s[:-1] + str((int(s[-1]) + 1) % 10)
    for xml, code in [(bare(ma_body("REGISTER", bad_ssin, 7, "2026-02-01")), "INVALID_SSIN"),
                      (bare(ma_body("REGISTER", s, None, "2026-02-01")), "MISSING_FIELD"),
                      (bare(ma_body("REGISTER", s, 999, "2026-02-01")), "INVALID_QUALITY_CODE"),
                      (bare(ma_body("DELETE", s, 7, "2026-02-01")), "XML_SCHEMA_INVALID"),
                      (bare("<x:Other xmlns:x='urn:x'/>"), "MANAGE_ACCESS_UNKNOWN_BODY"),
                      ("<not-soap/>", "SOAP_NOT_AN_ENVELOPE"),
                      ("<a>unclosed", "XML_MALFORMED")]:
        r = post(url, a, tok, xml)
        assert r.status_code == 400, (code, r.text)
        assert "Fault" in r.text and code in r.text, (code, r.text)
    assert lines(db, a, s) == before


def test_another_cpas_token_cannot_touch_this_cpas(world, db):
    w = world
    a, url = w["a"], w["mirror"]
    s = w["ssins"][2]
    for mode in ("mirror", "proxy"):
        r = post(w[mode], a, w["tok_b"], ssdn(ma_body("REGISTER", s, 2, "2026-01-01"), a))
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "FORBIDDEN_CPAS"
    assert lines(db, a, s) == []
    assert db.query(f"SELECT count(*) FROM integrations WHERE ssin = '{s}'")[0][0] == "0"
    # Without a token at all.
    r = requests.post(f"{url}/v1/cpas/{a}/soap/manage-access", data=ssdn(ma_body("LIST", s, None, "2026-01-01"), a),
                      headers={"Content-Type": "text/xml"}, timeout=10)
    assert r.status_code == 401


def test_proxy_round_trip(world, db, fake):
    w = world
    a, b, url, tok = w["a"], w["b"], w["proxy"], w["tok_a"]
    s = w["ssins"][3]
    control(fake, mode="accept", delay_ms=0)
    r = post(url, a, tok, ssdn(ma_body("REGISTER", s, 4, "2026-01-01"), org_unit=b))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert lines(db, a, s) == [("4", "2026-01-01", "")]
    assert lines(db, b, s) == []
    got = [x for x in requests.get(f"{fake}/_received", timeout=5).json()["received"] if x["ssin"] == s]
    assert [(x["org_unit"], x["action"], x["purpose"]) for x in got] == [(a, "REGISTER", 4)]  # OrgUnit = the caller's
    # LIST: BCSS's answer (its register), the mirror untouched.
    r = post(url, a, tok, ssdn(ma_body("LIST", s, None, "2026-02-01"), a))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert registrations(r) == [(4, "2026-01-01", None, a)]
    r = post(url, a, tok, ssdn(ma_body("UNREGISTER", s, 4, "2026-05-01"), a))
    assert r.status_code == 200 and ok_of(r) == ["YES", "YES"], r.text
    assert lines(db, a, s) == [("4", "2026-01-01", "2026-04-30")]
    regs = [x for x in requests.get(f"{fake}/_registrations", timeout=5).json()["registrations"] if x["ssin"] == s]
    assert [(x["purpose"], x["start"], x["end"]) for x in regs] == [(4, "2026-01-01", "2026-04-30")]


def test_proxy_bcss_refusing_or_failing_leaves_the_mirror_unchanged(world, db, fake):
    w = world
    a, url, tok = w["a"], w["proxy"], w["tok_a"]
    s = w["ssins"][4]
    try:
        control(fake, mode="refuse")
        r = post(url, a, tok, ssdn(ma_body("REGISTER", s, 2, "2026-01-01"), a))
        assert r.status_code == 200, r.text
        assert "NO" in ok_of(r) and "REFUSED_BY_BCSS" in r.text, r.text  # BCSS's answer
        assert lines(db, a, s) == []
        control(fake, mode="fault")
        r = post(url, a, tok, ssdn(ma_body("REGISTER", s, 2, "2026-01-01"), a))
        assert r.status_code == 200 and "NO" in ok_of(r), r.text
        assert lines(db, a, s) == []
    finally:
        control(fake, mode="accept")


def test_proxy_timeout_is_a_clear_error_and_the_retry_is_safe(world, db, fake):
    w = world
    a, url, tok = w["a"], w["proxy"], w["tok_a"]
    s = w["ssins"][5]
    req = ssdn(ma_body("REGISTER", s, 9, "2026-01-01"), a)
    try:
        control(fake, delay_ms=TIMEOUT_MS * 3)
        r = post(url, a, tok, req)
        assert r.status_code == 504, r.text
        assert "BCSS_TIMEOUT" in r.text and "Fault" in r.text and "sent again" in r.text
        assert lines(db, a, s) == []  # BCSS recorded it, Relais did not: the retry reconciles
    finally:
        control(fake, delay_ms=0)
    r = post(url, a, tok, req)
    assert r.status_code == 200, r.text
    assert ok_of(r) == ["WARNING", "WARNING"] and "DUPLICATE_REGISTRATION" in r.text, r.text
    assert lines(db, a, s) == [("9", "2026-01-01", "")]
    regs = [x for x in requests.get(f"{fake}/_registrations", timeout=5).json()["registrations"] if x["ssin"] == s]
    assert len(regs) == 1
    assert db.query(f"SELECT count(*) FROM integrations WHERE ssin = '{s}'")[0][0] == "1"
    # The same for UNREGISTER: timed out (BCSS closed it, Relais not), then sent again.
    un = ssdn(ma_body("UNREGISTER", s, 9, "2026-07-01"), a)
    try:
        control(fake, delay_ms=TIMEOUT_MS * 3)
        r = post(url, a, tok, un)
        assert r.status_code == 504 and "BCSS_TIMEOUT" in r.text, r.text
        assert lines(db, a, s) == [("9", "2026-01-01", "")]
    finally:
        control(fake, delay_ms=0)
    r = post(url, a, tok, un)
    assert r.status_code == 200 and ok_of(r) == ["WARNING", "WARNING"] and "ALREADY_UNREGISTERED" in r.text, r.text
    assert lines(db, a, s) == [("9", "2026-01-01", "2026-06-30")]


def ctl(stack, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELAIS_PG_DSN=stack["RELAIS_PG_DSN"], RELAIS_CTL_ACTOR="e2e-reconcile",
               RELAIS_API_URL=args[0], RELAIS_API_TOKEN=token or os.environ["RELAIS_API_TOKEN"])
    return subprocess.run([str(BUILD / "services" / "relaisctl"), *args[1:]], env=env, capture_output=True, text=True,
                          timeout=60)


def test_reconcile_reports_and_repairs_journaled(world, db, stack, tmp_path):
    w = world
    a, url, tok = w["a"], w["mirror"], w["tok_a"]
    s1, s2 = w["ssins"][6], w["ssins"][7]
    # The mirror: s1 quality 2 open; s1 quality 5 from 2025; s2 quality 3 from 2026-01-01.
    for xml in (ma_body("REGISTER", s1, 2, "2026-01-01"), ma_body("REGISTER", s1, 5, "2025-01-01"),
                ma_body("REGISTER", s2, 3, "2026-01-01")):
        assert post(url, a, tok, ssdn(xml, a)).status_code == 200
    # BCSS's LIST replies: s1 quality 2 ends 2026-06-30 (period differs), s1 quality 5 absent
    # (missing at BCSS), s2 quality 4 on the same day (quality differs), s2 quality 9 (missing
    # in the mirror), and a registration of another OrgUnit (ignored).
    def reply(ssin, regs):
        return (f'<ManageAccessReply xmlns="{MA}" xmlns:c="{COMMON}"><OriginalRequest><SSIN>{ssin}</SSIN>'
                "<Purpose>0</Purpose><Period><c:StartDate>2000-01-01</c:StartDate></Period><Action>LIST</Action>"
                "</OriginalRequest>" + "".join(
                    f"<Registrations><Purpose>{p}</Purpose><Period><c:StartDate>{st}</c:StartDate>"
                    + (f"<c:EndDate>{en}</c:EndDate>" if en else "") + f"</Period><OrgUnit>{o}</OrgUnit>"
                    "<Register>PRIMARY</Register></Registrations>" for p, st, en, o in regs)
                + "</ManageAccessReply>")
    export = tmp_path / "list.xml"
    export.write_text("<Export>" + reply(s1, [(2, "2026-01-01", "2026-06-30", a), (6, "2026-01-01", None, "63023")])
                      + reply(s2, [(4, "2026-01-01", None, a), (9, "2026-03-01", None, a)]) + "</Export>")
    r = ctl(stack, url, "directory", "reconcile", "--cpas", a, str(export), "--json", "--xsd-dir", str(XSD), token=tok)
    assert r.returncode == 1, r.stderr
    import json
    kinds = sorted((x["difference"], x["ssin"]) for x in json.loads(r.stdout))
    assert kinds == sorted([("period_differs", s1), ("missing_at_bcss", s1), ("quality_differs", s2),
                            ("missing_in_mirror", s2)]), r.stdout
    before = db.query(f"SELECT count(*) FROM directory_journal WHERE cbe = '{a}' AND ssin IN ('{s1}', '{s2}')")[0][0]
    r = ctl(stack, url, "directory", "reconcile", "--cpas", a, str(export), "--apply", "--xsd-dir", str(XSD), token=tok)
    assert r.returncode == 0, r.stderr
    assert "5 repair(s) written" in r.stderr, r.stderr
    assert lines(db, a, s1) == [("2", "2026-01-01", "2026-06-30"), ("5", "2025-01-01", "2024-12-31")]
    assert lines(db, a, s2) == [("3", "2026-01-01", "2025-12-31"), ("4", "2026-01-01", ""), ("9", "2026-03-01", "")]
    after = db.query(f"SELECT count(*) FROM directory_journal WHERE cbe = '{a}' AND ssin IN ('{s1}', '{s2}')")[0][0]
    assert int(after) - int(before) == 5
    assert db.query(f"SELECT count(*) FROM directory_journal WHERE cbe = '{a}' AND ssin IN ('{s1}', '{s2}') "
                    "AND actor LIKE '%e2e-ma-a%'")[0][0] == after
    # Reconciled: no difference left.
    r = ctl(stack, url, "directory", "reconcile", "--cpas", a, str(export), "--xsd-dir", str(XSD), token=tok)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 difference(s)" in r.stderr
    # A bad export is a usage error and changes nothing.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{s1},2,2026-13-01\n")
    r = ctl(stack, url, "directory", "reconcile", "--cpas", a, str(bad), "--apply", token=tok)
    assert r.returncode == 2 and "INVALID_DATE" in r.stderr, r.stderr


def test_reconcile_against_the_list_reply_bcss_gave(world, db, stack, tmp_path, fake):
    """The export is what a LIST through the proxy answered (an SSDNReply in a SOAP envelope)."""
    w = world
    a, tok = w["a"], w["tok_a"]
    s = w["ssins"][8]
    control(fake, mode="accept", delay_ms=0)
    assert post(w["proxy"], a, tok, ssdn(ma_body("REGISTER", s, 6, "2026-02-01", "2026-08-31"), a)).status_code == 200
    listed = post(w["proxy"], a, tok, ssdn(ma_body("LIST", s, None, "2000-01-01"), a))
    assert listed.status_code == 200 and registrations(listed) == [(6, "2026-02-01", "2026-08-31", a)], listed.text
    export = tmp_path / "bcss-list.xml"
    export.write_bytes(listed.content)
    r = ctl(stack, w["mirror"], "directory", "reconcile", "--cpas", a, str(export), "--xsd-dir", str(XSD), token=tok)
    assert r.returncode == 0 and "0 difference(s)" in r.stderr, r.stdout + r.stderr
    # The mirror drifts (a registration recorded in mirror mode only): reported, then repaired.
    assert post(w["mirror"], a, tok, ssdn(ma_body("REGISTER", s, 1, "2026-09-01"), a)).status_code == 200
    r = ctl(stack, w["mirror"], "directory", "reconcile", "--cpas", a, str(export), "--xsd-dir", str(XSD), token=tok)
    assert r.returncode == 1 and "missing_at_bcss" in r.stdout, r.stdout + r.stderr
    r = ctl(stack, w["mirror"], "directory", "reconcile", "--cpas", a, str(export), "--apply", "--xsd-dir", str(XSD),
            token=tok)
    assert r.returncode == 0, r.stderr
    assert lines(db, a, s) == [("1", "2026-09-01", "2026-08-31"), ("6", "2026-02-01", "2026-08-31")]
