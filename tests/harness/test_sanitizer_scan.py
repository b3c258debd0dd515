"""The e2e harness's scan of service logs for sanitizer reports (make test-asan): a report of
each sanitizer is found with its first lines, a clean log is not."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relais_harness import sanitizer_reports  # noqa: E402

CLEAN = "2026-11-27T06:47:52.220Z info  service: stopped\n"
REPORTS = {
    "asan": "==41==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x55\n",
    "lsan": "==41==ERROR: LeakSanitizer: detected memory leaks\n",
    "ubsan": "libs/x.cpp:3:7: runtime error: signed integer overflow: 2147483647 + 1\n",
}


def test_reports_are_found_and_clean_logs_are_not(tmp_path):
    clean = tmp_path / "clean.log"
    clean.write_text(CLEAN * 3)
    logs = [clean, tmp_path / "never-started.log"]
    for name, report in REPORTS.items():
        p = tmp_path / f"{name}.log"
        p.write_text(CLEAN + report + "    #0 0x55 in main\n")
        logs.append(p)
    found = sanitizer_reports(logs + [clean])
    assert len(found) == len(REPORTS)
    for text, (name, report) in zip(found, REPORTS.items()):
        assert text.startswith(f"{tmp_path / name}.log:2:")
        assert report.strip() in text and "#0 0x55 in main" in text
