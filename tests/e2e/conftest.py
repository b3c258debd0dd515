"""End-to-end tier: the three real Relais binaries against a real PostgreSQL
and a real Kafka broker (the stack named by RELAIS_TEST_PG_DSN and
RELAIS_TEST_KAFKA, as exported by scripts/run-tests.sh).

One session-scoped `relais` (api, ingest, router) is shared by the tests of a
pytest run; every test works on its own CPAS (random CBEs) and its own tickets,
so tests do not depend on each other's data. A missing stack is a failure, not
a skip: an e2e tier that silently skips proves nothing."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "harness"))

import e2e_util  # noqa: E402
from relais_harness import BUILD, STARTED_LOGS, Relais, sanitizer_reports  # noqa: E402


def _require_env() -> dict[str, str]:
    missing = [k for k in ("RELAIS_TEST_PG_DSN", "RELAIS_TEST_KAFKA") if not os.environ.get(k)]
    if missing:
        pytest.fail(f"e2e tier needs {', '.join(missing)} (run it through scripts/run-tests.sh, "
                    "or export them for a running stack)", pytrace=False)
    for name in ("ingest", "router", "api"):
        b = BUILD / "services" / f"relais-{name}"
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} not built (RELAIS_BUILD_DIR={BUILD})", pytrace=False)
    return {"RELAIS_PG_DSN": os.environ["RELAIS_TEST_PG_DSN"],
            "RELAIS_KAFKA_BROKERS": os.environ["RELAIS_TEST_KAFKA"]}


def pytest_sessionfinish(session, exitstatus):
    """A sanitizer report in the log of any service this session started fails the run, even
    when every test passed (the ASan+UBSan build, make test-asan: a leak is reported at exit)."""
    reports = sanitizer_reports(STARTED_LOGS)
    if reports:
        print("\nsanitizer reports in service logs:\n" + "\n\n".join(reports), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    return _require_env()


@pytest.fixture(scope="session")
def run_dir() -> Path:
    base = Path(os.environ.get("RELAIS_E2E_RUN_DIR", tempfile.gettempdir()))
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="relais-e2e-", dir=base))


@pytest.fixture(scope="session")
def relais(stack, run_dir):
    r = Relais(stack=stack, run_dir=run_dir,
               extra_env={"RELAIS_LOG_LEVEL": os.environ.get("RELAIS_E2E_LOG_LEVEL", "info")})
    try:
        r.start_all()
    except Exception:
        r.stop_all()
        e2e_util.dump_logs(run_dir)
        raise
    yield r
    codes = {k: s.stop() for k, s in r.services.items()}
    print(f"\nrelais services stopped: {codes}; logs in {run_dir}")


@pytest.fixture(scope="session")
def pb(stack, run_dir):
    """The Relais protobuf schemas compiled for Python at test time."""
    return e2e_util.compile_protos(run_dir / "pb")


@pytest.fixture(scope="session")
def db(stack):
    return e2e_util.Db(stack["RELAIS_PG_DSN"])


@pytest.fixture(scope="session")
def brokers(stack) -> str:
    return stack["RELAIS_KAFKA_BROKERS"]
