"""Relais's XML verdict (libs/xml through relais_xml_check) agrees with xmllint --schema on a
corpus of documents against the public BCSS XSDs (var/bcss/cbss, scripts/fetch-bcss-xsd.sh):
valid and invalid SSDN envelopes, ManageAccess requests and replies, IdentifyPerson replies (the
wheel's own fixtures), each mutated the ways bcss-schemas.md lists; and Relais's own XSD of the
six notification flows (deploy/xsd/relais, importing the public Common types) and of SPP IS clignotants
(deploy/xsd/relais/sppis-clignotants.xsd, self-contained), valid and mutated. Hostile documents (DTDs,
entities) are the one documented divergence: Relais refuses them all, whatever xmllint says.
"""
import json
import os
import pathlib
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
CBSS = REPO / "var" / "bcss" / "cbss"
XSD = CBSS / "XSD"
CHECK = os.environ.get("RELAIS_XML_CHECK", str(REPO / "build" / "tests" / "relais_xml_check"))

SVC = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Service"
COMMON = "http://www.ksz-bcss.fgov.be/XSD/SSDN/Common"
MA = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/ManageAccess"
IP = "http://www.ksz-bcss.fgov.be/XSD/SSDN/OCMW_CPAS/IdentifyPerson"

# Schema sets: files imported in this order (envelope root first, then the body's root).
RELAIS_XSD = REPO / "deploy" / "xsd" / "relais"
NOTIF = "urn:be:relais:bcss:notifications:v1"
SPPIS = "urn:be:relais:sppis:clignotants:v1"

SETS = {
    "relais-notifications": ["SSDN/Common/NamespaceRoot.xsd", str(RELAIS_XSD / "notifications.xsd")],
    "ssdn+manage-access": ["SSDN/Service/NamespaceRoot.xsd", "SSDN/OCMW_CPAS/ManageAccess/NamespaceRoot.xsd"],
    "ssdn+identify-person": ["SSDN/Service/NamespaceRoot.xsd", "SSDN/OCMW_CPAS/IdentifyPerson/NamespaceRoot.xsd"],
    "manage-access": ["SSDN/OCMW_CPAS/ManageAccess/ManageAccessRequest.xsd"],
    "relais-batch": ["SSDN/Common/NamespaceRoot.xsd", str(RELAIS_XSD / "notifications.xsd"),
                     str(RELAIS_XSD / "sppis-clignotants.xsd"), str(RELAIS_XSD / "batch.xsd")],
    # Relais's own XSD for SPP IS clignotants, alone (it imports nothing).
    "relais-sppis": [str(RELAIS_XSD / "sppis-clignotants.xsd")],
}


def manage_access(ssin="68060105329", purpose="<Purpose>2</Purpose>",
                  period="<Period><c:StartDate>2026-01-01</c:StartDate></Period>",
                  action="REGISTER", sector="", query="", proof=None):
    if proof is None:
        proof = ("<ProofOfAuthentication><PersonData><LastName>Dupont</LastName>"
                 "<BirthDate>1968-06-01</BirthDate></PersonData></ProofOfAuthentication>")
    return (f'<ManageAccessRequest xmlns="{MA}" xmlns:c="{COMMON}"><SSIN>{ssin}</SSIN>{purpose}{period}'
            f"<Action>{action}</Action>{sector}{query}{proof}</ManageAccessRequest>")


def envelope(body, user="68060105329", email="<Email>cpas@example.be</Email>", matrix="<MatrixID>17</MatrixID><MatrixSubID>1</MatrixSubID>",
             org="<OrgUnit>0212344876</OrgUnit>", message="<Message><Reference>ref-1</Reference><TimeRequest>20260101T101010</TimeRequest></Message>",
             service="<ServiceId>OCMWCPASManageAccess</ServiceId><Version>20050930</Version>", services=1):
    reqs = "".join(f"<ServiceRequest>{service}{body}</ServiceRequest>" for _ in range(services))
    return (f'<?xml version="1.0" encoding="UTF-8"?><SSDNRequest xmlns="{SVC}"><RequestContext><AuthorizedUser>'
            f"<UserID>{user}</UserID>{email}{org}{matrix}</AuthorizedUser>{message}</RequestContext>{reqs}</SSDNRequest>")


