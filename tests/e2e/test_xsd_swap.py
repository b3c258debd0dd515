"""The swap procedure of docs/bcss.md ("Swap in the partner XSDs"), performed step by step
against the real services with a stand-in partner XSD (tests/data/partner-xsd):

1. put the partner's XSDs in a folder of their own;
2. add that folder to ingest.soap.xsd_roots and the entry XSD to ingest.soap.xsd_files, after the
   Common types it imports;
3. write the flow's mapping for the partner's root element in the mappings folder;
4. check the configuration (relais-ingest --print-config) and restart relais-ingest;
5. post a sample: ok="YES", and the record reaches the CPAS topic in its canonical form.
Then, a change inside the mapping is taken by SIGHUP alone (a broken one is refused and the
previous one keeps serving).
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET

import requests

from e2e_util import cpas_topic, cpas_with_persons, headers_of, read_until, wait_for
from relais_harness import BUILD, REPO, new_ticket

COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
PARTNER = "urn:example:partner:person-mutation:v1"


def sample(ticket, ssin, code="IT010"):
    return (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f'<PersonMutation xmlns="{PARTNER}"><MessageId>{ticket}</MessageId><Inss>{ssin}</Inss>'
            f'<Mutation informationType="{code}"><Date>2026-11-01</Date></Mutation>'
            f"<Surname>Peeters</Surname><GivenNames>An</GivenNames></PersonMutation></s:Body></s:Envelope>")


def post(relais, text):
    r = requests.post(f"{relais.ingest.url}/v1/soap", data=text.encode(), headers={"Content-Type": "text/xml"},
                      timeout=30)
    rs = ET.fromstring(r.content).find(f".//{{{COMMON}}}ResultSummary")
    return r.status_code, rs.get("ok"), rs.findtext(f".//{{{COMMON}}}ReasonCode")


def test_swap_in_a_partner_xsd(relais, db, brokers, pb, tmp_path):
    rng = random.Random()
    cbe, (ssin,) = cpas_with_persons(relais, db, rng, "CPAS e2e xsd swap", 1)
    assert post(relais, sample(new_ticket(), ssin))[1:] == ("NO", "UNKNOWN_BODY")  # not configured yet

    # 1. The partner's XSDs in a folder of their own.
    partner_dir = tmp_path / "xsd-partner"
    partner_dir.mkdir()
    shutil.copy(REPO / "tests/data/partner-xsd/person-mutation.xsd", partner_dir)
    # 3. The mappings folder: Relais's own, plus the partner's root element.
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "deploy/mappings", mappings)
    shutil.copy(REPO / "tests/data/partner-xsd/person-mutation.yaml", mappings)
    # 2. The folder in xsd_roots, the entry XSD in xsd_files after the Common types.
    ingest = relais.ingest
    saved = dict(ingest.env)
    ingest.env.update({
        "RELAIS_INGEST_SOAP_XSD_ROOTS": f"{REPO}/var/bcss/cbss/XSD,{REPO}/deploy/xsd/relais,{partner_dir}",
        "RELAIS_INGEST_SOAP_XSD_FILES": (f"{REPO}/var/bcss/cbss/XSD/SSDN/Common/NamespaceRoot.xsd,"
                                         f"{REPO}/deploy/xsd/relais/notifications.xsd,{partner_dir}/person-mutation.xsd"),
        "RELAIS_INGEST_SOAP_MAPPINGS_DIR": str(mappings),
    })
    try:
        # 4. Check the configuration, restart.
        out = subprocess.run([str(BUILD / "services" / "relais-ingest"), "--print-config"], env=ingest.env,
                             cwd=str(REPO), capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and str(partner_dir) in out.stdout, out.stdout + out.stderr
        ingest.stop()
        ingest.restart()
        # 5. A sample in the partner's format: accepted, canonical on the CPAS topic.
        t = new_ticket()
        assert post(relais, sample(t, ssin)) == (200, "YES", "ACCEPTED")
        recs = read_until(brokers, cpas_topic(cbe), lambda rs: any(headers_of(m).get("ticket") == t for m in rs),
                          timeout=60)
        rn = pb.RoutedNotification()
        rn.ParseFromString(next(m for m in recs if headers_of(m).get("ticket") == t).value())
        np = rn.notification.notify_person
        assert (np.ssin, np.last_name, np.first_names, np.effective_date) == (ssin, "Peeters", "An", "2026-11-01")
        assert np.event == 4  # NotifyPerson.NAME_CHANGE

        # A mapping change by SIGHUP alone: IT150 no longer mapped -> refused after the reload.
        text = (mappings / "person-mutation.yaml").read_text()
        (mappings / "person-mutation.yaml").write_text(text.replace(", IT150: DEATH", ""))
        ingest.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SOAP schemas and mappings reloaded" in ingest.log_path.read_text(), 10, what="reload")
        assert post(relais, sample(new_ticket(), ssin, "IT150"))[1:] == ("NO", "XML_UNKNOWN_CODE")
        # A broken mapping: refused, the previous one keeps serving.
        (mappings / "person-mutation.yaml").write_text("flow: notify-person\nroot: [broken\n")
        ingest.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "not reloaded" in ingest.log_path.read_text(), 10, what="refused reload")
        assert post(relais, sample(new_ticket(), ssin))[:2] == (200, "YES")
    finally:
        ingest.stop()
        ingest.env.clear()
        ingest.env.update(saved)
        ingest.restart()
