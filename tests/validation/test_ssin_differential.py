"""Differential test of Relais's SSIN rules (docs/validation.md).

About 180,000 numbers, generated with a seeded RNG, go through relais_ssin_check (Relais's
check_ssin / ssin_kind), through python-stdnum (stdnum.be.nn, stdnum.be.bis, stdnum.be.ssn,
version pinned in tests/requirements.txt) and through the public schema types (CommonV3 SsinType,
SSDN t_SSIN). Every divergence must fall into a category of DOCUMENTED, each naming the section of
docs/validation.md that explains the decision; any other divergence fails, with examples. A
documented category that no number shows any more fails too, so the document cannot go stale.

The current year is fixed (YEAR) for Relais and for stdnum alike: both refuse the 2000s reading
of a number whose 20YY lies after it.
"""
from __future__ import annotations

import calendar
import datetime
import os
import random
import re
import subprocess
import types
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import stdnum
from stdnum.be import bis as stdnum_bis
from stdnum.be import nn as stdnum_nn
from stdnum.be import ssn as stdnum_ssn

REPO = Path(__file__).resolve().parents[2]
YEAR = 2025
SEED = 20
MIN_NUMBERS = 100_000


class _FixedDate(datetime.date):
    @classmethod
    def today(cls):  # noqa: D102 - stdnum reads only today().year
        return cls(YEAR, 6, 1)


# stdnum.be.nn reads datetime.date.today() for its own future-year rule: pin it to YEAR.
stdnum_nn.datetime = types.SimpleNamespace(date=_FixedDate)

# The CommonV3 SsinType patterns, verbatim (XSD/be/fgov/kszbcss/types/common/CommonV3.xsd);
# XSD patterns are anchored. National Register, BIS, TER.
SSIN_TYPE = [
    r"[0-9][0-9](([0][0-9])|([1][0-2]))(([0-2][0-9])|([3][0-1]))"
    r"(([0-9]{2}[1-9])|([0-9][1-9][0-9])|([1-9][0-9]{2}))(([0-8][0-9])|([9][0-7]))",
    r"[0-9][0-9](([2][0-9])|([3][0-2]))(([0-2][0-9])|([3][0-1]))[0-9]{3}(([0-8][0-9])|([9][0-7]))",
    r"[0-9][0-9](([4][0-9])|([5][0-2]))(([0-2][0-9])|([3][0-1]))[0-9]{3}(([0-8][0-9])|([9][0-7]))",
]
SSIN_TYPE_RE = [re.compile(p, re.ASCII) for p in SSIN_TYPE]
CHECK_PART = "(([0-8][0-9])|([9][0-7]))"
# The same without the 00-97 bound on the check digits: Relais's bad_format is exactly "fails
# this", the check digits being Relais's bad_checksum.
SSIN_TYPE_SHAPE_RE = [re.compile(p[: -len(CHECK_PART)] + "[0-9]{2}", re.ASCII) for p in SSIN_TYPE]
ASCII11 = re.compile(r"[0-9]{11}", re.ASCII)


def ssin_type(s: str) -> bool:
    return any(r.fullmatch(s) for r in SSIN_TYPE_RE)


def ssin_type_shape(s: str) -> bool:
    return any(r.fullmatch(s) for r in SSIN_TYPE_SHAPE_RE)


def t_ssin(s: str) -> bool:
    """SSDN t_SSIN: whiteSpace collapse, length 11, pattern \\p{N}{11}."""
    collapsed = " ".join(s.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" "))
    collapsed = re.sub(" +", " ", collapsed).strip(" ")
    return len(collapsed) == 11 and all(unicodedata.category(c) in ("Nd", "Nl", "No") for c in collapsed)


def stdnum_verdict(s: str) -> str:
    nn_ok, bis_ok = stdnum_nn.is_valid(s), stdnum_bis.is_valid(s)
    assert not (nn_ok and bis_ok), s
    assert stdnum_ssn.is_valid(s) == (nn_ok or bis_ok), s
    return "nr" if nn_ok else "bis" if bis_ok else "bad"


