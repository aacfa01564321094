"""Benchmark of the matching engine against one level of the plain LP, plus policy quality.

For each size: generate the instance (benchmarks/out/SIZE.json), run
``python -m donations.matching`` as a whole process for leximin, fcfs and proportional
(wall time and peak RSS of that child, from ``os.wait4``), run one level of the plain LP
(``matching_lp_baseline.py``) in its own process under a memory cap and a time limit, and print
a markdown table.

    python benchmarks/matching_bench.py [--sizes national small-supply] [--lp-memory-gb 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from matching_instances import generate  # noqa: E402

OUT = HERE / "out"


def timed(cmd: list[str], mem_cap_gb: float | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB, exit status, stdout)."""

    def cap() -> None:
        if mem_cap_gb:
            limit = int(mem_cap_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    log = OUT / "child-stdout.txt"
    start = time.perf_counter()
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL, preexec_fn=cap, cwd=HERE.parent)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, code, log.read_text(errors="replace")


def quality(instance: dict, result: dict) -> dict[str, float]:
    needs = {n["id"]: n for n in instance["needs"]}
    open_value: dict[str, int] = {}
    for n in instance["needs"]:
        open_value[n["commune"]] = open_value.get(n["commune"], 0) + n["quantity"] * n["unit_value"]
    given = dict.fromkeys(open_value, 0)
    for a in result["allocations"]:
        n = needs[a["need"]]
        given[n["commune"]] += a["quantity"] * n["unit_value"] if "lot" in a else a["amount"]
    reachable = reachable_communes(instance)
    cov = sorted(given[c] / open_value[c] for c in open_value if c in reachable)
    n = len(cov)
    gini = sum((2 * i - n + 1) * x for i, x in enumerate(cov)) / (n * sum(cov)) if sum(cov) else 0.0
    spent = sum(a["amount"] for a in result["allocations"] if "fund" in a)
    return {"min": cov[0], "gini": gini, "reached": sum(1 for x in cov if x > 0), "spent": spent}


def reachable_communes(instance: dict) -> set[str]:
    lot_items = {(x["item"], None) for x in instance["lots"] if x["communes"] is None}
    lot_at = {(x["item"], c) for x in instance["lots"] if x["communes"] for c in x["communes"]}
    out = set()
    for n in instance["needs"]:
        c = n["commune"]
        if (n["item"], None) in lot_items or (n["item"], c) in lot_at:
            out.add(c)
            continue
        for f in instance["funds"]:
            if (f["communes"] is None or c in f["communes"]) and (f["items"] is None or n["item"] in f["items"]):
                out.add(c)
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["national", "small-supply"])
    parser.add_argument("--lp-memory-gb", type=float, default=10.0)
    parser.add_argument("--lp-time-limit", type=float, default=1200.0)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    py = sys.executable
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}\n")
    speed_rows, quality_rows = [], []
    for size in args.sizes:
        instance = generate(size)
        path = OUT / f"{size}.json"
        path.write_text(json.dumps(instance, ensure_ascii=False))
        shape = ", ".join(f"{len(instance[k]):,} {k}" for k in ("communes", "needs", "lots", "funds"))
        results = {}
        for policy in ("leximin", "fcfs", "proportional"):
            target = OUT / f"{size}-{policy}.json"
            wall, rss, code, _ = timed(
                [py, "-m", "donations.matching", str(path), "-o", str(target), "--policy", policy]
            )
            assert code == 0, f"engine failed on {size} ({policy})"
            results[policy] = (wall, rss, json.loads(target.read_text()))
        engine_wall, engine_rss, _ = results["leximin"]
        lp_cells = []
        for variant in ("plain", "merged"):
            lp_cmd = [py, str(HERE / "matching_lp_baseline.py"), str(path)]
            lp_cmd += [str(args.lp_time_limit)] + (["--merge"] if variant == "merged" else [])
            lp_wall, lp_rss, lp_code, lp_out = timed(lp_cmd, args.lp_memory_gb)
            lines = [ln for ln in lp_out.splitlines() if ln.startswith("{")]
            lp = json.loads(lines[-1]) if lp_code == 0 and lines else None
            if lp and lp["status"] == "Optimal":
                lp_cells.append(
                    f"{lp_wall:.1f} s, {lp['columns']:,} columns, {lp_rss:,.0f} MB (solve {lp['solve_s']:.1f} s)"
                )
                lp_cells.append(f"{engine_wall / lp_wall:.2f}")
            elif lp and lp["status"] == "Time limit reached":
                lp_cells.append(f"> {lp_wall:.0f} s (time limit, {lp['columns']:,} columns)")
                lp_cells.append(f"< {engine_wall / lp_wall:.2f}")
            elif lp:  # HiGHS gave up, typically out of memory under the cap
                lp_cells.append(
                    f"did not run: HiGHS status '{lp['status']}' after {lp_wall:.0f} s within"
                    f" {args.lp_memory_gb:g} GB ({lp['columns']:,} columns)"
                )
                lp_cells.append("n/a")
            else:
                lp_cells.append(f"did not fit: failed after {lp_wall:.0f} s within {args.lp_memory_gb:g} GB")
                lp_cells.append("n/a")
        speed_rows.append(
            f"| {size} | {shape} | {engine_wall:.1f} s | {engine_rss:,.0f} MB | " + " | ".join(lp_cells) + " |"
        )
        for policy, (wall, _, result) in results.items():
            q = quality(instance, result)
            quality_rows.append(
                f"| {size} | {policy} | {q['min']:.4f} | {q['gini']:.4f} | {q['reached']:,} | "
                f"{q['spent'] / 1e9:,.2f} bn ₫ | {wall:.1f} s |"
            )
        print(f"done {size}", file=sys.stderr)
    print(
        "| size | instance | engine (whole process) | engine peak RSS | plain LP, one level"
        " | engine / plain LP | same LP, identical supply merged | engine / merged LP |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(speed_rows))
    print()
    print("| size | policy | lowest coverage (reachable) | Gini of coverage | communes reached | money spent | wall |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(quality_rows))


if __name__ == "__main__":
    main()
