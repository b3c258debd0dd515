"""The micro benchmarks as a part of `make bench` (run.py --only micro): runs
bench/micro/run_micro.sh against the bench stack's PostgreSQL and condenses its Google Benchmark
and loader JSON files into the run's results, with each figure next to its target
(docs/performance.md, "Directory scale" and "Per-notification CPU")."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOWS = ["notify-person", "notify-family-composition", "pension-register-mutation", "personnel-file",
         "self-employed-career", "ecarmed-calculation"]


def _medians(path: Path) -> dict[str, dict]:
    """{benchmark name without the _median suffix: its median aggregate (or its only run)}."""
    out: dict[str, dict] = {}
    for b in json.loads(path.read_text())["benchmarks"]:
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                out[b["run_name"]] = b
        else:
            out.setdefault(b.get("run_name", b["name"]), b)
    return out


def _ns(b: dict) -> float:
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return round(b["real_time"] * scale, 1)


def run(coords: dict[str, str], quick: bool, date: str) -> dict:
    n = 1_000_000 if quick else 10_000_000
    env = dict(os.environ, RELAIS_BENCH_PG_DSN=coords["RELAIS_PG_DSN"], MICRO_DIR_N=str(n), MICRO_LOAD_N=str(n))
    tag = "-quick" if quick else ""
    if quick:  # its own file names: the 10-million figures of a full run are not overwritten
        env.setdefault("MICRO_REPETITIONS", "1")
        env["MICRO_TAG"] = "quick"
    subprocess.run([str(REPO / "bench/micro/run_micro.sh")], env=env, check=True)
    res = REPO / "bench" / "results"
    codec = _medians(res / f"{date}-micro{tag}-codec.json")
    out: dict = {"integrations": n, "codec_ns": {}}
    for i, flow in enumerate(FLOWS):
        row = {}
        for key, bench in (("protobuf_decode_validate", "BM_DecodeValidateProtobuf"),
                           ("json_decode_validate", "BM_DecodeValidateJson"), ("encode", "BM_Encode")):
            b = codec.get(f"{bench}/flow:{i}")
            if b:
                row[key] = _ns(b)
        out["codec_ns"][flow] = row
    pb = [r["protobuf_decode_validate"] for r in out["codec_ns"].values() if "protobuf_decode_validate" in r]
    js = [r["json_decode_validate"] for r in out["codec_ns"].values() if "json_decode_validate" in r]
    if pb and js:
        out["protobuf_decode_validate_max_ns"], out["json_decode_validate_max_ns"] = max(pb), max(js)
    soap = codec.get("BM_SoapDecodeValidateMap")
    if soap and "p50_us" in soap:
        out["soap_decode_validate_map"] = {"p50_us": round(soap["p50_us"], 2), "p99_us": round(soap["p99_us"], 2),
                                           "mean_us": round(_ns(soap) / 1000, 2)}
    d = _medians(res / f"{date}-micro{tag}-directory.json")
    build = next((b for k, b in d.items() if k.startswith("BM_DirectoryBuild")), {})
    out["directory"] = {"bytes_per_integration": build.get("bytes_per_integration"),
                        "rss_bytes_per_integration": build.get("rss_bytes_per_integration"),
                        "lookup_hit_ns": _ns(d["BM_DecideHit"]) if "BM_DecideHit" in d else None,
                        "lookup_miss_ns": _ns(d["BM_DecideMiss"]) if "BM_DecideMiss" in d else None}
    load_file = res / f"{date}-micro{tag}-directory-load.json"
    if load_file.exists():
        ld = json.loads(load_file.read_text())
        out["directory_load"] = {"seconds": round(ld["load"]["seconds"], 2),
                                 "peak_rss_mib": round(ld["load"]["peak_rss_bytes"] / 2**20, 1),
                                 "bytes_per_integration": ld["load"]["bytes_per_integration"],
                                 "change_p50_ms": round(ld["change_propagation"]["p50_ms"], 1),
                                 "change_p99_ms": round(ld["change_propagation"]["p99_ms"], 1)}
    plan_file = res / f"{date}-micro{tag}-plan.json"
    if plan_file.exists():
        pm = _medians(plan_file)

        def per_record_ns(name: str) -> float | None:
            b = pm.get(name)
            return round(1e9 / b["items_per_second"], 1) if b and b.get("items_per_second") else None
        out["router_plan"] = {"cpas": 565,
                              "plan_ns_per_record": per_record_ns("BM_PlanBatch/0"),
                              "plan_with_rules_ns_per_record": per_record_ns("BM_PlanBatch/1"),
                              "decode_validate_ns_per_record": per_record_ns("BM_DecodeValidateOnly"),
                              "reencode_baseline_ns_per_record": per_record_ns("BM_ReencodeBaseline")}
    return out


def summary_rows(m: dict) -> list[tuple[str, str, str]]:
    rows = []
    if "protobuf_decode_validate_max_ns" in m:
        v = m["protobuf_decode_validate_max_ns"]
        rows.append(("protobuf decode+validate, slowest flow (ns)", f"{v:,.0f}",
                     f"target <= 1,000: {'met' if v <= 1000 else 'MISSED'}"))
        v = m["json_decode_validate_max_ns"]
        rows.append(("JSON decode+validate, slowest flow (ns)", f"{v:,.0f}",
                     f"target <= 5,000: {'met' if v <= 5000 else 'MISSED'}"))
    d = m.get("directory", {})
    if d.get("lookup_hit_ns") is not None:
        rows.append((f"directory of {m['integrations']:,}: lookup hit (ns)", f"{d['lookup_hit_ns']:,.0f}",
                     f"target <= 100: {'met' if d['lookup_hit_ns'] <= 100 else 'MISSED'}"))
        rows.append(("  lookup miss (ns)", f"{d['lookup_miss_ns']:,.0f}", ""))
        rows.append(("  bytes per integration", f"{d['bytes_per_integration']:.0f}",
                     f"target <= 48: {'met' if d['bytes_per_integration'] <= 48 else 'MISSED'}"))
    rp = m.get("router_plan")
    if rp and rp.get("plan_with_rules_ns_per_record"):
        v = rp["plan_with_rules_ns_per_record"] / 1000
        rows.append(("router::plan CPU per record, 565 CPAS, rules (µs)", f"{v:.1f}",
                     f"target <= 10: {'met' if v <= 10 else 'MISSED'}"))
        rows.append(("  without rules / decode+validate alone / re-encode per forwarding (µs)",
                     f"{rp['plan_ns_per_record'] / 1000:.1f} / {rp['decode_validate_ns_per_record'] / 1000:.1f} / "
                     f"{rp['reencode_baseline_ns_per_record'] / 1000:.1f}", ""))
    ld = m.get("directory_load")
    if ld:
        full = m["integrations"] >= 10_000_000
        rows.append(("  load from PostgreSQL (s)", f"{ld['seconds']:.1f}",
                     f"target <= 15: {'met' if ld['seconds'] <= 15 else 'MISSED'}" if full
                     else "target (<= 15 s) is for 10 million"))
        rows.append(("  peak RSS of the load (MiB)", f"{ld['peak_rss_mib']:,.0f}", ""))
        rows.append(("  change reaches the router p50 / p99 (ms)",
                     f"{ld['change_p50_ms']:.0f} / {ld['change_p99_ms']:.0f}", ""))
    return rows
