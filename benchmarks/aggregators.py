"""Aggregator benchmarks: LCM against recurrent aggregation, PyG's LCM and DGL's LSTM
SAGEConv; the fused basic aggregators against DGL's built-in message passing; and the time
per element of the gate non-linearities (``torch.sigmoid``, the ``exp`` form of
``wlkit.sigmoid``, ``torch.tanh``), whose relative speed differs between CPUs.

Every comparison times forward + backward on the same inputs, alternating which side goes
first (AB, BA, AB, ...), and reports medians; peak memory is measured
separately, each side in a fresh subprocess (CPU, Linux: peak RSS above the RSS before the
call, with the kernel's high-water mark reset first; CUDA: ``torch.cuda.max_memory_allocated``).
On a machine with a GPU everything runs on it unchanged (``--device cuda`` is the default
there).

Run::

    .venv/bin/python benchmarks/aggregators.py            # ~5 minutes on 2 CPU cores
    .venv/bin/python benchmarks/aggregators.py --quick    # smaller inputs, fewer repeats

Writes ``benchmarks/results/aggregators.json`` (machine, versions, settings, every
measurement) and prints the tables. The PyG comparison needs the optional extra
``pip install -c constraints.txt -e .[bench]`` (torch_geometric); it is skipped otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")
os.environ.setdefault("OUTDATED_IGNORE", "1")

import dgl
import dgl.function as fn
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import fmt, table
from wlkit import atomic_write_json, sigmoid
from wlkit.model.build import instantiate

HERE = Path(__file__).resolve().parent
GRU_PACKED = {"impl": "wlkit", "name": "recurrent", "params": {"cell": "gru", "cpu_path": "packed"}}
GRU_PADDED = {"impl": "wlkit", "name": "recurrent", "params": {"cell": "gru", "cpu_path": "padded"}}
DEGREES = (8, 32, 128, "mixed")
MIXED_MAX = 128


# --- inputs -----------------------------------------------------------------------------


def in_degrees_of(spec: dict) -> torch.Tensor:
    """In-degree of each target node: ``degree`` for all, or uniform on 1..128 ("mixed")."""
    if spec["degree"] == "mixed":
        gen = torch.Generator().manual_seed(0)
        return torch.randint(1, MIXED_MAX + 1, (spec["targets"],), generator=gen)
    return torch.full((spec["targets"],), spec["degree"])


def in_stars(spec: dict, device: str) -> dgl.DGLGraph:
    """Target nodes 0..targets-1, each with its in-degree of edges from distinct source nodes.

    Edges are stored grouped by destination, so PyG's sorted-index requirement holds.
    """
    degrees = in_degrees_of(spec)
    targets, edges = len(degrees), int(degrees.sum())
    src = torch.arange(edges) + targets
    dst = torch.arange(targets).repeat_interleave(degrees)
    return dgl.graph((src, dst), num_nodes=targets + edges).to(device)


def random_graph(nodes: int, edges: int, device: str, seed: int = 0) -> dgl.DGLGraph:
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, nodes, (edges,), generator=gen)
    dst = torch.randint(0, nodes, (edges,), generator=gen)
    return dgl.graph((src, dst), num_nodes=nodes).to(device)


# --- the contenders: each returns a zero-argument forward+backward step ------------------


def wlkit_step(name: str, params: dict, graph: dgl.DGLGraph, dim: int, device: str):
    agg = instantiate("aggregator", {"name": name, **params}, dim).to(device)
    feats = torch.randn(graph.num_nodes(), dim, device=device, requires_grad=True)

    def step():
        agg.aggregate_neighbours(graph, feats).sum().backward()

    return step, agg


def sage_lstm_step(graph: dgl.DGLGraph, dim: int, device: str):
    from dgl.nn import SAGEConv

    conv = SAGEConv(dim, dim, aggregator_type="lstm").to(device)
    feats = torch.randn(graph.num_nodes(), dim, device=device, requires_grad=True)

    def step():
        conv(graph, feats).sum().backward()

    return step, conv


def pyg_lcm_step(graph: dgl.DGLGraph, dim: int, device: str, targets: int):
    from torch_geometric.nn.aggr import LCMAggregation

    agg = LCMAggregation(dim, dim, project=False).to(device)
    feats = torch.randn(graph.num_nodes(), dim, device=device, requires_grad=True)
    src, dst = graph.edges()  # grouped by destination (see in_stars)
    src, dst = src.long(), dst.long()

    def step():
        # Only the target nodes receive messages; reducing into them alone spares PyG's
        # dense [nodes, max degree, dim] padding the rows of the source nodes.
        agg(feats[src], dst, dim_size=targets).sum().backward()

    return step, agg


def dgl_builtin_step(op: str, graph: dgl.DGLGraph, dim: int, device: str):
    feats = torch.randn(graph.num_nodes(), dim, device=device, requires_grad=True)
    reducer = {"sum": fn.sum, "mean": fn.mean, "max": fn.max}[op]

    def step():
        with graph.local_scope():
            graph.ndata["h"] = feats
            graph.update_all(fn.copy_u("h", "m"), reducer("m", "out"))
            graph.ndata["out"].sum().backward()

    return step, None


def build(spec: dict, device: str):
    """A contender from a JSON-able spec (also used by the memory subprocess)."""
    kind = spec["kind"]
    if kind == "stars":
        graph = in_stars(spec, device)
    else:
        graph = random_graph(spec["nodes"], spec["edges"], device)
    dim = spec["dim"]
    side = spec["side"]
    if side["impl"] == "wlkit":
        return wlkit_step(side["name"], side.get("params", {}), graph, dim, device)
    if side["impl"] == "sage_lstm":
        return sage_lstm_step(graph, dim, device)
    if side["impl"] == "pyg_lcm":
        return pyg_lcm_step(graph, dim, device, spec["targets"])
    if side["impl"] == "dgl_builtin":
        return dgl_builtin_step(side["name"], graph, dim, device)
    raise ValueError(f"unknown contender {side}")


# --- measurement ------------------------------------------------------------------------


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(a: Callable[[], None], b: Callable[[], None], repeats: int, warmup: int,
              device: str) -> tuple[list[float], list[float]]:
    """Time ``a`` and ``b`` alternately: AB, BA, AB, ... after ``warmup`` rounds of each
    (:func:`benchmarks.common.alternate`, synchronising the device around each call)."""
    times = common.alternate({"a": a, "b": b}, repeats, warmup,
                             sync=lambda: synchronize(device))
    return times["a"], times["b"]


_MEMORY: dict[str, float | None] = {}


def peak_memory_mb(spec: dict, device: str, threads: int) -> float | None:
    """Peak memory of one forward+backward of ``spec``, measured in a fresh process."""
    key = json.dumps(spec, sort_keys=True)
    if key not in _MEMORY:
        _MEMORY[key] = _probe(spec, device, threads)
    return _MEMORY[key]


def _probe(spec: dict, device: str, threads: int) -> float | None:
    cmd = [sys.executable, __file__, "--memory-probe", json.dumps(spec), "--device", device,
           "--threads", str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"    memory probe failed: {exc}", file=sys.stderr)
        return None
    return float(out.stdout.strip().splitlines()[-1])


def memory_probe(spec: dict, device: str) -> float:
    """Run in the subprocess: build the inputs, warm up on a tiny copy, measure one step."""
    small = dict(spec)
    if spec["kind"] == "stars":
        small["targets"] = 2
    else:
        small["nodes"], small["edges"] = 64, 256
    build(small, device)[0]()  # library initialisation does not count
    step, _ = build(spec, device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    def status_kb(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise OSError(f"no {field} in /proc/self/status")

    base = status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak RSS (Linux >= 4.0)
        f.write("5")
    step()
    return (status_kb("VmHWM") - base) / 1024


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def invariance_gap(side: dict, graph_spec: dict, device: str) -> float:
    """Largest output change when each node's neighbours are shuffled (edge order only)."""
    torch.manual_seed(0)
    spec = {**graph_spec, "side": side}
    graph = in_stars(spec, device)
    dim = spec["dim"]
    feats = torch.randn(graph.num_nodes(), dim, device=device)
    if side["impl"] == "pyg_lcm":
        _, agg = pyg_lcm_step(graph, dim, device, spec["targets"])
    else:
        _, agg = wlkit_step(side["name"], side.get("params", {}), graph, dim, device)
    agg.eval()
    src, dst = graph.edges()
    # shuffle inside each destination's block, keeping edges grouped by destination
    key = torch.rand(len(src), device=device)
    order = torch.argsort(key)
    order = order[torch.argsort(dst[order], stable=True)]
    shuffled = dgl.graph((src[order], dst[order]), num_nodes=graph.num_nodes())
    with torch.no_grad():
        if side["impl"] == "pyg_lcm":
            size = spec["targets"]
            a = agg(feats[src.long()], dst.long(), dim_size=size)
            b = agg(feats[src[order].long()], dst[order].long(), dim_size=size)
        else:
            a = agg.aggregate_neighbours(graph, feats)[: spec["targets"]]
            b = agg.aggregate_neighbours(shuffled, feats)[: spec["targets"]]
    return float((a - b).abs().max())