def reply(body, ok="YES", code="0"):
    return (f'<SSDNReply xmlns="{SVC}" xmlns:c="{COMMON}"><ReplyContext><c:ResultSummary ok="{ok}"><c:ReturnCode>{code}</c:ReturnCode>'
            f"</c:ResultSummary></ReplyContext><ServiceReply><c:ResultSummary ok=\"{ok}\"><c:ReturnCode>{code}</c:ReturnCode></c:ResultSummary>"
            f"<ServiceId>OCMWCPASManageAccess</ServiceId><Version>20050930</Version>{body}</ServiceReply></SSDNReply>")


MA_REPLY = (f'<ManageAccessReply xmlns="{MA}" xmlns:c="{COMMON}"><OriginalRequest><SSIN>68060105329</SSIN><Purpose>2</Purpose>'
            "<Period><c:StartDate>2026-01-01</c:StartDate></Period><Action>REGISTER</Action></OriginalRequest>"
            "<Registrations><Purpose>2</Purpose><Period><c:StartDate>2012-05-24+02:00</c:StartDate></Period>"
            "<OrgUnit>63023</OrgUnit><Register>SECONDARY</Register></Registrations></ManageAccessReply>")


def corpus():
    """(name, schema set, document) triples."""
    docs = []
    ma_bodies = {
        "ok": manage_access(),
        "ok-unregister": manage_access(action="UNREGISTER", period="<Period><c:StartDate>2026-01-01</c:StartDate><c:EndDate>2026-03-31</c:EndDate></Period>"),
        "ok-list-sector": manage_access(action="LIST", purpose="", sector="<Sector>17</Sector>", query="<QueryRegister>ALL</QueryRegister>"),
        "ok-query-primary": manage_access(query="<QueryRegister>PRIMARY</QueryRegister>"),
        "ok-query-secondary": manage_access(query="<QueryRegister>SECONDARY</QueryRegister>"),
        "ok-empty-proof": manage_access(proof="<ProofOfAuthentication/>"),
        "ok-no-purpose": manage_access(purpose=""),
        "ok-birthdate-19-39": manage_access(proof="<ProofOfAuthentication><PersonData><LastName>X</LastName><BirthDate>1968-19-39</BirthDate></PersonData></ProofOfAuthentication>"),
        "ok-serial-000": manage_access(ssin="68060100097"),
        "ok-serial-999": manage_access(ssin="68060199936"),
        "ok-sis-card": manage_access(proof="<ProofOfAuthentication><SISCardNumber>1234567890</SISCardNumber></ProofOfAuthentication>"),
        "ok-id-card": manage_access(proof="<ProofOfAuthentication><IdentityCardNumber>123456789012</IdentityCardNumber></ProofOfAuthentication>"),
        "ok-first-name": manage_access(proof="<ProofOfAuthentication><PersonData><LastName>Dupont</LastName><FirstName>Jean  Paul</FirstName><BirthDate>1968-00-00</BirthDate></PersonData></ProofOfAuthentication>"),
        "bad-ssin-10": manage_access(ssin="6806010532"),
        "bad-ssin-12": manage_access(ssin="680601053299"),
        "bad-ssin-letters": manage_access(ssin="6806010532X"),
        "bad-action-delete": manage_access(action="DELETE"),
        "bad-action-lower": manage_access(action="register"),
        "bad-query-both": manage_access(query="<QueryRegister>BOTH</QueryRegister>"),
        "bad-sector-dotted": manage_access(sector="<Sector>17.1</Sector>"),
        "bad-no-period": manage_access(period=""),
        "bad-no-startdate": manage_access(period="<Period><c:EndDate>2026-03-31</c:EndDate></Period>"),
        "bad-period-wrong-ns": manage_access(period="<Period><StartDate>2026-01-01</StartDate></Period>"),
        "bad-startdate": manage_access(period="<Period><c:StartDate>2026-13-45</c:StartDate></Period>"),
        "bad-id-card-letter": manage_access(proof="<ProofOfAuthentication><IdentityCardNumber>B12345678</IdentityCardNumber></ProofOfAuthentication>"),
        "bad-sis-short": manage_access(proof="<ProofOfAuthentication><SISCardNumber>123</SISCardNumber></ProofOfAuthentication>"),
        "bad-no-proof": manage_access(proof=""),
        "bad-purpose-text": manage_access(purpose="<Purpose>two</Purpose>"),
        "bad-order": manage_access(purpose="", sector="").replace("<SSIN>68060105329</SSIN>", "").replace("<Action>", "<SSIN>68060105329</SSIN><Action>", 1),
        "bad-unknown-element": manage_access(query="<Extra>1</Extra>"),
        "bad-birthdate-short": manage_access(proof="<ProofOfAuthentication><PersonData><LastName>X</LastName><BirthDate>1968-1-1</BirthDate></PersonData></ProofOfAuthentication>"),
        "bad-no-lastname": manage_access(proof="<ProofOfAuthentication><PersonData><BirthDate>1968-06-01</BirthDate></PersonData></ProofOfAuthentication>"),
    }
    for name, body in ma_bodies.items():
        docs.append((f"ma-{name}", "manage-access", '<?xml version="1.0"?>' + body))
        docs.append((f"env-{name}", "ssdn+manage-access", envelope(body)))
    docs += [
        ("env-bad-userid", "ssdn+manage-access", envelope(ma_bodies["ok"], user="123")),
        ("env-bad-email", "ssdn+manage-access", envelope(ma_bodies["ok"], email="<Email>nobody</Email>")),
        ("env-no-email", "ssdn+manage-access", envelope(ma_bodies["ok"], email="")),
        ("env-no-matrix", "ssdn+manage-access", envelope(ma_bodies["ok"], matrix="")),
        ("env-matrix-only", "ssdn+manage-access", envelope(ma_bodies["ok"], matrix="<MatrixID>17</MatrixID>", org="")),
        ("env-org-is-nis", "ssdn+manage-access", envelope(ma_bodies["ok"], org="<OrgUnit>63023</OrgUnit>")),
        ("env-no-message", "ssdn+manage-access", envelope(ma_bodies["ok"], message="")),
        ("env-bad-time", "ssdn+manage-access", envelope(ma_bodies["ok"], message="<Message><TimeRequest>2026-01-01T10:10:10Z</TimeRequest></Message>")),
        ("env-bad-version", "ssdn+manage-access", envelope(ma_bodies["ok"], service="<ServiceId>OCMWCPASManageAccess</ServiceId><Version>2005</Version>")),
        ("env-two-requests", "ssdn+manage-access", envelope(ma_bodies["ok"], services=2)),
        ("env-no-request", "ssdn+manage-access", envelope(ma_bodies["ok"], services=0)),
        ("env-wrong-ns", "ssdn+manage-access", envelope(ma_bodies["ok"]).replace(SVC, SVC + "/v2", 1)),
        ("env-unknown-body", "ssdn+manage-access", envelope('<Other xmlns="urn:relais:unknown"><X/></Other>')),
        ("reply-ok", "ssdn+manage-access", reply(MA_REPLY)),
        ("reply-warning", "ssdn+manage-access", reply(MA_REPLY, ok="WARNING", code="1")),
        ("reply-bad-ok", "ssdn+manage-access", reply(MA_REPLY, ok="MAYBE")),
        ("reply-bad-register", "ssdn+manage-access", reply(MA_REPLY.replace("SECONDARY", "TERTIARY"))),
        ("reply-no-body", "ssdn+manage-access", reply("")),
        ("reply-unknown-body", "ssdn+manage-access", reply('<Other xmlns="urn:relais:unknown"/>')),
    ]
    docs += relais_corpus()
    for f in sorted((CBSS / "fixtures").glob("demo_ipr_*.xml")):
        text = f.read_text(encoding="utf-8")
        docs.append((f"ipr-{f.stem}", "ssdn+identify-person", text))
        docs.append((f"ipr-{f.stem}-bad-ssin", "ssdn+identify-person",
                     text.replace("<UserID>12345678901</UserID>", "<UserID>1234</UserID>")))
    return docs


