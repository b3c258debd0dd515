"""Labels for people in French, Dutch and German (issue 16, item 5; docs/clignotants.md
"Languages"): relais-api chooses by Accept-Language (q-values honoured, English when nothing
matches) for problem documents, alert types, reaction codes and GET /v1/labels; relaisctl by
--lang. Uses the session's Relais (conftest.py)."""

from __future__ import annotations

import json

import requests

from relais_harness import REPO, api_headers
from test_relaisctl import ctl


def get(url: str, lang: str | None, **kw) -> requests.Response:
    h = api_headers()
    if lang is not None:
        h["Accept-Language"] = lang
    return requests.get(url, headers=h, timeout=30, **kw)


def test_problem_documents_follow_accept_language(relais):
    bad = f"{relais.api.url}/v1/cpas/1234567890/alerts"  # a CBE number with wrong check digits
    answers = {lang: get(bad, lang) for lang in (None, "fr-BE", "nl;q=0.9, fr;q=0.4", "de", "es, it;q=0.5")}
    for lang, r in answers.items():
        assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json"), r.text
        assert "Accept-Language" in r.headers.get("Vary", "")
    en, fr, nl, de, es = (answers[k].json() for k in answers)
    assert en["title"] == "Invalid request" and "lang" not in en
    assert es["title"] == "Invalid request", "nothing supported: English"
    assert answers["es, it;q=0.5"].headers["Content-Language"] == "en"
    assert (fr["title"], fr["lang"]) == ("Requête invalide", "fr")
    assert (nl["title"], nl["lang"]) == ("Ongeldig verzoek", "nl"), "the higher q-value wins"
    assert (de["title"], de["lang"]) == ("Ungültige Anfrage", "de")
    assert answers["de"].headers["Content-Language"] == "de"
    for doc in (fr, nl, de):
        # The stable members for programs are the same in every language.
        assert (doc["code"], doc["message"], doc.get("field")) == (en["code"], en["message"], en.get("field"))
        assert doc["detail"] != en["detail"], doc
    assert fr["code"] == "INVALID_CBE", fr
    assert "BCE" in fr["detail"] and "KBO" in nl["detail"] and "ZDU" in de["detail"]


def test_labels_and_reaction_codes_in_each_language(relais):
    seen = {}
    for lang in ("fr", "nl", "de", "en"):
        r = get(f"{relais.api.url}/v1/labels", lang)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["lang"] == lang
        for section in ("alert_types", "quality_codes", "reaction_codes", "problem_titles", "errors"):
            assert doc[section], (lang, section)
        seen[lang] = doc
    assert seen["fr"]["alert_types"]["PERSON_DECEASED"] == "Personne décédée"
    assert seen["nl"]["quality_codes"]["2"] == "Leefloon"
    assert seen["de"]["reaction_codes"]["NO_IMPACT"] == "Keine Auswirkung auf die Hilfe"
    assert seen["en"]["alert_types"]["PERSON_DECEASED"] == "Person deceased"
    assert set(seen["fr"]["errors"]) == set(seen["de"]["errors"])
    codes = get(f"{relais.api.url}/v1/reaction-codes", "nl-BE").json()["reaction_codes"]
    no_impact = next(c for c in codes if c["code"] == "NO_IMPACT")
    assert no_impact["label"] == "Geen impact op de hulp"
    assert set(no_impact["labels"]) == {"fr", "nl", "de"} and no_impact["valid_from"] == "2024-01-01"


def test_relaisctl_lang(relais, stack):
    codes = str(REPO / "deploy/rules/reaction-codes.yaml")
    rc, out, err = ctl(relais, stack, "labels", "--lang", "nl", "--section", "alert_types", "--reaction-codes", codes)
    assert rc == 0, err
    rows = dict((k, v) for s, k, v in (line.split("\t") for line in out.splitlines()))
    assert rows["EMPLOYMENT_STARTED"] == "Tewerkstelling begonnen"
    rc, out, err = ctl(relais, stack, "labels", "--lang", "de", "--json", "--reaction-codes", codes)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["lang"] == "de" and doc["reaction_codes"]["ALREADY_KNOWN"] == "Bereits bekannt"
    assert doc["quality_codes"]["5"] == "Mitbewohner"
    rc, out, err = ctl(relais, stack, "labels", "--lang", "es")
    assert rc == 2 and "--lang: one of fr, nl, de, en" in err, (rc, err)