# --- the benchmark ----------------------------------------------------------------------


def compare(title: str, spec: dict, side_a: dict, side_b: dict, args,
            memory: bool = True) -> dict:
    step_a, _ = build({**spec, "side": side_a}, args.device)
    step_b, _ = build({**spec, "side": side_b}, args.device)
    times_a, times_b = alternate(step_a, step_b, args.repeats, args.warmup, args.device)
    row = {
        "comparison": title, "graph": {k: v for k, v in spec.items() if k != "side"},
        "a": side_a, "b": side_b, "a_ms": median_ms(times_a), "b_ms": median_ms(times_b),
        "a_times_s": times_a, "b_times_s": times_b,
    }
    row["ratio"] = row["a_ms"] / row["b_ms"]
    if memory and not args.no_memory:
        row["a_peak_mb"] = peak_memory_mb({**spec, "side": side_a}, args.device, args.threads)
        row["b_peak_mb"] = peak_memory_mb({**spec, "side": side_b}, args.device, args.threads)
    print(f"  {title:<38} d={spec.get('degree', '-')!s:>5}  {row['a_ms']:9.2f} ms vs "
          f"{row['b_ms']:9.2f} ms  ratio {row['ratio']:.3f}", flush=True)
    return row


def elementwise_kernels(args) -> list[dict]:
    """ns per float32 element of the gate non-linearities on [edges, dim] (forward only):
    their speed differs between CPUs (``wlkit.sigmoid``'s docstring), so the file says which
    form was faster on the machine that produced it."""
    x = torch.randn(args.edges, args.dim, device=args.device)
    kernels = {"torch.sigmoid": torch.sigmoid, "wlkit.sigmoid (exp form)": sigmoid,
               "torch.tanh": torch.tanh, "torch.exp": torch.exp}
    times = common.alternate({name: (lambda f=f: f(x)) for name, f in kernels.items()},
                             max(args.repeats, 9), args.warmup,
                             sync=lambda: synchronize(args.device))
    return [{"kernel": name, "ns_per_element": 1e9 * statistics.median(v) / x.numel(),
             "times_s": v} for name, v in times.items()]