# ---- documented divergences -----------------------------------------------------------------
# (name, docs/validation.md section, predicate(number, relais verdict, other verdict)).
# Relais verdicts: "ok nr", "ok bis", "bad_format", "bad_checksum".

def _digits_field(s: str, a: int, b: int) -> int:
    return int(s[a:b])


DOCUMENTED_STDNUM = [
    ("stdnum strips separators and white space", "#separators-white-space-and-unicode-digits",
     lambda s, r, o: r == "bad_format" and o != "bad" and not ASCII11.fullmatch(s)),
    ("stdnum takes a day above 31 as an unknown day", "#days",
     lambda s, r, o: r == "bad_format" and o != "bad" and ASCII11.fullmatch(s)
     and _digits_field(s, 4, 6) > 31),
    ("stdnum accepts a National Register serial 000", "#serials",
     lambda s, r, o: r == "bad_format" and o == "nr" and ASCII11.fullmatch(s)
     and _digits_field(s, 4, 6) <= 31 and _digits_field(s, 6, 9) == 0),
]

DOCUMENTED_XSD = [
    ("SsinType does not check the mod-97 digits", "#check-digits-and-centuries",
     lambda s, r, o: r == "bad_checksum" and o == "SsinType"),
    ("t_SSIN is only 11 numeric characters", "#the-two-schema-types",
     lambda s, r, o: r in ("bad_format", "bad_checksum") and o == "t_SSIN" and ASCII11.fullmatch(s)),
    ("t_SSIN collapses white space and takes any Unicode numeric",
     "#separators-white-space-and-unicode-digits",
     lambda s, r, o: r == "bad_format" and o == "t_SSIN" and not ASCII11.fullmatch(s)),
]


# ---- generation -----------------------------------------------------------------------------

def with_check(nine: str, born_2000s: bool) -> str:
    n = int(("2" + nine) if born_2000s else nine)
    return nine + f"{97 - n % 97:02d}"


def number(year: int, month: int, day: int, serial: int) -> str:
    """The SSIN with the check digits of its century (year 1900-2099)."""
    return with_check(f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}", year >= 2000)


def random_year(rng: random.Random) -> int:
    return rng.randint(1900, YEAR)


def real_day(rng: random.Random, year: int, month: int) -> int:
    return rng.randint(1, calendar.monthrange(year, month)[1])


