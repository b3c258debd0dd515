"""docs/subscribers.md, followed literally: its shell blocks (tests/readme/readme_blocks.py's
extraction and rules: a block marked `<!-- readme-test: skip: REASON -->` is not run, a curl
answered with an HTTP error fails) run in order, in one bash, from the repository's root, against
this run's stack and services (the guide reads RELAIS_API_URL, RELAIS_INGEST_URL and RELAIS_ROUTER_URL, and
`deploy/local/stack.sh env` names the test stack through RELAIS_STACK_DIR and the ports)."""

from __future__ import annotations

import os
import subprocess
import sys

from relais_harness import REPO

sys.path.insert(0, str(REPO / "tests" / "readme"))
import readme_blocks  # noqa: E402

GUIDE = REPO / "docs" / "subscribers.md"


def test_guide_blocks_are_marked_and_runnable():
    bs = readme_blocks.blocks(GUIDE.read_text())
    runnable = [b for b in bs if b.lang in readme_blocks.RUNNABLE and b.skip is None]
    assert len(runnable) >= 4, [b.line for b in runnable]
    text = "".join(b.text for b in runnable)
    for needed in ("relaisctl cpas onboard", "examples/python/consumer.py", "api.token"):
        assert needed in text, needed


def test_guide_followed_literally(relais, stack, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RELAIS_API_TOKEN"}
    env.update(RELAIS_API_URL=relais.api.url, RELAIS_INGEST_URL=relais.ingest.url, RELAIS_ROUTER_URL=relais.router.url)
    script = readme_blocks.script(readme_blocks.blocks(GUIDE.read_text())).replace("README.md", "docs/subscribers.md")
    r = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    print(r.stdout[-4000:], r.stderr[-4000:])
    assert r.returncode == 0, f"a block of docs/subscribers.md failed (the last '== … line N'):\n{r.stderr[-3000:]}"
    assert "onboarded for CPAS 0212344876" in r.stdout
