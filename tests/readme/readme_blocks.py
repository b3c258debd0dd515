#!/usr/bin/env python3
"""Runs the README's shell blocks literally, in the order a newcomer types them (issue: `make run`
on a fresh clone must be enough for every command the README gives next).

Every fenced block whose language is sh, bash or shell runs, unless the line just before it (blank
lines aside) is an HTML comment `<!-- readme-test: skip: REASON -->` (a reason is required). All
runnable blocks are joined, in order, into one bash script run with `set -euo pipefail` from the
repository's root, so a variable set in one block (TOKEN=...) is there in the next, as in the
newcomer's terminal. One thing is added around the literal text: `curl` fails on an HTTP error
status (a function calling `curl --fail-with-body`), because a plain curl exits 0 on a 4xx and a
documented call that answers 400 is a broken documented command.

Modes:
  readme_blocks.py list README.md            the blocks and whether each runs
  readme_blocks.py run README.md             runs them against services that are already running
  readme_blocks.py demo README.md            starts `scripts/run-demo.sh` (the `make run` demo, short),
                                             waits for it, runs the blocks, stops the services and the
                                             local stack it started: what `make test` runs
The environment of the blocks is a newcomer's: the RELAIS_* variables of the test run are removed.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip:\s*(\S.*?)\s*-->$")
FENCE = re.compile(r"^```\s*([A-Za-z0-9_-]*)\s*$")
RUNNABLE = {"sh", "bash", "shell"}

PRELUDE = """set -euo pipefail
curl() { local rc=0; command curl --fail-with-body --silent --show-error "$@" || rc=$?; echo; return "$rc"; }
"""


@dataclass
class Block:
    line: int          # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None   # the reason, when marked


def blocks(markdown: str) -> list[Block]:
    out: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    last_nonblank = ""
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if lines[i].strip():
                last_nonblank = lines[i].strip()
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"line {start + 1}: unclosed code block")
        skip = SKIP.match(last_nonblank)
        if "readme-test" in last_nonblank and not skip:
            raise ValueError(f"line {start + 1}: malformed marker {last_nonblank!r} "
                             "(expected <!-- readme-test: skip: REASON -->)")
        out.append(Block(start + 1, lang, "\n".join(body) + "\n", skip.group(1) if skip else None))
        last_nonblank = ""
        i += 1
    return out


def script(bs: list[Block]) -> str:
    parts = [PRELUDE]
    for b in bs:
        if b.lang in RUNNABLE and b.skip is None:
            parts.append(f"echo '== README.md line {b.line}' >&2\n")
            parts.append(b.text)
    return "".join(parts)


def newcomer_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_") and k not in ("CTEST_ARGS",)}


def run(markdown: Path, timeout: float = 1800) -> int:
    bs = blocks(markdown.read_text())
    runnable = [b for b in bs if b.lang in RUNNABLE and b.skip is None]
    if not runnable:
        print(f"readme_blocks: no runnable shell block in {markdown}", file=sys.stderr)
        return 1
    print(f"readme_blocks: running {len(runnable)} block(s) of {markdown} "
          f"(lines {', '.join(str(b.line) for b in runnable)})", flush=True)
    r = subprocess.run(["bash", "-c", script(bs)], cwd=REPO, env=newcomer_env(), timeout=timeout)
    if r.returncode != 0:
        print(f"readme_blocks: FAILED: a documented command exited {r.returncode} (the last "
              "'== README.md line N' above names its block)", file=sys.stderr)
    return r.returncode


def demo_then_run(markdown: Path) -> int:
    """The `make run` demo (short), then the README's blocks against it, then everything stopped."""
    env = newcomer_env()
    env.update(DEMO_NOTIFICATIONS=os.environ.get("README_DEMO_NOTIFICATIONS", "2000"))
    log = REPO / "var" / "readme-demo.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    stack_was_up = subprocess.run([str(REPO / "deploy/local/stack.sh"), "status"], cwd=REPO, env=env,
                                  capture_output=True).returncode == 0
    with open(log, "w") as out:
        demo = subprocess.Popen([str(REPO / "scripts/run-demo.sh")], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "Relais is running" in text:
                break
            if demo.poll() is not None:
                print(text[-4000:], file=sys.stderr)
                print(f"readme_blocks: the demo exited ({demo.returncode}) before the services were up",
                      file=sys.stderr)
                return 1
            time.sleep(1)
        else:
            print("readme_blocks: the demo did not come up within 900 s", file=sys.stderr)
            return 1
        return run(markdown)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
        if not stack_was_up:
            subprocess.run([str(REPO / "deploy/local/stack.sh"), "down"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("list", "run", "demo"):
        print(__doc__, file=sys.stderr)
        return 2
    md = Path(argv[2])
    if argv[1] == "list":
        for b in blocks(md.read_text()):
            state = "skip: " + b.skip if b.skip else ("runs" if b.lang in RUNNABLE else f"not shell ({b.lang or 'plain'})")
            print(f"line {b.line:4}  {state}")
        return 0
    return run(md) if argv[1] == "run" else demo_then_run(md)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