def generate(rng: random.Random) -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = []
    add = lambda tag, s: cases.append((tag, s))  # noqa: E731
    valid: list[str] = []

    for _ in range(20_000):  # National Register, both centuries
        y, m = random_year(rng), rng.randint(1, 12)
        s = number(y, m, real_day(rng, y, m), rng.randint(1, 999))
        add("nr", s)
        valid.append(s)
    for _ in range(15_000):  # BIS: +20 sex unknown, +40 sex known, any serial
        y, m = random_year(rng), rng.randint(1, 12)
        s = number(y, m + rng.choice((20, 40)), real_day(rng, y, m), rng.randint(0, 999))
        add("bis", s)
        valid.append(s)
    for _ in range(6_000):  # unknown birth date parts (month 00 / 20 / 40, day 00)
        y = random_year(rng)
        m = rng.choice((0, 20, 40, rng.randint(1, 12), rng.randint(21, 32), rng.randint(41, 52)))
        d = rng.choice((0, 0, rng.randint(1, 31)))
        add("unknown-date", number(y, m, d, rng.randint(0, 999)))
    for nine in ("000001", "002001", "004001"):  # stdnum's "fictitious" fully unknown dates
        for serial in range(0, 1000, 7):
            add("unknown-date", with_check(f"{nine}{serial:03d}", False))
            add("unknown-date", with_check(f"{nine}{serial:03d}", True))
    for _ in range(2_000):  # edge serials, every kind of month, both centuries
        y = random_year(rng)
        m = rng.choice((0, 20, 40, rng.randint(1, 12), rng.randint(21, 32), rng.randint(41, 52)))
        d = rng.choice((0, rng.randint(1, 28), 31))
        for serial in (0, 1, 2, 997, 998, 999):
            add("edge-serial", number(y, m, d, serial))
    for _ in range(10_000):  # impossible dates and months
        y = random_year(rng)
        kind = rng.randrange(5)
        if kind == 0:  # days a month does not have (Feb 29 of a common year, Feb 30, Apr 31...)
            m = rng.randint(1, 12)
            d = rng.randint(calendar.monthrange(y, m)[1] + 1, 31) if calendar.monthrange(y, m)[1] < 31 else 31
            m += rng.choice((0, 20, 40))
        elif kind == 1:  # day 32-99
            m, d = rng.choice((0, 20, 40, rng.randint(1, 12), rng.randint(21, 52))), rng.randint(32, 99)
        elif kind == 2:  # months outside 00-12, 20-32, 40-52
            m, d = rng.choice((13, 19, 33, 39, 53, 60, 72, 80, 92, 99, rng.randint(53, 99))), rng.randint(0, 31)
        elif kind == 3:  # Feb 30, day 32, month 13 on purpose
            m, d = rng.choice(((2, 30), (22, 30), (42, 30), (1, 32), (13, 1), (13, 0)))
        else:  # day 31 in every month
            m, d = rng.choice((rng.randint(0, 12), rng.randint(20, 32), rng.randint(40, 52))), 31
        add("impossible-date", number(y, m, d, rng.randint(0, 999)))
    for _ in range(10_000):  # valid only in the 2000s reading, including future years
        yy = rng.choice((YEAR % 100, YEAR % 100 + 1, rng.randint(0, 99)))
        m = rng.choice((rng.randint(0, 12), rng.randint(20, 32), rng.randint(40, 52)))
        add("2000s-only", number(2000 + yy, m, rng.randint(0, 31), rng.randint(0, 999)))
        add("1900s-of-2000s", number(1900 + yy, m, rng.randint(0, 31), rng.randint(0, 999)))

    digits = "0123456789"
    for s in rng.sample(valid, 1_000):  # every single-digit error, at every position
        for i in range(11):
            for d in digits:
                if d != s[i]:
                    add("digit-error", s[:i] + d + s[i + 1:])
    for s in rng.sample(valid, 200):  # every check-digit pair 00-99
        for cc in range(100):
            add("check-digits", s[:9] + f"{cc:02d}")
    for s in rng.sample(valid, 1_000):  # adjacent transpositions
        for i in range(10):
            if s[i] != s[i + 1]:
                add("transposition", s[:i] + s[i + 1] + s[i] + s[i + 2:])
    for s in rng.sample(valid, 500):  # wrong lengths
        for t in (s[:9], s[:10], s + rng.choice(digits), s + "00", s[1:], "", s[:1]):
            add("length", t)
    odd = ["\u0660\u0661", "\uff10", "\u00bd", "\u2167", "\u00b2", "\u0966"]
    for s in rng.sample(valid, 500):  # non-digits, separators, white space, Unicode numerics
        f = f"{s[0:2]}.{s[2:4]}.{s[4:6]}-{s[6:9]}.{s[9:11]}"
        i = rng.randrange(11)
        for t in (f, f.replace("-", "\u2013"), s[:6] + " " + s[6:], " " + s, s + " ", "\t" + s,
                  s[:i] + rng.choice("Ax/+_ ") + s[i + 1:], s[:i] + rng.choice(odd)[0] + s[i + 1:],
                  "".join(chr(0x0660 + int(c)) for c in s), "".join(chr(0xFF10 + int(c)) for c in s),
                  s.replace(s[i], "-", 1), "-" + s[1:], "+" + s[1:], s[:5] + "\u00a0" + s[5:]):
            add("non-digit", t)
    return cases