def relais_doc(element, body, ticket="0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11", ssin="68060105329",
               date="2026-11-01"):
    return (f'<?xml version="1.0"?><{element} xmlns="{NOTIF}"><Context><Ticket>{ticket}</Ticket></Context>'
            f"<Person><SSIN>{ssin}</SSIN></Person><EffectiveDate>{date}</EffectiveDate>{body}</{element}>")


def relais_corpus():
    S = "relais-notifications"
    ok = {
        "np-death": ("NotifyPerson", "<Event>DEATH</Event><DateOfDeath>2026-11-01</DateOfDeath>"),
        "np-address": ("NotifyPerson", "<Event>ADDRESS_CHANGE</Event><InformationType>IT020</InformationType>"
                       "<RawValue>x</RawValue><Address><Street>Rue</Street><MunicipalityNisCode>21004</MunicipalityNisCode>"
                       "<CountryNrCode>150</CountryNrCode></Address>"),
        "np-civil": ("NotifyPerson", "<Event>CIVIL_STATUS_CHANGE</Event><CivilStatusCode>20</CivilStatusCode>"),
        "np-incomplete": ("NotifyPerson", "<Event>REGISTER_CHANGE</Event><BirthDate>1968-00-00</BirthDate><RegisterCode>1</RegisterCode>"),
        "fc-members": ("NotifyFamilyComposition", "<Event>MEMBER_ADDED</Event><Member><SSIN>68060105329</SSIN><RoleCode>1</RoleCode></Member>"
                       "<Member><SSIN>12060105317</SSIN><RoleCode>3</RoleCode><Since>2012-06-00</Since></Member>"),
        "pr-granted": ("PensionRegisterMutation", "<Event>RIGHT_GRANTED</Event><Regime>EMPLOYEE</Regime><PensionType>RETIREMENT</PensionType>"
                       "<RightStartDate>2026-11-01</RightStartDate><MonthlyGrossAmountCents>154000</MonthlyGrossAmountCents>"),
        "pf-in": ("PersonnelFile", "<Event>DIMONA_IN</Event><EmployerCbe>0212344876</EmployerCbe><DimonaWorkerType>OTH</DimonaWorkerType>"
                  "<CpasArticle60>true</CpasArticle60><PeriodStartDate>2026-11-01</PeriodStartDate>"),
        "pf-nsso": ("PersonnelFile", "<Event>DIMONA_OUT</Event><EmployerNssoNumber>123456789</EmployerNssoNumber><DimonaWorkerType>STU</DimonaWorkerType>"),
        "se-start": ("SelfEmployedCareer", "<Event>CAREER_STARTED</Event><Category>MAIN_ACTIVITY</Category><PeriodStartDate>2026-11-01</PeriodStartDate>"),
        "ec-created": ("EcarmedCalculation", "<Event>CALCULATION_CREATED</Event><DecisionNumber>D-1</DecisionNumber>"
                       "<DecisionCpasCbe>0212344876</DecisionCpasCbe><AmountClaimedCents>1000</AmountClaimedCents>"),
    }
    bad = {
        "np-bad-event": ("NotifyPerson", "<Event>MOVED</Event>"),
        "np-bad-civil": ("NotifyPerson", "<Event>CIVIL_STATUS_CHANGE</Event><CivilStatusCode>11</CivilStatusCode>"),
        "np-bad-it": ("NotifyPerson", "<Event>DEATH</Event><InformationType>IT24</InformationType>"),
        "np-bad-nis": ("NotifyPerson", "<Event>ADDRESS_CHANGE</Event><Address><MunicipalityNisCode>2100</MunicipalityNisCode></Address>"),
        "np-bad-country": ("NotifyPerson", "<Event>ADDRESS_ABROAD</Event><Address><CountryNrCode>100000</CountryNrCode></Address>"),
        "np-bad-order": ("NotifyPerson", "<DateOfDeath>2026-11-01</DateOfDeath><Event>DEATH</Event>"),
        "np-bad-gender": ("NotifyPerson", "<Event>DEATH</Event><GenderCode>3</GenderCode>"),
        "fc-no-role": ("NotifyFamilyComposition", "<Event>MEMBER_ADDED</Event><Member><SSIN>68060105329</SSIN></Member>"),
        "pr-bad-regime": ("PensionRegisterMutation", "<Event>RIGHT_GRANTED</Event><Regime>FARMER</Regime>"),
        "pr-bad-amount": ("PensionRegisterMutation", "<Event>RIGHT_GRANTED</Event><Regime>EMPLOYEE</Regime><MonthlyGrossAmountCents>12.5</MonthlyGrossAmountCents>"),
        "pf-bad-cbe": ("PersonnelFile", "<Event>DIMONA_IN</Event><EmployerCbe>212344876</EmployerCbe><DimonaWorkerType>OTH</DimonaWorkerType>"),
        "pf-no-worker-type": ("PersonnelFile", "<Event>DIMONA_IN</Event><EmployerCbe>0212344876</EmployerCbe>"),
        "pf-bad-bool": ("PersonnelFile", "<Event>DIMONA_IN</Event><DimonaWorkerType>OTH</DimonaWorkerType><CpasArticle60>yes</CpasArticle60>"),
        "se-bad-date": ("SelfEmployedCareer", "<Event>CAREER_STARTED</Event><Category>HELPER</Category><PeriodStartDate>2026-11-00</PeriodStartDate>"),
        "ec-no-decision": ("EcarmedCalculation", "<Event>CALCULATION_CREATED</Event>"),
    }
    docs = [(f"relais-{k}", S, relais_doc(el, body)) for k, (el, body) in ok.items()]
    docs += [(f"relais-{k}", S, relais_doc(el, body)) for k, (el, body) in bad.items()]
    docs += [
        ("relais-bad-ticket", S, relais_doc("NotifyPerson", "<Event>DEATH</Event>", ticket="not-a-uuid")),
        ("relais-bad-ssin", S, relais_doc("NotifyPerson", "<Event>DEATH</Event>", ssin="6806010532")),
        ("relais-bad-incomplete-date", S, relais_doc("NotifyPerson", "<Event>DEATH</Event>", date="2026-11")),
        ("relais-year-only", S, relais_doc("NotifyPerson", "<Event>DEATH</Event>", date="2026-00-00")),
        ("relais-wrong-ns", S, relais_doc("NotifyPerson", "<Event>DEATH</Event>").replace(NOTIF, NOTIF + ":v2")),
    ]
    return docs + sppis_corpus() + batch_corpus()


