"""Run wlkit's benchmarks and summarise them: ``make bench`` or ``python -m benchmarks``.

Usage::

    .venv/bin/python -m benchmarks                      # all of them (~30 min on 2 cores)
    .venv/bin/python -m benchmarks --quick              # smaller inputs, fewer rounds
    .venv/bin/python -m benchmarks overhead roofline    # some of them
    .venv/bin/python benchmarks/run.py --list

Every benchmark runs in its own process (``OMP_NUM_THREADS`` and torch's threads set from
``--threads``, default 1), times both sides in that one process alternately after a
warm-up, prints its table and writes ``<out-dir>/<name>.json`` (default
``benchmarks/results``) with the machine's description (CPU, cores, load average,
versions, command). The runner then prints one line per figure (ratio, goal, load average)
and updates ``<out-dir>/summary.json`` (one entry per benchmark, with the command and
machine of the run that produced it). Timings on a shared machine are noisy: compare the
ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    HERE,
    RESULTS,
    ROOT,
    _project_relative,
    check_result,
    fmt,
    machine_info,
)
from wlkit import atomic_write_json


@dataclass
class Benchmark:
    name: str
    script: str
    summary: str
    native: bool = True  # uses benchmarks/common.py's options and result format
    quick_args: tuple[str, ...] = ("--quick",)
    takes_out: bool = True
    takes_tiny: bool = True
    requires: str | None = None  # an optional module it needs
    needs_cuda: bool = False  # skipped (its earlier result kept) on a machine without CUDA
    headline: Callable[[dict], list[dict]] | None = field(default=None, repr=False)


def _native_headline(result: dict) -> list[dict]:
    out = []
    for row in result["rows"]:
        if row.get("ratio") is not None:
            a, b = row["ratio_of"]
            out.append({"case": row["case"], "figure": f"{a}/{b}", "value": row["ratio"],
                        "goal": row["goal"], "meets_goal": row["meets_goal"]})
        if row.get("mean_per_doubling") is not None:
            out.append({"case": row["case"], "figure": "x per doubling",
                        "value": row["mean_per_doubling"], "goal": None, "meets_goal": None})
    return out


AGGREGATOR_GOALS = {"basic_vs_dgl": 1.0, "lcm_vs_pyg": 1.0}  # issue 21: time ratio <= goal


def _aggregators_headline(result: dict) -> list[dict]:
    out = []
    for group, rows in result.get("results", {}).items():
        for row in rows:
            if group == "kernels":
                out.append({"case": f"kernel {row['kernel']}", "figure": "ns per element",
                            "value": row["ns_per_element"], "goal": None, "meets_goal": None})
                continue
            degree = row.get("graph", {}).get("degree")
            case = row["comparison"] + (f", degree {degree}" if degree is not None else "")
            limit = AGGREGATOR_GOALS.get(group)
            out.append({"case": case, "figure": "time ratio", "value": row["ratio"],
                        "goal": None if limit is None else f"<= {limit}",
                        "meets_goal": None if limit is None else row["ratio"] <= limit})
    return out


def _spen_headline(result: dict) -> list[dict]:
    return [{"case": f"{row['config']} ({row['graph']} x {row['batch_graphs']})",
             "figure": "2-IGN/SPEN peak memory", "value": row["memory_ratio_ign2_over_spen"],
             "goal": None, "meets_goal": None} for row in result.get("rows", [])]


def _pathnn_headline(result: dict) -> list[dict]:
    out = [{"case": f"enumeration {r['graphs']} {r['kind']} K={r['K']}",
            "figure": "networkx/ours", "value": r["speedup"], "goal": None, "meets_goal": None}
           for r in result.get("enumeration", [])]
    out += [{"case": f"training step {r['pipeline']}", "figure": "nn.LSTM/trie",
             "value": r["speedup"], "goal": None, "meets_goal": None}
            for r in result.get("training_step", [])]
    return out


BENCHMARKS = {b.name: b for b in (
    Benchmark("overhead", "overhead.py",
              "wlkit GIN training step vs the same GIN in plain DGL (goal <= 1.05)"),
    Benchmark("pyg_gin", "pyg_gin.py",
              "wlkit GIN training step vs the same GIN in PyTorch Geometric (goal <= 1.0)",
              requires="torch_geometric"),
    Benchmark("roofline", "roofline.py",
              "fraction of the GIN step its dense matmuls alone take (goal >= 0.85)"),
    Benchmark("optimizer", "optimizer.py",
              "Adam per-tensor loop vs foreach kernels on CPU (wlkit's default: foreach)"),
    Benchmark("data_pipeline", "data_pipeline.py",
              "loader vs step throughput (goal >= 3); cache second vs first run (>= 10)"),
    Benchmark("scaling", "scaling.py",
              "step time vs batch size and graph size: GIN, ego-nets, SPEN, PathNN"),
    Benchmark("aggregators", "aggregators.py",
              "LCM, recurrent and the basic aggregators vs DGL and PyG", native=False,
              takes_tiny=False, headline=_aggregators_headline),
    Benchmark("spen_memory", "spen_memory.py", "SPEN vs a dense global 2-IGN: peak memory",
              native=False, takes_out=False, takes_tiny=False,
              quick_args=("--repeats", "3", "--configs", "csl41x32", "csl100x16"),
              headline=_spen_headline),
    Benchmark("pathnn", "pathnn.py", "PathNN path enumeration and training step",
              native=False, takes_tiny=False, headline=_pathnn_headline),
    # issue 21: on a GPU machine, every pipeline for 20 steps, GPU vs CPU outputs, GIN vs PyG
    Benchmark("gpu_check", "gpu_check.py",
              "every pipeline: 20 training steps on the GPU, GPU vs CPU outputs, GIN vs PyG "
              "(CUDA only)", needs_cuda=True),
    Benchmark("separate", "separate.py",
              "wlkit separate: pairs/s per policy, float32/float64, re-test cost, workers "
              "(goal >= 2 with K workers)"),
)}


def command(bench: Benchmark, args: argparse.Namespace, out: Path) -> list[str] | None:
    """The command line that runs ``bench`` (None: it cannot run in this mode)."""
    if args.tiny and not bench.takes_tiny:
        return None
    cmd = [sys.executable, str(HERE / bench.script), "--threads", str(args.threads)]
    if args.tiny:
        cmd.append("--tiny")
    elif args.quick:
        cmd += list(bench.quick_args)
    if args.repeats is not None and not (args.quick and "--repeats" in bench.quick_args):
        cmd += ["--repeats", str(args.repeats)]
    if args.no_memory and (bench.native or bench.name == "aggregators"):
        cmd.append("--no-memory")
    if bench.takes_out:
        cmd += ["--out", str(out)]
    return cmd


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run_one(bench: Benchmark, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    out = out_dir / f"{bench.name}.json" if bench.takes_out else RESULTS / f"{bench.name}.json"
    cmd = command(bench, args, out)
    entry: dict[str, Any] = {"summary": bench.summary, "result": _project_relative(str(out))}
    if cmd is None:
        entry["status"] = "skipped (no --tiny mode)"
        return entry
    if bench.requires and importlib.util.find_spec(bench.requires) is None:
        entry["status"] = (f"skipped ({bench.requires} is not installed: .venv/bin/pip install "
                           "-c constraints.txt -e '.[bench]')")
        return entry
    if bench.needs_cuda and not _cuda_available():
        entry["status"] = "skipped (no CUDA device)"
        return entry
    entry["command"] = " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))
    print(f"\n=== {bench.name}: {bench.summary}\n    $ {entry['command']}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")]))}
    entry["load_average_start"] = list(os.getloadavg())
    started = time.perf_counter()
    before = out.stat().st_mtime if out.exists() else None
    child = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        returncode = child.wait()
    finally:  # interrupted (Ctrl-C, SIGTERM): do not leave the benchmark running
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    entry["seconds"] = round(time.perf_counter() - started, 1)
    entry["load_average_end"] = list(os.getloadavg())
    if returncode != 0:
        entry["status"] = f"failed (exit code {returncode})"
        return entry
    if not out.exists() or (before is not None and out.stat().st_mtime == before):
        entry["status"] = "failed (no result file written)"
        return entry
    result = json.loads(out.read_text())
    if bench.native:
        check_result(result)
    entry["status"] = "ok"
    entry["figures"] = (bench.headline or _native_headline)(result)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer rounds")
    parser.add_argument("--tiny", action="store_true",
                        help="the smallest inputs, only to test the benchmark code")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if argv is None:  # command line: SIGTERM runs the clean-up in run_one
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.list:
        for bench in BENCHMARKS.values():
            print(f"{bench.name:<14} {bench.summary}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    for name in names:
        report[name] = run_one(BENCHMARKS[name], args, args.out_dir)

    print("\n=== summary (ratios are side by side in one process; load = 1-min load average)")
    for name, entry in report.items():
        load = entry.get("load_average_start")
        print(f"{name}: {entry['status']}"
              + (f", {entry['seconds']} s, load {load[0]:.1f}" if load else ""))
        for fig in entry.get("figures", []):
            goal = (f"  (goal {fig['goal']}: {'yes' if fig['meets_goal'] else 'NO'})"
                    if fig["goal"] else "")
            print(f"    {fig['case']}: {fig['figure']} = {fmt(fig['value'], 3)}{goal}")
    for entry in report.values():
        entry["run"] = {"command": " ".join(["python -m benchmarks", *(
            argv if argv is not None else sys.argv[1:])]), "machine": machine_info(args.threads)}
    path = args.out_dir / "summary.json"
    try:  # keep the entries of benchmarks not run this time
        earlier = json.loads(path.read_text())["benchmarks"] if path.exists() else {}
    except (OSError, ValueError, KeyError, TypeError):
        earlier = {}
    atomic_write_json(path, {"benchmarks": {**earlier, **report}})
    print(f"summary: {args.out_dir / 'summary.json'}")
    return 0 if all(e["status"].startswith(("ok", "skipped")) for e in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
