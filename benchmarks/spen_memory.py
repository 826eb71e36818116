"""Peak memory of SPEN against a dense global 2-IGN of the same width on the same batch.

SPEN's claim (Mitton & Murray-Smith): running the order-2 equivariant layers on every node's
k-hop ego-net costs ``sum_v |S_v|^2 d`` memory per layer, against ``n^2 d`` per graph for a
global 2-IGN (Maron et al.) on the whole graph, so local is much smaller on sparse graphs.

Both sides are the *same code* (:class:`wlkit.plugins.policies.spen.SpenBody`, same layers,
width, depth, size classes and parameter count): SPEN gets the 1-hop ego-nets from
``SpenPolicy.prepare``; the global 2-IGN gets one subgraph per graph holding all its nodes and
all ``n^2`` ordered pairs (no root mark). Each measurement is one training step (forward and
backward of a squared-norm loss) on one batch.

How memory is measured: every measurement runs in a fresh subprocess with glibc's mmap
threshold fixed at 64 KiB (``MALLOC_MMAP_THRESHOLD_``), so every tensor buffer of that size or
more is its own mapping, returned to the OS when freed; the resident-set high-water mark then
tracks live tensor memory. The worker builds the batch and the model, runs one warm-up step on
a small batch, resets the kernel's high-water mark (``/proc/self/clear_refs``), runs the step
and reports ``VmHWM - VmRSS(before the step)``: the step's peak extra memory. Sides alternate
(SPEN first on even repetitions, the 2-IGN first on odd ones); the table shows medians.

Run: ``.venv/bin/python benchmarks/spen_memory.py [--repeats 5] [--threads 1]``; writes
``benchmarks/results/spen_memory.json`` with the machine's description.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "spen_memory.json"

# name: (cycle length n, skip R of C(n, R), graphs in the batch); 4-regular, 5-node ego-nets
CONFIGS: dict[str, tuple[int, int, int]] = {
    "csl41x32": (41, 5, 32),
    "csl100x16": (100, 7, 16),
    "csl200x8": (200, 13, 8),
}
HIDDEN, LAYERS = 32, 3


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _whole_graph_prepared(graph):  # one subgraph = the whole graph, all n^2 pairs
    import numpy as np
    import torch

    n = graph.num_nodes()
    src, dst = (t.numpy().astype(np.int64) for t in graph.edges())
    u, w = np.divmod(np.arange(n * n), n)
    edge_pairs = np.where(src != dst, src * n + dst, -1)
    as_t = torch.from_numpy
    return {"sizes": torch.tensor([n]), "members": torch.arange(n),
            "pairs": torch.arange(n * n), "pair_nodes": as_t(np.stack([u, w], 1)),
            "edge_pairs": as_t(edge_pairs)}


def _batch(side: str, graphs):
    from wlkit.plugins.policies.spen import SpenPolicy

    if side == "spen":
        policy = SpenPolicy(hops=1)
        return policy.collate(graphs, [policy.prepare(g) for g in graphs])
    return SpenPolicy().collate(graphs, [_whole_graph_prepared(g) for g in graphs])


def worker(side: str, config: str, threads: int) -> dict:
    """One measurement (runs in its own process)."""
    import dgl
    import numpy as np
    import torch
    from torch import nn

    from wlkit import ModelParts, graphs
    from wlkit.model.graph_model import NodeInput
    from wlkit.plugins.policies.spen import SpenBody

    torch.set_num_threads(threads)
    n, skip, count = CONFIGS[config]
    rng = np.random.default_rng(0)
    gs = [graphs.csl(n, skip).relabel(rng.permutation(n)).to_dgl() for _ in range(count)]
    torch.manual_seed(0)
    parts = ModelParts(hidden=HIDDEN, num_layers=LAYERS, node_input=NodeInput(HIDDEN, 0, None),
                       make_layer=None, make_norm=lambda: nn.BatchNorm1d(HIDDEN),
                       make_readout=None, make_edge_encoder=None, uses_edge_features=False,
                       dropout=0.0, residual=False, virtual_node=False)
    model = SpenBody(parts, root_mark=side == "spen")
    params = sum(p.numel() for p in model.parameters())

    def step(batch_graphs, batch):
        model.zero_grad(set_to_none=True)
        out = model(dgl.batch(batch_graphs), batch)
        out.pow(2).mean().backward()

    warm = gs[:1]
    step(warm, _batch(side, warm))
    batch = _batch(side, gs)
    entries = sum(g.pairs.numel() for g in batch.groups)
    rss_before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (Linux >= 4.0)
    start = time.perf_counter()
    step(gs, batch)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    return {"side": side, "config": config, "peak_extra_mib": (peak - rss_before) / 1024,
            "rss_before_mib": rss_before / 1024, "step_seconds": seconds,
            "pair_entries": entries, "num_params": params}


def machine() -> dict:
    import dgl
    import torch

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cpu_count": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "torch": torch.__version__, "dgl": dgl.__version__,
            "load_average": os.getloadavg()}


def run_one(side: str, config: str, threads: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, __file__, "--worker", side, config,
                           "--threads", str(threads)], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {side} {config} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.threads)))
        return

    runs: list[dict] = []
    for config in args.configs:
        for rep in range(args.repeats):
            order = ("spen", "ign2") if rep % 2 == 0 else ("ign2", "spen")
            for side in order:
                result = run_one(side, config, args.threads)
                result["repeat"] = rep
                runs.append(result)
                print(f"  {config} rep {rep} {side}: {result['peak_extra_mib']:.1f} MiB, "
                      f"{result['step_seconds']:.3f} s", file=sys.stderr)

    rows = []
    for config in args.configs:
        med = {}
        for side in ("spen", "ign2"):
            mine = [r for r in runs if r["config"] == config and r["side"] == side]
            med[side] = {key: statistics.median(r[key] for r in mine)
                         for key in ("peak_extra_mib", "step_seconds")}
            med[side]["pair_entries"] = mine[0]["pair_entries"]
            med[side]["num_params"] = mine[0]["num_params"]
        n, skip, count = CONFIGS[config]
        rows.append({
            "config": config, "graph": f"C({n},{skip})", "nodes": n, "batch_graphs": count,
            "spen": med["spen"], "ign2": med["ign2"],
            "memory_ratio_ign2_over_spen": med["ign2"]["peak_extra_mib"]
            / med["spen"]["peak_extra_mib"],
            "entries_ratio_ign2_over_spen": med["ign2"]["pair_entries"]
            / med["spen"]["pair_entries"],
            "time_ratio_ign2_over_spen": med["ign2"]["step_seconds"]
            / med["spen"]["step_seconds"],
        })

    head = (f"{'batch':<11} {'graph':<9} {'SPEN MiB':>9} {'2-IGN MiB':>10} {'ratio':>6} "
            f"{'pairs ratio':>11} {'SPEN s':>7} {'2-IGN s':>8}")
    print(f"SPEN (1-hop) vs global 2-IGN, hidden {HIDDEN}, {LAYERS} layers, one training step; "
          f"medians of {args.repeats} alternating repetitions")
    print(head)
    for row in rows:
        print(f"{row['config']:<11} {row['graph']:<9} {row['spen']['peak_extra_mib']:>9.1f} "
              f"{row['ign2']['peak_extra_mib']:>10.1f} "
              f"{row['memory_ratio_ign2_over_spen']:>5.1f}x "
              f"{row['entries_ratio_ign2_over_spen']:>10.1f}x "
              f"{row['spen']['step_seconds']:>7.3f} {row['ign2']['step_seconds']:>8.3f}")

    from wlkit import atomic_write_json

    RESULT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULT, {
        "benchmark": "spen_memory",
        "command": ".venv/bin/python benchmarks/spen_memory.py "
                   + " ".join(sys.argv[1:]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "hidden": HIDDEN, "layers": LAYERS, "repeats": args.repeats,
        "threads": args.threads,
        "method": "per-step peak RSS above the pre-step RSS (VmHWM after clear_refs) in a fresh "
                  "subprocess per measurement, glibc mmap threshold 64 KiB; sides alternate",
        "rows": rows, "runs": runs,
    })
    print(f"results: {RESULT.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