def sppis_doc(**parts):
    """An SPP IS clignotant (deploy/xsd/relais/sppis-clignotants.xsd); `parts` replace elements
    by name (None leaves the element out)."""
    p = {"Context": "<Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket></Context>",
         "SppIsId": "<SppIsId>CLG-2026-0004711</SppIsId>", "TypeCode": "<TypeCode>WORK_INCOME</TypeCode>",
         "Person": "<Person><SSIN>68060105329</SSIN></Person>", "CpasCbe": "<CpasCbe>0212344876</CpasCbe>",
         "Period": "<Period><StartDate>2026-01-01</StartDate><EndDate>2026-01-31</EndDate></Period>",
         "Amounts": "<Amounts><DeclaredCents>0</DeclaredCents><ObservedCents>182500</ObservedCents></Amounts>",
         "Sources": "<Sources><Source><Name>DIMONA</Name><Reference>DMN-2026-1</Reference></Source></Sources>",
         "IssuedDate": "<IssuedDate>2026-03-01</IssuedDate>", "DeadlineDate": "<DeadlineDate>2026-04-30</DeadlineDate>",
         "Event": "<Event>ISSUED</Event>"}
    p.update(parts)
    return f'<?xml version="1.0"?><SppIsClignotant xmlns="{SPPIS}">' + "".join(v for v in p.values() if v) \
        + "</SppIsClignotant>"


