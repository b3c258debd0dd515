"""CPAS identity (bcss-schemas.md §4 OrganizationIdentification, §7(f)), on the real services:
the operator records each CPAS's NIS codes (after the municipal mergers) and BCSS
sector/institution; /v1/cpas/{cbe}/... then also accepts a 5-digit NIS code, resolved to the
CPAS serving that municipality now, an old code through its merger. A CPAS credential stays
confined to its own CPAS whatever identifier it uses (403 FORBIDDEN_CPAS in the access journal,
with the CPAS the NIS code resolved to); an unknown or unserved code is a clear 404. The mapping
is refused to a CPAS credential, a municipality is served by one CPAS only (409), relaisctl sets
and lists it, every change is in directory_journal, and the OpenAPI example is accepted."""

from __future__ import annotations

import os
import random
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml

from e2e_util import fresh_cbes, fresh_ssins, journal_entries
from relais_harness import BUILD, api_headers, api_import, api_put_cpas, issue_token

CTL = BUILD / "services" / "relaisctl"
DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "api.yaml"
# Kruisem (2019: Kruishoutem 45017 + Zingem 45057), Deinze (2019: Deinze 44011 + Nevele 44049),
# Pajottegem (2025: Galmaarden 23023 + Gooik 23024 + Herne 23032).
KRUISEM, KRUISHOUTEM, ZINGEM = "45068", "45017", "45057"
DEINZE, NEVELE = "44083", "44049"
PAJOTTEGEM, GOOIK = "23106", "23024"


def ctl(stack, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, RELAIS_PG_DSN=stack["RELAIS_PG_DSN"], RELAIS_CTL_ACTOR="e2e-identity")
    return subprocess.run([str(CTL), *args], env=env, capture_output=True, text=True, timeout=60)


def put_identity(url: str, ref: str, body: dict, token: str | None = None) -> requests.Response:
    return requests.put(f"{url}/v1/cpas/{ref}/identity", json=body, headers=api_headers(token), timeout=10)


def release(url: str, *codes: str) -> None:
    """Earlier runs on the same stack may hold these municipalities: clear their holders."""
    r = requests.get(f"{url}/v1/cpas-identities", headers=api_headers(), timeout=10)
    assert r.status_code == 200, r.text
    for ident in r.json()["identities"]:
        if {m["nis_code"] for m in ident["municipalities"]} & set(codes):
            r2 = put_identity(url, ident["cbe"], {"nis_codes": [], "reason": "e2e identity: released"})
            assert r2.status_code == 200, r2.text


@pytest.fixture(scope="module")
def world(relais, db, stack):
    rng = random.Random()
    a, b = fresh_cbes(rng, 2)
    ssin_a, ssin_b = fresh_ssins(db, rng, 2)
    api_put_cpas(relais.api.url, a, "CPAS e2e identity A (Kruisem)", [KRUISEM])
    api_put_cpas(relais.api.url, b, "CPAS e2e identity B (Deinze)", [DEINZE])
    assert api_import(relais.api.url, a, [(ssin_a, 1, "2020-01-01", None)]).status_code == 200
    assert api_import(relais.api.url, b, [(ssin_b, 1, "2020-01-01", None)]).status_code == 200
    release(relais.api.url, KRUISEM, DEINZE, PAJOTTEGEM)
    tag = uuid.uuid4().hex[:8]
    return {"a": a, "b": b, "ssin_a": ssin_a, "ssin_b": ssin_b,
            "tok_a": issue_token(stack["RELAIS_PG_DSN"], f"e2e-id-a-{tag}", [a])["token"],
            "tok_b": issue_token(stack["RELAIS_PG_DSN"], f"e2e-id-b-{tag}", [b])["token"]}


