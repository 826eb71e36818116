"""Speed of ``wlkit separate``: pairs per second for every built-in policy, float32 and float64,
the cost of the automatic float64 re-test, and the parallel embedding against one process.

For each shipped separation pipeline (GIN, RNI, ego-nets 1/2 hops DS and DSS, node- and
edge-deleted, node marking, SPEN, PathNN) and each suite (BREC basic+regular from
``$WLKIT_WL_DATA``/``../shared/data/wl`` when present, and the generated ``cfi`` suite) one
row times, alternately in this process:

* ``1 worker``: float32, no re-test, the distinct graphs embedded in this process;
* ``K workers``: the same with the graphs embedded by K forked workers (K = the CPUs this
  process may use; ``--workers``). Both must give identical per-pair T² values (checked:
  ``same_verdicts``); the ratio ``1 worker / K workers`` is the speed-up (goal >= 2 on a
  machine with >= 2 idle cores; a loaded machine shows less, see ``load_average``);

and, once each after the timings, ``float64`` (everything in float64) and ``default`` (float32
plus the automatic float64 re-test with weight redraws, what a plain run does), whose
``params`` hold pairs/s and the re-test's own seconds and pair count (the cost of the
precision design). A pipeline's suite is skipped when the suite needs more than ``--budget``
seconds in one worker (printed).

Run: ``.venv/bin/python -m benchmarks separate [--quick]`` or
``.venv/bin/python benchmarks/separate.py [--pipelines separate_gin,...] [--suites brec,cfi]``;
writes ``benchmarks/results/separate.json``.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (
    ROOT,
    base_parser,
    finish_args,
    machine_info,
    reexec_with_env,
    rows_table,
    set_threads,
    write_result,
)

PIPELINES = ("separate_gin", "separate_rni", "separate_ego_1hop", "separate_ego",
             "separate_ego_1hop_dss", "separate_ego_dss", "separate_node_deleted",
             "separate_edge_deleted", "separate_node_marking", "separate_spen",
             "csl_pathnn_sp_plus")
QUICK = ("separate_gin", "separate_ego_1hop", "separate_node_marking")


def _wl_root() -> Path:
    return Path(os.environ.get("WLKIT_WL_DATA", ROOT.parent / "shared" / "data" / "wl"))


def _suite(name: str, tiny: bool):
    from wlkit.suites import load_suite

    if name == "brec":
        root = _wl_root() / "BREC"
        if not (root / "basic.npy").is_file():
            return None
        suite = load_suite("brec", root=str(root))
        ids = [p.id for p in suite.pairs() if p.category in ("Basic", "Regular")]
        return suite, tuple(ids[:12] if tiny else ids)
    suite = load_suite(name)
    ids = [p.id for p in suite.pairs()]
    return suite, tuple(ids[:1] if tiny else ids)


def _once(pipeline: Any, suite: Any, ids: tuple[str, ...], **settings: Any) -> dict[str, Any]:
    from wlkit.tools.separate import SeparateSettings, run_separate

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        result = run_separate(pipeline, suite, out=Path(tmp) / "out", progress=False,
                              settings=SeparateSettings(pair_ids=ids, **settings),
                              say=lambda _text: None)
        result["wall_s"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", default=None,
                        help="comma-separated pipeline names (default: every policy)")
    parser.add_argument("--suites", default="brec,cfi", help="comma-separated suites")
    parser.add_argument("--workers", type=int, default=None,
                        help="workers of the parallel side (default: the usable CPUs)")
    parser.add_argument("--no-precision", action="store_true",
                        help="skip the float64 and default (re-test) runs: workers only")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="skip a pipeline's suite whose first run takes longer (s)")
    args = finish_args(parser.parse_args(argv))
    reexec_with_env(args.threads)
    set_threads(args.threads)
    args.no_memory = True  # whole commands: their peak memory is not what this measures
    args.machine = machine_info(args.threads)
    from wlkit.pipeline import load_pipeline
    from wlkit.tools.separate import SeparateSettings

    workers = SeparateSettings(workers=args.workers).resolved_workers()
    names = (args.pipelines.split(",") if args.pipelines else ("separate_gin",) if args.tiny
             else QUICK if args.quick else PIPELINES)
    args.repeats = repeats = max(1, min(args.repeats, 3))  # whole runs: a few rounds suffice
    rows, skipped = [], []
    for suite_name in args.suites.split(","):
        loaded = _suite(suite_name, args.tiny)
        if loaded is None:
            skipped.append(f"{suite_name}: its files were not found under {_wl_root()}")
            continue
        suite, ids = loaded
        for name in names:
            pipeline = load_pipeline(str(ROOT / "pipelines" / f"{name}.yaml"))
            plain = {"retest_float64": False}
            first = _once(pipeline, suite, ids, workers=1, **plain)  # warm-up and budget
            if first["wall_s"] > args.budget:
                skipped.append(f"{name} on {suite_name}: {first['wall_s']:.0f} s in one worker "
                               f"(over --budget {args.budget:.0f} s)")
                continue
            times: dict[str, list[float]] = {"1 worker": [], f"{workers} workers": []}
            results = {}
            for rep in range(repeats):
                order = list(times) if rep % 2 == 0 else list(times)[::-1]
                for side in order:
                    result = _once(pipeline, suite, ids, workers=1 if side == "1 worker"
                                   else workers, **plain)
                    times[side].append(result["wall_s"])
                    results[side] = result
            t2 = {side: [p["t2"] for p in r["pairs"]] for side, r in results.items()}
            if args.no_precision:
                wide = default = None
            else:
                wide = _once(pipeline, suite, ids, dtype="float64", workers=workers)
                default = _once(pipeline, suite, ids, workers=workers)
            retest = (default or {}).get("float64_retest") or {}
            pairs = len(ids)
            med = {side: sorted(v)[len(v) // 2] for side, v in times.items()}
            row = {
                "case": f"{name} / {suite_name}",
                "params": {
                    "pairs": pairs, "workers": workers,
                    "pairs_per_s_1_worker": round(pairs / med["1 worker"], 2),
                    "pairs_per_s_workers": round(pairs / med[f"{workers} workers"], 2),
                    "pairs_per_s_float64": round(pairs / wide["wall_s"], 2) if wide else None,
                    "pairs_per_s_default": (round(pairs / default["wall_s"], 2) if default
                                            else None),
                    "retest_pairs": retest.get("pairs", 0),
                    "retest_seconds": retest.get("seconds", 0.0),
                    "retest_recovered": retest.get("recovered", 0),
                    "separated_float32": results["1 worker"]["overall"]["separated"],
                    "separated_default": default["overall"]["separated"] if default else None,
                    "separated_float64": wide["overall"]["separated"] if wide else None,
                    "same_verdicts": len(set(map(tuple, t2.values()))) == 1,
                },
                "sides": {side: {"median_ms": 1000 * med[side], "times_s": v, "peak_mib": None}
                          for side, v in times.items()},
                "ratio_of": ["1 worker", f"{workers} workers"],
                "goal": ">= 2" if workers >= 2 else None,
            }
            row["ratio"] = med["1 worker"] / med[f"{workers} workers"]
            from benchmarks.common import meets

            row["meets_goal"] = meets(row["ratio"], row["goal"])
            rows.append(row)
            p = row["params"]
            print(f"{row['case']}: {p['pairs_per_s_1_worker']} pairs/s (1 worker), "
                  f"{p['pairs_per_s_workers']} ({workers} workers, x{row['ratio']:.2f}, same "
                  f"verdicts {p['same_verdicts']}), float64 {p['pairs_per_s_float64']}, default "
                  f"{p['pairs_per_s_default']} (re-test {p['retest_pairs']} pairs, "
                  f"{p['retest_seconds']} s)", flush=True)
    print(rows_table(rows))
    for line in skipped:
        print("skipped:", line)
    path = write_result("separate", "wlkit separate: pairs per second, precision and workers",
                        args, rows, settings={"suites": args.suites, "workers": workers},
                        notes=[f"skipped {line}" for line in skipped])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