def sppis_sources(n):
    return "<Sources>" + "".join(f"<Source><Name>DMFA</Name><Reference>R-{i}</Reference></Source>"
                                 for i in range(n)) + "</Sources>"


def sppis_corpus():
    S = "relais-sppis"
    cases = {
        "ok": {},
        "ok-no-amounts": {"Amounts": None},
        "ok-twenty-sources": {"Sources": sppis_sources(20)},
        "ok-context-full": {"Context": "<Context><Ticket>0b7e1b8e-6c53-4d5a-9a51-2f4c1f2b9d11</Ticket>"
                                       "<SentAt>2026-03-01T08:00:00Z</SentAt><SourceFileId>SPPIS-1</SourceFileId>"
                                       "<SequenceNumber>7</SequenceNumber></Context>"},
        # the type list is data (INVALID_CODE after mapping), not the schema's: any UPPER_SNAKE code
        "ok-unknown-type-is-schema-valid": {"TypeCode": "<TypeCode>NOT_A_TYPE</TypeCode>"},
        "bad-no-sppis-id": {"SppIsId": None},
        "bad-empty-sppis-id": {"SppIsId": "<SppIsId></SppIsId>"},
        "bad-long-sppis-id": {"SppIsId": "<SppIsId>" + "A" * 41 + "</SppIsId>"},
        "bad-type-lower": {"TypeCode": "<TypeCode>work_income</TypeCode>"},
        "bad-ssin-10": {"Person": "<Person><SSIN>6806010532</SSIN></Person>"},
        "bad-replaces-ssin": {"Person": "<Person><SSIN>68060105329</SSIN><ReplacesSSIN>68060105329</ReplacesSSIN></Person>"},
        "bad-cbe": {"CpasCbe": "<CpasCbe>212344876</CpasCbe>"},
        "bad-no-period-end": {"Period": "<Period><StartDate>2026-01-01</StartDate></Period>"},
        "bad-incomplete-date": {"Period": "<Period><StartDate>2026-01-00</StartDate><EndDate>2026-01-31</EndDate></Period>"},
        "bad-date-zone": {"IssuedDate": "<IssuedDate>2026-03-01Z</IssuedDate>"},
        "bad-amount-decimal": {"Amounts": "<Amounts><ObservedCents>12.5</ObservedCents></Amounts>"},
        "bad-no-sources": {"Sources": "<Sources/>"},
        "bad-21-sources": {"Sources": sppis_sources(21)},
        "bad-long-reference": {"Sources": "<Sources><Source><Name>DIMONA</Name><Reference>" + "R" * 65
                                          + "</Reference></Source></Sources>"},
        "bad-reference-space": {"Sources": "<Sources><Source><Name>DIMONA</Name><Reference>a b</Reference></Source></Sources>"},
        "bad-event": {"Event": "<Event>CLOSED</Event>"},
        "bad-no-deadline": {"DeadlineDate": None},
        "bad-no-ticket": {"Context": "<Context/>"},
    }
    docs = [(f"sppis-{k}", S, sppis_doc(**v)) for k, v in cases.items()]
    docs.append(("sppis-wrong-ns", S, sppis_doc().replace(SPPIS, NOTIF)))
    return docs


