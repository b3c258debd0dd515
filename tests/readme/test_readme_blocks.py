"""The README-blocks runner itself: it finds the blocks, honours the skip markers, and fails when a
documented command fails (so the real run in `make test` can fail)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("readme_blocks", Path(__file__).with_name("readme_blocks.py"))
rb = importlib.util.module_from_spec(spec)
sys.modules["readme_blocks"] = rb
spec.loader.exec_module(rb)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "README.md"
    p.write_text(text)
    return p


def test_blocks_and_markers(tmp_path):
    md = ("# T\n\n```sh\necho one\n```\n\n<!-- readme-test: skip: needs an hour -->\n\n```sh\nsleep 3600\n```\n"
          "\n```yaml\na: 1\n```\n")
    bs = rb.blocks(md)
    assert [(b.lang, b.skip) for b in bs] == [("sh", None), ("sh", "needs an hour"), ("yaml", None)]
    s = rb.script(bs)
    assert "echo one" in s and "sleep 3600" not in s and "a: 1" not in s


def test_a_marker_without_reason_is_refused(tmp_path):
    with pytest.raises(ValueError):
        rb.blocks("<!-- readme-test: skip -->\n```sh\ntrue\n```\n")


def test_state_carries_over_between_blocks_and_a_failure_fails(tmp_path):
    ok = write(tmp_path, "```sh\nX=42\n```\ntext\n```bash\ntest \"$X\" = 42\n```\n")
    assert rb.run(ok) == 0
    broken = write(tmp_path, "```sh\ntrue\n```\n```sh\nbuild/services/no-such-binary --help\n```\n")
    assert rb.run(broken) != 0
    pipefail = write(tmp_path, "```sh\nfalse | cat\n```\n")
    assert rb.run(pipefail) != 0


def test_curl_fails_on_http_errors(tmp_path):
    # A refused connection and (through the prelude) any HTTP error status make the block fail.
    md = write(tmp_path, "```sh\ncurl http://127.0.0.1:9/nothing-listens-here\n```\n")
    assert rb.run(md) != 0
    assert "--fail-with-body" in rb.PRELUDE


def test_the_real_readme_parses_and_has_runnable_blocks():
    bs = rb.blocks((rb.REPO / "README.md").read_text())
    assert any(b.lang in rb.RUNNABLE and b.skip is None for b in bs)
    # The two commands themselves are not run from inside `make test` (it would run itself).
    import re
    two = re.compile(r"^make (run|test)\s*(#.*)?$", re.M)
    assert all(b.skip for b in bs if b.lang in rb.RUNNABLE and two.search(b.text))
    assert any(two.search(b.text) for b in bs)