def machine_info(args) -> dict:
    """:func:`benchmarks.common.machine_info` plus this script's device and flat versions."""
    info = common.machine_info(args.threads)
    versions = info["versions"]
    info.update({"processor": platform.processor() or platform.machine(),
                 "device": args.device, "torch": versions["torch"], "dgl": versions["dgl"],
                 "torch_geometric": versions["torch_geometric"]})
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--edges", type=int, default=32768,
                        help="messages per LCM/RNN input (targets = edges / degree)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer edges and repeats")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "aggregators.json")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    if args.memory_probe:
        print(memory_probe(json.loads(args.memory_probe), args.device))
        return
    if args.quick:
        args.edges, args.repeats = 8192, 5
    torch.manual_seed(0)
    info = machine_info(args)
    print(f"wlkit aggregator benchmark on {args.device} ({info.get('cpu_model', '')}, "
          f"{args.threads} threads), dim {args.dim}, {args.edges} messages per input, "
          f"median of {args.repeats}")
    try:
        import torch_geometric  # noqa: F401

        have_pyg = True
    except ImportError:
        have_pyg = False
        print("  torch_geometric is not installed: skipping the PyG comparison "
              "(pip install -c constraints.txt -e .[bench])")

    lcm = {"impl": "wlkit", "name": "lcm"}
    rows: dict[str, list[dict]] = {"lcm_vs_gru": [], "lcm_vs_gru_padded": [], "lcm_vs_pyg": [],
                                   "lcm_vs_sage_lstm": [],
                                   "recurrent_lstm_vs_sage_lstm": [], "basic_vs_dgl": []}
    for degree in DEGREES:
        mean_degree = (MIXED_MAX + 1) / 2 if degree == "mixed" else degree
        spec = {"kind": "stars", "targets": max(1, round(args.edges / mean_degree)),
                "degree": degree, "dim": args.dim}
        degrees = in_degrees_of(spec)
        row = compare("lcm vs recurrent(gru, packed)", spec, lcm, GRU_PACKED, args)
        row["lcm_cells"] = int(2 * (degrees - 1).sum())  # both orders of every pair
        row["gru_cells"] = int(degrees.sum())
        row["lcm_depth"] = math.ceil(math.log2(int(degrees.max())))
        row["gru_depth"] = int(degrees.max())
        row["per_cell_ratio"] = ((row["a_ms"] / row["lcm_cells"])
                                 / (row["b_ms"] / row["gru_cells"]))
        rows["lcm_vs_gru"].append(row)
        rows["lcm_vs_gru_padded"].append(compare("lcm vs recurrent(gru, padded)", spec, lcm,
                                                 GRU_PADDED, args))
        if have_pyg:
            pyg = {"impl": "pyg_lcm"}
            row = compare("lcm vs PyG LCMAggregation", spec, lcm, pyg, args)
            row["a_invariance_gap"] = invariance_gap(lcm, spec, args.device)
            row["b_invariance_gap"] = invariance_gap(pyg, spec, args.device)
            rows["lcm_vs_pyg"].append(row)
        sage = {"impl": "sage_lstm"}
        rows["lcm_vs_sage_lstm"].append(compare("lcm vs DGL SAGEConv(lstm)", spec, lcm, sage,
                                                args))
        rows["recurrent_lstm_vs_sage_lstm"].append(compare(
            "recurrent(lstm) vs DGL SAGEConv(lstm)", spec,
            {"impl": "wlkit", "name": "recurrent", "params": {"cell": "lstm"}}, sage, args))
        # (recurrent's default cpu_path="auto" pads here: every input is >= 1/4 data)
    basic_spec = {"kind": "random", "nodes": 50_000, "edges": 500_000 if not args.quick
                  else 100_000, "dim": args.dim}
    for op in ("sum", "mean", "max"):
        rows["basic_vs_dgl"].append(compare(
            f"{op}: plugin vs update_all", basic_spec, {"impl": "wlkit", "name": op},
            {"impl": "dgl_builtin", "name": op}, args, memory=False))

    rows["kernels"] = elementwise_kernels(args)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, {"machine": info, "settings": {
        "dim": args.dim, "edges": args.edges, "repeats": args.repeats, "warmup": args.warmup,
        "timing": "forward+backward, median, sides alternated",
        "memory": "peak RSS above baseline in a fresh process (CPU) / "
                  "max_memory_allocated (CUDA), one forward+backward"},
        "results": rows})

    print("\nLCM vs recurrent (GRU), forward+backward. cells: GRU-cell evaluations (LCM "
          "evaluates both orders of every pair); depth: dependent cell calls. 'packed' is one "
          "PackedSequence call; 'padded' one dense call on right-padded neighbourhoods "
          "(recurrent's CPU default when >= 1/4 of it is data; on GPU always packed)")
    print(table(["degree", "lcm ms", "gru packed ms", "lcm/packed", "lcm ns/cell",
                 "packed ns/cell", "per-cell ratio", "gru padded ms", "lcm/padded", "lcm MB",
                 "packed MB", "padded MB", "depth lcm/gru"],
                [[str(r["graph"]["degree"]), fmt(r["a_ms"]), fmt(r["b_ms"]), fmt(r["ratio"]),
                  fmt(1e6 * r["a_ms"] / r["lcm_cells"], 0),
                  fmt(1e6 * r["b_ms"] / r["gru_cells"], 0), fmt(r["per_cell_ratio"]),
                  fmt(p["b_ms"]), fmt(p["ratio"]), fmt(r.get("a_peak_mb"), 1),
                  fmt(r.get("b_peak_mb"), 1), fmt(p.get("b_peak_mb"), 1),
                  f"{r['lcm_depth']}/{r['gru_depth']}"]
                 for r, p in zip(rows["lcm_vs_gru"], rows["lcm_vs_gru_padded"])]))
    if rows["lcm_vs_pyg"]:
        print("\nLCM vs PyTorch Geometric's LCMAggregation (zero-padded to the max degree); "
              "invariance gap = max |change| when neighbours are reordered")
        print(table(["degree", "wlkit ms", "pyg ms", "time ratio", "wlkit MB", "pyg MB",
                     "wlkit gap", "pyg gap"],
                    [[str(r["graph"]["degree"]), fmt(r["a_ms"]), fmt(r["b_ms"]),
                      fmt(r["ratio"]), fmt(r.get("a_peak_mb"), 1), fmt(r.get("b_peak_mb"), 1),
                      f"{r['a_invariance_gap']:.1e}", f"{r['b_invariance_gap']:.1e}"]
                     for r in rows["lcm_vs_pyg"]]))
    print("\nAgainst DGL's SAGEConv(aggregator_type='lstm') (one dense LSTM call per degree "
          "value, plus its two linear maps); recurrent(lstm) with its default cpu_path=auto")
    print(table(["degree", "lcm ms", "recurrent(lstm) ms", "sage-lstm ms", "lcm/sage",
                 "recurrent/sage", "lcm MB", "sage MB"],
                [[str(a["graph"]["degree"]), fmt(a["a_ms"]), fmt(b["a_ms"]), fmt(a["b_ms"]),
                  fmt(a["ratio"]), fmt(b["ratio"]), fmt(a.get("a_peak_mb"), 1),
                  fmt(a.get("b_peak_mb"), 1)]
                 for a, b in zip(rows["lcm_vs_sage_lstm"],
                                 rows["recurrent_lstm_vs_sage_lstm"])]))
    print("\nGate non-linearities, forward, ns per float32 element on "
          f"[{args.edges}, {args.dim}]: " + ", ".join(
              f"{r['kernel']} {r['ns_per_element']:.2f}" for r in rows["kernels"]))
    print(f"\nBasic aggregators through the plugin path (aggregate_neighbours) vs DGL's "
          f"update_all(copy_u, op), {basic_spec['nodes']} nodes, {basic_spec['edges']} edges "
          "(goal: ratio <= 1.0)")
    print(table(["op", "plugin ms", "update_all ms", "ratio"],
                [[r["a"]["name"], fmt(r["a_ms"]), fmt(r["b_ms"]), fmt(r["ratio"], 3)]
                 for r in rows["basic_vs_dgl"]]))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