def batch_doc(header="<b:FileId>BCSS-1</b:FileId><b:Sender>BCSS</b:Sender>", records=None):
    """A whole XML batch file (deploy/xsd/relais/batch.xsd)."""
    def rec(body):
        return relais_doc("NotifyPerson", body).replace('<?xml version="1.0"?>', "")
    if records is None:
        records = [rec("<Event>DEATH</Event>"), rec("<Event>NAME_CHANGE</Event><LastName>Janssens</LastName>")]
    return (f'<?xml version="1.0"?><b:NotificationBatch xmlns:b="urn:be:relais:bcss:batch:v1">{header}'
            + "".join(records) + "</b:NotificationBatch>")


def batch_corpus():
    S = "relais-batch"
    one = relais_doc("NotifyPerson", "<Event>DEATH</Event>").replace('<?xml version="1.0"?>', "")
    return [
        ("batch-ok", S, batch_doc()),
        ("batch-empty", S, batch_doc(records=[])),
        ("batch-created-at", S, batch_doc(header="<b:FileId>F</b:FileId><b:Sender>BCSS</b:Sender>"
                                                 "<b:CreatedAt>2026-12-05T01:00:00Z</b:CreatedAt>")),
        ("batch-no-file-id", S, batch_doc(header="<b:Sender>BCSS</b:Sender>")),
        ("batch-empty-file-id", S, batch_doc(header="<b:FileId></b:FileId><b:Sender>BCSS</b:Sender>")),
        ("batch-header-after-record", S, batch_doc(header="", records=[
            "<b:FileId>F</b:FileId>", one, "<b:Sender>BCSS</b:Sender>"])),
        ("batch-bad-ssin", S, batch_doc(records=[one.replace("68060105329", "6806010532")])),
        ("batch-unknown-record", S, batch_doc(records=['<Other xmlns="urn:relais:unknown"/>'])),
        ("batch-wrong-ns", S, batch_doc().replace("urn:be:relais:bcss:batch:v1", "urn:be:relais:bcss:batch:v2")),
        ("batch-sppis", S, batch_doc(records=[one, sppis_doc().replace('<?xml version="1.0"?>', "")])),
        ("batch-sppis-bad", S, batch_doc(records=[sppis_doc(SppIsId=None).replace('<?xml version="1.0"?>', "")])),
    ]


