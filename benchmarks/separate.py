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

``--cost`` (issue 18, point 4) measures instead what one pair costs: for 2-node marking
(full and localized, r = 1), PPGN and node marking (l = 1), on pairs of strongly regular
graphs (the ``sr`` suite: 16, 28, 36 nodes) and CFI pairs (CFI over K3, K4, K3,3, the cube and
the Petersen graph: 18, 40, 60, 80, 100 nodes), the seconds of ``Separator.decide`` on one
pair at a reduced R (``--cost-relabelings``, default 4: 4R = 16 relabelled graphs embedded
per pair; R = 32 is extrapolated linearly, x8) and its peak memory, each measurement in a
process forked for it alone (one torch thread, glibc's default malloc as in a ``wlkit
separate`` run; the parent has loaded the plugins and pipelines and computed nothing) after
an untimed warm-up ``decide`` on CFI(K3): ``VmHWM`` after resetting it
(``/proc/self/clear_refs``) just before the step, and that minus ``VmRSS`` before the step
(the step's own extra memory); where the reset is refused, ``getrusage``'s ``ru_maxrss``
(the whole process). Then the growth per doubling of n (slope of log cost over log n, fitted
per pipeline and family: factor ``2**slope``) and the peak memory and seconds of ONE forward
of one relabelled CFI over the dodecahedron (200 nodes, 39,800 2-node-marked copies) with full
2-node marking at the default ``chunk_nodes``, extrapolated to a pair at R = 32 (4R = 128
such forwards). The section goes under ``"cost"`` of the same result file (its own command,
machine, settings, notes, ``rows`` in the common row schema, the forward check being the row
with ``mode: forward``, and ``growth``); a run without ``--cost`` keeps it, and ``--cost``
keeps the rows of the other runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from wlkit.graphs import SimpleGraph

from benchmarks.common import (
    ROOT,
    base_parser,
    check_result,
    finish_args,
    machine_info,
    reexec_with_env,
    result_path,
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


# --- cost per pair (--cost; issue 18, point 4) ------------------------------------------------

COST_PIPELINES = ("separate_two_node_marking", "separate_two_node_marking_local",
                  "separate_ppgn", "separate_node_marking")
COST_GRAPHS: dict[str, tuple[str, ...]] = {
    "sr": ("shrikhande_vs_rook4", "t(8)_vs_chang1", "latin_z6_vs_s3"),
    "cfi": ("cfi_k3", "cfi_k4", "cfi_k33", "cfi_cube", "cfi_petersen"),
}
FORWARD = ("separate_two_node_marking", "cfi_dodecahedron")  # the 200-node memory check
TINY_COST = ("separate_node_marking", "cfi_k3")  # --tiny: one pipeline, one 18-node pair
R_FULL = 32  # BREC's relabelings, what the reduced-R figures are extrapolated to
LONG_RUN_S = 20.0  # a measurement this long is not repeated
WARMUP_PAIR = "cfi_k3"  # every child's untimed warm-up


def cost_pair(name: str) -> tuple[SimpleGraph, SimpleGraph]:
    """The pair ``name``: ``cfi_<base>`` is CFI over the base and its twisted version
    (K3, K4, K3,3, cube, Petersen, dodecahedron: 18, 40, 60, 80, 100, 200 nodes); otherwise a
    pair of the ``sr`` suite by id."""
    from wlkit import graphs

    bases = {"cfi_k3": lambda: graphs.complete(3), "cfi_k4": lambda: graphs.complete(4),
             "cfi_k33": lambda: graphs.complete_bipartite(3, 3), "cfi_cube": graphs.cube,
             "cfi_petersen": graphs.petersen, "cfi_dodecahedron": graphs.dodecahedron}
    if name in bases:
        base = bases[name]()
        return graphs.cfi(base), graphs.cfi(base, twisted=True)
    from wlkit.suites import load_suite

    for pair in load_suite("sr").pairs():
        if pair.id == name:
            return pair.first, pair.second
    raise ValueError(f"unknown cost pair {name!r}: cfi_<base> ({', '.join(bases)}) or an sr "
                     "pair id")


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def _measured(step: Callable[[], Any]) -> dict[str, Any]:
    """Seconds and peak memory of one call of ``step`` in this process."""
    gc.collect()
    try:
        before = _status_mib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident set
        method = "VmHWM"
    except OSError:
        before, method = None, "ru_maxrss"
    started = time.perf_counter()
    step()
    seconds = time.perf_counter() - started
    if method == "VmHWM":
        peak = _status_mib("VmHWM")
    else:  # Linux's ru_maxrss is in KiB: the peak of the whole process
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mib": peak, "baseline_rss_mib": before,
            "peak_extra_mib": None if before is None else max(0.0, peak - before),
            "memory_method": method}


def cost_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measurement, run in a forked process by :func:`_in_fresh_process`.

    ``spec``: ``pipeline``, ``graph`` (:func:`cost_pair`), ``relabelings``, ``repeats``,
    ``threads`` and ``mode``: ``"pair"`` (``Separator.decide`` on the pair, a fresh separator
    per run, so nothing is cached) or ``"forward"`` (preparing and embedding ONE relabelled
    copy of the pair's first graph).
    """
    import numpy as np
    import torch

    torch.set_num_threads(int(spec["threads"]))
    from wlkit.pipeline import load_pipeline
    from wlkit.tools.separate import SeparateSettings, Separator

    first, second = cost_pair(spec["graph"])
    cfg = load_pipeline(str(ROOT / "pipelines" / f"{spec['pipeline']}.yaml")).data
    # the threshold is fixed (any value): at R = 4 < output_dim the F quantile is undefined,
    # and the verdict of so few relabelings is not what this measures
    settings = SeparateSettings(relabelings=int(spec["relabelings"]), threshold=1.0,
                                retest_float64=False, workers=1)

    def separator() -> Separator:
        return Separator(cfg, 0, settings)

    probe = separator()
    copies = None
    if probe.policy is not None and getattr(probe.policy, "marked", None) is not None:
        copies = len(probe.policy.prepare(first.to_dgl())["tuples"])
    # warm-up on the smallest CFI pair: one-off costs (lazy initialisation, the first touch
    # of the libraries' pages) are then neither timed nor counted as the step's memory
    separator().decide(*cost_pair(WARMUP_PAIR), 0)
    runs: list[dict[str, Any]] = []
    for _ in range(max(1, int(spec["repeats"]))):
        if spec["mode"] == "forward":
            perm = np.random.default_rng(0).permutation(first.num_nodes)
            runs.append(_measured(lambda perm=perm: probe.embed(probe.inputs([first], [perm]))))
        else:
            fresh = separator()
            runs.append(_measured(lambda fresh=fresh: fresh.decide(first, second, 0)))
        if runs[-1]["seconds"] > LONG_RUN_S:
            break
    extras = [r["peak_extra_mib"] for r in runs if r["peak_extra_mib"] is not None]
    return {"nodes": first.num_nodes, "edges": first.num_edges, "copies": copies,
            "times_s": [r["seconds"] for r in runs],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "peak_extra_mib": max(extras) if extras else None,
            "baseline_rss_mib": runs[0]["baseline_rss_mib"],
            "memory_method": runs[0]["memory_method"]}


def _child(spec: dict[str, Any], send: Any) -> None:
    try:
        send.send(cost_child(spec))
    except BaseException as exc:  # reported to the parent, which goes on
        send.send(f"{type(exc).__name__}: {exc}")
    finally:
        send.close()


def _in_fresh_process(spec: dict[str, Any], timeout: float) -> dict[str, Any] | str:
    """:func:`cost_child` in a process forked for this one measurement (so no measurement
    inherits another's heap or high-water mark); its answer, or why there is none."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(spec, send), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(timeout):
            return f"over --cost-timeout {timeout:.0f} s"
        got = receive.recv()
    except EOFError:  # died without an answer (e.g. killed for memory)
        child.join(10)
        return f"exit code {child.exitcode}: no answer"
    finally:
        if child.is_alive():
            child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
    return got if isinstance(got, dict) else f"exit code {child.exitcode}: {got}"


def _cost_row(spec: dict[str, Any], family: str, got: dict[str, Any]) -> dict[str, Any]:
    times = got["times_s"]
    median = sorted(times)[len(times) // 2]
    r = int(spec["relabelings"])
    params = {"pipeline": spec["pipeline"], "family": family, "graph": spec["graph"],
              "mode": spec["mode"], "nodes": got["nodes"], "edges": got["edges"],
              "copies_per_graph": got["copies"], "relabelings": r,
              "peak_rss_mib": round(got["peak_rss_mib"], 1),
              "peak_extra_mib": (None if got["peak_extra_mib"] is None
                                 else round(got["peak_extra_mib"], 1)),
              "baseline_rss_mib": (None if got["baseline_rss_mib"] is None
                                   else round(got["baseline_rss_mib"], 1)),
              "memory_method": got["memory_method"]}
    if spec["mode"] == "pair":
        params["seconds_per_pair"] = round(median, 4)
        params["seconds_per_pair_r32_extrapolated"] = round(median * R_FULL / r, 3)
        side = f"pair (R={r})"
    else:
        params["seconds_per_forward"] = round(median, 3)
        # decide embeds 2 graphs x (R pair + R control) relabelings
        params["seconds_per_pair_r32_extrapolated"] = round(4 * R_FULL * median, 1)
        side = "one forward"
    return {"case": f"cost: {spec['pipeline']} / {spec['graph']} (n={got['nodes']})",
            "params": params,
            "sides": {side: {"median_ms": 1000 * median, "times_s": times,
                             "peak_mib": params["peak_extra_mib"]}},
            "ratio": None, "ratio_of": None, "goal": None, "meets_goal": None}


def _slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) over log(x); None with fewer than 2 sizes or y <= 0."""
    if len(set(xs)) < 2 or any(y is None or y <= 0 for y in ys):
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


def cost_growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pipeline and family: the slope of log(seconds per pair) and of log(peak extra
    memory) over log(n), and the factor per doubling of n, ``2**slope``."""
    out = []
    keys = dict.fromkeys((r["params"]["pipeline"], r["params"]["family"]) for r in rows
                         if r["params"]["mode"] == "pair")
    for pipeline, family in keys:
        mine = sorted((r["params"] for r in rows if r["params"]["mode"] == "pair"
                       and (r["params"]["pipeline"], r["params"]["family"]) == (pipeline,
                                                                                 family)),
                      key=lambda p: p["nodes"])
        nodes = [p["nodes"] for p in mine]
        seconds = [p["seconds_per_pair"] for p in mine]
        memory = [p["peak_extra_mib"] for p in mine]
        entry: dict[str, Any] = {"pipeline": pipeline, "family": family, "nodes": nodes,
                                 "seconds_per_pair": seconds, "peak_extra_mib": memory}
        for what, ys in (("time", seconds), ("memory", memory)):
            slope = _slope(nodes, ys)
            entry[f"{what}_slope"] = None if slope is None else round(slope, 2)
            entry[f"{what}_per_doubling"] = None if slope is None else round(2 ** slope, 2)
        out.append(entry)
    return out


def cost_table(section: dict[str, Any]) -> str:
    from benchmarks.common import fmt, table

    lines = [table(["pipeline", "pair", "n", "copies", "s/pair (s/forward)",
                    "s/pair R=32 (extrap.)",
                    "peak RSS MiB", "extra MiB"],
                   [[p["pipeline"], p["graph"], str(p["nodes"]), str(p["copies_per_graph"]),
                     fmt(p.get("seconds_per_pair", p.get("seconds_per_forward")), 3),
                     fmt(p["seconds_per_pair_r32_extrapolated"], 1),
                     fmt(p["peak_rss_mib"], 0), fmt(p["peak_extra_mib"], 0)]
                    for p in (r["params"] for r in section["rows"])])]
    if section["growth"]:
        lines.append(table(["pipeline", "family", "n", "time x/doubling",
                            "memory x/doubling"],
                           [[g["pipeline"], g["family"], ",".join(map(str, g["nodes"])),
                             fmt(g["time_per_doubling"]), fmt(g["memory_per_doubling"])]
                            for g in section["growth"]]))
    return "\n\n".join(lines)


def _kept_cost(path: Path) -> dict[str, Any] | None:
    """The ``cost`` section of an existing result file, if any."""
    try:
        cost = json.loads(path.read_text()).get("cost")
    except (OSError, ValueError, AttributeError):
        return None
    return cost if isinstance(cost, dict) else None


def run_cost(args: argparse.Namespace) -> int:
    """``--cost``: the rows, growth and forward check; written under ``"cost"``."""
    relabelings = int(args.cost_relabelings)
    repeats = 1 if args.tiny else max(1, min(args.repeats, 3))
    if args.tiny:
        pipelines, cases = (TINY_COST[0],), [("cfi", TINY_COST[1])]
        forward: tuple[str, str] | None = None if args.forward_graph == "none" else TINY_COST
    else:
        pipelines = tuple(args.pipelines.split(",")) if args.pipelines else COST_PIPELINES
        wanted = args.cost_graphs.split(",") if args.cost_graphs else None
        cases = [(family, graph) for family, names in COST_GRAPHS.items() for graph in names
                 if wanted is None or graph in wanted]
        forward = None if args.forward_graph == "none" else (FORWARD[0], args.forward_graph)
    from wlkit.pipeline import load_pipeline
    from wlkit.tools.separate import Separator  # noqa: F401 - imported once, before forking

    for name in {*pipelines, *(forward or ())[:1]}:  # plugins and pipelines loaded once
        load_pipeline(str(ROOT / "pipelines" / f"{name}.yaml"))
    cost_pair(WARMUP_PAIR)
    if any(family == "sr" for family, _ in cases):
        cost_pair(COST_GRAPHS["sr"][0])  # builds the sr suite's graphs
    rows, notes = [], []
    specs = [("pair", family, graph, pipeline) for family, graph in cases
             for pipeline in pipelines]
    if forward is not None:
        specs.append(("forward", "cfi", forward[1], forward[0]))
    for mode, family, graph, pipeline in specs:
        spec = {"pipeline": pipeline, "graph": graph, "relabelings": relabelings,
                "repeats": repeats, "threads": args.threads, "mode": mode}
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        got = _in_fresh_process(spec, args.cost_timeout)
        if isinstance(got, str):
            notes.append(f"skipped {mode} {pipeline} / {graph}: {got}")
            print(f"  {pipeline} / {graph} ({mode}): skipped, {got}", flush=True)
            continue
        row = _cost_row(spec, family, got)
        row["params"]["load_average_1min"] = round(load, 2)
        rows.append(row)
        p = row["params"]
        what = "s/pair" if mode == "pair" else "s/forward"
        print(f"  {row['case']}: {row['sides'][next(iter(row['sides']))]['median_ms'] / 1000:.3f}"
              f" {what} at R={relabelings}, peak {p['peak_rss_mib']:.0f} MiB (+"
              f"{p['peak_extra_mib'] or 0:.0f}), load {load:.2f}", flush=True)
    machine = dict(args.machine)
    machine["load_average_end"] = ([round(x, 2) for x in os.getloadavg()]
                                   if hasattr(os, "getloadavg") else None)
    notes.insert(0, f"seconds per pair at R = {relabelings} relabelings (4R relabelled graphs "
                    f"embedded per pair); the R = {R_FULL} column is extrapolated (x "
                    f"{R_FULL / relabelings:g}), not measured. Each measurement in a process "
                    "forked for it, after an untimed warm-up on CFI(K3); peak memory is VmHWM "
                    "reset just before the step (peak_rss_mib) and that minus VmRSS before "
                    "it (peak_extra_mib); glibc's default malloc.")
    section = {"title": "wlkit separate: seconds and peak memory per pair (issue 18)",
               "command": machine["command"], "machine": machine,
               "settings": {"threads": args.threads, "repeats": repeats,
                            "relabelings": relabelings, "pipelines": list(pipelines),
                            "graphs": [g for _, g in cases], "forward": list(forward or []),
                            "timeout_s": args.cost_timeout, "tiny": args.tiny},
               "rows": rows, "growth": cost_growth(rows), "notes": notes}
    check_result({"benchmark": "separate", **section})
    print(cost_table(section))
    path = result_path("separate", args.out)
    payload = None
    if path.is_file():
        try:
            payload = json.loads(path.read_text())
            check_result(payload)
        except (ValueError, OSError):
            payload = None
    if payload is None or payload.get("benchmark") != "separate":
        write_result("separate", "wlkit separate: pairs per second, precision and workers",
                     args, [], settings={"cost_only": True}, machine=args.machine,
                     notes=["only --cost ran: no speed rows"], cost=section)
    else:
        from wlkit import atomic_write_json

        payload["cost"] = section
        atomic_write_json(path, payload)
    print(f"wrote {path} (section cost)")
    return 0


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
    parser.add_argument("--cost", action="store_true",
                        help="seconds and peak memory per pair instead (issue 18; see above)")
    parser.add_argument("--cost-graphs", default=None,
                        help="--cost: comma-separated pairs (default: every sr and cfi one)")
    parser.add_argument("--cost-relabelings", type=int, default=4,
                        help="--cost: R per pair (default 4; R = 32 is extrapolated)")
    parser.add_argument("--cost-timeout", type=float, default=1200.0,
                        help="--cost: seconds one measurement may take (else skipped)")
    parser.add_argument("--forward-graph", default=FORWARD[1],
                        help="--cost: pair of the one-forward memory check ('none': skip)")
    args = finish_args(parser.parse_args(argv))
    reexec_with_env(args.threads)
    if args.cost:  # glibc's default malloc (no steady_malloc), as in a wlkit separate run
        import torch

        torch.set_num_threads(args.threads)
        args.machine = machine_info(args.threads)
        return run_cost(args)
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
    kept = _kept_cost(result_path("separate", args.out))  # --cost's section stays
    path = write_result("separate", "wlkit separate: pairs per second, precision and workers",
                        args, rows, settings={"suites": args.suites, "workers": workers},
                        notes=[f"skipped {line}" for line in skipped],
                        **({"cost": kept} if kept is not None else {}))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