@pytest.fixture(scope="module")
def results():
    tool = os.environ.get("RELAIS_SSIN_CHECK", str(REPO / "build" / "tests" / "relais_ssin_check"))
    assert Path(tool).is_file(), f"{tool} not built (cmake --build build --target relais_ssin_check)"
    cases = generate(random.Random(SEED))
    assert all("\n" not in s and "\r" not in s for _, s in cases)
    out = subprocess.run([tool, str(YEAR)], input="\n".join(s for _, s in cases) + "\n",
                         capture_output=True, text=True, encoding="utf-8", check=True).stdout
    verdicts = out.splitlines()
    assert len(verdicts) == len(cases)
    return [(tag, s, r) for (tag, s), r in zip(cases, verdicts)]


def _classify(rows, documented, label):
    """Counts per documented category; fails on any divergence outside them."""
    seen: Counter = Counter()
    unexplained: dict[str, list[str]] = defaultdict(list)
    for tag, s, relais, other in rows:
        for name, _section, pred in documented:
            if pred(s, relais, other):
                seen[name] += 1
                break
        else:
            unexplained[tag].append(f"{s!r}: Relais {relais}, {label} {other}")
    if unexplained:
        examples = [e for tag in sorted(unexplained) for e in unexplained[tag][:5]][:20]
        total = sum(len(v) for v in unexplained.values())
        pytest.fail(f"{total} undocumented divergences from {label} (docs/validation.md), e.g.:\n  "
                    + "\n  ".join(examples))
    missing = [name for name, _, _ in documented if not seen[name]]
    assert not missing, f"documented divergences from {label} that no number shows any more: {missing}"
    return seen


def test_enough_numbers_of_every_kind(results):
    assert len(results) >= MIN_NUMBERS
    tags = Counter(tag for tag, _, _ in results)
    verdicts = Counter(r for _, _, r in results)
    assert min(tags.values()) >= 1000, tags
    assert all(verdicts[v] >= 1000 for v in ("ok nr", "ok bis", "bad_format", "bad_checksum")), verdicts


def test_pinned_stdnum():
    pins = (REPO / "tests" / "requirements.txt").read_text().splitlines()
    assert f"python-stdnum=={stdnum.__version__}" in pins


def test_against_python_stdnum(results):
    rows = []
    for tag, s, relais in results:
        other = stdnum_verdict(s)
        if {"ok nr": "nr", "ok bis": "bis"}.get(relais, "bad") != other:
            rows.append((tag, s, relais, other))
    seen = _classify(rows, DOCUMENTED_STDNUM, "stdnum")
    print(f"\n{len(results)} numbers, {len(rows)} divergences from stdnum: {dict(seen)}")


def test_against_the_schema_types(results):
    rows = []
    for tag, s, relais in results:
        ok = relais.startswith("ok")
        # Never accept what either schema type refuses.
        if ok:
            assert ssin_type(s) and t_ssin(s), f"Relais accepts {s!r}, which the schema refuses"
        # bad_format is exactly "not the shape of SsinType"; the check digits are the rest.
        assert (relais == "bad_format") == (not ssin_type_shape(s)), f"{s!r}: Relais {relais}"
        if not ok and ssin_type(s):
            rows.append((tag, s, relais, "SsinType"))
        elif not ok and t_ssin(s):
            rows.append((tag, s, relais, "t_SSIN"))
    seen = _classify(rows, DOCUMENTED_XSD, "the schema")
    print(f"\n{len(rows)} numbers the schema accepts and Relais refuses: {dict(seen)}")


def test_test_vectors_of_domain_md():
    tool = os.environ.get("RELAIS_SSIN_CHECK", str(REPO / "build" / "tests" / "relais_ssin_check"))
    vectors = ["68060105329", "12060105317", "12060105346", "02040500244", "93051822361"]
    out = subprocess.run([tool, str(YEAR)], input="\n".join(vectors) + "\n", capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines() == ["ok nr"] * len(vectors)
    assert all(stdnum_nn.is_valid(v) and ssin_type(v) and t_ssin(v) for v in vectors)


def test_documented_sections_exist():
    doc = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    anchors = {"#" + re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", doc, re.M)}
    for name, section, _ in DOCUMENTED_STDNUM + DOCUMENTED_XSD:
        assert section in anchors, f"{name}: {section} is no heading of docs/validation.md"