HOSTILE = {
    "laughs": '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
    "xxe-file": '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><SSDNRequest xmlns="%s">&x;</SSDNRequest>' % SVC,
    "xxe-http": '<!DOCTYPE a [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]><SSDNRequest xmlns="%s">&x;</SSDNRequest>' % SVC,
    "external-dtd": '<!DOCTYPE SSDNRequest SYSTEM "http://127.0.0.1:9/x.dtd"><SSDNRequest xmlns="%s"/>' % SVC,
}


def wrapper_for(files, folder):
    imports = []
    for rel in files:
        path = XSD / rel if not rel.startswith("/") else pathlib.Path(rel)
        head = path.read_text(encoding="utf-8", errors="replace")[:2000]
        ns = head.split('targetNamespace="', 1)[1].split('"', 1)[0]
        imports.append(f'<xs:import namespace="{ns}" schemaLocation="{path.as_uri()}"/>')
    w = pathlib.Path(folder) / ("wrapper-%d.xsd" % abs(hash(tuple(files))))
    w.write_text('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">'
                 + "".join(imports) + "</xs:schema>", encoding="utf-8")
    return w


def xmllint_valid(wrapper, doc):
    r = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", str(wrapper), str(doc)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0


def relais_verdicts(set_name, docs):
    args = [CHECK, "--root", str(XSD), "--root", str(RELAIS_XSD)]
    for rel in SETS[set_name]:
        args += ["--xsd", str(XSD / rel) if not rel.startswith("/") else rel]
    r = subprocess.run(args + [str(d) for d in docs], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {json.loads(line)["doc"]: json.loads(line) for line in r.stdout.splitlines()}


@pytest.fixture(scope="module")
def workdir():
    assert XSD.is_dir(), "run scripts/fetch-bcss-xsd.sh (make deps) first"
    with tempfile.TemporaryDirectory() as d:
        yield pathlib.Path(d)


def test_corpus_is_large_and_mixed():
    docs = corpus()
    assert len(docs) >= 60
    names = [n for n, _, _ in docs]
    assert len(set(names)) == len(names)


def test_relais_agrees_with_xmllint(workdir):
    docs = corpus()
    by_set = {}
    for name, set_name, text in docs:
        p = workdir / f"{name}.xml"
        p.write_text(text, encoding="utf-8")
        by_set.setdefault(set_name, []).append(p)
    disagreements, valid, invalid = [], 0, 0
    for set_name, paths in by_set.items():
        wrapper = wrapper_for(SETS[set_name], workdir)
        verdicts = relais_verdicts(set_name, paths)
        for p in paths:
            expected = xmllint_valid(wrapper, p)
            got = verdicts[str(p)]
            valid += expected
            invalid += not expected
            if got["valid"] != expected:
                disagreements.append(f"{p.name}: xmllint {'valid' if expected else 'invalid'}, Relais {got}")
            if not got["valid"]:
                assert got["message"], got
    assert not disagreements, "\n".join(disagreements)
    # Both verdicts occur in numbers: the corpus exercises the schemas, not one branch.
    assert valid >= 30 and invalid >= 45, (valid, invalid)


def test_known_verdicts_from_the_schema_notes(workdir):
    """The verdicts bcss-schemas.md records, checked by name (so a corpus bug cannot hide them)."""
    docs = {n: (s, t) for n, s, t in corpus()}
    expect = {"ma-bad-ssin-10": False, "ma-bad-action-delete": False, "ma-bad-query-both": False,
              "ma-bad-sector-dotted": False, "ma-bad-no-period": False, "ma-bad-id-card-letter": False,
              "ma-bad-period-wrong-ns": False, "ma-ok-empty-proof": True, "ma-ok-no-purpose": True,
              "ma-ok-birthdate-19-39": True, "ma-ok-serial-000": True, "ma-ok-serial-999": True,
              "env-unknown-body": True,  # the request body is a lax wildcard
              "reply-unknown-body": False,  # the reply body is strict
              # deploy/xsd/relais/batch.xsd, as docs/bcss.md describes it
              "batch-ok": True, "batch-empty": True, "batch-created-at": True, "batch-no-file-id": False,
              "batch-empty-file-id": False, "batch-header-after-record": False, "batch-bad-ssin": False,
              "batch-unknown-record": False, "batch-wrong-ns": False,
              # deploy/xsd/relais/sppis-clignotants.xsd, as docs/clignotants.md describes it
              "sppis-ok": True, "sppis-ok-no-amounts": True, "sppis-ok-twenty-sources": True,
              "sppis-ok-unknown-type-is-schema-valid": True, "sppis-bad-no-sppis-id": False,
              "sppis-bad-21-sources": False, "sppis-bad-ssin-10": False, "sppis-bad-replaces-ssin": False,
              "sppis-bad-no-sources": False, "sppis-bad-date-zone": False, "sppis-bad-incomplete-date": False,
              "sppis-bad-no-ticket": False, "sppis-wrong-ns": False, "batch-sppis": True, "batch-sppis-bad": False}
    for name, want in expect.items():
        set_name, text = docs[name]
        p = workdir / f"known-{name}.xml"
        p.write_text(text, encoding="utf-8")
        got = relais_verdicts(set_name, [p])[str(p)]
        assert got["valid"] == want, (name, got)


def test_hostile_documents_are_refused(workdir):
    paths = []
    for name, text in HOSTILE.items():
        p = workdir / f"hostile-{name}.xml"
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    verdicts = relais_verdicts("ssdn+manage-access", paths)
    for p in paths:
        got = verdicts[str(p)]
        assert got["valid"] is False and got["code"] == "XML_DTD_FORBIDDEN", (p.name, got)