def test_operator_sets_identities_a_cpas_cannot(relais, db, world):
    url, a, b = relais.api.url, world["a"], world["b"]
    # A CPAS credential may not set any identity, not even its own.
    r = put_identity(url, a, {"nis_codes": [KRUISEM], "reason": "mine"}, world["tok_a"])
    assert r.status_code == 403 and r.json()["code"] == "OPERATOR_ONLY", r.text
    assert db.query(f"SELECT count(*) FROM cpas_identity WHERE cbe = '{a}'") == [["0"]]
    # The operator: old codes are stored as the merged municipality's code.
    r = put_identity(url, a, {"nis_codes": [KRUISHOUTEM, ZINGEM], "sector": 17, "institution": 101,
                              "reason": "e2e identity: CPAS Kruisem since the 2019 merger"})
    assert r.status_code == 201, r.text
    ident = r.json()["identity"]
    assert [m["nis_code"] for m in ident["municipalities"]] == [KRUISEM]
    assert ident["municipalities"][0]["name_nl"] == "Kruisem"
    assert (ident["sector"], ident["institution"]) == (17, 101)
    r = put_identity(url, b, {"nis_codes": [NEVELE], "sector": 17, "institution": 102, "reason": "e2e identity: Deinze"})
    assert r.status_code == 201, r.text
    assert [m["nis_code"] for m in r.json()["identity"]["municipalities"]] == [DEINZE]
    # One CPAS per municipality, one per sector/institution: refused, naming the holder.
    r = put_identity(url, b, {"nis_codes": [DEINZE, ZINGEM], "reason": "take Kruisem too"})
    assert r.status_code == 409 and r.json()["code"] == "NIS_CODE_TAKEN" and a in r.json()["message"], r.text
    r = put_identity(url, b, {"nis_codes": [DEINZE], "sector": 17, "institution": 101, "reason": "A's number"})
    assert r.status_code == 409 and r.json()["code"] == "BCSS_ID_TAKEN" and a in r.json()["message"], r.text
    # Bad input: a clear 400 each, nothing changed.
    for body, code, field in (({"nis_codes": ["99999"], "reason": "x"}, "UNKNOWN_NIS_CODE", "nis_codes[0]"),
                              ({"nis_codes": ["4408"], "reason": "x"}, "INVALID_NIS_CODE", "nis_codes[0]"),
                              ({"nis_codes": [DEINZE]}, "MISSING_FIELD", "reason"),
                              ({"nis_codes": [DEINZE], "sector": 17, "reason": "x"}, "INCONSISTENT", "institution"),
                              ({"nis_codes": [DEINZE], "sector": 1000, "institution": 1, "reason": "x"}, "OUT_OF_RANGE",
                               "sector")):
        r = put_identity(url, b, body)
        assert r.status_code == 400 and (r.json()["code"], r.json()["field"]) == (code, field), (body, r.text)
    assert db.query(f"SELECT nis FROM cpas_nis WHERE cbe = '{b}'") == [[DEINZE]]
    # Journaled with the caller and the reason.
    rows = db.query(f"SELECT detail->>'reason' FROM directory_journal WHERE cbe = '{a}' AND action = 'cpas-identity'")
    assert rows == [["e2e identity: CPAS Kruisem since the 2019 merger"]]
    # The CPAS reads its own identity, by either identifier; not another's.
    for ref in (a, KRUISEM, ZINGEM):
        r = requests.get(f"{url}/v1/cpas/{ref}/identity", headers=api_headers(world["tok_a"]), timeout=10)
        assert r.status_code == 200 and r.json()["identity"]["cbe"] == a, (ref, r.text)
    r = requests.get(f"{url}/v1/cpas/{b}/identity", headers=api_headers(world["tok_a"]), timeout=10)
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN_CPAS", r.text


def test_nis_addresses_the_cpas_and_a_token_stays_confined(relais, db, world):
    url, a, b = relais.api.url, world["a"], world["b"]
    since = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    # The operator reaches each CPAS by NIS code, current or ended by a merger.
    for ref, cbe, ssin in ((KRUISEM, a, world["ssin_a"]), (KRUISHOUTEM, a, world["ssin_a"]), (NEVELE, b, world["ssin_b"])):
        r = requests.get(f"{url}/v1/cpas/{ref}/integrations", headers=api_headers(), timeout=10)
        assert r.status_code == 200, (ref, r.text)
        assert {i["cbe"] for i in r.json()["integrations"]} == {cbe}, (ref, r.text)
        assert ssin in {i["ssin"] for i in r.json()["integrations"]}
    # A's token: its own CPAS by CBE or NIS; B's by NIS (current or old) is refused like B's CBE.
    for ref in (a, KRUISEM, ZINGEM):
        r = requests.get(f"{url}/v1/cpas/{ref}/integrations", headers=api_headers(world["tok_a"]), timeout=10)
        assert r.status_code == 200, (ref, r.text)
    before = db.query(f"SELECT count(*) FROM integrations WHERE cbe = '{b}'")
    refused = []
    for ref in (b, DEINZE, NEVELE):
        r = requests.get(f"{url}/v1/cpas/{ref}/integrations", headers=api_headers(world["tok_a"]), timeout=10)
        assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN_CPAS", (ref, r.text)
        refused.append(r.headers["X-Request-Id"])
        r = requests.put(f"{url}/v1/cpas/{ref}/integrations", headers=api_headers(world["tok_a"]), timeout=10,
                         json={"ssin": world["ssin_a"], "quality_code": 1, "start_date": "2024-01-01"})
        assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN_CPAS", (ref, r.text)
        refused.append(r.headers["X-Request-Id"])
    assert db.query(f"SELECT count(*) FROM integrations WHERE cbe = '{b}'") == before
    # The access journal names B, the CPAS the NIS code resolved to, and the refusal.
    rows = journal_entries(relais, since, set(refused))
    assert {e["cpas"] for e in rows.values()} == {b}, rows
    assert {e["refusal"] for e in rows.values()} == {"cpas_out_of_scope"}, rows
    # Unknown and unserved codes: a clear 404, for the operator as for a CPAS.
    for token in (None, world["tok_a"]):
        r = requests.get(f"{url}/v1/cpas/99999/integrations", headers=api_headers(token), timeout=10)
        assert r.status_code == 404 and r.json()["code"] == "CPAS_NOT_FOUND", r.text
        assert "not a municipality" in r.json()["message"]
        r = requests.get(f"{url}/v1/cpas/{GOOIK}/integrations", headers=api_headers(token), timeout=10)
        assert r.status_code == 404 and r.json()["code"] == "CPAS_NOT_FOUND", r.text
        assert PAJOTTEGEM in r.json()["message"], r.text  # Gooik is now part of Pajottegem


def test_relaisctl_sets_and_lists_identities(relais, db, stack, world):
    a = world["a"]
    r = ctl(stack, "directory", "identity", "set", a, "--nis", f"{KRUISEM},{PAJOTTEGEM}", "--sector", "17",
            "--institution", "101", "--reason", "e2e identity: Kruisem and Pajottegem")
    assert r.returncode == 0, r.stderr
    r = ctl(stack, "directory", "identity", "list", "--cbe", a, "--json")
    assert r.returncode == 0, r.stderr
    assert f"{PAJOTTEGEM},{KRUISEM}" in r.stdout and "e2e-identity" in r.stdout, r.stdout  # ordered
    # The new code answers at once (no cache): Gooik, an old code of Pajottegem, now reaches A.
    r = requests.get(f"{relais.api.url}/v1/cpas/{GOOIK}/identity", headers=api_headers(world["tok_a"]), timeout=10)
    assert r.status_code == 200 and r.json()["identity"]["cbe"] == a, r.text
    r = ctl(stack, "directory", "identity", "set", world["b"], "--nis", GOOIK, "--reason", "taken")
    assert r.returncode == 1 and a in r.stderr, (r.returncode, r.stderr)
    r = ctl(stack, "directory", "identity", "set", a, "--nis", "12", "--reason", "bad")
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = ctl(stack, "directory", "identity", "set", a, "--nis", KRUISEM)
    assert r.returncode == 2 and "--reason" in r.stderr, r.stderr
    assert db.query(f"SELECT actor FROM directory_journal WHERE cbe = '{a}' AND action = 'cpas-identity' "
                    "ORDER BY id DESC LIMIT 1") == [["e2e-identity"]]
    # Back to Kruisem only, for the OpenAPI example below (it uses another CPAS and municipality).
    assert ctl(stack, "directory", "identity", "set", a, "--nis", KRUISEM, "--sector", "17", "--institution", "101",
               "--reason", "e2e identity: back").returncode == 0


def test_the_openapi_example_is_accepted(relais):
    doc = yaml.safe_load(DOC.read_text())
    op = doc["paths"]["/v1/cpas/{cbe}/identity"]["put"]
    body = op["requestBody"]["content"]["application/json"]["example"]
    cbe = doc["components"]["schemas"]["Cbe"]["example"]
    api_put_cpas(relais.api.url, cbe, "CPAS of the OpenAPI examples", ["21004"])
    release(relais.api.url, *body["nis_codes"])
    r = requests.get(f"{relais.api.url}/v1/cpas-identities", headers=api_headers(), timeout=10)
    for ident in r.json()["identities"]:  # the example's sector/institution may be held too
        if ident["cbe"] != cbe and (ident["sector"], ident["institution"]) == (body["sector"], body["institution"]):
            assert put_identity(relais.api.url, ident["cbe"], {"nis_codes": [], "reason": "e2e reset"}).status_code == 200
    r = put_identity(relais.api.url, cbe, body)
    assert r.status_code in (200, 201), r.text
    r = requests.get(f"{relais.api.url}/v1/cpas/{body['nis_codes'][0]}/identity", headers=api_headers(), timeout=10)
    assert r.status_code == 200 and r.json()["identity"]["cbe"] == cbe, r.text
